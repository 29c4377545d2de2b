"""Flow prepare-novalink-install: everything an install server needs to network-install NovaLink partitions.

Source: "Putting NovaLink in Production" (ISO content copied with tar because of symlinks, pvmrepo.tgz
extracted into a repository, core.elf in the TFTP root, grub.cfg from the sample, pvm-install.cfg from a
template, a bootptab line; the author's custnovainstall.ksh does the three edits per partition).

facts -> plan -> apply -> verify from the outside (TFTP boot file and grub.cfg, HTTP kernel with a Range
request, initrd and the installer configuration), for several partitions at once; a re-run changes nothing.
Also: flow remove-novalink-install (removes one partition's entries, confirm=True, only files powerops wrote).
"""

from __future__ import annotations

import posixpath

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from blocks.novalink import NovaLinkInstallServer
from core.errors import ConfirmationRequired, SafetyCheckFailed
from core.novalink.initrd import patch_identity
from core.novalink.model import ClientRef, InstallMedia, NovaLinkPartition, check_batch
from core.novalink.plan import (
    STAGED_MARKER,
    FileChange,
    fact_paths,
    media_identity,
    plan_npiv_initrd,
    plan_prepare,
)
from core.novalink.render import (
    NPIV_INITRD,
    RenderedFile,
    is_our_dnsmasq_host,
    is_ours,
    paths_for,
    remove_bootptab,
    render_client_files,
)
from tasks.novalink import (
    build_npiv_initrd,
    copy_boot_file,
    fetch_http,
    fetch_tftp,
    hash_admin_password,
    read_checksums,
    read_media_source,
    read_remote_text,
    reload_boot_service,
    remove_remote_file,
    stage_media,
    upload_file,
)


class PrepareNovaLinkParams(BaseModel):
    """Which partitions to prepare, from which media, on which install server."""

    install_server: str = Field(description="Name of the NovaLink install server block.")
    media_source: str = Field(description="NovaLink media on the install server: an .iso, a .tar/.tgz or a "
                              "directory with the ISO content (symlinks are preserved).")
    media: InstallMedia = Field(default_factory=InstallMedia, description="Layout of the media.")
    admin_password_secret: str = Field(description="Name of the Secret block holding the admin password "
                                       "(hashed with SHA-512 crypt; never written or logged in clear).")
    partitions: list[NovaLinkPartition] = Field(min_length=1, description="Partitions to prepare.")
    verify: bool = Field(default=True, description="Fetch the files by TFTP/HTTP afterwards, as the partition.")
    dry_run: bool = Field(default=False, description="Publish the plan and change nothing.")


def _render_all(params: PrepareNovaLinkParams, server: NovaLinkInstallServer,
                hashes: dict[str, str], bootptab: str | None) -> dict[str, list[RenderedFile]]:
    layout = server.layout()
    rendered: dict[str, list[RenderedFile]] = {}
    for p in params.partitions:
        files = render_client_files(p, params.media, layout, hashes[p.partition_name], bootptab)
        if layout.boot_service == "bootpd":
            bootptab = files[-1].content  # next partition's entry is merged into this one
        rendered[p.partition_name] = files
    if layout.boot_service == "bootpd":  # every partition's plan compares against the final bootptab
        for files in rendered.values():
            files[-1] = RenderedFile(files[-1].path, bootptab or "", files[-1].mode, files[-1].what)
    return rendered


