"""Flow ``mirror-yum``: mirror a yum/dnf repository (the RHEL ``wget --mirror`` case), verified and atomic.

repodata/repomd.xml (+ .asc signature) -> every metadata file with its SHA256 -> primary.xml -> packages with
their SHA256 -> snapshot -> switch ``current`` -> mirror host over SSH -> prune.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.utilities.annotations import quote
from pydantic import BaseModel, Field

from blocks.mirror import upstream_ca
from core.mirror.deb822 import FileEntry
from core.mirror.plan import Stamp, plan_sync, snapshot_id, spec_digest
from core.mirror.yum import decompress, parse_primary, parse_repomd
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
    build_snapshot,
    download_files,
    fetch_repomd,
    list_pool_objects,
    prune_mirror,
    publish_snapshot,
    push_snapshot,
    read_published_manifest,
    read_published_stamp,
    read_stored_files,
    require_no_failures,
    store_metadata_files,
    upstream_digest,
    verify_detached_signature,
    verify_pool_objects,
)


class MirrorYumParams(BaseModel):
    upstream_url: str = Field(description="Repository base URL (the directory holding repodata/).")
    destination: Destination = Field(description="Where the mirror is published.")
    keyring_block: str = Field(default="", description="powerops-mirror-keyring block that signs repomd.xml.")
    allow_unsigned: bool = Field(default=False, description="Mirror without a valid repomd.xml.asc (NOT advised).")
    upstream_ca_block: str = Field(default="", description="powerops-mirror-upstream-ca block: CA certificate of an "
                                   "https upstream with a private CA (empty: the system trust store).")
    concurrency: int = Field(default=8, ge=1, le=64, description="Parallel downloads.")
    keep_snapshots: int = Field(default=2, ge=1, le=20, description="Published snapshots to keep.")
    remove_unreferenced: bool = Field(default=True, description="Delete old snapshots and unreferenced files.")
    verify_existing: bool = Field(default=False, description="Re-hash every stored file and re-fetch corrupt ones.")
    dry_run: bool = Field(default=False, description="Publish the plan only.")


@flow(name="mirror-yum")
async def mirror_yum(params: MirrorYumParams) -> dict[str, Any]:
    # async with a sync body: see flows._sync
    with async_body() as bg:  # side calls (artifacts, block loads) go on while the flow does
        return _mirror_yum(params, bg)


def _mirror_yum(params: MirrorYumParams, bg: Background) -> dict[str, Any]:
    log = get_run_logger()
    stores = resolve_destination(params.destination)
    name = params.destination.name
    upstream = params.upstream_url.rstrip("/") + "/"

    ca_pem = upstream_ca(params.upstream_ca_block)
    published = read_published_stamp(stores.published)
    keyring_of = keyring_loader(bg, params.keyring_block, published is None or params.verify_existing)
    meta = fetch_repomd(upstream, ca_pem)
    stamp = Stamp("yum", spec_digest({"upstream": upstream}), {"repomd": upstream_digest(meta)})
    if published == stamp and not params.verify_existing:
        # no summary artifact: the keyed summary keeps showing the last run that changed the mirror
        log.info("mirror %s: repomd.xml is byte-identical to the published one: nothing to do", name)
        return {"changed": False, "reason": "upstream unchanged"}
    keyring, fingerprints = keyring_of()
    verify_detached_signature(meta["repodata/repomd.xml"], meta.get("repodata/repomd.xml.asc"),
                              f"{upstream}repodata/repomd.xml", keyring, params.allow_unsigned, fingerprints)
    repodata = parse_repomd(meta["repodata/repomd.xml"])
    tree: dict[str, FileEntry] = store_metadata_files(stores.local, meta)
    current = read_published_manifest(stores.local)
    if params.verify_existing and current:
        verify_pool_objects(stores.local, quote(current))

    md_tree = {r.href: r.entry for r in repodata}
    md_plan = plan_sync(md_tree, list_pool_objects(stores.local), None)
    md_report = download_files(stores.local, upstream, quote(md_plan.downloads), params.concurrency, label="metadata",
                               skipped=md_plan.reused_files, ca_pem=ca_pem)
    require_no_failures(md_report, f"mirror {name} metadata")
    tree.update(md_tree)
    primary = next(r for r in repodata if r.type == "primary")
    raw = read_stored_files(stores.local, {primary.href: primary.entry})[primary.href]
    packages = parse_primary(decompress(primary.href, raw))
    tree.update({p.href: p.entry for p in packages})

    plan = plan_sync(tree, list_pool_objects(stores.local), current)
    bg.submit(publish_plan_artifact, "yum", name, plan, params.dry_run)
    if params.dry_run:
        return {"changed": False, "dry_run": True, **plan.summary()}
    report = download_files(stores.local, upstream, quote(plan.downloads), params.concurrency, label="packages",
                            skipped=plan.reused_files, ca_pem=ca_pem)
    require_no_failures(report, f"mirror {name}")

    sid = snapshot_id(snapshot_timestamp(), stamp.upstream["repomd"])
    build_snapshot(stores.local, sid, quote(tree), stamp)
    publish_snapshot(stores.local, sid)
    pushed: dict[str, int] = {}
    if stores.remote is not None:
        pushed = push_snapshot(stores.local, stores.remote, sid, quote(tree))
        publish_snapshot(stores.remote, sid)
    # the mirror is published: the summary goes out while the old snapshots are pruned
    row = report.row()
    row.update({"metadata files": str(len(md_tree)), "packages": str(len(packages)), "snapshot": sid})
    bg.submit(publish_summary, "yum", name, [row])
    if params.remove_unreferenced:
        prune_mirror(stores.local, params.keep_snapshots)
        if stores.remote is not None:
            prune_mirror(stores.remote, params.keep_snapshots)
    return {"changed": True, "snapshot": sid, "downloaded": report.files, "bytes": report.nbytes,
            "packages": len(packages), "files": len(tree), "added": len(plan.added), "removed": len(plan.removed),
            "url": stores.url, **pushed}
