"""Pure logic of the vNIC failover drill: the safety interlock, the expected takeover, ping accounting."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.hmc.errors import DrillRefused
from core.hmc.models import BackingDevice, Vnic


@dataclass(frozen=True)
class DrillTarget:
    active: BackingDevice
    expected_next: BackingDevice
    peers: tuple[BackingDevice, ...]  # operational devices on another VIOS


def check_drill(vnic: Vnic, vios_states: dict[str, str], activate: str | None = None) -> DrillTarget:
    """Refuse unless a device is active and another operational device on a different, running VIOS exists."""
    active = vnic.active_device
    if active is None:
        raise DrillRefused(f"vNIC slot {vnic.slot_num} of {vnic.lpar_name} has no active backing device")
    peers = tuple(
        d for d in vnic.backing_devices
        if d.vios_name != active.vios_name and vnic.operational(d) and vios_states.get(d.vios_name) == "Running"
    )
    if not peers:
        raise DrillRefused(
            f"no operational backing device on another running VIOS than {active.vios_name} for vNIC slot "
            f"{vnic.slot_num} of {vnic.lpar_name}: the drill would cut the partition off the network")
    if activate is not None:
        nxt = next((d for d in vnic.backing_devices if d.logical_port_id == activate.lower()), None)
        if nxt is None or nxt not in peers:
            raise DrillRefused(f"logical port {activate} is not an operational backing device on another VIOS")
    else:
        nxt = min(peers, key=lambda d: (d.failover_priority, d.logical_port_id))
    return DrillTarget(active=active, expected_next=nxt, peers=peers)


@dataclass(frozen=True)
class PingReport:
    transmitted: int
    received: int
    lost_seqs: tuple[int, ...]
    lost_times: tuple[float, ...]  # when each loss was reported (epoch seconds)
    first_loss_at: float | None
    last_loss_at: float | None
    interval: float

    @property
    def lost(self) -> int:
        return self.transmitted - self.received

    @property
    def outage_seconds(self) -> float:
        return round(len(self.lost_seqs) * self.interval, 2)


_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)")
_NOANS = re.compile(r"^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)")
_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


def parse_ping(text: str, interval: float) -> PingReport:
    """Output of ``ping -D -O -i INTERVAL HOST`` (iputils) stopped with SIGINT."""
    replied: set[int] = set()
    noans: dict[int, float] = {}
    for line in text.splitlines():
        m = _REPLY.match(line)
        if m:
            replied.add(int(m.group(2)))
            continue
        m = _NOANS.match(line)
        if m:
            noans.setdefault(int(m.group(2)), float(m.group(1)))
    s = _SUMMARY.search(text)
    if s:
        tx, rx = int(s.group(1)), int(s.group(2))
    else:
        seqs = replied | set(noans)
        tx, rx = (max(seqs) if seqs else 0), len(replied)
    lost = tuple(sorted(q for q in noans if q not in replied))
    times = [noans[q] for q in lost]
    return PingReport(tx, rx, lost, tuple(times), min(times) if times else None, max(times) if times else None,
                      interval)
