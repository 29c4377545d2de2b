"""vnic-failover-drill: test an SR-IOV vNIC failover with measured loss, then restore.

Only with ``confirm=True`` and only when another operational backing device on a different, running VIOS
exists. Pings the LPAR continuously, shuts down the VIOS hosting the active device (or activates a chosen
backing device), records which device becomes active and when, lost pings, errpt entries on the surviving
VIOS and the client; then restarts the VIOS, re-enables auto priority failover if the drill turned it off,
and verifies the original preferred device is active again. Evidence: timeline, loss, devices
before/during/after.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from blocks.hmc import HmcConsole, ViosHost
from blocks.ssh import SshTarget
from core.errors import ConfirmationRequired, PowerOpsError, SafetyCheckFailed
from core.hmc.drill import PingReport, check_drill
from core.hmc.errors import DrillRefused
from core.hmc.models import BackingDevice, ErrptEntry, Vnic
from tasks import hmc as th
from tasks import vios as tv


class VnicFailoverDrillParams(BaseModel):
    hmc_block: str = Field(description="Name of the powerops-hmc-console block.")
    managed_system: str = Field(description="Managed system name as the HMC lists it.")
    lpar: str = Field(description="Client partition name.")
    slot: int | None = Field(default=None, description="vNIC slot; empty = the LPAR's only vNIC.")
    lpar_address: str = Field(description="IP address of the LPAR to ping during the drill.")
    vios_blocks: list[str] = Field(description="powerops-vios blocks of the VIOS serving the vNIC.")
    client_block: str | None = Field(default=None, description="powerops-ssh-target block of the client LPAR "
                                                               "(to read its errpt), optional.")
    mode: Literal["shutdown_vios", "activate"] = Field(
        default="shutdown_vios", description="shutdown_vios: shut down the VIOS of the active device; "
                                             "activate: make another backing device active.")
    activate_logport: str | None = Field(default=None, description="Logical port to activate (mode activate); "
                                                                   "empty = the next priority.")
    confirm: bool = Field(default=False, description="Must be true: the drill disturbs the LPAR's network.")
    ping_interval: float = Field(default=0.2, ge=0.05, le=2, description="Seconds between pings.")
    settle_seconds: float = Field(default=2.0, ge=0, le=60, description="Pause before/after each phase.")
    timeout_seconds: float = Field(default=300.0, gt=0, description="Limit of each wait.")


def _dev(d: BackingDevice | None) -> str:
    if d is None:
        return "none"
    return f"{d.logical_port_id} ({d.vios_name} {d.adapter_id}/{d.phys_port_id}, priority {d.failover_priority})"


def _new_entries(before: list[ErrptEntry], after: list[ErrptEntry]) -> list[ErrptEntry]:
    seen = Counter((e.identifier, e.timestamp, e.resource) for e in before)
    out = []
    for e in after:
        k = (e.identifier, e.timestamp, e.resource)
        if seen[k]:
            seen[k] -= 1
        else:
            out.append(e)
    return out


def _pick(vnics: list[Vnic], lpar: str, slot: int | None) -> Vnic:
    mine = [v for v in vnics if slot is None or v.slot_num == slot]
    if len(mine) != 1:
        raise DrillRefused(f"{lpar} has {len(mine)} matching vNICs: give the slot")
    return mine[0]


@flow(name="vnic-failover-drill")
def vnic_failover_drill(params: VnicFailoverDrillParams) -> dict[str, Any]:
    log = get_run_logger()
    if not params.confirm:
        create_markdown_artifact(f"Drill on {params.lpar} refused: `confirm` is false. Nothing was changed.\n",
                                 key="vnic-drill", description="vNIC failover drill refused")
        raise ConfirmationRequired(f"the failover drill disturbs {params.lpar}'s network: run it with confirm=True")
    hmc = HmcConsole.load(params.hmc_block)
    th.ensure_hmc_session_limit(hmc)
    system, lpar = params.managed_system, params.lpar
    vios = {b.partition_name: b for b in (ViosHost.load(n) for n in params.vios_blocks)}
    client = SshTarget.load(params.client_block) if params.client_block else None

    vnic = _pick(th.read_vnics(hmc, system, lpar), lpar, params.slot)
    states = {p.name: p.state for p in th.read_partitions(hmc, system)}
    target = check_drill(vnic, states, params.activate_logport if params.mode == "activate" else None)
    original, auto_before, slot = target.active, vnic.auto_priority_failover, vnic.slot_num
    if params.mode == "shutdown_vios" and original.vios_name not in vios:
        raise SafetyCheckFailed(f"no powerops-vios block for {original.vios_name} (the VIOS to shut down)")
    if target.expected_next.vios_name not in vios:
        raise SafetyCheckFailed(f"no powerops-vios block for {target.expected_next.vios_name} (the surviving VIOS)")
    survivor = vios[target.expected_next.vios_name]

    t0 = time.time()
    timeline: list[dict[str, Any]] = []

    def mark(event: str, at: float | None = None) -> None:
        timeline.append({"t (s)": round((at or time.time()) - t0, 2), "event": event})
        log.info("%s", event)

    mark(f"before: active {_dev(original)}, auto priority failover {'on' if auto_before else 'off'}")
    errpt_vios_before = tv.read_vios_errpt(survivor)
    errpt_client_before = tv.read_client_errpt(client) if client else []
    monitor = th.start_ping_monitor(params.lpar_address, params.ping_interval)
    mark(f"ping {params.lpar_address} every {params.ping_interval}s started")
    during: BackingDevice | None = None
    report: PingReport | None = None
    t_trigger = t_switch = t_restore_start = 0.0
    error: str | None = None
    new_vios: list[ErrptEntry] = []
    new_client: list[ErrptEntry] = []
    after: Vnic | None = None
    try:
        time.sleep(params.settle_seconds)
        t_trigger = time.time()
        if params.mode == "shutdown_vios":
            mark(f"shutdown -force on {original.vios_name}: {tv.shutdown_vios(vios[original.vios_name])}")
            if not auto_before:
                th.wait_for_vnic_state(hmc, system, lpar, slot, lambda v: not v.operational(
                    next(d for d in v.backing_devices if d.logical_port_id == original.logical_port_id)),
                    "original device not operational", params.timeout_seconds)
                mark("auto priority failover is off: activating the next device by hand")
                th.activate_backing_device(hmc, system, lpar, slot, target.expected_next.logical_port_id)
        else:
            th.activate_backing_device(hmc, system, lpar, slot, target.expected_next.logical_port_id)
            mark(f"chhwres -o act --logport {target.expected_next.logical_port_id} (turns auto failover off)")
        v, t_switch = th.wait_for_vnic_state(
            hmc, system, lpar, slot,
            lambda v: v.active_device is not None and v.active_device.logical_port_id != original.logical_port_id,
            "another active backing device", params.timeout_seconds)
        during = v.active_device
        mark(f"active device is now {_dev(during)}", t_switch)
        time.sleep(params.settle_seconds)
        new_vios = _new_entries(errpt_vios_before, tv.read_vios_errpt(survivor))
        if client:
            new_client = _new_entries(errpt_client_before, tv.read_client_errpt(client))
        mark(f"errpt: {len(new_vios)} new entr(y/ies) on {survivor.partition_name}, {len(new_client)} on the client")

        # -- restore --------------------------------------------------------------------------------------
        t_restore_start = time.time()
        if params.mode == "shutdown_vios":
            th.wait_for_partition_state(hmc, system, original.vios_name, "Not Activated", params.timeout_seconds)
            th.start_partition(hmc, system, original.vios_name)
            mark(f"chsysstate -o on {original.vios_name}")
            waited = th.wait_for_partition_state(hmc, system, original.vios_name, "Running", params.timeout_seconds)
            mark(f"{original.vios_name} Running after {waited}s")
            th.wait_for_vnic_state(hmc, system, lpar, slot, lambda v: v.operational(
                next(d for d in v.backing_devices if d.logical_port_id == original.logical_port_id)),
                "original device operational again", params.timeout_seconds)
            mark(f"backing device {original.logical_port_id} operational again")
        cur, _ = th.wait_for_vnic_state(hmc, system, lpar, slot, lambda v: True, "vNIC listed", 30)
        if auto_before and not cur.auto_priority_failover:
            th.set_auto_priority_failover(hmc, system, lpar, slot, True)
            mark("auto priority failover re-enabled (the drill had turned it off)")
        elif not auto_before:
            th.activate_backing_device(hmc, system, lpar, slot, original.logical_port_id)
            mark(f"auto priority failover was off before the drill: activated {original.logical_port_id} by hand")
        after, t_back = th.wait_for_vnic_state(
            hmc, system, lpar, slot,
            lambda v: v.active_device is not None and v.active_device.logical_port_id == original.logical_port_id
            and v.auto_priority_failover == auto_before,
            "original preferred device active again", params.timeout_seconds)
        mark(f"restored: active {_dev(after.active_device)}", t_back)
        time.sleep(params.settle_seconds)
    except PowerOpsError as exc:
        error = str(exc)
        mark(f"ERROR: {exc}")
    except TimeoutError as exc:
        error = str(exc)
        mark(f"ERROR: {exc}")
    finally:
        report = th.stop_ping_monitor(monitor)
        mark(f"ping stopped: {report.transmitted} sent, {report.received} received, {report.lost} lost")
        if report.first_loss_at is not None and report.last_loss_at is not None:
            mark("first unanswered ping reported", report.first_loss_at)
            mark("last unanswered ping reported", report.last_loss_at)
        timeline.sort(key=lambda row: float(row["t (s)"]))

    phases = {"failover": 0, "restore": 0}
    if report:
        for when in report.lost_times:
            phases["failover" if not t_restore_start or when < t_restore_start else "restore"] += 1
        # probes lost at the very end (no later probe to report them) count in the last phase
        phases["restore" if t_restore_start else "failover"] += max(0, report.lost - len(report.lost_times))

    evidence: dict[str, Any] = {
        "lpar": lpar, "slot": slot, "mode": params.mode,
        "before": _dev(original), "during": _dev(during), "after": _dev(after.active_device if after else None),
        "auto_priority_failover_before": auto_before,
        "auto_priority_failover_after": after.auto_priority_failover if after else None,
        "switch_seconds": round(t_switch - t_trigger, 2) if t_switch else None,
        "pings_sent": report.transmitted if report else 0, "pings_lost": report.lost if report else 0,
        "lost_during_failover": phases["failover"], "lost_during_restore": phases["restore"],
        "outage_seconds": report.outage_seconds if report else None,
        "errpt_vios": [f"{e.identifier} {e.timestamp} {e.resource} {e.description}" for e in new_vios],
        "errpt_client": [f"{e.identifier} {e.timestamp} {e.resource} {e.description}" for e in new_client],
        "restored": bool(after and after.active_device and after.active_device.logical_port_id
                         == original.logical_port_id and after.auto_priority_failover == auto_before),
        "error": error,
    }
    create_table_artifact(timeline, key="vnic-drill-timeline", description=f"failover drill of {lpar} slot {slot}")
    md = [f"# vNIC failover drill: {lpar} slot {slot} ({params.mode})", "",
          "| | device |", "|---|---|", f"| before | {evidence['before']} |", f"| during | {evidence['during']} |",
          f"| after | {evidence['after']} |", "",
          f"Switch seen after **{evidence['switch_seconds']} s**; pings sent {evidence['pings_sent']}, "
          f"lost **{evidence['pings_lost']}** ({evidence['lost_during_failover']} during failover, "
          f"{evidence['lost_during_restore']} during restore).", "",
          f"Auto priority failover before/after: {auto_before} / {evidence['auto_priority_failover_after']}", "",
          f"errpt on {survivor.partition_name}: " + ("; ".join(evidence["errpt_vios"]) or "none"), "",
          "errpt on the client: " + ("; ".join(evidence["errpt_client"]) or ("none" if client else "not read")),
          "", f"Restored: **{evidence['restored']}**" + (f" - error: {error}" if error else "")]
    create_markdown_artifact("\n".join(md) + "\n", key="vnic-drill", description="vNIC failover drill evidence")
    if error or not evidence["restored"]:
        raise PowerOpsError(f"drill on {lpar} did not complete cleanly: {error or 'original device not restored'}")
    return evidence
