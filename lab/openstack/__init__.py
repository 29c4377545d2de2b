"""Lab component ``openstack``: the PowerVC stand-in (real OpenStack services) and its "PowerVC host".

``up`` builds the OpenStack venv once (pinned ``requirements.txt``, cached under ``<state>/openstack/venv``),
creates the namespace ``pwl-powervc`` (10.250.77.90) with sshd, initialises MariaDB/RabbitMQ/Keystone/...
once, starts every service through the host's own ``powervc-services`` command and seeds the lab cloud
(volume types, two compute hosts, the other building block ``hb02``). ``down`` stops every process by its PID
and removes everything it made except the venv cache (``down(lab, purge=True)`` removes that too).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

from lab import netns, sshd
from lab.context import LabContext
from lab.openstack import stack
from lab.openstack.stack import COMPUTE_HOSTS, IP, NODE, PORTS, VOLUME_TYPES, Paths, in_ns

BLOCK_NAME = "lab-powervc"


def _hosts() -> dict[str, str]:
    return {NODE: IP}


def _services(p: Paths, verb: str, *names: str) -> str:
    r = in_ns([str(p.bin / "powervc-services"), verb, *names], env={"POWERVC_LAB_STATE": str(p.root)},
              check=verb != "status")
    return r.stdout.decode()


def _sql(p: Paths, statements: str) -> None:
    in_ns(["mariadb", "--no-defaults", f"--socket={p.run / 'mysql.sock'}", "-u", "root"],
          stdin=statements.encode())


def _step(p: Paths, name: str) -> bool:
    return p.marker(name).exists()


def _done(p: Paths, name: str) -> None:
    p.marker(name).parent.mkdir(parents=True, exist_ok=True)
    p.marker(name).touch()


def _manage(p: Paths, *argv: str) -> None:
    in_ns([str(p.venv / "bin" / argv[0]), *argv[1:]], env={"REQUESTS_CA_BUNDLE": str(p.ca)})


def up(lab: LabContext) -> None:
    p = stack.paths(lab)
    stack.ensure_venv(p)
    netns.ensure_node(NODE, IP, _hosts())
    sshd.ensure_sshd(lab, NODE, IP)
    s = stack.ensure_secrets(p)
    stack.ensure_tls(p)
    stack.write_configs(p, s)
    stack.write_service_table(p)
    if not _step(p, "mysql-init"):
        shutil.rmtree(p.data / "mysql", ignore_errors=True)
        in_ns(["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={p.data / 'mysql'}",
               "--auth-root-authentication-method=socket", "--skip-test-db"])
        _done(p, "mysql-init")
    _services(p, "start", "mariadb", "rabbitmq")
    if not _step(p, "databases"):
        stmts = [f"CREATE DATABASE IF NOT EXISTS {d};" for d in stack.DATABASES]
        for host in ("127.0.0.1", "localhost"):
            stmts.append(f"CREATE USER IF NOT EXISTS 'openstack'@'{host}' IDENTIFIED BY '{s['db']}';")
            stmts.append(f"GRANT ALL PRIVILEGES ON *.* TO 'openstack'@'{host}';")
        _sql(p, "\n".join(stmts) + "\n")
        _done(p, "databases")
    kconf = str(p.etc / "keystone" / "keystone.conf")
    if not _step(p, "keystone"):
        _manage(p, "keystone-manage", "--config-file", kconf, "db_sync")
        _manage(p, "keystone-manage", "--config-file", kconf, "fernet_setup",
                "--keystone-user", "root", "--keystone-group", "root")
        _manage(p, "keystone-manage", "--config-file", kconf, "credential_setup",
                "--keystone-user", "root", "--keystone-group", "root")
        in_ns([str(p.venv / "bin" / "keystone-manage"), "--config-file", kconf, "bootstrap", "--bootstrap-admin-url", stack.url(PORTS["keystone"], "/v3"),
                "--bootstrap-public-url", stack.url(PORTS["keystone"], "/v3"),
                "--bootstrap-internal-url", stack.url(PORTS["keystone"], "/v3"),
                "--bootstrap-region-id", "RegionOne"], env={"OS_BOOTSTRAP_PASSWORD": s["admin"]})
        _done(p, "keystone")
    _services(p, "start", "keystone")
    if not _step(p, "catalog"):
        _register_services(p, s)
        _done(p, "catalog")
    nconf = str(p.nova_conf)
    if not _step(p, "migrations"):
        _manage(p, "placement-manage", "--config-file", str(p.etc / "placement" / "placement.conf"), "db", "sync")
        _manage(p, "nova-manage", "--config-file", nconf, "api_db", "sync")
        _manage(p, "nova-manage", "--config-file", nconf, "cell_v2", "map_cell0")
        r = in_ns([str(p.venv / "bin" / "nova-manage"), "--config-file", nconf, "cell_v2", "list_cells"])
        if " cell1 " not in r.stdout.decode():
            _manage(p, "nova-manage", "--config-file", nconf, "cell_v2", "create_cell", "--name", "cell1")
        _manage(p, "nova-manage", "--config-file", nconf, "db", "sync")
        _manage(p, "cinder-manage", "--config-file", str(p.etc / "cinder" / "cinder.conf"), "db", "sync")
        _manage(p, "neutron-db-manage", "--config-file", str(p.etc / "neutron" / "neutron.conf"),
                "upgrade", "heads")
        _done(p, "migrations")
    _services(p, "start")
    _wait_computes(p)
    if not _step(p, "seed"):
        _seed(p, s)
        _done(p, "seed")
    if not _step(p, "powervc-tables"):
        reset_health_rows(lab)
        _done(p, "powervc-tables")
    if not _step(p, "group-type"):
        _seed_group_type(p, s)
        _done(p, "group-type")
    _ensure_events(p)


def _admin_params(p: Paths, s: dict[str, str]):  # type: ignore[no-untyped-def]
    from seams.openstack import OpenStackParams

    return OpenStackParams(auth_url=stack.url(PORTS["keystone"], "/v3"), username="admin", password=s["admin"],
                           project_name="admin", ca_cert=p.ca.read_text())


def _admin(p: Paths, s: dict[str, str]):  # type: ignore[no-untyped-def]
    from seams.openstack import connect

    return connect(_admin_params(p, s))


def _register_services(p: Paths, s: dict[str, str]) -> None:
    conn = _admin(p, s)
    ident = conn.identity
    service_project = ident.find_project("service") or ident.create_project(name="service", domain_id="default")
    admin_role = ident.find_role("admin")
    service_role = ident.find_role("service") or ident.create_role(name="service")
    for user in ("nova", "cinder", "neutron", "placement"):
        u = ident.find_user(user) or ident.create_user(name=user, password=s["service"], domain_id="default")
        ident.assign_project_role_to_user(service_project, u, admin_role)
        ident.assign_project_role_to_user(service_project, u, service_role)
    entries = [
        ("placement", "placement", stack.url(PORTS["placement"])),
        ("nova", "compute", stack.url(PORTS["nova-api"], "/v2.1")),
        ("neutron", "network", stack.url(PORTS["neutron"])),
        ("cinderv3", "block-storage", stack.url(PORTS["cinder-api"], "/v3/%(project_id)s")),
        ("cinder", "volumev3", stack.url(PORTS["cinder-api"], "/v3/%(project_id)s")),
    ]
    existing = {svc.type for svc in ident.services()}
    for name, stype, endpoint in entries:
        if stype in existing:
            continue
        svc = ident.create_service(name=name, type=stype)
        for interface in ("public", "internal", "admin"):
            ident.create_endpoint(service_id=svc.id, interface=interface, url=endpoint, region_id="RegionOne")


def _wait_computes(p: Paths, timeout: float = 900.0) -> None:
    """Until both fake compute hosts are registered and mapped to the cell."""
    s = stack.ensure_secrets(p)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            conn = _admin(p, s)
            hyps = {h.name for h in conn.compute.hypervisors()}
            if set(COMPUTE_HOSTS) <= hyps:
                up_services = {(x.binary, x.host) for x in conn.compute.services() if x.state == "up"}
                if {("nova-compute", h) for h in COMPUTE_HOSTS} <= up_services:
                    vol = {x.binary for x in conn.block_storage.services() if x.state == "up"}
                    if {"cinder-volume", "cinder-scheduler"} <= vol:
                        return
                    last = f"cinder services up: {sorted(vol)}"
            else:
                last = f"hypervisors: {sorted(hyps)}"
                in_ns([str(p.venv / "bin" / "nova-manage"), "--config-file", str(p.nova_conf), "cell_v2",
                       "discover_hosts"], env={"REQUESTS_CA_BUNDLE": str(p.ca)}, check=False)
        except Exception as exc:  # noqa: BLE001 - services still starting
            last = str(exc)[:300]
        time.sleep(5)
    raise RuntimeError(f"lab OpenStack did not become ready: {last}; logs in {p.log}")


def _seed(p: Paths, s: dict[str, str]) -> None:
    """The lab cloud's starting point: storage templates, flavor, the other building block hb02 on host B."""
    from seams.openstack import request

    conn = _admin(p, s)
    for name in VOLUME_TYPES:
        vt = conn.block_storage.find_type(name)
        if vt is None:
            conn.block_storage.create_type(name=name, extra_specs={"volume_backend_name": "fake"})
    if conn.compute.find_flavor("powerops.tiny") is None:
        conn.compute.create_flavor(name="powerops.tiny", ram=256, vcpus=1, disk=0)
    ident = conn.identity
    member = ident.find_role("member")
    project = ident.find_project("hb02") or ident.create_project(name="hb02", domain_id="default")
    user = ident.find_user("hb02_admin") or ident.create_user(name="hb02_admin", password=s["hb02"],
                                                               domain_id="default")
    ident.assign_project_role_to_user(project, user, member)
    aggs = {a.name: a for a in conn.compute.aggregates()}
    for name, host in (("hb01_mn", COMPUTE_HOSTS[0]), ("hb02_mn", COMPUTE_HOSTS[1])):
        agg = aggs.get(name) or conn.compute.create_aggregate(name=name)
        if host not in (agg.hosts or []):
            conn.compute.add_host_to_aggregate(agg, host)
        # PowerVC puts its own policy keys on host groups: the flow must keep them untouched
        meta = {"dro_enabled": "False", "hapolicy-id": "1"}
        if name == "hb02_mn":
            meta["filter_tenant_id"] = project.id
        request(conn, "compute", "POST", f"/os-aggregates/{agg.id}/action", "seed aggregate metadata",
                json={"set_metadata": {"metadata": meta}})


