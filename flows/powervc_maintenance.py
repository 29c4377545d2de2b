"""PowerVC maintenance flows (meant for scheduled deployments), all plan-first:

* ``powervc-group-snapshots``: snapshot a generic volume group (consistency group), prune the oldest beyond a
  retention count, prove one restore-ready snapshot exists (optionally by restoring it into a scratch group).
* ``powervc-quota-class``: quota class limits, e.g. ``gigabytes=-1`` ("above the petabyte").
* ``powervc-cinder-limits``: ``osapi_max_limit`` in every cinder configuration file; reports the ones that
  disagree ("above 10000 LUNs"), changes nothing.
* ``powervc-ceilometer-retention``: ``powervc-config metering event_ttl`` then ``ceilometer-expirer`` on the
  PowerVC host (as before an upgrade).
* ``powervc-reset-instances`` / ``powervc-detach-ghost-volumes``: guarded repairs through the API (the seed
  edited the nova/cinder databases): plan, backup of the records, ``confirm=True``, safety re-check.
"""

from __future__ import annotations

import datetime
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from blocks.powervc import PowerVC
from core.errors import PowerOpsError, SafetyCheckFailed
from core.powervc import healthdb, maintenance, novaconf
from core.powervc.errors import VerificationFailed
from core.powervc.models import Plan, render_plan_markdown
from tasks import powervc as t

Mode = Literal["plan", "apply"]


def _publish(key: str, title: str, plan: Plan) -> None:
    create_markdown_artifact(key=key, markdown=render_plan_markdown(title, plan),
                             description=f"{title}: {len(plan.actions)} change(s)")


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


# -- group snapshots -------------------------------------------------------------------------------------------

class GroupSnapshotParams(BaseModel):
    cloud_block: str = Field(default="lab-powervc", description="Name of the PowerVC block.")
    group: str = Field(description="Volume group (consistency group) name or id.")
    keep: int = Field(default=7, ge=1, description="How many of this flow's snapshots to keep.")
    prefix: str = Field(default="powerops-", description="Name prefix of the snapshots this flow makes and prunes "
                        "(others are never pruned).")
    mode: Mode = Field(default="apply", description="plan: show what would happen; apply: snapshot and prune.")
    verify_restore: bool = Field(default=False, description="Prove restore readiness by creating a scratch group "
                                 "from the newest snapshot and deleting it again.")


@flow(name="powervc-group-snapshots")
def powervc_group_snapshots(params: GroupSnapshotParams) -> dict[str, object]:
    log = get_run_logger()
    cloud = PowerVC.load(params.cloud_block)
    group, snaps = t.read_group_snapshots(cloud, params.group)
    name = maintenance.snapshot_name(params.prefix, group["name"], _stamp())
    # the plan counts the snapshot about to be made as the newest one
    projected = [*snaps, maintenance.GroupSnapshot("(new)", name, "available", "9999")]
    plan = maintenance.plan_retention(projected, params.keep, params.prefix)
    _publish("powervc-group-snapshots-plan", f"group {group['name']}: snapshot {name}, retention {params.keep}",
             plan)
    result: dict[str, object] = {"group": group["name"], "snapshot": name,
                                 "prune": [a.target for a in plan.actions]}
    if params.mode == "plan":
        return result
    sid = t.create_group_snapshot(cloud, group["id"], name)
    log.info("group snapshot %s (%s) is available", name, sid)
    _, snaps = t.read_group_snapshots(cloud, params.group)
    prune = maintenance.plan_retention(snaps, params.keep, params.prefix)
    for a in prune.actions:
        t.delete_group_snapshot(cloud, a.args["id"])
    _, snaps = t.read_group_snapshots(cloud, params.group)
    ready = maintenance.restore_ready(snaps, params.prefix)
    ours = sorted((s for s in snaps if s.name.startswith(params.prefix)), key=lambda s: (s.created_at, s.name))
    rows = [{"snapshot": s.name, "status": s.status, "created": s.created_at} for s in ours]
    create_table_artifact(key="powervc-group-snapshots", table=rows,
                          description=f"snapshots of {group['name']} after retention {params.keep}")
    failed = []
    if ready is None:
        failed.append("no available snapshot of this flow remains")
    if len(ours) > params.keep:
        failed.append(f"{len(ours)} snapshots remain, more than keep={params.keep}")
    result.update(pruned=[a.target for a in prune.actions], remaining=[s.name for s in ours],
                  restore_ready=ready.name if ready else None)
    if ready is not None and params.verify_restore:
        result["restore_check"] = t.verify_group_restore(cloud, ready.id, f"{params.prefix}restore-check-{_stamp()}")
    if failed:
        raise VerificationFailed(failed)
    return result