@flow(name="prepare-novalink-install")
def prepare_novalink_install(params: PrepareNovaLinkParams) -> dict[str, object]:
    log = get_run_logger()
    check_batch(params.partitions)
    server = NovaLinkInstallServer.load(params.install_server)
    layout = server.layout()
    media = params.media
    first = paths_for(params.partitions[0], media, layout)

    # facts
    source_stat = read_media_source(server, params.media_source)
    wanted_identity = media_identity(params.media_source, source_stat)
    current_identity = read_remote_text(server, posixpath.join(first.media_dir, STAGED_MARKER))
    remote = read_checksums(server, fact_paths(params.partitions, media, layout))
    hashes = {}
    for p in params.partitions:
        current_cfg = read_remote_text(server, paths_for(p, media, layout).pvm_install_cfg)
        hashes[p.partition_name] = hash_admin_password(params.admin_password_secret, current_cfg)
    bootptab = read_remote_text(server, layout.bootptab) if layout.boot_service == "bootpd" else None

    # plan
    rendered = _render_all(params, server, hashes, bootptab)
    plan = plan_prepare(rendered, remote, first, media, wanted_identity, current_identity)
    npiv: dict[str, FileChange] = {}
    if any(p.pvmdisk for p in params.partitions):
        media_initrd_sha = read_checksums(server, [first.media_initrd]).get(first.media_initrd)
        for p, pplan in zip(params.partitions, plan.partitions, strict=True):
            if p.pvmdisk:
                path = paths_for(p, media, layout).initrd
                wanted = patch_identity(media_initrd_sha, p.pvmdisk, media.initrd_preseed) if media_initrd_sha else None
                change = plan_npiv_initrd(path, plan.stage_media, wanted, read_remote_text(server, path + ".source"))
                pplan.files.append(change)
                npiv[p.partition_name] = change
    create_table_artifact(key="novalink-prepare-plan", table=plan.rows(),
                          description=f"prepare-novalink-install plan on {server.server_ip}"
                                      + (" (dry run)" if params.dry_run else ""))
    if params.dry_run:
        log.info("dry run: %s", "nothing to change" if plan.empty else "plan published, nothing changed")
        return {"plan": plan.rows(), "changed": []}

    # apply
    changed: list[str] = []
    if plan.stage_media:
        stage_media(server, params.media_source, media, params.partitions[0], wanted_identity)
        changed.append(f"media {first.media_dir}")
    if plan.copy_boot_file:
        copy_boot_file(server, media, params.partitions[0])
        changed.append(f"boot file {first.boot_file}")
    if npiv:
        media_initrd_sha = read_checksums(server, [first.media_initrd])[first.media_initrd]
        for p in params.partitions:
            if p.partition_name in npiv and npiv[p.partition_name].action != "none":
                build_npiv_initrd(server, media, p, patch_identity(media_initrd_sha, p.pvmdisk, media.initrd_preseed))
                changed.append(npiv[p.partition_name].path)
    uploaded: set[str] = set()
    for pplan, files in zip(plan.partitions, rendered.values(), strict=True):
        by_path = {f.path: f for f in files}
        for change in pplan.changes:
            if change.what == "npiv initrd" or change.path in uploaded:
                continue
            if upload_file(server, by_path[change.path]):
                changed.append(change.path)
            uploaded.add(change.path)
    if plan.reload_boot_service:
        reload_boot_service(server)
        changed.append(f"reloaded {layout.boot_service}")
    if plan.empty:
        log.info("install server already prepared for %s: nothing changed",
                 ", ".join(p.partition_name for p in params.partitions))

    # verify from the outside
    verified: list[dict[str, str]] = []
    if params.verify:
        verified = _verify(server, params, rendered)
    summary = [f"# prepare-novalink-install on {server.server_ip}", "",
               f"- partitions: {', '.join(p.partition_name for p in params.partitions)}",
               f"- changed: {len(changed)}" + ("" if changed else " (nothing to do)")]
    summary += [f"  - {c}" for c in changed]
    summary += ["", "| fetched | size | sha256 | result |", "|---|---|---|---|"]
    summary += [f"| {v['url']} | {v['size']} | {v['sha256'][:16]} | {v['result']} |" for v in verified]
    create_markdown_artifact(key="novalink-prepare-summary", markdown="\n".join(summary))
    return {"plan": plan.rows(), "changed": changed, "verified": verified}


def _verify(server: NovaLinkInstallServer, params: PrepareNovaLinkParams,
            rendered: dict[str, list[RenderedFile]]) -> list[dict[str, str]]:
    layout = server.layout()
    media = params.media
    first = paths_for(params.partitions[0], media, layout)
    npiv_initrds = [paths_for(p, media, layout).initrd for p in params.partitions if p.pvmdisk]
    big = read_checksums(server, [first.boot_file, first.kernel, first.media_initrd, *npiv_initrds])
    base = f"http://{layout.http_authority}"
    results = []
    results.append(fetch_tftp(layout.server_ip, layout.boot_file, big[first.boot_file]))
    results.append(fetch_http(base + layout.url_path(first.kernel), big[first.kernel], check_range=True))
    for initrd in [first.media_initrd, *npiv_initrds]:
        results.append(fetch_http(base + layout.url_path(initrd), big[initrd], check_range=False))
    for p in params.partitions:
        files = {f.what: f for f in rendered[p.partition_name]}
        grub = files["grub.cfg"]
        results.append(fetch_tftp(layout.server_ip, posixpath.relpath(grub.path, layout.tftp_root), grub.sha256))
        if (grub.path + "/").startswith(layout.http_root.rstrip("/") + "/"):  # also served over HTTP
            results.append(fetch_http(base + layout.url_path(grub.path), grub.sha256, check_range=False))
        for what in ("pvm-install.cfg", "preseed.cfg"):
            if what in files:
                f = files[what]
                results.append(fetch_http(base + layout.url_path(f.path), f.sha256, check_range=False))
    return [{"url": r.url, "size": str(r.size), "sha256": r.sha256, "result": r.detail} for r in results]


