"""vnic-prerequisites: HMC version, firmware level, VIOS levels and SR-IOV adapters in shared mode, as a
table of pass/fail items with what to do about each failure."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field

from blocks.hmc import HmcConsole, ViosHost
from core.errors import PowerOpsError
from core.hmc import prereq
from tasks import hmc as th
from tasks import vios as tv


class VnicPrerequisitesParams(BaseModel):
    hmc_block: str = Field(description="Name of the powerops-hmc-console block.")
    managed_system: str = Field(description="Managed system name as the HMC lists it.")
    vios_blocks: list[str] = Field(default_factory=list, description="powerops-vios blocks of the VIOS to check.")
    min_firmware: int = Field(default=prereq.MIN_FIRMWARE, description="Minimum firmware release (860 = FW860).")
    min_ioslevel: str = Field(default=".".join(map(str, prereq.MIN_IOSLEVEL)), description="Minimum VIOS level.")


@flow(name="vnic-prerequisites")
def vnic_prerequisites(params: VnicPrerequisitesParams) -> dict[str, Any]:
    hmc = HmcConsole.load(params.hmc_block)
    th.ensure_hmc_session_limit(hmc)
    items = [prereq.check_hmc(th.read_hmc_version(hmc)),
             prereq.check_firmware(params.managed_system, th.read_firmware_level(hmc, params.managed_system))]
    minimum = tuple(int(x) for x in params.min_ioslevel.split("."))
    for name in params.vios_blocks:
        vb = ViosHost.load(name)
        try:
            items.append(prereq.check_vios(vb.partition_name, tv.read_ioslevel(vb), minimum=minimum))
        except PowerOpsError as exc:
            items.append(prereq.check_vios(vb.partition_name, None, str(exc), minimum=minimum))
    items += prereq.check_adapters(th.read_sriov_adapters(hmc, params.managed_system))
    rows = [{"item": i.item, "required": i.target, "found": i.found, "result": "PASS" if i.passed else "FAIL",
             "what to do": i.remedy} for i in items]
    create_table_artifact(rows, key="vnic-prerequisites", description="SR-IOV vNIC failover prerequisites")
    return {"passed": all(i.passed for i in items), "items": rows}