# -- quota class -----------------------------------------------------------------------------------------------

class QuotaClassParams(BaseModel):
    cloud_block: str = Field(default="lab-powervc", description="Name of the PowerVC block.")
    quota_class: str = Field(default="default", description="Cinder quota class.")
    limits: dict[str, int] = Field(default_factory=lambda: {"gigabytes": -1},
                                   description="Limits to set; -1 = unlimited (the seed's 'above the petabyte').")
    mode: Mode = Field(default="plan", description="plan | apply")


@flow(name="powervc-quota-class")
def powervc_quota_class(params: QuotaClassParams) -> dict[str, object]:
    cloud = PowerVC.load(params.cloud_block)
    current = t.read_quota_class(cloud, params.quota_class)
    plan = maintenance.plan_quota_class(current, params.limits, params.quota_class)
    _publish("powervc-quota-class-plan", f"cinder quota class {params.quota_class}", plan)
    result: dict[str, object] = {"planned": [a.row() for a in plan.actions]}
    if params.mode == "plan" or plan.empty:
        return result
    t.set_quota_class(cloud, params.quota_class, {a.args["key"]: a.args["value"] for a in plan.actions})
    after = maintenance.plan_quota_class(t.read_quota_class(cloud, params.quota_class), params.limits,
                                         params.quota_class)
    if not after.empty:
        raise VerificationFailed([f"{a.target} still {a.detail}" for a in after.actions])
    result["changed"] = [a.target for a in plan.actions]
    return result


# -- osapi_max_limit in every cinder configuration file ---------------------------------------------------------

class CinderLimitParams(BaseModel):
    cloud_block: str = Field(default="lab-powervc", description="Name of the PowerVC block (paths come from it).")
    expected: int = Field(default=15000, ge=1, description="osapi_max_limit every file should have.")
    extra_paths: list[str] = Field(default_factory=list, description="More cinder configuration files to check.")
    fail_on_disagreement: bool = Field(default=True, description="Fail the run when a file disagrees.")


@flow(name="powervc-cinder-limits")
def powervc_cinder_limits(params: CinderLimitParams) -> dict[str, object]:
    cloud = PowerVC.load(params.cloud_block)
    files = t.read_remote_files(cloud, [*cloud.cinder_conf_paths, *params.extra_paths])
    findings = novaconf.check_osapi_max_limit(files, params.expected)
    create_table_artifact(key="powervc-cinder-limits", table=[
        {"file": f.path, "osapi_max_limit": "" if f.value is None else str(f.value),
         "effective": str(f.effective) if f.readable else "", "verdict": "agrees" if f.agrees else "DISAGREES"}
        for f in findings], description=f"osapi_max_limit, expected {params.expected}")
    bad = [f.describe() for f in findings if not f.agrees]
    if bad and params.fail_on_disagreement:
        raise SafetyCheckFailed("cinder configuration files disagree: " + "; ".join(bad))
    return {"agree": [f.path for f in findings if f.agrees], "disagree": bad}


# -- ceilometer retention ---------------------------------------------------------------------------------------