class RemoveNovaLinkParams(BaseModel):
    install_server: str = Field(description="Name of the NovaLink install server block.")
    media: InstallMedia = Field(default_factory=InstallMedia, description="Layout of the media.")
    partitions: list[ClientRef] = Field(min_length=1, description="Partitions whose entries are removed.")
    confirm: bool = Field(default=False, description="Must be true: removes grub.cfg, pvm-install.cfg and the "
                          "bootp/DHCP entry of each partition (the media stays).")
    dry_run: bool = Field(default=False, description="Publish the plan and change nothing.")


@flow(name="remove-novalink-install")
def remove_novalink_install(params: RemoveNovaLinkParams) -> dict[str, object]:
    log = get_run_logger()
    server = NovaLinkInstallServer.load(params.install_server)
    layout = server.layout()
    rows: list[dict[str, str]] = []
    todo: list[str] = []
    new_bootptab: str | None = None
    for c in params.partitions:
        paths = paths_for(c, params.media, layout)
        candidates = [paths.grub_cfg, paths.pvm_install_cfg] + ([paths.preseed_cfg] if paths.preseed_cfg else [])
        if layout.boot_service == "dnsmasq":
            candidates.append(paths.boot_entry)
        for path in candidates:
            content = read_remote_text(server, path)
            if content is None:
                rows.append({"partition": c.partition_name, "path": path, "action": "none", "reason": "absent"})
                continue
            ours = is_ours(content) or (path == paths.boot_entry and is_our_dnsmasq_host(content, c.host))
            if not ours:
                raise SafetyCheckFailed(f"{server.server_ip}:{path} was not written by powerops; not removing it")
            rows.append({"partition": c.partition_name, "path": path, "action": "remove", "reason": "present"})
            todo.append(path)
        npiv_source = posixpath.join(paths.client_dir, NPIV_INITRD + ".source")
        source_text = read_remote_text(server, npiv_source)
        if source_text is not None and source_text.startswith("initrd-sha256="):  # built by build_npiv_initrd
            for path in (posixpath.join(paths.client_dir, NPIV_INITRD), npiv_source):
                rows.append({"partition": c.partition_name, "path": path, "action": "remove", "reason": "present"})
                todo.append(path)
        if layout.boot_service == "bootpd":
            current = new_bootptab if new_bootptab is not None else (read_remote_text(server, layout.bootptab) or "")
            updated = remove_bootptab(current, c.host)
            action = "edit" if updated != current else "none"
            rows.append({"partition": c.partition_name, "path": layout.bootptab, "action": action,
                         "reason": f"line of {c.host}" + ("" if action == "edit" else " absent")})
            new_bootptab = updated if action == "edit" or new_bootptab is not None else None
    create_table_artifact(key="novalink-remove-plan", table=rows, description="remove-novalink-install plan")
    if params.dry_run:
        return {"plan": rows, "removed": []}
    if (todo or new_bootptab is not None) and not params.confirm:
        raise ConfirmationRequired(f"removing {len(todo)} file(s) of {len(params.partitions)} partition(s) "
                                   "needs confirm=True")
    removed = [path for path in todo if remove_remote_file(server, path)]
    entries = {paths_for(c, params.media, layout).boot_entry for c in params.partitions}
    if new_bootptab is not None:
        upload_file(server, RenderedFile(layout.bootptab, new_bootptab, 0o644, "bootptab"))
        removed.append(layout.bootptab)
    if entries & set(removed):
        reload_boot_service(server)
    log.info("removed %d item(s)", len(removed))
    return {"plan": rows, "removed": removed}

