"""Thin Prefect tasks for the HMC (one command or one wait each) and the local ping monitor of drills.

Every HMC command runs inside the HMC's Prefect global concurrency limit (``HmcConsole.concurrency_key``),
so one HMC serving many users sees at most ``max_sessions`` powerops commands at a time.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from blocks.hmc import HmcConsole
from core.hmc import commands as C
from core.hmc import parsers as P
from core.hmc.attrs import is_no_results
from core.hmc.drill import PingReport, parse_ping
from core.hmc.errors import HmcCommandError, ManagedSystemNotFound, PartitionNotFound
from core.hmc.models import (
    FirmwareLevel,
    HmcVersion,
    Partition,
    SriovAdapter,
    SriovLogicalPort,
    SriovPhysPort,
    Vnic,
)
from core.hmc.planner import Step
from core.names import validate_host


def run_hmc(hmc: HmcConsole, argv: Sequence[str], timeout: float = 300.0) -> str:
    """Run one HMC command in the HMC's concurrency slot; HSCL errors become typed errors."""
    with concurrency(hmc.concurrency_key, occupy=1, strict=True):
        res = hmc.connect().run(list(argv), check=False, timeout=timeout)
    if res.exited == 0:
        return res.stdout
    text = res.stderr or res.stdout
    if is_no_results(text):
        return text
    code, msg = P.parse_hmc_error(text)
    cls: type[HmcCommandError] = HmcCommandError
    if code == "HSCL8012":
        cls = PartitionNotFound
    elif code == "HSCL8019":
        cls = ManagedSystemNotFound
    raise cls(hmc.host, res.command, res.exited, msg, code)


def _fields(argv: list[str]) -> list[str]:
    return argv[argv.index("-F") + 1].split(C.DELIM)


@task(cache_policy=NO_CACHE)
def ensure_hmc_session_limit(hmc: HmcConsole) -> str:
    """Create or update the global concurrency limit of this HMC (idempotent)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(hmc.concurrency_key, hmc.max_sessions)
    return hmc.concurrency_key


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_hmc_version(hmc: HmcConsole) -> HmcVersion:
    return P.parse_lshmc_v(run_hmc(hmc, C.lshmc_version()))


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_firmware_level(hmc: HmcConsole, system: str) -> FirmwareLevel:
    argv = C.lslic(system)
    return P.parse_lslic(run_hmc(hmc, argv), _fields(argv), C.DELIM)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_partitions(hmc: HmcConsole, system: str) -> list[Partition]:
    argv = C.lssyscfg_lpar(system)
    return P.parse_lssyscfg_lpar(run_hmc(hmc, argv), _fields(argv), C.DELIM)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_sriov_adapters(hmc: HmcConsole, system: str) -> list[SriovAdapter]:
    argv = C.lshwres_sriov(system, "adapter")
    return P.parse_sriov_adapters(run_hmc(hmc, argv), _fields(argv), C.DELIM)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_sriov_physports(hmc: HmcConsole, system: str) -> list[SriovPhysPort]:
    argv = C.lshwres_sriov(system, "physport")
    return P.parse_sriov_physports(run_hmc(hmc, argv), _fields(argv), C.DELIM)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_sriov_logports(hmc: HmcConsole, system: str) -> list[SriovLogicalPort]:
    argv = C.lshwres_sriov(system, "logport")
    return P.parse_sriov_logports(run_hmc(hmc, argv), _fields(argv), C.DELIM)


def _read_vnics(hmc: HmcConsole, system: str, lpar: str | None) -> list[Vnic]:
    argv = C.lshwres_vnic(system, lpar)
    return P.parse_lshwres_vnic(run_hmc(hmc, argv), _fields(argv), C.DELIM)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_vnics(hmc: HmcConsole, system: str, lpar: str | None = None) -> list[Vnic]:
    return _read_vnics(hmc, system, lpar)


@task(cache_policy=NO_CACHE)
def apply_vnic_step(hmc: HmcConsole, step: Step) -> str:
    """Run one planned chhwres command (no retries: a change is never repeated blindly)."""
    run_hmc(hmc, step.argv)
    return step.description


@task(cache_policy=NO_CACHE)
def activate_backing_device(hmc: HmcConsole, system: str, lpar: str, slot: int, logport: str) -> None:
    """Make a backing device active (the platform turns auto priority failover off)."""
    run_hmc(hmc, C.bkdev_activate(system, lpar, slot, logport))


@task(cache_policy=NO_CACHE)
def set_auto_priority_failover(hmc: HmcConsole, system: str, lpar: str, slot: int, enabled: bool) -> None:
    run_hmc(hmc, C.vnic_set_auto_failover(system, lpar, slot, enabled))


@task(cache_policy=NO_CACHE)
def start_partition(hmc: HmcConsole, system: str, name: str, profile: str = "default") -> None:
    run_hmc(hmc, C.partition_start(system, name, profile))


@task(cache_policy=NO_CACHE)
def wait_for_partition_state(hmc: HmcConsole, system: str, name: str, state: str,
                             timeout: float = 600.0, poll: float = 1.0) -> float:
    """Poll lssyscfg until the partition reaches ``state``; returns the seconds waited."""
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        argv = C.lssyscfg_lpar(system, [name])
        parts = P.parse_lssyscfg_lpar(run_hmc(hmc, argv), _fields(argv), C.DELIM)
        last = parts[0].state if parts else "?"
        if last == state:
            return round(time.monotonic() - t0, 2)
        time.sleep(poll)
    raise TimeoutError(f"{name} is still {last!r} after {timeout:.0f}s (waiting for {state!r})")


def wait_for_vnic(hmc: HmcConsole, system: str, lpar: str, slot: int, condition: Callable[[Vnic], bool],
                  what: str, timeout: float = 120.0, poll: float = 0.25) -> tuple[Vnic, float]:
    """Poll lshwres until ``condition(vnic)`` holds; returns the vNIC and the wall-clock time it was seen."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = next((x for x in _read_vnics(hmc, system, lpar) if x.slot_num == slot), None)
        if v is not None and condition(v):
            return v, time.time()
        time.sleep(poll)
    raise TimeoutError(f"vNIC slot {slot} of {lpar}: {what} not seen within {timeout:.0f}s")


@task(cache_policy=NO_CACHE)
def wait_for_vnic_state(hmc: HmcConsole, system: str, lpar: str, slot: int, condition: Callable[[Vnic], bool],
                        what: str, timeout: float = 120.0) -> tuple[Vnic, float]:
    return wait_for_vnic(hmc, system, lpar, slot, condition, what, timeout)


# -- ping monitor (local: the flow's worker pings the LPAR) -------------------------------------------------


@dataclass
class PingMonitor:
    host: str
    interval: float
    proc: subprocess.Popen[str]
    started: float


@task(cache_policy=NO_CACHE)
def start_ping_monitor(host: str, interval: float = 0.2) -> PingMonitor:
    """Ping ``host`` continuously (``ping -D -O``: timestamps, report each unanswered probe)."""
    validate_host(host)
    if not 0.01 <= interval <= 5:
        raise ValueError("ping interval must be 0.01-5 s")
    proc = subprocess.Popen(["ping", "-D", "-O", "-n", "-i", str(interval), "-W", "1", host],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return PingMonitor(host, interval, proc, time.time())


@task(cache_policy=NO_CACHE)
def stop_ping_monitor(monitor: PingMonitor) -> PingReport:
    monitor.proc.send_signal(signal.SIGINT)
    try:
        out, _ = monitor.proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        monitor.proc.kill()
        out, _ = monitor.proc.communicate()
    return parse_ping(out or "", monitor.interval)
