"""ensure-vnic, vnic-prerequisites and lpm-readiness against the simulated HMC and VIOS."""

from __future__ import annotations

import pytest

import lab.hmc_sim as sim
from core.hmc.errors import InvalidVnicSpec, PlanApplyFailed
from flows.ensure_vnic import BackingDeviceParam, ensure_vnic
from flows.lpm_readiness import LpmReadinessParams, lpm_readiness
from flows.vnic_prerequisites import VnicPrerequisitesParams, vnic_prerequisites
from tests.lab.hmc.conftest import SYSTEM, VIOS_BLOCKS, vnic_params

pytestmark = pytest.mark.lab


def _vnic_state(lab):
    st = sim.store(lab).read()
    return st["systems"][SYSTEM]["vnics"]


def test_ensure_vnic_creates_then_converges(fresh):
    first = ensure_vnic(vnic_params())
    assert len(first["changed"]) == 1 and first["changed"][0].startswith("add vNIC")
    assert first["verified"] is True
    vnics = _vnic_state(fresh)
    assert len(vnics) == 1
    assert {(d["vios"], d["priority"]) for d in vnics[0]["backing"]} == {("vios1", 10), ("vios2", 20)}
    again = ensure_vnic(vnic_params())
    assert again["planned"] == [] and again["changed"] == []
    assert "already has the 2 desired backing device(s)" in again["noop_reason"]


def test_ensure_vnic_adds_backing_changes_priority_reenables_auto(fresh):
    ensure_vnic(vnic_params())
    sim_vnic = _vnic_state(fresh)[0]
    with sim.store(fresh).locked() as st:
        st["systems"][SYSTEM]["vnics"][0]["auto"] = False  # as after a manual activation
    more = vnic_params(backing_devices=[
        BackingDeviceParam(vios="vios1", adapter_id=1, phys_port_id=0, priority=10),
        BackingDeviceParam(vios="vios2", adapter_id=2, phys_port_id=0, priority=30),
        BackingDeviceParam(vios="vios1", adapter_id=1, phys_port_id=1, priority=40)])
    res = ensure_vnic(more)
    kinds = [c.split(" ")[0] for c in res["changed"]]
    assert kinds == ["add", "set", "re-enable"], res["changed"]
    assert res["verified"] is True
    v = _vnic_state(fresh)[0]
    assert v["auto"] is True and len(v["backing"]) == 3 and v["slot"] == sim_vnic["slot"]
    # and back to two devices: the third is removed
    res = ensure_vnic(vnic_params())
    assert [c.split(" ")[0] for c in res["changed"]] == ["set", "remove"]
    assert len(_vnic_state(fresh)[0]["backing"]) == 2


def test_ensure_vnic_dry_run_changes_nothing(fresh):
    res = ensure_vnic(vnic_params(dry_run=True))
    assert res["planned"] and res["changed"] == []
    assert _vnic_state(fresh) == []


def test_ensure_vnic_refuses_shared_port_and_unknown_vios(fresh):
    with pytest.raises(InvalidVnicSpec, match="share physical port"):
        ensure_vnic(vnic_params(backing_devices=[
            BackingDeviceParam(vios="vios1", adapter_id=1, phys_port_id=0, priority=10),
            BackingDeviceParam(vios="vios2", adapter_id=1, phys_port_id=0, priority=20)]))
    with pytest.raises(InvalidVnicSpec, match="VIOS vios9 does not exist"):
        ensure_vnic(vnic_params(backing_devices=[
            BackingDeviceParam(vios="vios9", adapter_id=1, phys_port_id=0, priority=10)]))
    assert _vnic_state(fresh) == []


