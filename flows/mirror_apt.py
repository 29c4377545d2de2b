"""Flow ``mirror-apt``: mirror a slice of an apt repository (apt-mirror's job), verified and published atomically.

Large arguments (the package list, the tree) are passed to tasks with ``quote``: Prefect would otherwise walk
every one of their entries twice per task call (parameter introspection; 2 s for 10,000 packages).

An async flow: Prefect 3.9 ends every *sync* flow run by joining its heartbeat thread (up to 1 s, whatever
the flow did), which alone would break the "no-change re-run in 0.1 s" budget; call it with
``flows._sync.call_flow`` from sync code. Prefect calls in the body are forced sync (``_sync=True``).

Steps: fetch InRelease/Release of each suite -> stop early if they are byte-identical to the published ones
-> verify signatures with gpgv -> fetch the index files the signed Release lists -> compute the package set ->
download what the pool lacks (size + SHA256 checked, resumable) -> stage a snapshot of hard links ->
switch ``current`` (rename) -> push to the mirror host over SSH if any -> prune.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.utilities.annotations import quote
from pydantic import BaseModel, Field

from blocks.mirror import upstream_ca
from core.mirror.apt import AptSpec, by_hash_aliases, installer_files, package_files, select_index_files
from core.mirror.deb822 import FileEntry, parse_release
from core.mirror.plan import Stamp, plan_sync, snapshot_id, spec_digest
from flows._sync import async_body
from flows.mirror_common import (
    Destination,
    keyring_loader,
    publish_plan_artifact,
    publish_summary,
    resolve_destination,
    snapshot_timestamp,
)
from tasks.background import Background
from tasks.mirror import (
    DownloadReport,
    build_snapshot,
    download_files,
    fetch_release_files,
    list_pool_objects,
    prepare_snapshot,
    prune_mirror,
    publish_snapshot,
    push_snapshot,
    read_published_manifest,
    read_published_stamp,
    read_stored_files,
    require_no_failures,
    store_metadata_files,
    upstream_digest,
    verify_pool_objects,
    verify_release_signature,
)


class MirrorAptParams(BaseModel):
    """Parameters of mirror-apt (rendered as the run form)."""

    upstream_url: str = Field(description="Upstream repository URL, e.g. http://ports.ubuntu.com/ubuntu-ports")
    suites: list[str] = Field(description="Suites/codenames, e.g. xenial, xenial-security, xenial-updates.")
    components: list[str] = Field(default=["main"], description="Components, e.g. main restricted universe.")
    architectures: list[str] = Field(default=["ppc64el"], description="Binary architectures to mirror.")
    sources: bool = Field(default=False, description="Also mirror source packages.")
    installer: bool = Field(default=False, description="Also mirror the installer images (SHA256SUMS-listed).")
    translations: bool = Field(default=True, description="Also mirror i18n translations and command-not-found data.")
    include_packages: list[str] = Field(default_factory=list, description="Only these binary packages "
                                        "(shell patterns, e.g. docker*); empty: every package (a full mirror).")
    destination: Destination = Field(description="Where the mirror is published.")
    keyring_block: str = Field(default="", description="powerops-mirror-keyring block with the upstream's keys.")
    allow_unsigned: bool = Field(default=False, description="Mirror even without a valid signature (NOT advised).")
    upstream_ca_block: str = Field(default="", description="powerops-mirror-upstream-ca block: CA certificate of an "
                                   "https upstream with a private CA (empty: the system trust store).")
    concurrency: int = Field(default=8, ge=1, le=64, description="Parallel downloads.")
    keep_snapshots: int = Field(default=2, ge=1, le=20, description="Published snapshots to keep.")
    remove_unreferenced: bool = Field(default=True, description="Delete old snapshots and unreferenced files.")
    verify_existing: bool = Field(default=False, description="Re-hash every stored file and re-fetch corrupt ones.")
    dry_run: bool = Field(default=False, description="Publish the plan only; the published mirror is not changed.")


@flow(name="mirror-apt", log_prints=False)
async def mirror_apt(params: MirrorAptParams) -> dict[str, Any]:
    # async with a sync body: see flows._sync
    with async_body() as bg:  # side calls (artifacts, block loads) go on while the flow does
        return _mirror_apt(params, bg)


def _mirror_apt(params: MirrorAptParams, bg: Background) -> dict[str, Any]:
    log = get_run_logger()
    spec = AptSpec(tuple(params.suites), tuple(params.components), tuple(params.architectures),
                   params.sources, params.installer, params.translations,
                   include_packages=tuple(params.include_packages))
    stores = resolve_destination(params.destination)
    name = params.destination.name
    upstream = params.upstream_url.rstrip("/") + "/"

    ca_pem = upstream_ca(params.upstream_ca_block)
    published = read_published_stamp(stores.published)
    keyring_of = keyring_loader(bg, params.keyring_block, published is None or params.verify_existing)
    release_files = {s: fetch_release_files(upstream, s, ca_pem) for s in spec.suites}
    stamp = Stamp("apt", spec_digest({"upstream": upstream, **spec.as_dict()}),
                  {s: upstream_digest(f) for s, f in release_files.items()})
    if published == stamp and not params.verify_existing:
        # no summary artifact: the keyed summary keeps showing the last run that changed the mirror
        log.info("mirror %s: upstream Release files are byte-identical to the published ones: nothing to do", name)
        return {"changed": False, "reason": "upstream unchanged"}

    keyring, fingerprints = keyring_of()
    releases = {s: parse_release(verify_release_signature(f, s, keyring, params.allow_unsigned, fingerprints))
                for s, f in release_files.items()}

    meta = {f"dists/{s}/{n}": data for s, files in release_files.items() for n, data in files.items()}
    tree: dict[str, FileEntry] = store_metadata_files(stores.local, meta)
    index_files = [f for s, rel in releases.items() for f in select_index_files(rel, s, spec)]
    current = read_published_manifest(stores.local)
    if params.verify_existing and current:
        verify_pool_objects(stores.local, quote(current))

    present = list_pool_objects(stores.local)
    idx_plan = plan_sync({f.path: f.entry for f in index_files}, present, None)
    idx_report = download_files(stores.local, upstream, quote(idx_plan.downloads), params.concurrency,
                                optional=[f.path for f in index_files], label="indexes",
                                skipped=idx_plan.reused_files, ca_pem=ca_pem)
    require_no_failures(idx_report, f"mirror {name} indexes")
    fetched_idx = read_stored_files(stores.local, {f.path: f.entry for f in index_files})
    got = [f for f in index_files if f.path in fetched_idx]
    tree.update({f.path: f.entry for f in got})
    if any(r.acquire_by_hash for r in releases.values()):
        tree.update(by_hash_aliases(got))
    tree.update(package_files(fetched_idx, index_files, spec))
    if spec.installer:
        tree.update(installer_files(fetched_idx, index_files))

    plan = plan_sync(tree, list_pool_objects(stores.local), current)
    bg.submit(publish_plan_artifact, "apt", name, plan, params.dry_run)
    if params.dry_run:
        return {"changed": False, "dry_run": True, **plan.summary()}

    sid = snapshot_id(snapshot_timestamp(), spec_digest({"tree": stamp.upstream, "n": len(tree)}))
    stage = prepare_snapshot(stores.local, sid)
    report: DownloadReport = download_files(stores.local, upstream, quote(plan.downloads), params.concurrency,
                                            label="packages", skipped=plan.reused_files, stage=stage,
                                            ca_pem=ca_pem)
    require_no_failures(report, f"mirror {name}")
    build_snapshot(stores.local, sid, quote(tree), stamp)
    publish_snapshot(stores.local, sid)
    pushed: dict[str, int] = {}
    if stores.remote is not None:
        pushed = push_snapshot(stores.local, stores.remote, sid, quote(tree))
        publish_snapshot(stores.remote, sid)
    # the mirror is published: the summary goes out while the old snapshots are pruned
    row = report.row()
    row.update({"index files": str(idx_report.files), "resumed": str(report.resumed), "snapshot": sid,
                "removed from the tree": str(len(plan.removed))})
    if pushed:
        row["bytes sent to mirror host"] = str(pushed["bytes sent"])
    bg.submit(publish_summary, "apt", name, [row])
    pruned: dict[str, int] = {}
    if params.remove_unreferenced:
        pruned = prune_mirror(stores.local, params.keep_snapshots)
        if stores.remote is not None:
            prune_mirror(stores.remote, params.keep_snapshots)
    return {"changed": True, "snapshot": sid, "downloaded": report.files, "bytes": report.nbytes,
            "skipped": report.skipped, "resumed": report.resumed, "files": len(tree),
            "removed": len(plan.removed), "added": len(plan.added), "url": stores.url,
            "pool files deleted": pruned.get("files removed", 0), **pushed}
