"""Tenant isolation ("building block") planning: facts about the cloud + the request -> a Plan.

What isolates a tenant (the seed's recipe, with the security finding applied):
* hosts: ``filter_tenant_id`` on each of the tenant's host groups, enforced by the Nova scheduler filter
  ``AggregateMultiTenancyIsolation``. The filter only keeps OTHER tenants off a tagged host: a host in no
  tagged aggregate takes anybody, so the plan warns about untagged hosts.
* storage: per-volume-type quotas (``volumes_<type>``): 0 for every type the tenant may not use.
* role: ``admin`` on a project is effectively global in OpenStack (create projects, force a host with
  ``availability_zone='nova:HOST'``): the default is a project-scoped role and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidInput
from core.powervc.errors import NotFound
from core.powervc.models import Action, Aggregate, Plan
from core.powervc.novaconf import MULTI_TENANCY_FILTER, SchedulerFilters

TENANT_KEY = "filter_tenant_id"
METADATA_VALUE_MAX = 255  # Nova's limit on an aggregate metadata value
ADMIN_ROLES = frozenset({"admin"})
ADMIN_WARNING = ("role 'admin' on a project is effectively GLOBAL in OpenStack: that user can create other "
                 "projects and force servers onto any host (availability_zone='nova:HOST'), bypassing the "
                 "host isolation; only the per-type volume quotas still hold. Use a project-scoped role "
                 "such as 'member'.")


@dataclass(frozen=True)
class IsolationRequest:
    project: str
    user: str
    role: str
    aggregates: tuple[str, ...]
    allowed_volume_types: tuple[str, ...]
    allowed_volume_quota: int
    can_create_user: bool  # a password for a new user is available

    def __post_init__(self) -> None:
        if not self.project.strip() or not self.user.strip():
            raise InvalidInput("project and user must not be empty")
        if not self.aggregates:
            raise InvalidInput("name at least one host group (aggregate) for the tenant")
        if self.allowed_volume_quota < -1:
            raise InvalidInput("allowed_volume_quota must be -1 (unlimited) or a count >= 0")


@dataclass(frozen=True)
class IsolationFacts:
    project_id: str | None
    user_id: str | None
    user_roles: tuple[str, ...]  # role names the user holds on the project
    roles: tuple[str, ...]  # role names that exist
    aggregates: tuple[Aggregate, ...]
    compute_hosts: tuple[str, ...]
    volume_types: tuple[str, ...]
    volume_quotas: dict[str, int]  # the project's cinder quota set (volumes_<type>, ...); {} if no project
    scheduler: SchedulerFilters | None  # None: the management host's nova.conf could not be read


def tenants_of(metadata: dict[str, str]) -> list[str]:
    """Project ids allowed on an aggregate: every ``filter_tenant_id*`` key, comma-separated values."""
    out: list[str] = []
    for key in sorted(metadata):
        if key.startswith(TENANT_KEY):
            out += [t.strip() for t in metadata[key].split(",") if t.strip() and t.strip() not in out]
    return out


def with_tenant(metadata: dict[str, str], project_id: str) -> dict[str, str | None]:
    """The metadata keys to set so ``project_id`` is allowed (empty if it already is). Other keys untouched;
    appended to ``filter_tenant_id``'s list, or to a new ``filter_tenant_idN`` key when the value would
    exceed Nova's 255-character limit."""
    if project_id in tenants_of(metadata):
        return {}
    keys = sorted(k for k in metadata if k.startswith(TENANT_KEY))
    for key in keys or [TENANT_KEY]:
        current = metadata.get(key, "").strip()
        value = f"{current},{project_id}" if current else project_id
        if len(value) <= METADATA_VALUE_MAX:
            return {key: value}
    n = 2
    while f"{TENANT_KEY}{n}" in metadata:
        n += 1
    return {f"{TENANT_KEY}{n}": project_id}


def without_tenant(metadata: dict[str, str], project_id: str) -> dict[str, str | None]:
    """Metadata changes removing ``project_id`` (a key left empty is deleted: None)."""
    out: dict[str, str | None] = {}
    for key, value in metadata.items():
        if not key.startswith(TENANT_KEY):
            continue
        ids = [t.strip() for t in value.split(",") if t.strip()]
        if project_id in ids:
            rest = [t for t in ids if t != project_id]
            out[key] = ",".join(rest) if rest else None
    return out


def quota_key(volume_type: str) -> str:
    return f"volumes_{volume_type}"