def test_ensure_vnic_hscl_error_mid_plan_reports_what_was_applied(fresh):
    ensure_vnic(vnic_params())
    sim.inject_fault(fresh, "failover_priority=30", "HSCLB1FF The hypervisor refused the change (lab fault).")
    more = vnic_params(backing_devices=[
        BackingDeviceParam(vios="vios1", adapter_id=1, phys_port_id=0, priority=10),
        BackingDeviceParam(vios="vios2", adapter_id=2, phys_port_id=0, priority=30),
        BackingDeviceParam(vios="vios1", adapter_id=1, phys_port_id=1, priority=40)])
    with pytest.raises(PlanApplyFailed) as info:
        ensure_vnic(more)
    err = info.value
    assert len(err.applied) == 1 and err.applied[0].startswith("add backing device vios1:1/1")
    assert "set failover priority" in err.failed_step and "HSCLB1FF" in err.cause
    v = _vnic_state(fresh)[0]
    assert sorted(d["priority"] for d in v["backing"]) == [10, 20, 40]  # exactly what the report says
    # a re-run finishes the job
    res = ensure_vnic(more)
    assert [c.split(" ")[0] for c in res["changed"]] == ["set"] and res["verified"]


def test_prerequisites_pass_on_the_lab(fresh):
    res = vnic_prerequisites(VnicPrerequisitesParams(hmc_block="lab-hmc1", managed_system=SYSTEM,
                                                     vios_blocks=VIOS_BLOCKS))
    assert res["passed"] is True
    items = {r["item"]: r for r in res["items"]}
    assert items["HMC version"]["found"].startswith("V8R8.6.0")
    assert {"VIOS vios1 level", "VIOS vios2 level"} <= set(items)


def test_prerequisites_fail_with_remedies(fresh):
    with sim.store(fresh).locked() as st:
        st["hmc"]["release"] = "8.5.0"
        st["systems"][SYSTEM]["firmware"]["spname"] = "FW840.40"
        st["systems"][SYSTEM]["adapters"]["2"]["config_state"] = "dedicated"
        st["systems"][SYSTEM]["partitions"]["vios2"]["ioslevel"] = "2.2.4.20"
    res = vnic_prerequisites(VnicPrerequisitesParams(hmc_block="lab-hmc1", managed_system=SYSTEM,
                                                     vios_blocks=VIOS_BLOCKS))
    assert res["passed"] is False
    failed = {r["item"]: r for r in res["items"] if r["result"] == "FAIL"}
    assert set(failed) == {"HMC version", f"firmware of {SYSTEM}", "VIOS vios2 level",
                           "SR-IOV adapter 2 (U78CA.001.CSS08EL-P1-C4-C1)"}
    assert all(r["what to do"] for r in failed.values())


def test_lpm_readiness_aligned_then_mismatch(fresh):
    ensure_vnic(vnic_params())
    ok = lpm_readiness(LpmReadinessParams(hmc_block="lab-hmc1", source_system=SYSTEM,
                                          target_system=sim.TARGET_SYSTEM, lpar="lpar1"))
    assert ok["ready"] is True and ok["checked"] == 2
    ensure_vnic(vnic_params(backing_devices=[
        BackingDeviceParam(vios="vios1", adapter_id=1, phys_port_id=0, priority=10),
        BackingDeviceParam(vios="vios2", adapter_id=2, phys_port_id=0, priority=20),
        BackingDeviceParam(vios="vios2", adapter_id=2, phys_port_id=3, priority=30)]))
    bad = lpm_readiness(LpmReadinessParams(hmc_block="lab-hmc1", source_system=SYSTEM,
                                           target_system=sim.TARGET_SYSTEM, lpar="lpar1"))
    assert bad["ready"] is False
    assert [m["status"] for m in bad["mismatches"]] == ["sublabel-differs"]
    assert bad["mismatches"][0]["source port"] == "2/3"


def test_hmc_sessions_are_limited_per_hmc(fresh):
    from prefect.client.orchestration import get_client

    from blocks.hmc import HmcConsole

    vnic_prerequisites(VnicPrerequisitesParams(hmc_block="lab-hmc1", managed_system=SYSTEM))
    hmc = HmcConsole.load("lab-hmc1")
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(hmc.concurrency_key)
    assert limit.limit == hmc.max_sessions == 4
    assert limit.active_slots == 0  # every command released its slot
