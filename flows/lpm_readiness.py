"""lpm-readiness: the SR-IOV port labels/sublabels behind an LPAR's vNIC backing devices exist on the
target system, so LPM maps every backing device to the right physical port."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field

from blocks.hmc import HmcConsole
from core.hmc.lpm import check_labels
from tasks import hmc as th


class LpmReadinessParams(BaseModel):
    hmc_block: str = Field(description="Name of the powerops-hmc-console block (managing both systems).")
    source_system: str = Field(description="Managed system the LPAR runs on.")
    target_system: str = Field(description="Managed system the LPAR would move to.")
    lpar: str = Field(description="Client partition name.")


@flow(name="lpm-readiness")
def lpm_readiness(params: LpmReadinessParams) -> dict[str, Any]:
    hmc = HmcConsole.load(params.hmc_block)
    th.ensure_hmc_session_limit(hmc)
    vnics = th.read_vnics(hmc, params.source_system, params.lpar)
    checks = check_labels(vnics, th.read_sriov_physports(hmc, params.source_system),
                          th.read_sriov_physports(hmc, params.target_system))
    rows = [{"slot": c.slot, "logical port": c.logical_port_id, "source port": c.source_port, "label": c.label,
             "sublabel": c.sub_label, "target ports": ", ".join(c.target_ports), "status": c.status,
             "detail": c.detail} for c in checks]
    create_table_artifact(rows or [{"status": "no vNIC backing devices"}], key="lpm-readiness",
                          description=f"SR-IOV labels {params.source_system} -> {params.target_system}")
    mismatches = [r for r, c in zip(rows, checks, strict=True) if not c.ok]
    return {"ready": bool(checks) and not mismatches, "checked": len(checks), "mismatches": mismatches}
