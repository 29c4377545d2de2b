"""The node-loss drill: safety check and the timeline computed from what the monitors recorded. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.errors import SafetyCheckFailed
from core.swarm.models import SwarmNode
from core.swarm.service import capacity


def check_drill(victim: str, victim_role: str, nodes: Sequence[SwarmNode], victim_node_id: str, mode: str,
                replicas: int, constraints: Sequence[str], max_per_node: int, memory_reservation: int) -> int:
    """Refuse a drill that would take down a manager, the last node, or leave too little room for the replicas.
    Returns the capacity of the remaining nodes."""
    if victim_role != "worker":
        raise SafetyCheckFailed(f"{victim} is a {victim_role}: the drill only takes a worker down")
    node = next((n for n in nodes if n.node_id == victim_node_id), None)
    if node is None or not node.ready_active:
        raise SafetyCheckFailed(f"{victim} is not a Ready/Active member of the swarm: nothing to drill")
    remaining = [n for n in nodes if n.node_id != victim_node_id]
    unhealthy = [n.hostname for n in remaining if not n.ready_active]
    if unhealthy:
        raise SafetyCheckFailed(f"other nodes are not Ready/Active ({', '.join(unhealthy)}): refusing to take "
                                f"{victim} down as well")
    cap = capacity(remaining, constraints, max_per_node, memory_reservation)
    need = replicas if mode == "replicated" else 1
    if cap < need:
        raise SafetyCheckFailed(f"the remaining nodes can hold {cap} replica(s) of the service, it needs {need}"
                                f" (constraints {list(constraints)}, max per node {max_per_node or 'unlimited'},"
                                f" memory reservation {memory_reservation or 0} B): refusing the drill")
    return cap


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the monitor started
    ok: bool
    container: str  # hostname that answered, or the error


@dataclass(frozen=True)
class Event:
    t: float
    what: str


@dataclass
class Timeline:
    down_at: float
    detected_s: float | None  # haproxy marked every server of the victim DOWN
    recovered_s: float | None  # service back to its replica count on the remaining nodes
    node_back_s: float | None  # victim Ready again after the up command
    requests: int
    failed: int
    failed_in_window: int
    window: tuple[float, float]
    events: list[Event] = field(default_factory=list)

    @property
    def failed_pct(self) -> float:
        return 100.0 * self.failed / self.requests if self.requests else 0.0

    def rows(self) -> list[dict[str, object]]:
        return [{"t_s": round(e.t - self.down_at, 2), "event": e.what} for e in sorted(self.events, key=lambda e: e.t)]


def first_after(times: Sequence[tuple[float, bool]], start: float) -> float | None:
    """First time >= start at which the condition holds (times: (t, condition) in time order)."""
    return next((t for t, cond in times if t >= start and cond), None)


def timeline(samples: Sequence[Sample], events: Sequence[Event], down_at: float,
             lb_down: Sequence[tuple[float, bool]], replicas_ok: Sequence[tuple[float, bool]],
             up_at: float | None, node_ready: Sequence[tuple[float, bool]]) -> Timeline:
    detected = first_after(lb_down, down_at)
    recovered_at = None
    # recovered: the first time after the loss at which the replica count holds again AND keeps holding
    for t, ok in replicas_ok:
        if t >= down_at and ok and (detected is None or t >= detected):
            recovered_at = t
            break
    back = first_after(node_ready, up_at) if up_at is not None else None
    end = max(x for x in (detected, recovered_at, down_at) if x is not None)
    failed = [s for s in samples if not s.ok]
    in_window = [s for s in failed if down_at <= s.t <= end + 1.0]
    evs = list(events)
    if detected is not None:
        evs.append(Event(detected, "haproxy marks the lost node's servers DOWN"))
    if recovered_at is not None:
        evs.append(Event(recovered_at, "service back to its replica count on the remaining nodes"))
    if back is not None:
        evs.append(Event(back, "lost node Ready again"))
    return Timeline(
        down_at=down_at,
        detected_s=None if detected is None else detected - down_at,
        recovered_s=None if recovered_at is None else recovered_at - down_at,
        node_back_s=None if back is None or up_at is None else back - up_at,
        requests=len(samples), failed=len(failed), failed_in_window=len(in_window),
        window=(down_at, end), events=evs,
    )