GROUP_TYPE = "powervc-cg"


def _seed_group_type(p: Paths, s: dict[str, str]) -> None:
    """A group type for consistency groups (cinder reserves its default_cgsnapshot_type for migrated CGs)."""
    from seams.openstack import request

    conn = _admin(p, s)
    body = request(conn, "block_storage", "GET", "/group_types", "list group types", microversion="3.11")
    if not any(g["name"] == GROUP_TYPE for g in body["group_types"]):
        request(conn, "block_storage", "POST", "/group_types", "create group type", microversion="3.11",
                json={"group_type": {"name": GROUP_TYPE,
                                     "group_specs": {"consistent_group_snapshot_enabled": "<is> True"}}})


# PowerVC's own table in the nova database (the seed's `select * from instance_health_status` output).
HEALTH_TABLE = """CREATE TABLE IF NOT EXISTS instance_health_status (
  created_at DATETIME NULL, updated_at DATETIME NULL, deleted_at DATETIME NULL, deleted INT NULL,
  id VARCHAR(36) NOT NULL PRIMARY KEY, health_state VARCHAR(255) NULL, reason TEXT NULL,
  unknown_reason_details TEXT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8;
"""
HEALTH_ROWS = [
    ("2016-07-11 08:58:37", "1af1805c-bb59-4bc9-8b6d-adeaeb4250f3", "p00ww6754398", "rmc_state", "initializing"),
    ("2015-07-31 16:53:50", "2668e808-10a1-425f-a272-6b052584557d", "multi-vol", "vm_state", "deleted"),
    ("2015-08-03 11:22:38", "2934fb36-5d91-48cd-96de-8c16459c50f3", "clouddev-test-754df319-00000038",
     "rmc_state", "inactive"),
    ("2016-07-11 09:03:59", "3fc42502-856b-46a5-9c36-3d0864d6aa4c", "p00ww3254401", "rmc_state", "initializing"),
    ("2015-07-08 20:11:48", "54d02c60-bd0e-4f34-9cb6-9c0a0b366873", "p00wb3740870", "rmc_state", "inactive"),
    ("2015-07-31 17:44:16", "d5ec2a9c-221b-44c0-8573-d8e3695a8dd7", "multi-vol-sp5", "vm_state", "deleted"),
]


