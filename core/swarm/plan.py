"""The bootstrap plan: from what every engine says about itself (and what our managers say about the swarm)
to the steps that make the inventory one swarm. Pure.

Rules
* the anchor is the first inventory manager that is already a manager of a swarm; if none is, the first
  manager is ``swarm init``-ed with its own address as advertise address;
* a host whose engine is already part of OUR swarm (its node ID is in the anchor's node list) is never re-joined;
* a host in ANOTHER swarm is reported (``foreign``) and left alone, never forced out;
* a member whose role differs from the inventory is reported, not changed (promotion is a human decision);
* a node that is not ``active`` (drained, paused) is set active, so that the service can use it;
* the overlay network is created when missing; a network of that name that is not an attachable overlay is
  a problem, not silently replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.swarm.models import ClusterState, HostSwarmState


@dataclass(frozen=True)
class InventoryHost:
    name: str  # inventory (block) name, used in reports
    address: str  # advertise / listen address
    role: str  # manager | worker


@dataclass(frozen=True)
class Step:
    action: str  # init | join-manager | join-worker | activate | create-network | set-heartbeat
    host: str  # inventory host (or the anchor for cluster-wide steps)
    reason: str
    target: str = ""  # network name, node id, ...


@dataclass
class BootstrapPlan:
    anchor: str
    steps: list[Step] = field(default_factory=list)
    keep: list[tuple[str, str]] = field(default_factory=list)  # (what, why it is left alone)
    foreign: list[tuple[str, str]] = field(default_factory=list)  # (host, detail)
    problems: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.steps)


def plan_bootstrap(inventory: Sequence[InventoryHost], hosts: Mapping[str, HostSwarmState],
                   cluster: ClusterState | None, network: str, heartbeat_s: float | None) -> BootstrapPlan:
    managers = [h for h in inventory if h.role == "manager"]
    if not managers:
        raise ValueError("the inventory needs at least one manager")
    anchor = cluster.anchor if cluster else managers[0].name
    plan = BootstrapPlan(anchor=anchor)
    member_ids = {n.node_id: n for n in cluster.nodes} if cluster else {}

    if cluster is None:
        first = hosts[anchor]
        if first.in_swarm:
            plan.foreign.append((anchor, _foreign_detail(first)))
            plan.problems.append(f"{anchor}: first manager already belongs to another swarm; nothing can be "
                                 "initialised without taking it over")
            return plan
        plan.steps.append(Step("init", anchor, f"no manager of the inventory is in a swarm: initialise on "
                                              f"{anchor} advertising {managers[0].address}"))
    for h in inventory:
        st = hosts[h.name]
        if cluster is None and h.name == anchor:
            continue
        node = member_ids.get(st.node_id) if st.node_id else None
        if node is not None:
            if node.role != h.role:
                plan.problems.append(f"{h.name}: is a {node.role} of the swarm but the inventory says {h.role} "
                                     f"(promote/demote it by hand if intended)")
            plan.keep.append((h.name, f"already a {node.role} of swarm {cluster.cluster_id[:12] if cluster else ''}"
                                      f" (node {st.node_id[:12]})"))
            if node.availability != "active":
                plan.steps.append(Step("activate", h.name, f"node availability is {node.availability}",
                                       target=node.node_id))
            continue
        if st.in_swarm:
            plan.foreign.append((h.name, _foreign_detail(st)))
            continue
        plan.steps.append(Step(f"join-{h.role}", h.name, f"engine is {st.local_state}: join as {h.role} "
                                                         f"advertising {h.address}"))

    net = cluster.networks.get(network) if cluster else None
    if net is None:
        plan.steps.append(Step("create-network", anchor, f"overlay network {network} is missing", target=network))
    elif net.get("driver") != "overlay" or not net.get("attachable"):
        plan.problems.append(f"network {network} exists but is driver={net.get('driver')} "
                             f"attachable={net.get('attachable')}; expected an attachable overlay "
                             "(remove it or choose another name)")
    else:
        plan.keep.append((f"network {network}", "attachable overlay exists"))

    if heartbeat_s is not None:
        current = cluster.heartbeat_s if cluster else None
        if current is None or abs(current - heartbeat_s) > 1e-6:
            plan.steps.append(Step("set-heartbeat", anchor,
                                   f"dispatcher heartbeat {current if current is not None else 'default'}"
                                   f" s -> {heartbeat_s} s", target=str(heartbeat_s)))
        else:
            plan.keep.append(("dispatcher heartbeat", f"already {heartbeat_s} s"))
    for f_host, detail in plan.foreign:
        plan.problems.append(f"{f_host}: {detail}; left alone (leave that swarm first if it should join ours)")
    return plan


def _foreign_detail(st: HostSwarmState) -> str:
    where = f"cluster {st.cluster_id[:12]}" if st.cluster_id else f"managers {', '.join(st.manager_addrs) or '?'}"
    return f"engine is {st.local_state} in another swarm ({where}, node {st.node_id[:12]})"


def not_ready(inventory: Sequence[InventoryHost], hosts: Mapping[str, HostSwarmState],
              cluster: ClusterState) -> list[str]:
    """Inventory hosts that are not Ready/Active members of ``cluster`` (empty when converged)."""
    out = []
    for h in inventory:
        node = cluster.node_by_id(hosts[h.name].node_id) if hosts[h.name].node_id else None
        if node is None:
            out.append(f"{h.name}: not a member")
        elif not node.ready_active:
            out.append(f"{h.name}: {node.state}/{node.availability}")
    return out