class CeilometerRetentionParams(BaseModel):
    cloud_block: str = Field(default="lab-powervc", description="Name of the PowerVC block.")
    ttl: int = Field(default=2, ge=1, description="Event retention (the seed sets 2 hours before an upgrade).")
    unit: Literal["hr", "day"] = Field(default="hr", description="Unit of ttl.")
    expire: bool = Field(default=True, description="Run ceilometer-expirer after setting the TTL.")
    mode: Mode = Field(default="plan", description="plan | apply")


@flow(name="powervc-ceilometer-retention")
def powervc_ceilometer_retention(params: CeilometerRetentionParams) -> dict[str, object]:
    cloud = PowerVC.load(params.cloud_block)
    current = t.read_event_ttl(cloud)
    desired = maintenance.EventTtl(params.ttl, params.unit)
    plan = maintenance.plan_event_ttl(current, desired, params.expire)
    _publish("powervc-ceilometer-plan", "ceilometer event retention", plan)
    result: dict[str, object] = {"before": str(current), "planned": [a.row() for a in plan.actions]}
    if params.mode == "plan":
        return result
    if plan.of_kind("set_event_ttl"):
        result["set"] = t.set_event_ttl(cloud, params.ttl, params.unit)
        after = t.read_event_ttl(cloud)
        if after.seconds != desired.seconds:
            raise VerificationFailed([f"event_ttl is {after}, wanted {desired}"])
        result["after"] = str(after)
    if plan.of_kind("run_expirer"):
        result["expirer"] = t.run_ceilometer_expirer(cloud)
    return result


# -- guarded repairs -------------------------------------------------------------------------------------------

class GuardedRepairParams(BaseModel):
    """What every guarded repair takes: plan first, apply only with ``confirm`` and under ``max_changes``."""

    cloud_block: str = Field(default="lab-powervc", description="Name of the PowerVC block.")
    mode: Mode = Field(default="plan", description="plan | apply")
    confirm: bool = Field(default=False, description="Required to apply.")
    max_changes: int = Field(default=10, ge=1, description="Safety: refuse to change more records than this.")


class ResetInstancesParams(GuardedRepairParams):
    servers: list[str] = Field(default_factory=list, description="Server names or ids to consider (empty: every "
                               "server in ERROR).")
    state: Literal["active", "error"] = Field(default="active", description="State to reset to.")
    backup_dir: str = Field(default="/var/backups/powerops/powervc", description="Where the server records are "
                            "saved (on the machine running the flow) before the reset.")


@flow(name="powervc-reset-instances")
def powervc_reset_instances(params: ResetInstancesParams) -> dict[str, object]:
    cloud = PowerVC.load(params.cloud_block)
    plan = maintenance.plan_state_reset(t.read_server_states(cloud), params.servers, params.state)
    _publish("powervc-reset-instances-plan", "reset instance state (API os-resetState)", plan)
    result: dict[str, object] = {"planned": [a.row() for a in plan.actions]}
    if params.mode == "plan" or plan.empty:
        return result
    maintenance.guard_repair(len(plan.actions), "server(s) to reset", params.confirm, params.max_changes)
    result["backup"] = t.backup_records(cloud, "server", [a.args["id"] for a in plan.actions], params.backup_dir)
    # safety re-check just before the change: only servers still in error
    again = {a.args["id"] for a in maintenance.plan_state_reset(t.read_server_states(cloud), params.servers,
                                                                params.state).actions}
    for a in plan.actions:
        if a.args["id"] not in again:
            raise SafetyCheckFailed(f"{a.target} changed state since the plan; nothing more was reset")
        t.reset_server_state(cloud, a.args["id"], a.args["state"])
    after = maintenance.plan_state_reset(t.read_server_states(cloud), params.servers, params.state)
    if params.state == "active" and {a.args["id"] for a in after.actions} & again:
        raise VerificationFailed([f"{a.target} is still in error" for a in after.actions])
    result["reset"] = [a.target for a in plan.actions]
    return result


