"""Thin Prefect tasks for PowerVC / OpenStack: read facts, make one change each, verify by behaviour.

API calls go through ``seams.openstack`` (one connection factory, errors translated there); files and
commands on the PowerVC management host go through ``seams.ssh``. Planning and parsing live in core.powervc.
"""

from __future__ import annotations

import datetime
import secrets as pysecrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import openstack.connection
from openstack import exceptions as sdk_exc
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.powervc import PowerVC
from core.errors import InvalidInput, PowerOpsError
from core.powervc import healthdb, isolation, maintenance, novaconf, parse
from core.powervc.errors import ApiError, ApiForbidden, ApiNotFound, ApiOverQuota, NotFound
from core.powervc.models import Aggregate
from seams.openstack import OpenStackParams, connect, request, translate_errors
from seams.ssh import SshConnection

_CONN: dict[tuple[str, str, str], tuple[float, openstack.connection.Connection]] = {}
_CONN_LOCK = threading.Lock()
_CONN_TTL = 600.0


def admin_conn(cloud: PowerVC) -> openstack.connection.Connection:
    """A (process-cached) admin connection to the cloud."""
    return _cached(cloud.params())


def _cached(params: OpenStackParams) -> openstack.connection.Connection:
    key = (params.auth_url, params.username, params.project_name)
    with _CONN_LOCK:
        hit = _CONN.get(key)
        if hit and time.monotonic() - hit[0] < _CONN_TTL:
            return hit[1]
    conn = connect(params)
    with _CONN_LOCK:
        _CONN[key] = (time.monotonic(), conn)
    return conn


def _ssh(cloud: PowerVC) -> SshConnection:
    if cloud.ssh is None:
        raise InvalidInput("this operation needs the PowerVC management host: set the block's ssh target")
    return cloud.ssh.connect()


def _host(cloud: PowerVC) -> str:
    return cloud.params().host


