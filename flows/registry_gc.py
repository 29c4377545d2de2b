"""Flow registry-gc: prune old tags by retention rules, then ``registry garbage-collect``, and report the space.

Facts -> plan -> apply, the way a registry administrator does it with the real ``distribution`` registry:

1. facts: every tag (digest via HEAD with every manifest type accepted, creation time from the image config),
   the images in use (running containers and swarm services of ``in_use_hosts``), ``du -sb`` of the storage,
   and ``garbage-collect --dry-run`` (read-only; the registry keeps serving).
2. plan (core/registry_gc.py): the newest ``keep`` tags per rule stay; protected, in-use and undated tags stay;
   a digest shared with a kept tag is never deleted; no repository loses all its tags.
3. dry run: the plan is published, nothing changes. Apply needs ``confirm=True``.
4. apply: ``DELETE /v2/<name>/manifests/<digest>`` per pruned manifest (registry running, API), then the
   registry container is STOPPED, ``registry garbage-collect [--delete-untagged]`` runs in a one-off container
   of the registry's image with its volumes, and the registry is STARTED again (always, even if GC failed).

Why stop/start rather than read-only maintenance mode: distribution's GC must not race a push (a blob uploaded
during the mark phase is swept: a corrupt image). Read-only mode (``maintenance.readonly.enabled``) keeps pulls
working but needs a configuration change and a restart to enter and another to leave, and after a sweep the
registry must restart anyway: its in-memory blob descriptor cache (``cache.blobdescriptor: inmemory``) still
believes deleted blobs exist, so a later push of the same layer would be skipped and the image left broken. One
stop/start is therefore the shortest unavailability (seconds for a registry of this size) and keeps one
configuration; schedule the run in a quiet window (weekly, Saturday 04:00 UTC by default, paused).

5. verify: deleted tags answer 404, kept tags resolve to the same digest, bytes freed = du before - du after.
"""

from __future__ import annotations

import time
from typing import cast

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from core import registry_gc as gc
from core.errors import ConfirmationRequired, RegistryError
from tasks.registry_gc import (
    delete_manifest,
    read_images_in_use,
    read_registry_image,
    read_registry_tags,
    registry_disk_usage,
    run_garbage_collect,
    start_registry,
    stop_registry,
)


class RetentionRuleParams(BaseModel):
    """Keep the newest ``keep`` tags (matching ``tags``) of every repository matching ``repositories``."""

    repositories: str = Field(description="Repository glob, e.g. 'powerops/*' or 'app'. The first matching "
                              "rule applies.")
    keep: int = Field(ge=1, description="How many of the newest tags to keep (at least 1: a repository never "
                      "loses all its tags).")
    tags: str = Field(default="*", description="Tag glob the rule applies to, e.g. 'release-*'; other tags of "
                      "the repository are left alone.")


class RegistryGcParams(BaseModel):
    """Which registry, which retention rules, what is protected, and whether to apply."""

    registry_host: str = Field(description="Docker host block name of the host that runs the registry "
                               "container (powerops-registry).")
    registry: str = Field(description="Registry block name (address, CA, credentials), e.g. as saved by "
                          "stand-up-registry.")
    rules: list[RetentionRuleParams] = Field(default_factory=list, description="Retention rules; empty = no "
                                             "tag is deleted, only unreferenced blobs are collected.")
    protected_tags: list[str] = Field(default_factory=lambda: ["latest"], description="Tag globs never "
                                      "deleted, e.g. 'latest', 'stable-*'.")
    in_use_hosts: list[str] = Field(default_factory=list, description="Docker host block names whose running "
                                    "containers and swarm services keep their images (list a swarm manager "
                                    "to protect every service's image). The registry host is always checked.")
    delete_untagged: bool = Field(default=False, description="Also remove manifests no tag points at "
                                  "(--delete-untagged). Off by default: distribution 2.8 then also removes the "
                                  "per-platform manifests of multi-arch indexes pushed by digest.")
    data_dir: str = Field(default="/var/lib/powerops/registry", description="Registry storage on the host "
                          "(measured with du before and after).")
    dry_run: bool = Field(default=True, description="Publish the plan (tags to delete, garbage-collect "
                          "--dry-run) and change nothing.")
    confirm: bool = Field(default=False, description="Confirm the deletion: tags and blobs ARE removed and the "
                          "registry is stopped for the sweep.")


