"""Planner cases: desired vNIC + current state -> steps (or the no-op reason)."""

from __future__ import annotations

import pytest

from core.hmc import commands as C
from core.hmc.errors import InvalidVnicSpec
from core.hmc.models import (
    BackingDevice,
    BackingDeviceState,
    Partition,
    SriovAdapter,
    SriovLogicalPort,
    SriovPhysPort,
    ViosDevice,
    Vnic,
    VnicMapping,
)
from core.hmc.planner import DesiredVnic, check_inventory, plan_vnic, verify_hmc, verify_vios

SYS = "sys1"


def dev(vios: str, vid: int, adapter: int, port: int, lp: str, prio: int) -> BackingDevice:
    return BackingDevice(vios, vid, adapter, port, lp, "2.0", "2.0", prio)


def vnic(devs: list[BackingDevice], auto: bool = True, active: str | None = None, vlan: int = 3455) -> Vnic:
    active = active or devs[0].logical_port_id
    states = tuple(BackingDeviceState(d.logical_port_id, d.logical_port_id == active, "Operational") for d in devs)
    return Vnic("lizard", 6, 6, vlan, "FA7B2C8F9E06", auto, tuple(devs), states)


def desired(*specs: tuple[str, int, int, int], auto: bool = True) -> DesiredVnic:
    return DesiredVnic("lizard", 3455, auto, tuple(C.BackingSpec(v, a, p, "2.0", pr) for v, a, p, pr in specs))


D1 = dev("vios1", 1, 1, 1, "2700400b", 10)
D2 = dev("vios2", 2, 3, 1, "27008005", 20)


def test_new_vnic_is_one_add():
    plan = plan_vnic(desired(("vios1", 1, 1, 10), ("vios2", 3, 1, 20)), [], SYS)
    assert [s.kind for s in plan.steps] == ["add_vnic"]
    assert plan.steps[0].argv[-1] == ('port_vlan_id=3455,auto_priority_failover=1,'
                                      '"backing_devices=sriov/vios1//1/1/2.0/10,sriov/vios2//3/1/2.0/20"')


def test_converged_vnic_plans_nothing_and_says_why():
    plan = plan_vnic(desired(("vios1", 1, 1, 10), ("vios2", 3, 1, 20)), [vnic([D1, D2])], SYS)
    assert plan.steps == () and "already has the 2 desired backing device(s)" in plan.noop_reason


def test_add_remove_priority_and_auto():
    cur = vnic([D1, D2, dev("vios1", 1, 2, 1, "2702400c", 30)], auto=False)
    plan = plan_vnic(desired(("vios1", 1, 1, 10), ("vios2", 3, 1, 25), ("vios2", 4, 1, 40)), [cur], SYS)
    assert [s.kind for s in plan.steps] == ["add_backing", "set_priority", "remove_backing", "set_auto_failover"]
    assert plan.steps[0].argv[-1] == "backing_devices+=sriov/vios2//4/1/2.0/40"
    assert plan.steps[1].argv[-3:] == ("27008005", "-a", "failover_priority=25")
    assert plan.steps[2].argv[-1] == "backing_devices-=sriov/vios1//2/1/2.0/30"
    assert plan.steps[3].argv[-1] == "auto_priority_failover=1"


def test_rules_of_the_platform():
    with pytest.raises(InvalidVnicSpec, match="share physical port"):
        desired(("vios1", 1, 1, 10), ("vios2", 1, 1, 20))
    with pytest.raises(InvalidVnicSpec, match="1 to 6"):
        desired(*[("vios1", a, 0, 10 + a) for a in range(1, 8)])
    with pytest.raises(InvalidVnicSpec):
        desired()


def test_vlan_mismatch_finds_no_vnic_and_adds_one():
    plan = plan_vnic(desired(("vios1", 1, 1, 10)), [vnic([D1, D2], vlan=100)], SYS)
    assert [s.kind for s in plan.steps] == ["add_vnic"]


def test_inventory_problems():
    parts = [Partition("vios1", 1, "vioserver", "Running"), Partition("lizard", 6, "aixlinux", "Running")]
    ads = [SriovAdapter(1, "U1", "sriov", 1, 4, 0, 48), SriovAdapter(3, "U3", "dedicated", 1, 4, 0, 48)]
    ports = [SriovPhysPort(1, 1, "U1-T2", "", "", 1)]
    probs = check_inventory(desired(("vios1", 1, 1, 10), ("vios2", 3, 1, 20), ("lizard", 1, 2, 30)),
                            parts, ads, ports)
    assert "VIOS vios2 does not exist" in probs
    assert "SR-IOV adapter 3 is not in shared (sriov) mode" in probs
    assert any("lizard is not a Virtual I/O Server" in p for p in probs)
    assert any("no physical port 2" in p for p in probs)


def test_verify_hmc_and_vios():
    want = desired(("vios1", 1, 1, 10), ("vios2", 3, 1, 20))
    v, problems = verify_hmc(want, [vnic([D1, D2])])
    assert v is not None and problems == []
    _, problems = verify_hmc(want, [vnic([D1, dev("vios2", 2, 3, 1, "27008005", 99)], auto=False)])
    assert len(problems) == 2
    lps = [SriovLogicalPort(1, 1, "2700400b", "vios1", 1, "2.0", True, "U78-T2-S5")]
    devs = [ViosDevice("ent3", "Available", "U78-T2-S5", "VF")]
    maps = [VnicMapping("vnicserver1", "U9-V1-C32898", 6, "N/A", "N/A", "ent3", "Available", "U78-T2-S5", "N/A",
                        "U9-V6-C6")]
    checks = verify_vios(v, "vios1", lps, devs, maps)
    assert len(checks) == 1 and checks[0].problems == [] and checks[0].vnicserver == "vnicserver1"
    bad = verify_vios(v, "vios1", lps, [], [])
    assert len(bad[0].problems) == 2
