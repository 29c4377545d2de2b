"""Flow ``isolate-tenant``: a PowerVC "building block" for one tenant (host groups + storage templates).

Modes: ``plan`` (read, plan, publish the plan, change nothing), ``apply`` (plan, apply, re-plan must be empty,
verify as the tenant), ``drift`` (for a daily schedule: report differences, change nothing, fail if any),
``verify`` (only the behavioural checks).
"""

from __future__ import annotations

import time
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.blocks.system import Secret
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field

from blocks.powervc import PowerVC
from core.errors import InvalidInput, PowerOpsError
from core.powervc.errors import VerificationFailed
from core.powervc.isolation import IsolationRequest, plan_isolation
from core.powervc.models import Plan, render_plan_markdown
from tasks import powervc as t


class DriftDetected(PowerOpsError):
    """The cloud differs from the declared isolation (drift mode changes nothing)."""


class Approval(RunInput):
    """What the operator answers when an apply waits for approval (Prefect UI: Resume)."""

    approve: bool = Field(default=False, description="Apply the plan shown in the isolate-tenant-plan artifact.")


class IsolateTenantParams(BaseModel):
    cloud_block: str = Field(default="lab-powervc", description="Name of the PowerVC block (API + PowerVC host).")
    project: str = Field(description="Tenant (project) name, e.g. hb01.")
    user: str = Field(description="Tenant administrator user, e.g. hb01_admin.")
    password_secret_block: str | None = Field(
        default=None, description="Name of a Secret block holding the tenant user's password (needed to create "
        "the user and to verify as that user). Never pass the password itself.")
    role: str = Field(default="member", description="Role given to the user on the project. Not 'admin': in "
                      "OpenStack admin on a project is global and can bypass the isolation.")
    aggregates: list[str] = Field(min_length=1, description="Host groups (aggregates) that belong to the tenant.")
    allowed_volume_types: list[str] = Field(min_length=1, description="Storage templates (volume types) the tenant "
                                            "may use.")
    allowed_volume_quota: int = Field(default=10000, ge=-1, description="volumes_<type> quota for allowed types.")
    mode: Literal["plan", "apply", "drift", "verify"] = Field(default="plan", description="plan | apply | drift | verify")
    verify: bool = Field(default=True, description="After apply, verify by behaviour as the tenant user.")
    verify_flavor: str = Field(default="powerops.tiny", description="Flavor (compute template) for test servers.")
    probe_servers: int = Field(default=2, ge=1, le=10, description="Test servers booted per tenant in the checks.")
    settle_seconds: float = Field(default=5.0, ge=0, description="Pause after host-group changes before the "
                                  "checks: schedulers learn of aggregate metadata by an asynchronous fanout.")
    approval_timeout: int = Field(default=0, ge=0, description="Seconds to wait for an operator's approval "
                                  "between plan and apply (0: apply without pausing).")
    probe_role: str = Field(default="member", description="Role of the temporary other tenant's user.")
    check_other_tenant: bool = Field(default=True, description="Also check that a temporary other tenant cannot "
                                     "land on the isolated hosts.")


def _request(p: IsolateTenantParams, have_password: bool) -> IsolationRequest:
    return IsolationRequest(project=p.project, user=p.user, role=p.role, aggregates=tuple(p.aggregates),
                            allowed_volume_types=tuple(p.allowed_volume_types),
                            allowed_volume_quota=p.allowed_volume_quota, can_create_user=have_password)


def _publish_plan(p: IsolateTenantParams, plan: Plan, title: str) -> None:
    create_markdown_artifact(key="isolate-tenant-plan", markdown=render_plan_markdown(title, plan),
                             description=f"isolate-tenant {p.project}: {len(plan.actions)} change(s)")


