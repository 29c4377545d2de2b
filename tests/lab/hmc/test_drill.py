"""vnic-failover-drill against the simulated HMC/VIOS with real pings to the client LPAR's namespace."""

from __future__ import annotations

import pytest

import lab.hmc_sim as sim
from core.errors import ConfirmationRequired, PowerOpsError
from core.hmc.errors import DrillRefused
from flows.ensure_vnic import ensure_vnic
from flows.vnic_failover_drill import VnicFailoverDrillParams, vnic_failover_drill
from tests.lab.hmc.conftest import SYSTEM, VIOS_BLOCKS, vnic_params

pytestmark = pytest.mark.lab


def drill_params(**kw):
    base = dict(hmc_block="lab-hmc1", managed_system=SYSTEM, lpar="lpar1", lpar_address=sim.NODES["lpar1"][1],
                vios_blocks=VIOS_BLOCKS, client_block="lab-lpar1", confirm=True, settle_seconds=1.0,
                timeout_seconds=60)
    base.update(kw)
    return VnicFailoverDrillParams(**base)


def _model(lab):
    return sim.store(lab).read()["systems"][SYSTEM]


def test_drill_refused_without_confirmation(fresh):
    ensure_vnic(vnic_params())
    before = _model(fresh)
    with pytest.raises(ConfirmationRequired):
        vnic_failover_drill(drill_params(confirm=False))
    assert _model(fresh)["partitions"] == before["partitions"]


def test_drill_refused_without_healthy_peer(fresh):
    ensure_vnic(vnic_params())
    with sim.store(fresh).locked() as st:  # the peer VIOS is down
        st["systems"][SYSTEM]["partitions"]["vios2"]["state"] = "Not Activated"
    with pytest.raises(DrillRefused, match="no operational backing device on another running VIOS"):
        vnic_failover_drill(drill_params())
    assert _model(fresh)["partitions"]["vios1"]["state"] == "Running"


def test_drill_shutdown_vios_auto_failover_on(fresh):
    ensure_vnic(vnic_params())
    ev = vnic_failover_drill(drill_params())
    assert ev["before"].startswith("27010001 (vios1") and "(vios2" in ev["during"]
    assert ev["after"] == ev["before"] and ev["restored"] is True
    assert ev["auto_priority_failover_before"] is True and ev["auto_priority_failover_after"] is True
    # failover_seconds is 2 s and the client is cut meanwhile: several 0.2 s probes are lost, not all
    assert 3 <= ev["lost_during_failover"] <= 25, ev
    assert ev["pings_lost"] < ev["pings_sent"] / 2
    assert any(e.startswith("60D73419") and "VNIC Client Login" in e for e in ev["errpt_vios"])
    assert any("VNIC Link Down" in e for e in ev["errpt_client"])
    assert any("VNIC Link Up" in e for e in ev["errpt_client"])
    assert _model(fresh)["partitions"]["vios1"]["state"] == "Running"


def test_drill_shutdown_vios_auto_failover_off(fresh):
    ensure_vnic(vnic_params(auto_failover=False))
    ev = vnic_failover_drill(drill_params())
    assert "(vios2" in ev["during"] and ev["restored"] is True
    assert ev["auto_priority_failover_before"] is False and ev["auto_priority_failover_after"] is False
    assert ev["pings_lost"] >= 1
    v = _model(fresh)["vnics"][0]
    assert v["auto"] is False and next(d for d in v["backing"] if d["active"])["vios"] == "vios1"


def test_drill_activate_reenables_auto_failover(fresh):
    ensure_vnic(vnic_params())
    ev = vnic_failover_drill(drill_params(mode="activate"))
    assert "(vios2" in ev["during"] and ev["restored"] is True
    assert ev["auto_priority_failover_after"] is True
    v = _model(fresh)["vnics"][0]
    assert v["auto"] is True
    # a graceful switch loses at most a few probes (failback_seconds is 0.5 s)
    assert ev["pings_lost"] <= 10


def test_drill_hscl_error_before_the_switch_changes_nothing(fresh):
    ensure_vnic(vnic_params())
    sim.inject_fault(fresh, "-o act", "HSCLB1FE The hypervisor is busy (lab fault).")
    with pytest.raises(PowerOpsError, match="HSCLB1FE") as info:
        vnic_failover_drill(drill_params(mode="activate"))
    assert "did not complete cleanly" in str(info.value)
    v = _model(fresh)["vnics"][0]
    assert v["auto"] is True and next(d for d in v["backing"] if d["active"])["vios"] == "vios1"


def test_drill_hscl_error_during_restore_is_reported(fresh):
    ensure_vnic(vnic_params())
    sim.inject_fault(fresh, "auto_priority_failover=1", "HSCLB1FD The operation timed out (lab fault).")
    with pytest.raises(PowerOpsError, match="HSCLB1FD.*auto_priority_failover=1|auto_priority_failover=1.*HSCLB1FD"):
        vnic_failover_drill(drill_params(mode="activate"))
    v = _model(fresh)["vnics"][0]
    # what the report says happened: switched to vios2 by hand, auto failover still off
    assert v["auto"] is False and next(d for d in v["backing"] if d["active"])["vios"] == "vios2"
