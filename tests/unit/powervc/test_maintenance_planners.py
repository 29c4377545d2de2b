"""Maintenance planners: retention, quota classes, event TTL, guarded repairs (pure, recorded shapes)."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.powervc import maintenance as m

PREFIX = "powerops-"


def snap(name: str, created: str, status: str = "available") -> m.GroupSnapshot:
    return m.GroupSnapshot(f"id-{name}", name, status, created)


def test_group_snapshot_from_recorded_api_body() -> None:
    body = {"id": "20e2ce6b-9c4a-4eea-b05d-f0b0b6e4768f", "group_id": "950a5193-827b-49ab-9511-41ba120c9ebd",
            "name": None, "status": "available", "created_at": "2016-09-11T21:31:12.000000",
            "description": None, "group_type_id": "x"}
    s = m.GroupSnapshot.from_api(body)
    assert (s.name, s.status, s.created_at) == ("", "available", "2016-09-11T21:31:12.000000")


def test_retention_prunes_oldest_of_ours_only() -> None:
    snaps = [snap("powerops-cg-1", "2026-01-01T00:00:01"), snap("powerops-cg-3", "2026-01-03T00:00:00"),
             snap("powerops-cg-2", "2026-01-02T00:00:00"), snap("before-upgrade", "2025-01-01T00:00:00"),
             m.GroupSnapshot("id-anon", "", "available", "2024-01-01T00:00:00")]
    plan = m.plan_retention(snaps, 2, PREFIX)
    assert [a.target for a in plan.actions] == ["powerops-cg-1"]
    assert "not ours, never pruned: before-upgrade" in plan.in_place
    assert "not ours, never pruned: id-anon" in plan.in_place
    assert plan.warnings == ()


def test_retention_removes_broken_first_and_leaves_busy_alone() -> None:
    snaps = [snap("powerops-a", "1"), snap("powerops-b", "2", "error"), snap("powerops-c", "3", "creating")]
    plan = m.plan_retention(snaps, 1, PREFIX)
    assert [(a.target, a.detail.split(":")[0]) for a in plan.actions] == [("powerops-b", "status error")]
    assert any("in progress" in r for r in plan.in_place)
    assert m.restore_ready(snaps, PREFIX) == snaps[0]


def test_retention_without_a_good_snapshot_warns_and_keep_zero_is_refused() -> None:
    assert m.plan_retention([snap("powerops-x", "1", "error")], 3, PREFIX).warnings
    assert m.restore_ready([snap("powerops-x", "1", "error")], PREFIX) is None
    with pytest.raises(InvalidInput):
        m.plan_retention([], 0, PREFIX)


def test_quota_class_plan() -> None:
    current = {"gigabytes": 1000, "volumes": 10, "snapshots": 10}
    plan = m.plan_quota_class(current, {"gigabytes": -1, "volumes": 10})
    assert [(a.target, a.detail) for a in plan.actions] == [("default.gigabytes", "1000 -> -1")]
    assert m.plan_quota_class({**current, "gigabytes": -1}, {"gigabytes": -1}).empty
    with pytest.raises(InvalidInput, match="no limit"):
        m.plan_quota_class(current, {"petabytes": 1})
    with pytest.raises(InvalidInput):
        m.plan_quota_class(current, {"gigabytes": -5})


@pytest.mark.parametrize(("out", "expected"), [
    ("event_ttl = 270 day\n", m.EventTtl(270, "day")),
    ("event_ttl = 2 hr\n", m.EventTtl(2, "hr")),
    ("Metering event_ttl: 6 hours", m.EventTtl(6, "hr")),
])
def test_parse_event_ttl(out: str, expected: m.EventTtl) -> None:
    assert m.parse_event_ttl(out) == expected


def test_parse_event_ttl_garbage() -> None:
    with pytest.raises(InvalidInput):
        m.parse_event_ttl("usage: powervc-config ...")


def test_event_ttl_plan_compares_seconds() -> None:
    assert m.plan_event_ttl(m.EventTtl(48, "hr"), m.EventTtl(2, "day"), expire=False).empty
    plan = m.plan_event_ttl(m.EventTtl(270, "day"), m.EventTtl(2, "hr"))
    assert [a.kind for a in plan.actions] == ["set_event_ttl", "run_expirer"]
    assert plan.actions[0].detail == "270 day -> 2 hr"


def test_parse_expirer() -> None:
    err = "INFO ceilometer.cmd.storage Dropping event data with TTL 7200\n"
    assert m.parse_expirer("dropped 1199 events, 1 left\n", err) == "dropped 1199 events, 1 left"
    assert "nothing to clean" in m.parse_expirer("", "INFO x Nothing to clean, database event time to live is "
                                                     "disabled\n")


def server(name: str, status: str, vm_state: str) -> m.ServerState:
    return m.ServerState(f"id-{name}", name, status, vm_state, None, "9119MME_1009425")


def test_state_reset_plan() -> None:
    servers = [server("p00ww6754398", "ERROR", "error"), server("multi-vol", "ACTIVE", "active")]
    plan = m.plan_state_reset(servers, [])
    assert [a.target for a in plan.actions] == ["p00ww6754398"]
    named = m.plan_state_reset(servers, ["multi-vol"])
    assert named.empty and "multi-vol is ACTIVE: nothing to reset" in named.in_place
    with pytest.raises(InvalidInput, match="not found"):
        m.plan_state_reset(servers, ["nope"])
    with pytest.raises(InvalidInput):
        m.plan_state_reset(servers, [], "deleted")


def test_ghost_volume_plan() -> None:
    ghost = m.VolumeAttachmentState("9cf6d85a", "dummy", "in-use", "attached", (("ce4238b5", "44c7a72c"),))
    real = m.VolumeAttachmentState("v2", "data", "in-use", "attached", (("a2", "srv-alive"),))
    half = m.VolumeAttachmentState("v3", "shared", "in-use", "attached",
                                   (("a3", "srv-alive"), ("a4", "srv-gone")))
    orphan_flag = m.VolumeAttachmentState("v4", "flag", "available", "attached", ())
    fine = m.VolumeAttachmentState("v5", "free", "available", "detached", ())
    plan = m.plan_ghost_detach([ghost, real, half, orphan_flag, fine], {"srv-alive"})
    assert [(a.kind, a.target) for a in plan.actions] == [
        ("force_detach", "dummy"), ("reset_volume_status", "dummy"),
        ("force_detach", "shared"),
        ("reset_volume_status", "flag")]
    assert any("shared: still attached" in r for r in plan.in_place)


def test_guard_repair_wants_confirm_first_then_the_ceiling():
    from core.errors import ConfirmationRequired, SafetyCheckFailed
    from core.powervc.maintenance import guard_repair

    with pytest.raises(ConfirmationRequired, match="3 server\\(s\\) to reset planned"):
        guard_repair(3, "server(s) to reset", confirm=False, max_changes=1)   # confirm is asked before the ceiling
    with pytest.raises(SafetyCheckFailed, match="3 server\\(s\\) to reset is more than max_changes=2"):
        guard_repair(3, "server(s) to reset", confirm=True, max_changes=2)
    guard_repair(2, "server(s) to reset", confirm=True, max_changes=2)