def reset_health_rows(lab: LabContext) -> None:
    """(Re)create PowerVC's instance_health_status table with the seed's six WARNING rows."""
    p = stack.paths(lab)
    stmts = ["USE nova;", HEALTH_TABLE, "DELETE FROM instance_health_status;"]
    for created, rid, name, key, value in HEALTH_ROWS:
        reason = json.dumps([{"resource_local": "server", "display_name": name, "resource_property_key": key,
                              "resource_property_value": value, "resource_id": rid}])
        reason_sql = reason.replace("\\", "\\\\").replace("'", "''")
        stmts.append("INSERT INTO instance_health_status (created_at, deleted, id, health_state, reason, "  # noqa: S608 - lab constants
                     f"unknown_reason_details) VALUES ('{created}', 0, '{rid}', 'WARNING', '{reason_sql}', '');")
    _sql(p, "\n".join(stmts) + "\n")


def reset_metering(lab: LabContext) -> None:
    """Back to the PowerVC default retention (270 days) with a full event store (for repeatable tests)."""
    import sqlite3

    p = stack.paths(lab)
    in_ns([str(p.bin / "powervc-config"), "metering", "event_ttl", "--set", "270", "--unit", "day"])
    db = sqlite3.connect(p.data / "ceilometer" / "events.sqlite")
    with db:
        db.execute("DELETE FROM event")
    db.close()
    _ensure_events(p)


