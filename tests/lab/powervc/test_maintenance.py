"""The maintenance flows end to end against the lab's real Cinder/Nova and the lab PowerVC host over SSH."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from core.errors import ConfirmationRequired, SafetyCheckFailed
from flows.powervc_maintenance import (
    CeilometerRetentionParams,
    CinderLimitParams,
    GhostVolumeParams,
    GroupSnapshotParams,
    QuotaClassParams,
    ResetInstancesParams,
    powervc_ceilometer_retention,
    powervc_cinder_limits,
    powervc_detach_ghost_volumes,
    powervc_group_snapshots,
    powervc_quota_class,
    powervc_reset_instances,
)
from seams.openstack import request
from tasks.powervc import GROUPS_MV, wait_for

pytestmark = pytest.mark.lab


@pytest.fixture()
def volume_group(powervc_lab):  # type: ignore[no-untyped-def]
    """A consistency group with two volumes (the seed's foovg_cg), removed afterwards with its snapshots."""
    from lab.openstack import GROUP_TYPE

    conn = powervc_lab.admin()
    vt = conn.block_storage.find_type("svc1 base template")
    gt = [g for g in request(conn, "block_storage", "GET", "/group_types", "gt", microversion=GROUPS_MV)
          ["group_types"] if g["name"] == GROUP_TYPE][0]
    name = f"foovg_cg-{uuid.uuid4().hex[:4]}"
    g = request(conn, "block_storage", "POST", "/groups", "create group", microversion=GROUPS_MV,
                json={"group": {"name": name, "group_type": gt["id"], "volume_types": [vt.id]}})["group"]

    def group_status() -> str | None:
        st = request(conn, "block_storage", "GET", f"/groups/{g['id']}", "g", microversion=GROUPS_MV)["group"]
        return st["status"] if st["status"] != "creating" else None

    assert wait_for("group", group_status, timeout=120) == "available"
    for i in (1, 2):
        request(conn, "block_storage", "POST", "/volumes", "create volume", microversion=GROUPS_MV,
                json={"volume": {"size": 1, "name": f"{name}_vol{i}", "volume_type": vt.id, "group_id": g["id"]}})
    wait_for("group volumes", lambda: all(v.status == "available" for v in conn.block_storage.volumes(
        all_projects=True) if getattr(v, "group_id", None) == g["id"]), timeout=120)
    yield g
    for s in request(conn, "block_storage", "GET", "/group_snapshots/detail?all_tenants=1", "gs",
                     microversion=GROUPS_MV)["group_snapshots"]:
        if s["group_id"] == g["id"]:
            request(conn, "block_storage", "DELETE", f"/group_snapshots/{s['id']}", "delete gs",
                    microversion=GROUPS_MV)
    time.sleep(3)
    request(conn, "block_storage", "POST", f"/groups/{g['id']}/action", "delete group", microversion=GROUPS_MV,
            json={"delete": {"delete-volumes": True}})


def test_group_snapshots_with_retention(powervc_lab, volume_group) -> None:
    conn = powervc_lab.admin()
    # a snapshot made by a person: never pruned
    manual = request(conn, "block_storage", "POST", "/group_snapshots", "manual snapshot", microversion=GROUPS_MV,
                     json={"group_snapshot": {"group_id": volume_group["id"], "name": "before-upgrade"}})
    wait_for("manual snapshot", lambda: request(conn, "block_storage", "GET",
             f"/group_snapshots/{manual['group_snapshot']['id']}", "gs", microversion=GROUPS_MV)
             ["group_snapshot"]["status"] == "available", timeout=120)
    p = GroupSnapshotParams(cloud_block=powervc_lab.block, group=volume_group["name"], keep=2)
    planned = powervc_group_snapshots(p.model_copy(update={"mode": "plan"}))
    assert planned["prune"] == []
    made = []
    for _ in range(3):
        r = powervc_group_snapshots(p)
        made.append(r["snapshot"])
        time.sleep(1.1)  # snapshot names carry the second
    assert r["remaining"] == made[1:] and r["pruned"] == [made[0]]
    assert r["restore_ready"] == made[-1]
    names = {s["name"] for s in request(conn, "block_storage", "GET", "/group_snapshots/detail?all_tenants=1",
                                        "gs", microversion=GROUPS_MV)["group_snapshots"]
             if s["group_id"] == volume_group["id"]}
    assert names == {"before-upgrade", *made[1:]}
    restored = powervc_group_snapshots(p.model_copy(update={"verify_restore": True, "keep": 1}))
    assert "became available with 2 volume(s)" in restored["restore_check"]
    assert restored["remaining"] == [restored["snapshot"]]


def test_quota_class_above_the_petabyte(powervc_lab) -> None:
    conn = powervc_lab.admin()
    before = request(conn, "block_storage", "GET", "/os-quota-class-sets/default", "q")["quota_class_set"]
    try:
        p = QuotaClassParams(cloud_block=powervc_lab.block, limits={"gigabytes": -1})
        plan = powervc_quota_class(p)
        assert [r["target"] for r in plan["planned"]] == (["default.gigabytes"] if before["gigabytes"] != -1 else [])
        powervc_quota_class(p.model_copy(update={"mode": "apply"}))
        assert request(conn, "block_storage", "GET", "/os-quota-class-sets/default", "q")["quota_class_set"][
            "gigabytes"] == -1
        assert powervc_quota_class(p)["planned"] == []
    finally:
        request(conn, "block_storage", "PUT", "/os-quota-class-sets/default", "restore",
                json={"quota_class_set": {"gigabytes": before["gigabytes"]}})


def test_cinder_limits_reports_disagreeing_files(powervc_lab) -> None:
    p = CinderLimitParams(cloud_block=powervc_lab.block, expected=15000)
    with pytest.raises(SafetyCheckFailed, match=r"cinder-svc2\.conf: osapi_max_limit = 10000"):
        powervc_cinder_limits(p)
    r = powervc_cinder_limits(p.model_copy(update={"fail_on_disagreement": False,
                                                   "extra_paths": ["/nonexistent/cinder.conf"]}))
    assert [Path(x).name for x in r["agree"]] == ["cinder.conf"]
    assert len(r["disagree"]) == 2 and "missing" in r["disagree"][1]


def test_ceilometer_retention_over_ssh(powervc_lab) -> None:
    import lab.openstack as component
    from lab.context import LabContext

    component.reset_metering(LabContext())
    try:
        p = CeilometerRetentionParams(cloud_block=powervc_lab.block, ttl=2, unit="hr")
        plan = powervc_ceilometer_retention(p)
        assert plan["before"] == "270 day"
        assert [r["action"] for r in plan["planned"]] == ["set_event_ttl", "run_expirer"]
        r = powervc_ceilometer_retention(p.model_copy(update={"mode": "apply"}))
        assert r["after"] == "2 hr"
        dropped = int(r["expirer"].split()[1])
        assert dropped > 1000, r["expirer"]
        again = powervc_ceilometer_retention(p.model_copy(update={"expire": False}))
        assert again["planned"] == []
    finally:
        component.reset_metering(LabContext())


def _bootable(conn, name: str) -> str:  # type: ignore[no-untyped-def]
    vol = conn.block_storage.create_volume(size=1, volume_type="svc1 base template", name=name)
    vol = conn.block_storage.wait_for_status(vol, status="available", wait=120)
    conn.block_storage.set_volume_bootable_status(vol, True)
    return str(vol.id)


def test_reset_instances_is_guarded_and_uses_the_api(powervc_lab, tmp_path) -> None:
    conn = powervc_lab.admin()
    name = f"p00ww{uuid.uuid4().hex[:6]}"
    vid = _bootable(conn, name)
    flavor = conn.compute.find_flavor("powerops.tiny")
    server = conn.compute.create_server(name=name, flavor_id=flavor.id, networks="none", block_device_mapping=[
        {"boot_index": 0, "uuid": vid, "source_type": "volume", "destination_type": "volume",
         "delete_on_termination": True}])
    try:
        conn.compute.wait_for_server(server, status="ACTIVE", wait=180)
        request(conn, "compute", "POST", f"/servers/{server.id}/action", "break",
                json={"os-resetState": {"state": "error"}})
        p = ResetInstancesParams(cloud_block=powervc_lab.block, servers=[name], backup_dir=str(tmp_path))
        plan = powervc_reset_instances(p)
        assert [r["target"] for r in plan["planned"]] == [name]
        assert conn.compute.get_server(server.id).status == "ERROR"
        with pytest.raises(ConfirmationRequired):
            powervc_reset_instances(p.model_copy(update={"mode": "apply"}))
        assert conn.compute.get_server(server.id).status == "ERROR"
        r = powervc_reset_instances(p.model_copy(update={"mode": "apply", "confirm": True}))
        assert r["reset"] == [name]
        assert conn.compute.get_server(server.id).status == "ACTIVE"
        backup = json.loads(Path(r["backup"]).read_text())
        assert backup[0]["server"]["id"] == server.id and backup[0]["server"]["status"] == "ERROR"
        assert powervc_reset_instances(p)["planned"] == []
    finally:
        conn.compute.delete_server(server, ignore_missing=True)
        conn.compute.wait_for_delete(server, wait=180)


def test_ghost_volume_detach_is_guarded(powervc_lab, tmp_path) -> None:
    conn = powervc_lab.admin()
    vol = conn.block_storage.create_volume(size=1, volume_type="svc1 base template",
                                           name=f"ghost-{uuid.uuid4().hex[:4]}")
    vol = conn.block_storage.wait_for_status(vol, status="available", wait=120)
    gone_server = str(uuid.uuid4())
    request(conn, "block_storage", "POST", f"/volumes/{vol.id}/action", "attach to a server that is gone",
            json={"os-attach": {"instance_uuid": gone_server, "mountpoint": "/dev/sdb"}})
    try:
        wait_for("in-use", lambda: conn.block_storage.get_volume(vol.id).status == "in-use", timeout=60)
        p = GhostVolumeParams(cloud_block=powervc_lab.block, backup_dir=str(tmp_path), max_changes=50)
        plan = powervc_detach_ghost_volumes(p)
        mine = [r for r in plan["planned"] if r["target"] == vol.name]
        assert [r["action"] for r in mine] == ["force_detach", "reset_volume_status"]
        assert gone_server in mine[0]["detail"]
        with pytest.raises(ConfirmationRequired):
            powervc_detach_ghost_volumes(p.model_copy(update={"mode": "apply"}))
        assert conn.block_storage.get_volume(vol.id).status == "in-use"
        r = powervc_detach_ghost_volumes(p.model_copy(update={"mode": "apply", "confirm": True}))
        assert vol.id in r["repaired"]
        after = conn.block_storage.get_volume(vol.id)
        assert after.status == "available" and not after.attachments
        assert any(rec["volume"]["id"] == vol.id for rec in json.loads(Path(r["backup"]).read_text()))
        assert powervc_detach_ghost_volumes(p)["planned"] == []
    finally:
        conn.block_storage.delete_volume(vol.id, ignore_missing=True, force=True)


def test_health_reset_in_powervc_database_is_guarded(powervc_lab) -> None:
    """The seed's UPDATE on instance_health_status, done as a guarded flow: plan, confirm, backup, exact ids."""
    import lab.openstack as component
    from flows.powervc_maintenance import ResetHealthDbParams, powervc_reset_health_db
    from lab.context import LabContext

    component.reset_health_rows(LabContext())
    try:
        p = ResetHealthDbParams(cloud_block=powervc_lab.block, reasons=["vm_state=deleted"])
        plan = powervc_reset_health_db(p)
        assert [r["target"] for r in plan["planned"]] == ["multi-vol", "multi-vol-sp5"]
        with pytest.raises(ConfirmationRequired):
            powervc_reset_health_db(p.model_copy(update={"mode": "apply"}))
        with pytest.raises(SafetyCheckFailed):
            powervc_reset_health_db(ResetHealthDbParams(cloud_block=powervc_lab.block, mode="apply", confirm=True,
                                                        max_changes=3))
        r = powervc_reset_health_db(p.model_copy(update={"mode": "apply", "confirm": True}))
        assert r["changed_rows"] == 2
        ssh = powervc_lab.cloud.ssh.connect()
        dump = ssh.read_file(r["backup"]).decode()
        assert "INSERT INTO `instance_health_status`" in dump and "multi-vol-sp5" in dump
        remaining = powervc_reset_health_db(ResetHealthDbParams(cloud_block=powervc_lab.block))
        assert sorted(x["target"] for x in remaining["planned"]) == [
            "clouddev-test-754df319-00000038", "p00wb3740870", "p00ww3254401", "p00ww6754398"]
        assert powervc_reset_health_db(p)["planned"] == []
    finally:
        component.reset_health_rows(LabContext())