def _apply(cloud: PowerVC, p: IsolateTenantParams, plan: Plan, password: str | None) -> list[str]:
    done: list[str] = []
    if plan.empty:
        return done
    pid = None
    if plan.of_kind("create_project"):
        pid = t.create_project(cloud, p.project, description=f"building block {p.project} (powerops)")
        done.append(f"created project {p.project}")
    facts = t.read_isolation_facts(cloud, p.project, p.user)
    pid = pid or facts.project_id
    assert pid is not None
    if plan.of_kind("create_user"):
        if password is None:
            raise InvalidInput("a password secret block is needed to create the user")
        t.create_user(cloud, p.user, pid, password)
        done.append(f"created user {p.user}")
    if plan.of_kind("assign_role"):
        t.assign_role(cloud, p.user, p.project, p.role)
        done.append(f"assigned role {p.role}")
    for a in plan.of_kind("tag_aggregate"):
        change = t.tag_aggregate(cloud, a.args["aggregate_id"], pid)
        done.append(f"host group {a.target}: {change}")
    for a in plan.of_kind("untag_aggregate"):
        change = t.untag_aggregate(cloud, a.args["aggregate_id"], pid)
        done.append(f"host group {a.target}: {change}")
    if plan.of_kind("enable_scheduler_filter"):
        backup = t.enable_scheduler_filter(cloud)
        t.restart_scheduler(cloud)
        done.append(f"enabled AggregateMultiTenancyIsolation (backup {backup}) and restarted the scheduler")
    quotas = {a.args["key"]: a.args["value"] for a in plan.of_kind("set_volume_quota")}
    if quotas:
        t.set_volume_quotas(cloud, pid, quotas)
        done.append(f"set volume quotas {quotas}")
    return done


@flow(name="isolate-tenant", log_prints=False)
def isolate_tenant(params: IsolateTenantParams) -> dict[str, object]:
    log = get_run_logger()
    cloud = PowerVC.load(params.cloud_block)
    password = Secret.load(params.password_secret_block).get() if params.password_secret_block else None
    result: dict[str, object] = {"project": params.project, "mode": params.mode}
    if params.mode != "verify":
        facts = t.read_isolation_facts(cloud, params.project, params.user)
        plan = plan_isolation(_request(params, password is not None), facts)
        for w in plan.warnings:
            log.warning(w)
        result.update(planned=[a.row() for a in plan.actions], warnings=list(plan.warnings))
        title = {"plan": "Plan", "apply": "Plan", "drift": "Drift"}[params.mode]
        _publish_plan(params, plan, f"isolate-tenant {params.project}: {title}")
        log.info("%d change(s) planned, %d already in place", len(plan.actions), len(plan.in_place))
        if params.mode == "plan":
            return result
        if params.mode == "drift":
            result["drift"] = not plan.empty
            if not plan.empty:
                raise DriftDetected(f"{params.project}: {len(plan.actions)} difference(s): "
                                    + "; ".join(f"{a.kind} {a.target}" for a in plan.actions))
            return result
        if params.approval_timeout and not plan.empty:
            answer = pause_flow_run(wait_for_input=Approval, timeout=params.approval_timeout, poll_interval=2,
                                    key="isolate-tenant-approval")
            if answer is None or not answer.approve:
                log.warning("plan not approved: nothing changed")
                result["approved"] = False
                return result
            result["approved"] = True
        result["changed"] = _apply(cloud, params, plan, password)
        after = plan_isolation(_request(params, password is not None),
                               t.read_isolation_facts(cloud, params.project, params.user))
        if not after.empty:
            raise PowerOpsError("the cloud still differs after apply: "
                                + "; ".join(f"{a.kind} {a.target}" for a in after.actions))
        if not params.verify:
            return result
        if plan.of_kind("tag_aggregate") or plan.of_kind("untag_aggregate"):
            time.sleep(params.settle_seconds)
    if password is None:
        raise InvalidInput("verification logs in as the tenant user: give password_secret_block")
    checks = t.verify_isolation(cloud, params.project, params.user, password, params.aggregates,
                                params.allowed_volume_types, params.verify_flavor, params.probe_servers,
                                params.check_other_tenant, params.probe_role)
    create_table_artifact(key="isolate-tenant-verification", table=[c.row() for c in checks],
                          description=f"isolate-tenant {params.project}: behaviour checks as {params.user}")
    result["verified"] = [c.row() for c in checks]
    failed = [f"{c.name}: {c.observed}" for c in checks if not c.passed]
    changed = result.get("changed") or []
    create_markdown_artifact(key="isolate-tenant-summary", markdown="\n".join([
        f"# isolate-tenant {params.project} ({params.mode})", "",
        f"- planned: {len(result.get('planned') or [])} change(s)",
        f"- changed: {len(changed)}", *[f"  - {c}" for c in changed],  # type: ignore[union-attr]
        f"- verified: {len(checks) - len(failed)}/{len(checks)} checks passed as {params.user}",
        *[f"  - FAILED {f}" for f in failed], ""]), description=f"isolate-tenant {params.project}: summary")
    if failed:
        raise VerificationFailed(failed)
    return result