def _conn_host(conn: openstack.connection.Connection) -> str:
    return urlparse(str(conn.auth["auth_url"])).hostname or "cloud"


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 300.0, interval: float = 1.0) -> Any:
    """Poll ``probe`` until it returns a truthy value; raise PowerOpsError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise PowerOpsError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- facts -----------------------------------------------------------------------------------------------

def _aggregates(conn: openstack.connection.Connection) -> tuple[Aggregate, ...]:
    return parse.aggregates(request(conn, "compute", "GET", "/os-aggregates", "list host groups"))


def _project_id(conn: openstack.connection.Connection, name: str) -> str | None:
    p = conn.identity.find_project(name, domain_id="default", ignore_missing=True)
    return str(p.id) if p else None


def _user_id(conn: openstack.connection.Connection, name: str) -> str | None:
    u = conn.identity.find_user(name, domain_id="default", ignore_missing=True)
    return str(u.id) if u else None


def _user_roles(conn: openstack.connection.Connection, user_id: str | None, project_id: str | None) -> tuple[str, ...]:
    if not user_id or not project_id:
        return ()
    body = request(conn, "identity", "GET",
                   f"/role_assignments?user.id={user_id}&scope.project.id={project_id}&include_names=true",
                   "list role assignments")
    return parse.role_names(body)


def _volume_quotas(conn: openstack.connection.Connection, project_id: str | None) -> dict[str, int]:
    if not project_id:
        return {}
    return parse.quota_set(request(conn, "block_storage", "GET", f"/os-quota-sets/{project_id}",
                                   "read volume quotas"))


def _read_nova_conf(cloud: PowerVC) -> str:
    data = _ssh(cloud).read_file(cloud.nova_conf_path)
    if data is None:
        raise NotFound(f"{cloud.nova_conf_path} does not exist on the PowerVC host {cloud.ssh.host if cloud.ssh else ''}")
    return data.decode()


@task(name="read_isolation_facts", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_isolation_facts(cloud: PowerVC, project: str, user: str) -> isolation.IsolationFacts:
    conn = admin_conn(cloud)
    pid = _project_id(conn, project)
    uid = _user_id(conn, user)
    hosts = tuple(sorted({s.host for s in conn.compute.services(binary="nova-compute")}))
    scheduler = novaconf.scheduler_filters(_read_nova_conf(cloud)) if cloud.ssh else None
    return isolation.IsolationFacts(
        project_id=pid, user_id=uid, user_roles=_user_roles(conn, uid, pid),
        roles=tuple(sorted(r.name for r in conn.identity.roles())),
        aggregates=_aggregates(conn), compute_hosts=hosts,
        volume_types=tuple(sorted(t.name for t in conn.block_storage.types())),
        volume_quotas=_volume_quotas(conn, pid), scheduler=scheduler)


# -- changes (one side effect each) ------------------------------------------------------------------------

@task(name="create_project", cache_policy=NO_CACHE)
def create_project(cloud: PowerVC, name: str, description: str = "") -> str:
    conn = admin_conn(cloud)
    existing = _project_id(conn, name)
    if existing:
        return existing
    return str(conn.identity.create_project(name=name, domain_id="default", description=description).id)


@task(name="create_user", cache_policy=NO_CACHE)
def create_user(cloud: PowerVC, name: str, project_id: str, password: str) -> str:
    conn = admin_conn(cloud)
    existing = _user_id(conn, name)
    if existing:
        return existing
    return str(conn.identity.create_user(name=name, password=password, domain_id="default",
                                         default_project_id=project_id).id)


@task(name="assign_role", cache_policy=NO_CACHE)
def assign_role(cloud: PowerVC, user: str, project: str, role: str) -> None:
    conn = admin_conn(cloud)
    conn.identity.assign_project_role_to_user(
        conn.identity.find_project(project, domain_id="default"),
        conn.identity.find_user(user, domain_id="default"), conn.identity.find_role(role))


def _set_metadata(conn: openstack.connection.Connection, aggregate_id: str, change: dict[str, str | None],
                  what: str) -> None:
    if change:
        request(conn, "compute", "POST", f"/os-aggregates/{aggregate_id}/action", what,
                json={"set_metadata": {"metadata": change}})


def _aggregate(conn: openstack.connection.Connection, aggregate_id: str) -> Aggregate:
    for a in _aggregates(conn):
        if a.id == aggregate_id:
            return a
    raise NotFound(f"host group {aggregate_id} disappeared")


@task(name="tag_aggregate", cache_policy=NO_CACHE)
def tag_aggregate(cloud: PowerVC, aggregate_id: str, project_id: str) -> dict[str, str | None]:
    """Allow ``project_id`` on the aggregate (re-reads the metadata: concurrent edits are kept)."""
    conn = admin_conn(cloud)
    change = isolation.with_tenant(_aggregate(conn, aggregate_id).metadata, project_id)
    _set_metadata(conn, aggregate_id, change, "tag host group")
    return change


@task(name="untag_aggregate", cache_policy=NO_CACHE)
def untag_aggregate(cloud: PowerVC, aggregate_id: str, project_id: str) -> dict[str, str | None]:
    conn = admin_conn(cloud)
    change = isolation.without_tenant(_aggregate(conn, aggregate_id).metadata, project_id)
    _set_metadata(conn, aggregate_id, change, "untag host group")
    return change


@task(name="set_volume_quotas", cache_policy=NO_CACHE)
def set_volume_quotas(cloud: PowerVC, project_id: str, values: dict[str, int]) -> None:
    if values:
        request(admin_conn(cloud), "block_storage", "PUT", f"/os-quota-sets/{project_id}",
                "update volume quotas", json={"quota_set": values})


def backup_remote_file(ssh: SshConnection, path: str, backup_dir: str) -> str:
    data = ssh.read_file(path)
    if data is None:
        raise NotFound(f"{path} does not exist on {ssh.host}")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    target = f"{backup_dir.rstrip('/')}/{path.strip('/').replace('/', '_')}.{stamp}"
    ssh.write_file(target, data, 0o600)
    return target


@task(name="enable_scheduler_filter", cache_policy=NO_CACHE)
def enable_scheduler_filter(cloud: PowerVC) -> str:
    """Back up nova.conf, add AggregateMultiTenancyIsolation; returns the backup path (no restart here)."""
    ssh = _ssh(cloud)
    text = _read_nova_conf(cloud)
    new = novaconf.with_filter(text)
    if new == text:
        return ""
    backup = backup_remote_file(ssh, cloud.nova_conf_path, cloud.backup_dir)
    ssh.write_file(cloud.nova_conf_path, new.encode(), 0o640)
    get_run_logger().info("added %s to %s (backup %s)", novaconf.MULTI_TENANCY_FILTER, cloud.nova_conf_path, backup)
    return backup


@task(name="restart_scheduler", cache_policy=NO_CACHE)
def restart_scheduler(cloud: PowerVC, timeout: float = 600.0) -> str:
    """``powervc-services restart [scheduler services]`` then wait until Nova reports a fresh scheduler."""
    conn = admin_conn(cloud)
    started = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    out = _ssh(cloud).run([*cloud.services_command, "restart", *cloud.scheduler_service_names], timeout=timeout)

    def fresh() -> bool:
        for s in conn.compute.services(binary="nova-scheduler"):
            updated = datetime.datetime.fromisoformat(str(s.updated_at).replace("Z", "")) if s.updated_at else None
            if s.state == "up" and updated and updated > started:
                return True
        return False

    wait_for("the restarted nova-scheduler to report in", fresh, timeout=timeout, interval=2)
    return out.stdout


# -- verification as the tenant ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    observed: str
    passed: bool

    def row(self) -> dict[str, str]:
        return {"check": self.name, "expected": self.expected, "observed": self.observed,
                "result": "PASS" if self.passed else "FAIL"}


class _Scratch:
    """Servers and volumes a verification creates; all deleted at the end whatever happened."""

    def __init__(self, admin: openstack.connection.Connection) -> None:
        self.admin = admin
        self.servers: list[str] = []
        self.volumes: list[str] = []

    def cleanup(self) -> list[str]:
        """Delete everything made; returns what could not be removed (reported, never raised)."""
        problems: list[str] = []
        for sid in self.servers:
            try:
                self.admin.compute.delete_server(sid, ignore_missing=True)
            except Exception as exc:  # noqa: BLE001 - best effort, reported
                problems.append(f"server {sid}: {exc}")
        for sid in self.servers:
            try:
                wait_for(f"server {sid} to go", lambda s=sid: self.admin.compute.find_server(
                    s, ignore_missing=True, all_projects=True) is None, timeout=180, interval=1)
            except PowerOpsError as exc:
                problems.append(str(exc))
        for vid in self.volumes:
            try:
                vol = self.admin.block_storage.find_volume(vid, ignore_missing=True, all_projects=True)
                if vol is not None:
                    if vol.status not in ("available", "error"):
                        self.admin.block_storage.reset_volume_status(vol, "available", "detached", None)
                    self.admin.block_storage.delete_volume(vid, ignore_missing=True, force=True)
            except Exception as exc:  # noqa: BLE001 - best effort, reported
                problems.append(f"volume {vid}: {exc}")
        self.servers.clear()
        self.volumes.clear()
        return problems


def _bootable_volume(conn: openstack.connection.Connection, scratch: _Scratch, volume_type: str,
                     name: str) -> str:
    with translate_errors(_conn_host(conn), f"create volume of type {volume_type!r}"):
        vol = conn.block_storage.create_volume(size=1, volume_type=volume_type, name=name)
    scratch.volumes.append(vol.id)
    try:
        vol = conn.block_storage.wait_for_status(vol, status="available", failures=["error"], interval=1,
                                                 wait=180)
    except (sdk_exc.ResourceFailure, sdk_exc.ResourceTimeout) as exc:
        raise PowerOpsError(f"volume {name} of type {volume_type!r} did not become available: {exc}") from None
    conn.block_storage.set_volume_bootable_status(vol, True)
    return str(vol.id)


def _boot(conn: openstack.connection.Connection, admin: openstack.connection.Connection, scratch: _Scratch,
          name: str, flavor_id: str, volume_id: str, az: str | None = None) -> tuple[str, str, str]:
    """Boot from a volume; returns (status, host, fault) once ACTIVE or ERROR (host seen by the admin)."""
    bdm = [{"boot_index": 0, "uuid": volume_id, "source_type": "volume", "destination_type": "volume",
            "delete_on_termination": True}]
    kwargs: dict[str, Any] = {"name": name, "flavor_id": flavor_id, "block_device_mapping": bdm,
                              "networks": "none"}
    if az:
        kwargs["availability_zone"] = az
    with translate_errors(_conn_host(conn), f"create server {name}"):
        server = conn.compute.create_server(**kwargs)
    scratch.servers.append(server.id)

    def settled() -> Any:
        s = admin.compute.get_server(server.id)
        return s if s.status in ("ACTIVE", "ERROR") else None

    s = wait_for(f"server {name} to boot", settled, timeout=300, interval=1)
    fault = (s.fault or {}).get("message", "") if s.status == "ERROR" else ""
    return str(s.status), str(s.compute_host or ""), str(fault)


@contextmanager
def _probe_tenant(admin: openstack.connection.Connection, cloud: PowerVC, base: str, role: str = "member",
                  ) -> Iterator[openstack.connection.Connection]:
    """A throw-away project + member user (random password, never logged), removed afterwards."""
    name = f"{base}-probe-{uuid.uuid4().hex[:6]}"
    password = pysecrets.token_urlsafe(24)
    project = admin.identity.create_project(name=name, domain_id="default",
                                            description="powerops isolation probe (temporary)")
    user = admin.identity.create_user(name=name, password=password, domain_id="default",
                                      default_project_id=project.id)
    try:
        admin.identity.assign_project_role_to_user(project, user, admin.identity.find_role(role))
        yield connect(cloud.params().with_user(name, password, name))
    finally:
        admin.identity.delete_user(user, ignore_missing=True)
        admin.identity.delete_project(project, ignore_missing=True)


@task(name="verify_isolation", cache_policy=NO_CACHE)
def verify_isolation(cloud: PowerVC, project: str, user: str, password: str, aggregates: list[str],
                     allowed_volume_types: list[str], flavor: str, probe_servers: int = 2,
                     check_other_tenant: bool = True, probe_role: str = "member") -> list[Check]:
    """Behavioural checks as the tenant user (and a temporary other tenant); cleans up what it creates."""
    admin = admin_conn(cloud)
    aggs = {a.name: a for a in _aggregates(admin)}
    allowed_hosts = sorted({h for n in aggregates for h in aggs[n].hosts})
    zones = {s.host: s.availability_zone or "nova" for s in admin.compute.services(binary="nova-compute")}
    all_hosts = sorted(zones)
    outside = [h for h in all_hosts if h not in allowed_hosts]
    types = sorted(t.name for t in admin.block_storage.types())
    forbidden = [t for t in types if t not in allowed_volume_types]
    fl = admin.compute.find_flavor(flavor, ignore_missing=True)
    if fl is None:
        raise NotFound(f"flavor {flavor!r} does not exist")
    checks: list[Check] = []
    tenant = connect(cloud.params().with_user(user, password, project))
    scratch = _Scratch(admin)
    tag = uuid.uuid4().hex[:6]
    checks.append(_tenant_cannot_admin(tenant))
    leftovers: list[str] = []
    try:
        # 1+2: servers boot only on allowed hosts (each from a volume of an allowed type: check 2 too)
        landed = []
        for i in range(probe_servers):
            try:
                vid = _bootable_volume(tenant, scratch, allowed_volume_types[0], f"powerops-verify-{tag}-{i}")
                if i == 0:
                    checks.append(Check(f"volume of allowed type '{allowed_volume_types[0]}'", "created",
                                        "available", True))
            except PowerOpsError as exc:
                checks.append(Check(f"volume of allowed type '{allowed_volume_types[0]}'", "created",
                                    f"failed: {str(exc)[:160]}", False))
                break
            status, host, fault = _boot(tenant, admin, scratch, f"powerops-verify-{tag}-{i}", fl.id, vid)
            landed.append(f"{status}@{host or '-'}" + (f" ({fault[:80]})" if fault else ""))
            ok = status == "ACTIVE" and host in allowed_hosts
            checks.append(Check(f"tenant server {i + 1} boots on an allowed host",
                                f"ACTIVE on one of {', '.join(allowed_hosts)}", landed[-1], ok))
        # 2b: every other allowed storage template works too
        for vt in allowed_volume_types[1:]:
            try:
                _bootable_volume(tenant, scratch, vt, f"powerops-verify-{tag}-{vt[:20]}")
                checks.append(Check(f"volume of allowed type '{vt}'", "created", "available", True))
            except PowerOpsError as exc:
                checks.append(Check(f"volume of allowed type '{vt}'", "created", f"failed: {str(exc)[:160]}",
                                    False))
        # 3: forbidden storage templates are refused with the over-quota error
        for vt in forbidden:
            try:
                with translate_errors(_conn_host(tenant), f"create volume of type {vt!r}"):
                    vol = tenant.block_storage.create_volume(size=1, volume_type=vt, name=f"powerops-verify-{tag}-x")
                scratch.volumes.append(vol.id)
                checks.append(Check(f"volume of forbidden type '{vt}'", "413 over quota", "created", False))
            except ApiOverQuota as exc:
                checks.append(Check(f"volume of forbidden type '{vt}'", "413 over quota",
                                    f"refused: {exc.detail[:160]}", True))
            except ApiError as exc:
                checks.append(Check(f"volume of forbidden type '{vt}'", "413 over quota",
                                    f"other error {exc.status}: {exc.detail[:120]}", False))
        # 4: the tenant user cannot force a host outside its aggregates
        if outside:
            vid = _bootable_volume(tenant, scratch, allowed_volume_types[0], f"powerops-verify-{tag}-f")
            try:
                status, host, fault = _boot(tenant, admin, scratch, f"powerops-verify-{tag}-f", fl.id, vid,
                                            az=f"{zones[outside[0]]}:{outside[0]}")
                checks.append(Check(f"tenant forces host {outside[0]}", "refused (403)",
                                    f"accepted: {status}@{host or '-'}", status != "ACTIVE"
                                    or host in allowed_hosts))
            except ApiForbidden as exc:
                checks.append(Check(f"tenant forces host {outside[0]}", "refused (403)",
                                    f"refused: {exc.detail[:120]}", True))
        elif not outside:
            checks.append(Check("tenant forces a host outside its host groups", "refused",
                                "skipped: every host belongs to the tenant", True))
        # 5: another tenant cannot land on the isolated hosts
        if check_other_tenant:
            with _probe_tenant(admin, cloud, project, probe_role) as other:
                for i in range(probe_servers):
                    vid = _bootable_volume(other, scratch, allowed_volume_types[0], f"powerops-probe-{tag}-{i}")
                    status, host, fault = _boot(other, admin, scratch, f"powerops-probe-{tag}-{i}", fl.id, vid)
                    ok = not (status == "ACTIVE" and host in allowed_hosts)
                    checks.append(Check(f"other tenant server {i + 1} stays off the isolated hosts",
                                        f"not on {', '.join(allowed_hosts)} (or no valid host)",
                                        f"{status}@{host or '-'}" + (f" ({fault[:60]})" if fault else ""), ok))
                leftovers += scratch.cleanup()  # before the probe project goes
    finally:
        leftovers += scratch.cleanup()
    if leftovers:
        get_run_logger().warning("verification left objects behind: %s", "; ".join(leftovers))
    return checks


def _tenant_cannot_admin(tenant: openstack.connection.Connection) -> Check:
    """A project-scoped user gets 403 on the admin-only APIs (host groups)."""
    try:
        request(tenant, "compute", "GET", "/os-aggregates", "list host groups as the tenant")
        return Check("tenant lists host groups", "403", "allowed", False)
    except ApiForbidden:
        return Check("tenant lists host groups", "403", "403", True)
    except ApiNotFound as exc:
        return Check("tenant lists host groups", "403", f"404 {exc.detail[:60]}", False)


# -- maintenance: generic volume group snapshots -------------------------------------------------------------

GROUPS_MV = "3.14"


def _find_group(conn: openstack.connection.Connection, name: str) -> dict[str, Any]:
    body = request(conn, "block_storage", "GET", "/groups/detail?all_tenants=1", "list volume groups",
                   microversion=GROUPS_MV)
    found = [g for g in body["groups"] if g["name"] == name or g["id"] == name]
    if len(found) != 1:
        raise NotFound(f"volume group {name!r}: {len(found)} match(es)")
    return dict(found[0])


def _group_snapshots(conn: openstack.connection.Connection, group_id: str) -> list[maintenance.GroupSnapshot]:
    body = request(conn, "block_storage", "GET", "/group_snapshots/detail?all_tenants=1",
                   "list group snapshots", microversion=GROUPS_MV)
    return [maintenance.GroupSnapshot.from_api(s) for s in body["group_snapshots"] if s["group_id"] == group_id]


@task(name="read_group_snapshots", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_group_snapshots(cloud: PowerVC, group: str) -> tuple[dict[str, Any], list[maintenance.GroupSnapshot]]:
    conn = admin_conn(cloud)
    g = _find_group(conn, group)
    return g, _group_snapshots(conn, g["id"])


@task(name="create_group_snapshot", cache_policy=NO_CACHE)
def create_group_snapshot(cloud: PowerVC, group_id: str, name: str, timeout: float = 600) -> str:
    conn = admin_conn(cloud)
    body = request(conn, "block_storage", "POST", "/group_snapshots", "create group snapshot",
                   json={"group_snapshot": {"group_id": group_id, "name": name,
                                            "description": "powerops scheduled snapshot"}},
                   microversion=GROUPS_MV)
    sid = str(body["group_snapshot"]["id"])

    def status() -> str | None:
        s = request(conn, "block_storage", "GET", f"/group_snapshots/{sid}", "read group snapshot",
                    microversion=GROUPS_MV)["group_snapshot"]["status"]
        if s == "error":
            raise PowerOpsError(f"group snapshot {name} went to error")
        return str(s) if s == "available" else None

    wait_for(f"group snapshot {name}", status, timeout=timeout, interval=2)
    return sid


@task(name="delete_group_snapshot", cache_policy=NO_CACHE)
def delete_group_snapshot(cloud: PowerVC, snapshot_id: str, timeout: float = 600) -> None:
    conn = admin_conn(cloud)
    try:
        request(conn, "block_storage", "DELETE", f"/group_snapshots/{snapshot_id}", "delete group snapshot",
                microversion=GROUPS_MV)
    except ApiNotFound:
        return

    def gone() -> bool:
        try:
            request(conn, "block_storage", "GET", f"/group_snapshots/{snapshot_id}", "read group snapshot",
                    microversion=GROUPS_MV)
        except ApiNotFound:
            return True
        return False

    wait_for(f"group snapshot {snapshot_id} deletion", gone, timeout=timeout, interval=2)


def _wait_group(conn: openstack.connection.Connection, gid: str, timeout: float) -> None:
    def ready() -> bool:
        st = request(conn, "block_storage", "GET", f"/groups/{gid}", "read group",
                     microversion=GROUPS_MV)["group"]["status"]
        if st == "error":
            raise PowerOpsError(f"restored group {gid} went to error")
        return bool(st == "available")

    wait_for(f"group {gid}", ready, timeout=timeout, interval=2)


@task(name="verify_group_restore", cache_policy=NO_CACHE)
def verify_group_restore(cloud: PowerVC, snapshot_id: str, name: str, timeout: float = 600) -> str:
    """Restore readiness proven: create a group from the snapshot, wait available, delete it with its volumes."""
    conn = admin_conn(cloud)
    body = request(conn, "block_storage", "POST", "/groups/action", "create group from snapshot",
                   json={"create-from-src": {"group_snapshot_id": snapshot_id, "name": name}},
                   microversion=GROUPS_MV)
    gid = str(body["group"]["id"])
    try:
        _wait_group(conn, gid, timeout)
        vols = [v for v in conn.block_storage.volumes(all_projects=True) if getattr(v, "group_id", None) == gid]
        return f"restored group {name} ({gid}) became available with {len(vols)} volume(s)"
    finally:
        request(conn, "block_storage", "POST", f"/groups/{gid}/action", "delete restored group",
                json={"delete": {"delete-volumes": True}}, microversion=GROUPS_MV)


# -- maintenance: quota class, cinder configuration, ceilometer retention ------------------------------------

@task(name="read_quota_class", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_quota_class(cloud: PowerVC, klass: str) -> dict[str, int]:
    return parse.quota_set({"quota_set": request(admin_conn(cloud), "block_storage", "GET",
                                                 f"/os-quota-class-sets/{klass}", "read quota class")
                            ["quota_class_set"]})


@task(name="set_quota_class", cache_policy=NO_CACHE)
def set_quota_class(cloud: PowerVC, klass: str, values: dict[str, int]) -> None:
    request(admin_conn(cloud), "block_storage", "PUT", f"/os-quota-class-sets/{klass}", "update quota class",
            json={"quota_class_set": values})


@task(name="read_remote_files", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_remote_files(cloud: PowerVC, paths: list[str]) -> dict[str, str | None]:
    ssh = _ssh(cloud)
    out: dict[str, str | None] = {}
    for path in paths:
        data = ssh.read_file(path)
        out[path] = data.decode(errors="replace") if data is not None else None
    return out


@task(name="read_event_ttl", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_event_ttl(cloud: PowerVC) -> maintenance.EventTtl:
    r = _ssh(cloud).run([*cloud.powervc_config_command, "metering", "event_ttl"], timeout=120)
    return maintenance.parse_event_ttl(r.stdout)


@task(name="set_event_ttl", cache_policy=NO_CACHE)
def set_event_ttl(cloud: PowerVC, value: int, unit: str) -> str:
    r = _ssh(cloud).run([*cloud.powervc_config_command, "metering", "event_ttl", "--set", str(value),
                         "--unit", unit], timeout=300)
    return r.stdout.strip()


@task(name="run_ceilometer_expirer", cache_policy=NO_CACHE)
def run_ceilometer_expirer(cloud: PowerVC, timeout: float = 3600) -> str:
    r = _ssh(cloud).run([*cloud.ceilometer_expirer_command, "--config-file", cloud.ceilometer_conf_path],
                        timeout=timeout)
    return maintenance.parse_expirer(r.stdout, r.stderr)


# -- guarded repairs through the API ---------------------------------------------------------------------------

@task(name="read_server_states", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_server_states(cloud: PowerVC) -> list[maintenance.ServerState]:
    conn = admin_conn(cloud)
    return [maintenance.ServerState(str(s.id), str(s.name), str(s.status), str(s.vm_state or ""),
                                    s.task_state, str(s.compute_host or ""))
            for s in conn.compute.servers(all_projects=True)]


@task(name="reset_server_state", cache_policy=NO_CACHE)
def reset_server_state(cloud: PowerVC, server_id: str, state: str) -> None:
    request(admin_conn(cloud), "compute", "POST", f"/servers/{server_id}/action", "reset server state",
            json={"os-resetState": {"state": state}})


@task(name="read_volume_attachments", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_volume_attachments(cloud: PowerVC) -> tuple[list[maintenance.VolumeAttachmentState], set[str]]:
    conn = admin_conn(cloud)
    body = request(conn, "block_storage", "GET", "/volumes/detail?all_tenants=1", "list volumes")
    vols = [maintenance.VolumeAttachmentState(
        str(v["id"]), str(v.get("name") or ""), str(v["status"]), str(v.get("attach_status") or ""),
        tuple((str(a.get("attachment_id") or a.get("id")), str(a.get("server_id") or ""))
              for a in v.get("attachments") or ())) for v in body["volumes"]]
    servers = {str(s.id) for s in conn.compute.servers(all_projects=True)}
    return vols, servers


@task(name="backup_records", cache_policy=NO_CACHE)
def backup_records(cloud: PowerVC, kind: str, ids: list[str], local_dir: str) -> str:
    """Save the full API records of what a repair will touch (JSON, on the machine running the flow)."""
    import json
    from pathlib import Path

    conn = admin_conn(cloud)
    records = []
    for rid in ids:
        if kind == "volume":
            records.append(request(conn, "block_storage", "GET", f"/volumes/{rid}", "read volume"))
        else:
            records.append(request(conn, "compute", "GET", f"/servers/{rid}", "read server"))
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    path = Path(local_dir) / f"powervc-{kind}s-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1, sort_keys=True))
    return str(path)


@task(name="force_detach_volume", cache_policy=NO_CACHE)
def force_detach_volume(cloud: PowerVC, volume_id: str, attachment_id: str) -> None:
    request(admin_conn(cloud), "block_storage", "POST", f"/volumes/{volume_id}/action", "force-detach volume",
            json={"os-force_detach": {"attachment_id": attachment_id}})


@task(name="reset_volume_status", cache_policy=NO_CACHE)
def reset_volume_status(cloud: PowerVC, volume_id: str) -> None:
    request(admin_conn(cloud), "block_storage", "POST", f"/volumes/{volume_id}/action", "reset volume status",
            json={"os-reset_status": {"status": "available", "attach_status": "detached"}})


# -- guarded repair in PowerVC's own database table (no API for it) ---------------------------------------------

@task(name="read_health_rows", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_health_rows(cloud: PowerVC) -> list[healthdb.HealthRow]:
    r = _ssh(cloud).run([*cloud.db_client_command, "-B", "-N", "nova"], stdin=healthdb.SELECT.encode(),
                        timeout=120)
    return healthdb.parse_rows(r.stdout)


@task(name="backup_health_table", cache_policy=NO_CACHE)
def backup_health_table(cloud: PowerVC) -> str:
    """mysqldump of the table to the backup directory on the PowerVC host (mode 0600); returns its path."""
    ssh = _ssh(cloud)
    dump = ssh.run([*cloud.db_dump_command, "--single-transaction", "nova", healthdb.TABLE], timeout=600)
    if f"CREATE TABLE `{healthdb.TABLE}`" not in dump.stdout:
        raise PowerOpsError("the database dump does not contain the table: refusing to change anything")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    path = f"{cloud.backup_dir.rstrip('/')}/nova.{healthdb.TABLE}.{stamp}.sql"
    ssh.write_file(path, dump.stdout.encode(), 0o600)
    return path


@task(name="update_health_rows", cache_policy=NO_CACHE)
def update_health_rows(cloud: PowerVC, ids: list[str]) -> int:
    r = _ssh(cloud).run([*cloud.db_client_command, "-B", "-N", "nova"], stdin=healthdb.update_sql(ids).encode(),
                        timeout=120)
    return int(r.stdout.split()[-1])
