"""ensure-vnic: make an LPAR's SR-IOV vNIC match the desired backing devices, priorities and auto failover.

Read (inventory, current vNICs) -> plan (pure) -> publish the plan -> apply step by step -> verify on the
HMC and on each VIOS (VF present, vnicserver present and mapped to the client). A re-run on a converged
system plans nothing and says why. A failing step stops the run with a report of what was applied.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from blocks.hmc import HmcConsole, ViosHost
from core.errors import PowerOpsError
from core.hmc.commands import BackingSpec
from core.hmc.errors import InvalidVnicSpec, PlanApplyFailed
from core.hmc.planner import DesiredVnic, VnicPlan, check_inventory, plan_vnic, verify_hmc, verify_vios
from tasks import hmc as th
from tasks import vios as tv


class BackingDeviceParam(BaseModel):
    vios: str = Field(description="VIOS partition name hosting the VF and the vnicserver.")
    adapter_id: int = Field(ge=0, description="SR-IOV adapter id (lshwres -r sriov --rsubtype adapter).")
    phys_port_id: int = Field(ge=0, description="Physical port id on the adapter (numbering starts at 0).")
    capacity: str = Field(default="2.0", description="Capacity of the logical port, percent.")
    priority: int = Field(ge=1, le=100, description="Failover priority, 1-100; lower number = preferred.")


class EnsureVnicParams(BaseModel):
    hmc_block: str = Field(description="Name of the powerops-hmc-console block.")
    managed_system: str = Field(description="Managed system name as the HMC lists it.")
    lpar: str = Field(description="Client partition name.")
    vlan: int = Field(ge=0, le=4094, description="Port VLAN id of the vNIC.")
    auto_failover: bool = Field(default=True, description="auto_priority_failover of the vNIC.")
    slot: int | None = Field(default=None, description="Virtual slot; empty = find by VLAN / next free slot.")
    backing_devices: list[BackingDeviceParam] = Field(description="1 to 6 backing devices, each on its own "
                                                                  "physical port, spread over VIOS.")
    vios_blocks: list[str] = Field(default_factory=list, description="powerops-vios blocks used to verify each "
                                                                     "VIOS side (VF and vnicserver).")
    dry_run: bool = Field(default=False, description="Publish the plan and change nothing.")


def desired_from(p: EnsureVnicParams) -> DesiredVnic:
    return DesiredVnic(lpar=p.lpar, vlan=p.vlan, auto_failover=p.auto_failover, slot=p.slot,
                       backing=tuple(BackingSpec(vios=b.vios, adapter_id=b.adapter_id, phys_port_id=b.phys_port_id,
                                                 capacity=b.capacity, priority=b.priority)
                                     for b in p.backing_devices))


def plan_markdown(plan: VnicPlan, system: str) -> str:
    lines = [f"# vNIC plan for {plan.lpar} on {system}", ""]
    if not plan.steps:
        lines.append(f"**No change**: {plan.noop_reason}")
    for i, s in enumerate(plan.steps, 1):
        lines.append(f"{i}. {s.description}  \n   `{' '.join(s.argv)}`")
    for n in plan.notes:
        lines.append(f"- note: {n}")
    return "\n".join(lines) + "\n"


@flow(name="ensure-vnic", log_prints=False)
def ensure_vnic(params: EnsureVnicParams) -> dict[str, Any]:
    log = get_run_logger()
    hmc = HmcConsole.load(params.hmc_block)
    th.ensure_hmc_session_limit(hmc)
    system = params.managed_system
    desired = desired_from(params)

    partitions = th.read_partitions(hmc, system)
    adapters = th.read_sriov_adapters(hmc, system)
    physports = th.read_sriov_physports(hmc, system)
    problems = check_inventory(desired, partitions, adapters, physports)
    if problems:
        raise InvalidVnicSpec("; ".join(problems))

    plan = plan_vnic(desired, th.read_vnics(hmc, system, desired.lpar), system)
    create_markdown_artifact(plan_markdown(plan, system), key="ensure-vnic-plan",
                             description=f"vNIC plan for {desired.lpar}")
    log.info("plan: %d step(s)%s", len(plan.steps), f" ({plan.noop_reason})" if not plan.steps else "")
    summary: dict[str, Any] = {"planned": [s.description for s in plan.steps], "changed": [],
                               "noop_reason": plan.noop_reason, "notes": list(plan.notes), "dry_run": params.dry_run}
    if params.dry_run:
        return summary

    applied: list[str] = []
    for i, step in enumerate(plan.steps):
        try:
            applied.append(th.apply_vnic_step(hmc, step))
        except PowerOpsError as exc:
            rest = [s.description for s in plan.steps[i + 1:]]
            rows = ([{"step": a, "result": "applied"} for a in applied]
                    + [{"step": step.description, "result": f"FAILED: {exc}"}]
                    + [{"step": r, "result": "not applied"} for r in rest])
            create_table_artifact(rows, key="ensure-vnic-apply", description="vNIC plan stopped at a failure")
            raise PlanApplyFailed(step.description, applied, rest, str(exc)) from exc
    summary["changed"] = applied

    vnic, hmc_problems = verify_hmc(desired, th.read_vnics(hmc, system, desired.lpar))
    rows: list[dict[str, Any]] = [{"where": "HMC", "check": "vNIC matches desired state",
                                   "result": "ok" if not hmc_problems else "; ".join(hmc_problems)}]
    vios_problems: list[str] = []
    if vnic is not None and params.vios_blocks:
        logports = th.read_sriov_logports(hmc, system)
        for name in params.vios_blocks:
            vb = ViosHost.load(name)
            checks = verify_vios(vnic, vb.partition_name, logports, tv.read_vios_adapters(vb),
                                 tv.read_vnic_mappings(vb))
            for c in checks:
                rows.append({"where": vb.partition_name, "check": f"logical port {c.logical_port_id} "
                             f"({c.location_code}): VF present, {c.vnicserver or 'vnicserver'} mapped",
                             "result": "ok" if not c.problems else "; ".join(c.problems)})
                vios_problems += c.problems
    create_table_artifact(rows, key="ensure-vnic-verify", description=f"verification of {desired.lpar}'s vNIC")
    summary["verified"] = not hmc_problems and not vios_problems
    summary["slot"] = vnic.slot_num if vnic else None
    if not summary["verified"]:
        raise PowerOpsError("verification failed: " + "; ".join(hmc_problems + vios_problems))
    return summary