def _ensure_events(p: Paths) -> None:
    """The ceilometer event store the lab's ceilometer-expirer prunes: events spread over the last 300 days."""
    import sqlite3

    path = p.data / "ceilometer" / "events.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS event (id INTEGER PRIMARY KEY, type TEXT, generated REAL)")
        if db.execute("SELECT count(*) FROM event").fetchone()[0] == 0:
            now = time.time()
            db.executemany("INSERT INTO event (type, generated) VALUES (?, ?)",
                           [("compute.instance.update", now - i * 3600) for i in range(0, 300 * 24, 6)])
    db.close()


def down(lab: LabContext, purge: bool = False) -> None:
    """Stop every process by PID, remove the namespace and the state (the venv cache stays unless purge)."""
    p = stack.paths(lab)
    if (p.root / "services.json").exists() and netns.ns_exists(NODE):
        with contextlib.suppress(Exception):
            _services(p, "stop", *[n for n, _ in json.loads((p.root / "services.json").read_text())])
    for pidfile in p.run.glob("*.pid") if p.run.exists() else []:
        with contextlib.suppress(ValueError, ProcessLookupError, OSError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
    sshd.stop_sshd(lab, NODE)
    netns.remove_node(NODE)  # also ends what still runs in the namespace (epmd started by RabbitMQ)
    keep = set() if purge else {"venv"}
    if p.root.exists():
        for child in p.root.iterdir():
            if child.name in keep:
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    shutil.rmtree(lab.node_dir(NODE), ignore_errors=True)


def status(lab: LabContext) -> list[str]:
    p = stack.paths(lab)
    lines = [f"openstack venv: {'built' if (p.venv / '.powerops-requirements.sha256').exists() else 'missing'}",
             f"namespace pwl-{NODE} ({IP}): {'present' if netns.ns_exists(NODE) else 'absent'}",
             f"sshd on {IP}: {'running' if sshd.pid_alive(lab.node_dir(NODE) / 'sshd.pid') else 'stopped'}"]
    if (p.root / "services.json").exists() and netns.ns_exists(NODE):
        names = [n for n, _ in json.loads((p.root / "services.json").read_text())]
        for line in _services(p, "status", *names).splitlines():
            lines.append(f"openstack {line.strip()}")
    return lines


def lab_block(lab: LabContext):  # type: ignore[no-untyped-def]
    """The PowerVC block the flows use against the lab (not saved)."""
    from blocks.powervc import PowerVC

    p = stack.paths(lab)
    s = stack.ensure_secrets(p)
    return PowerVC(
        auth_url=stack.url(PORTS["keystone"], "/v3"), username="admin", password=s["admin"],
        project_name="admin", ca_cert=p.ca.read_text(), region_name="RegionOne",
        ssh=lab.ssh_target(NODE, IP),
        nova_conf_path=str(p.nova_conf),
        cinder_conf_paths=[str(x) for x in p.cinder_confs],
        ceilometer_conf_path=str(p.ceilometer_conf),
        services_command=[str(p.bin / "powervc-services")],
        scheduler_service_names=["nova-scheduler"],
        powervc_config_command=[str(p.bin / "powervc-config")],
        ceilometer_expirer_command=[str(p.bin / "ceilometer-expirer")],
        backup_dir=str(p.root / "backups"),
        db_client_command=["mariadb", "--no-defaults", f"--socket={p.run / 'mysql.sock'}", "-u", "root"],
        db_dump_command=["mariadb-dump", "--no-defaults", f"--socket={p.run / 'mysql.sock'}", "-u", "root"],
    )


def register_blocks(lab: LabContext) -> list[str]:
    lab_block(lab).save(BLOCK_NAME, overwrite=True)
    return [BLOCK_NAME]


def tenant_secret(lab: LabContext) -> str:
    return stack.ensure_secrets(stack.paths(lab))["hb02"]


def admin_password(lab: LabContext) -> str:
    return stack.ensure_secrets(stack.paths(lab))["admin"]


def state_root(lab: LabContext) -> Path:
    return stack.paths(lab).root
