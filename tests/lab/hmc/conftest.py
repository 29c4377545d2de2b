"""Lab fixtures of the HMC/VIOS area: the simulators up once per session, blocks registered, model reset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import lab.hmc_sim as sim
from flows.ensure_vnic import BackingDeviceParam, EnsureVnicParams
from lab.context import LabContext

SYSTEM = sim.SYSTEM
VIOS_BLOCKS = ["lab-vios1", "lab-vios2"]


@pytest.fixture(scope="session")
def hmc_lab(prefect_server: str) -> Iterator[LabContext]:
    lab = LabContext()
    sim.up(lab)
    sim.reset_model(lab)
    sim.register_blocks(lab)
    yield lab
    sim.reset_model(lab)


@pytest.fixture()
def fresh(hmc_lab: LabContext) -> Iterator[LabContext]:
    """A seed model (no vNIC, all partitions running, no faults) for each test."""
    sim.reset_model(hmc_lab)
    yield hmc_lab
    sim.clear_faults(hmc_lab)


def vnic_params(**kw: Any) -> EnsureVnicParams:
    base: dict[str, Any] = dict(
        hmc_block="lab-hmc1", managed_system=SYSTEM, lpar="lpar1", vlan=3455, auto_failover=True,
        backing_devices=[BackingDeviceParam(vios="vios1", adapter_id=1, phys_port_id=0, priority=10),
                         BackingDeviceParam(vios="vios2", adapter_id=2, phys_port_id=0, priority=20)],
        vios_blocks=VIOS_BLOCKS)
    base.update(kw)
    return EnsureVnicParams(**base)
