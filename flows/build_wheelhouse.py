"""Flow ``build-wheelhouse``: ``pip download`` a requirement set for a target platform (e.g. manylinux
ppc64le) and publish it, with a PEP 503 simple index, atomically on the mirror host (the docker-compose case)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from blocks.mirror import upstream_ca
from core.mirror.deb822 import FileEntry
from core.mirror.pep503 import simple_index
from core.mirror.plan import Stamp, plan_sync, snapshot_id, spec_digest
from flows.mirror_common import (
    Destination,
    publish_plan_artifact,
    publish_summary,
    resolve_destination,
    snapshot_timestamp,
)
from tasks.mirror import (
    build_snapshot,
    download_wheels,
    prune_mirror,
    publish_snapshot,
    push_snapshot,
    read_published_manifest,
    read_published_stamp,
    store_metadata_files,
)


class BuildWheelhouseParams(BaseModel):
    requirements: list[str] = Field(description="Requirement specifiers, e.g. docker-compose==1.29.2.")
    platforms: list[str] = Field(default=["manylinux2014_ppc64le", "linux_ppc64le"],
                                 description="Target platform tags (pip download --platform).")
    python_version: str = Field(default="3.11", pattern=r"^\d(\.\d{1,2})?$", description="Target Python version.")
    implementation: str = Field(default="cp", pattern=r"^(cp|pp|py)$", description="Python implementation tag.")
    index_url: str = Field(default="https://pypi.org/simple", description="Upstream index (ignored with no_index).")
    find_links: list[str] = Field(default_factory=list, description="Extra --find-links locations.")
    no_index: bool = Field(default=False, description="Use only find_links, no index.")
    upstream_ca_block: str = Field(default="", description="powerops-mirror-upstream-ca block: CA certificate of an "
                                   "https index or find-links server with a private CA (given to pip as --cert).")
    destination: Destination = Field(description="Where the wheelhouse is published.")
    keep_snapshots: int = Field(default=2, ge=1, le=20, description="Published snapshots to keep.")
    dry_run: bool = Field(default=False, description="Download and show the plan; publish nothing.")


@flow(name="build-wheelhouse")
def build_wheelhouse(params: BuildWheelhouseParams) -> dict[str, Any]:
    log = get_run_logger()
    stores = resolve_destination(params.destination)
    name = params.destination.name
    dists = download_wheels(stores.local, params.requirements, params.platforms, params.python_version,
                            params.implementation, params.index_url, params.find_links, params.no_index,
                            ca_pem=upstream_ca(params.upstream_ca_block))
    spec = spec_digest(params.model_dump(exclude={"destination", "keep_snapshots", "dry_run", "upstream_ca_block"}))
    stamp = Stamp("pip", spec, {"distributions": spec_digest({n: e.sha256 for n, e in dists.items()})})
    if read_published_stamp(stores.published) == stamp:
        log.info("wheelhouse %s: same distributions as the published snapshot: nothing to do", name)
        publish_summary("pip", name, [{"result": "unchanged", "distributions": str(len(dists))}])
        return {"changed": False, "reason": "distributions unchanged", "distributions": sorted(dists)}
    tree: dict[str, FileEntry] = {f"packages/{n}": e for n, e in dists.items()}
    tree.update(store_metadata_files(stores.local, simple_index(dists)))
    plan = plan_sync(tree, [e.sha256 for e in tree.values()], read_published_manifest(stores.local))
    publish_plan_artifact("pip", name, plan, params.dry_run)
    if params.dry_run:
        return {"changed": False, "dry_run": True, "distributions": sorted(dists)}
    sid = snapshot_id(snapshot_timestamp(), stamp.upstream["distributions"])
    build_snapshot(stores.local, sid, tree, stamp)
    publish_snapshot(stores.local, sid)
    if stores.remote is not None:
        push_snapshot(stores.local, stores.remote, sid, tree)
        publish_snapshot(stores.remote, sid)
        prune_mirror(stores.remote, params.keep_snapshots)
    prune_mirror(stores.local, params.keep_snapshots)
    publish_summary("pip", name, [{"distributions": str(len(dists)), "added": str(len(plan.added)),
                                   "removed": str(len(plan.removed)), "snapshot": sid}])
    return {"changed": True, "snapshot": sid, "distributions": sorted(dists), "url": stores.url,
            "index_url": f"{stores.url}simple/" if stores.url else None}