@flow(name="registry-gc", log_prints=False)
def registry_gc(params: RegistryGcParams) -> dict[str, object]:
    logger = get_run_logger()
    t0 = time.monotonic()
    host = cast(DockerHost, DockerHost.load(params.registry_host))
    registry = cast(RegistryTarget, RegistryTarget.load(params.registry))
    rules = [gc.RetentionRule(r.repositories, r.keep, r.tags) for r in params.rules]

    # facts
    tags = read_registry_tags(registry)
    images: list[str] = []
    for name in dict.fromkeys([params.registry_host, *params.in_use_hosts]):
        images += read_images_in_use(host if name == params.registry_host else cast(DockerHost, DockerHost.load(name)))
    in_refs, in_digests = gc.image_refs_in_use(images, registry.address)
    before = registry_disk_usage(host, params.data_dir)
    image_id = read_registry_image(host)
    dry = run_garbage_collect(host, image_id, dry_run=True, delete_untagged=params.delete_untagged)

    # plan (raises SafetyCheckFailed if a repository would lose every tag)
    plan = gc.plan_prune(tags, rules, params.protected_tags, in_refs, in_digests)
    create_markdown_artifact(key="registry-gc-plan",
                             markdown=gc.plan_markdown(registry.address, plan, dry["report"], params.dry_run),
                             description=f"registry-gc plan for {registry.address}")
    planned = [f"delete {d.repository}:{','.join(d.tags)} ({d.digest[:19]})" for d in plan.deletions]
    if dry["report"].blobs_eligible or plan.deletions:
        planned.append("stop registry, garbage-collect" + (" --delete-untagged" if params.delete_untagged else "")
                       + ", start registry")
    result: dict[str, object] = {
        "address": registry.address, "planned": planned, "tags_read": len(tags),
        "tags_to_delete": len(plan.deleted_refs), "estimated_bytes": plan.estimated_bytes,
        "bytes_before": before, "blobs_unreferenced_now": dry["report"].blobs_eligible, "dry_run": params.dry_run,
    }
    if params.dry_run:
        logger.info("dry run: %d tag(s) would be deleted, %d blob(s) unreferenced now; nothing changed",
                    len(plan.deleted_refs), dry["report"].blobs_eligible)
        return result
    if not params.confirm:
        raise ConfirmationRequired(f"registry-gc would delete {len(plan.deleted_refs)} tag(s) on "
                                   f"{registry.address} and stop the registry for the sweep: run it with "
                                   "confirm=True (or dry_run=True to see the plan)")

    # apply
    deleted: list[str] = []
    for d in plan.deletions:
        if delete_manifest(registry, d.repository, d.digest):
            deleted += [f"{d.repository}:{t}" for t in d.tags]
    report = dry["report"]
    swept = False
    if plan.deletions or report.blobs_eligible or (params.delete_untagged and report.manifests_eligible):
        image_id = stop_registry(host)
        try:
            report = run_garbage_collect(host, image_id, dry_run=False,
                                         delete_untagged=params.delete_untagged)["report"]
            swept = True
        finally:
            start_registry(host, registry.address, registry.ca_cert)
    else:
        logger.info("nothing to delete and no unreferenced blob: the registry was not stopped")
    after = registry_disk_usage(host, params.data_dir)

    # verify
    remaining = {t.ref: t.digest for t in read_registry_tags(registry)}
    verified: list[str] = []
    problems: list[str] = []
    for ref in deleted:
        if ref in remaining:
            problems.append(f"{ref} still listed after its deletion")
    if deleted and not any(ref in remaining for ref in deleted):
        verified.append(f"{len(deleted)} deleted tag(s) no longer listed")
    for t in tags:
        if t.ref not in deleted and remaining.get(t.ref) != t.digest:
            problems.append(f"kept {t.ref} changed or vanished ({remaining.get(t.ref, 'missing')})")
    verified.append(f"{len(tags) - len(deleted)} kept tag(s) resolve to the same digest")
    freed = max(0, before - after)
    result.update({"applied": [f"deleted {r}" for r in deleted]
                   + ([f"garbage-collect removed {report.blobs_eligible} blob(s)"] if swept else []),
                   "verified": verified, "bytes_after": after, "bytes_freed": freed,
                   "blobs_removed": report.blobs_eligible if swept else 0,
                   "seconds": round(time.monotonic() - t0, 1)})
    create_table_artifact(key="registry-gc-deleted",
                          table=[{"image": r, "action": "deleted"} for r in deleted] or [{"image": "-",
                                                                                         "action": "none"}],
                          description=f"registry-gc on {registry.address}: tags deleted")
    create_markdown_artifact(
        key="registry-gc-summary",
        markdown=f"## Registry garbage collection `{registry.address}`\n\n"
                 f"* tags deleted: {len(deleted)} ({', '.join(deleted) or 'none'})\n"
                 f"* blobs removed by garbage-collect: {result['blobs_removed']}\n"
                 f"* storage: {gc.human_bytes(before)} -> {gc.human_bytes(after)}, "
                 f"**freed {gc.human_bytes(freed)}** ({freed} bytes)\n"
                 f"* verified: {'; '.join(verified)}" + (f"\n* PROBLEMS: {'; '.join(problems)}" if problems else ""),
        description="registry-gc summary")
    if problems:
        raise RegistryError("registry-gc verification failed: " + "; ".join(problems))
    logger.info("registry %s: %d tag(s) deleted, %s freed", registry.address, len(deleted), gc.human_bytes(freed))
    return result