class GhostVolumeParams(GuardedRepairParams):
    backup_dir: str = Field(default="/var/backups/powerops/powervc", description="Where the volume records are "
                            "saved (on the machine running the flow) before the repair.")


@flow(name="powervc-detach-ghost-volumes")
def powervc_detach_ghost_volumes(params: GhostVolumeParams) -> dict[str, object]:
    cloud = PowerVC.load(params.cloud_block)
    volumes, servers = t.read_volume_attachments(cloud)
    plan = maintenance.plan_ghost_detach(volumes, servers)
    _publish("powervc-ghost-volumes-plan", "ghost volume repair (API force-detach + reset-status)", plan)
    result: dict[str, object] = {"planned": [a.row() for a in plan.actions]}
    if params.mode == "plan" or plan.empty:
        return result
    volume_ids = sorted({a.args["volume_id"] for a in plan.actions})
    maintenance.guard_repair(len(volume_ids), "volume(s) to repair", params.confirm, params.max_changes)
    result["backup"] = t.backup_records(cloud, "volume", volume_ids, params.backup_dir)
    _, servers_now = t.read_volume_attachments(cloud)
    reborn = [a for a in plan.of_kind("force_detach") if a.detail.rsplit(" ", 1)[-1] in servers_now]
    if reborn:
        raise SafetyCheckFailed("server(s) reappeared since the plan: " + ", ".join(a.detail for a in reborn))
    for a in plan.actions:
        if a.kind == "force_detach":
            t.force_detach_volume(cloud, a.args["volume_id"], a.args["attachment_id"])
        elif a.kind == "reset_volume_status":
            t.reset_volume_status(cloud, a.args["volume_id"])
    volumes, servers = t.read_volume_attachments(cloud)
    left = maintenance.plan_ghost_detach(volumes, servers)
    if not left.empty:
        raise VerificationFailed([f"{a.kind} {a.target}: {a.detail}" for a in left.actions])
    result["repaired"] = volume_ids
    if not volume_ids:
        raise PowerOpsError("nothing was repaired although the plan had actions")
    return result


class ResetHealthDbParams(GuardedRepairParams):
    servers: list[str] = Field(default_factory=list, description="Only these servers (display names or row ids); "
                               "empty: every WARNING row.")
    reasons: list[str] = Field(default_factory=list, description="Only rows whose reason matches, e.g. "
                               "'vm_state=deleted' or 'rmc_state'; empty: any reason.")
    confirm: bool = Field(default=False, description="Required to apply: this edits PowerVC's database.")
    max_changes: int = Field(default=20, ge=1, description="Safety: refuse to touch more rows than this.")


@flow(name="powervc-reset-health-db")
def powervc_reset_health_db(params: ResetHealthDbParams) -> dict[str, object]:
    """PowerVC's instance health states (WARNING -> PENDING, re-evaluated by PowerVC): no API exists, so this
    is the database route, guarded: plan, explicit confirm, a mysqldump backup on the host, exact row ids."""
    cloud = PowerVC.load(params.cloud_block)
    plan = healthdb.plan_health_reset(t.read_health_rows(cloud), params.servers, params.reasons)
    _publish("powervc-health-db-plan", "reset PowerVC instance health (database)", plan)
    result: dict[str, object] = {"planned": [a.row() for a in plan.actions]}
    if params.mode == "plan" or plan.empty:
        return result
    maintenance.guard_repair(len(plan.actions), "database row(s) to change", params.confirm, params.max_changes)
    result["backup"] = t.backup_health_table(cloud)
    ids = [a.args["id"] for a in plan.actions]
    changed = t.update_health_rows(cloud, ids)
    left = {r.id for r in t.read_health_rows(cloud)} & set(ids)
    if left:
        raise VerificationFailed([f"row {i} is still WARNING" for i in sorted(left)])
    result["changed_rows"] = changed
    return result