def plan_isolation(req: IsolationRequest, facts: IsolationFacts) -> Plan:
    actions: list[Action] = []
    ok: list[str] = []
    warnings: list[str] = []
    by_name = {a.name: a for a in facts.aggregates}
    missing = [n for n in req.aggregates if n not in by_name]
    if missing:
        raise NotFound(f"host group(s) {', '.join(missing)} do not exist (known: {', '.join(sorted(by_name))})")
    unknown_types = [t for t in req.allowed_volume_types if t not in facts.volume_types]
    if unknown_types:
        raise NotFound(f"storage template(s) {', '.join(unknown_types)} do not exist "
                       f"(known: {', '.join(facts.volume_types)})")
    if req.role not in facts.roles:
        raise NotFound(f"role {req.role!r} does not exist (known: {', '.join(sorted(facts.roles))})")

    if req.role in ADMIN_ROLES:
        warnings.append(ADMIN_WARNING)
    other_admin = [r for r in facts.user_roles if r in ADMIN_ROLES and r != req.role]
    if other_admin:
        warnings.append(f"user {req.user} already holds {', '.join(other_admin)} on {req.project}: "
                        f"it can bypass the isolation; revoke it ({ADMIN_WARNING})")

    if facts.project_id is None:
        actions.append(Action("create_project", req.project, "project does not exist"))
    else:
        ok.append(f"project {req.project} exists ({facts.project_id})")
    if facts.user_id is None:
        if not req.can_create_user:
            raise InvalidInput(f"user {req.user} does not exist and no password secret was given to create it")
        actions.append(Action("create_user", req.user, f"user does not exist; default project {req.project}"))
    else:
        ok.append(f"user {req.user} exists")
    if req.role in facts.user_roles:
        ok.append(f"{req.user} has role {req.role} on {req.project}")
    else:
        actions.append(Action("assign_role", f"{req.user}@{req.project}", f"role {req.role}",
                              {"role": req.role}))

    pid = facts.project_id
    for name in req.aggregates:
        agg = by_name[name]
        if pid is not None and pid in tenants_of(agg.metadata):
            ok.append(f"host group {name} allows {req.project}")
            continue
        change = with_tenant(agg.metadata, pid) if pid else {TENANT_KEY: "<new project id>"}
        detail = ", ".join(f"{k}={v}" for k, v in change.items())
        actions.append(Action("tag_aggregate", name, f"set {detail} (other metadata kept)",
                              {"aggregate_id": agg.id}))
    if pid is not None:
        for agg in facts.aggregates:
            if agg.name not in req.aggregates and pid in tenants_of(agg.metadata):
                actions.append(Action("untag_aggregate", agg.name,
                                      f"{req.project} is allowed here but this host group is not in the request",
                                      {"aggregate_id": agg.id}))

    tagged_hosts = {h for a in facts.aggregates if tenants_of(a.metadata) or a.name in req.aggregates
                    for h in a.hosts}
    untagged = sorted(set(facts.compute_hosts) - tagged_hosts)
    if untagged:
        warnings.append(f"host(s) {', '.join(untagged)} are in no tenant-tagged host group: the filter only keeps "
                        "OTHER tenants off tagged hosts, so this tenant (and any untagged tenant) can still "
                        "land there")

    if facts.scheduler is None:
        warnings.append("the scheduler configuration could not be read (no SSH target for the PowerVC host): "
                        f"make sure {MULTI_TENANCY_FILTER} is enabled, or the host groups isolate nothing")
    elif facts.scheduler.multi_tenancy:
        ok.append(f"scheduler filter {MULTI_TENANCY_FILTER} is enabled")
    else:
        where = (f"[{facts.scheduler.section}] {facts.scheduler.key}" if facts.scheduler.section
                 else "[filter_scheduler] enabled_filters (not set: Nova's default list)")
        actions.append(Action("enable_scheduler_filter", where,
                              f"add {MULTI_TENANCY_FILTER} and restart the scheduler"))

    for vt in facts.volume_types:
        want = req.allowed_volume_quota if vt in req.allowed_volume_types else 0
        key = quota_key(vt)
        have = facts.volume_quotas.get(key) if pid is not None else None
        if have == want:
            ok.append(f"quota {key} = {want}")
        else:
            shown = "unknown" if have is None else str(have)
            actions.append(Action("set_volume_quota", key, f"{shown} -> {want}"
                                  + (" (storage template allowed)" if want else " (storage template forbidden)"),
                                  {"key": key, "value": want}))
    return Plan(tuple(actions), tuple(ok), tuple(warnings))
