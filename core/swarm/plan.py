"""The bootstrap plan: from what every engine says about itself (and what our managers say about the swarm)
to the steps that make the inventory one swarm. Pure.

Rules
* the anchor is the first inventory manager that is already a manager of a swarm; if none is, the first
  manager is ``swarm init``-ed with its own address as advertise address;
* a host whose engine is already part of OUR swarm (its node ID is in the anchor's node list) is never re-joined;
* a host in ANOTHER swarm is reported (``foreign``) and left alone, never forced out;
* a member whose role differs from the inventory is promoted or demoted, the way a swarm admin does it:
  promotions first (only Ready nodes; the raft group grows before it shrinks), then demotions one at a time,
  unreachable managers first. Demoting is disruptive (raft membership shrinks, the node's manager tasks stop):
  the flow needs ``confirm=True`` for it, and the plan refuses any demotion that would leave the swarm without
  a manager or leave the remaining managers without quorum (reachable managers < N//2 + 1, at any point of the
  sequence), which is also what swarmkit itself refuses ("can't remove member from the raft: this would result
  in a loss of quorum"). The plan advises an odd manager count (an even count tolerates no more manager
  failures than one manager fewer) and at most 7 managers;
* a node that is not ``active`` (drained, paused) is set active, so that the service can use it;
* the overlay network is created when missing; a network of that name that is not an attachable overlay is
  a problem, not silently replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.swarm.models import ClusterState, HostSwarmState, SwarmNode


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
    refused: list[str] = field(default_factory=list)  # role changes the safety check refuses (also in problems)
    advice: list[str] = field(default_factory=list)  # e.g. manager count

    @property
    def changes(self) -> bool:
        return bool(self.steps)

    @property
    def demotions(self) -> list[Step]:
        return [s for s in self.steps if s.action == "demote"]

    @property
    def needs_confirm(self) -> bool:
        """Demoting a manager is disruptive: planned (or refused) demotions need confirm=True."""
        return bool(self.demotions) or bool(self.refused)


def quorum(managers: int) -> int:
    """Raft majority of a group of ``managers``."""
    return managers // 2 + 1


def check_role_changes(nodes: Sequence[SwarmNode], promote: Sequence[str], demote: Sequence[str]) -> list[str]:
    """Why applying ``promote`` then ``demote`` (node IDs, demotions in the given order) is unsafe; empty = safe.

    Never leaves the swarm without a manager; after every single demotion the managers left must still have a
    quorum of reachable members. A node being promoted counts as reachable once Ready (the flow waits until it
    is a reachable raft member before demoting anything)."""
    by_id = {n.node_id: n for n in nodes}
    managers = {n.node_id for n in nodes if n.role == "manager" or n.in_raft} | set(promote)

    def reachable(node_id: str) -> bool:
        n = by_id.get(node_id)
        if n is None:
            return False
        if node_id in promote and not n.in_raft:
            return n.state == "ready"
        return n.reachability == "reachable"

    reasons: list[str] = []
    for node_id in demote:
        name = by_id[node_id].hostname if node_id in by_id else node_id[:12]
        managers = managers - {node_id}
        if not managers:
            reasons.append(f"demoting {name} would leave the swarm without a manager (never demote the last one)")
            break
        up = sum(1 for m in managers if reachable(m))
        if up < quorum(len(managers)):
            down = sorted(by_id[m].hostname for m in managers if m in by_id and not reachable(m))
            reasons.append(f"demoting {name} would leave {len(managers)} manager(s) of which {up} reachable "
                           f"(unreachable: {', '.join(down) or '-'}); raft needs {quorum(len(managers))} for "
                           "quorum")
            break
    return reasons


def manager_advice(count: int) -> list[str]:
    if count > 7:
        return [f"{count} managers: more than 7 slows raft down without real gain; 3, 5 or 7 are usual"]
    if count and count % 2 == 0:
        return [f"{count} managers: an even count tolerates no more manager failures than {count - 1} "
                f"({(count - 1) // 2}); use an odd count ({count + 1} tolerates {count // 2})"]
    return []


def plan_bootstrap(inventory: Sequence[InventoryHost], hosts: Mapping[str, HostSwarmState],
                   cluster: ClusterState | None, network: str, heartbeat_s: float | None) -> BootstrapPlan:
    managers = [h for h in inventory if h.role == "manager"]
    if not managers:
        raise ValueError("the inventory needs at least one manager")
    anchor = cluster.anchor if cluster else managers[0].name
    plan = BootstrapPlan(anchor=anchor)
    member_ids = {n.node_id: n for n in cluster.nodes} if cluster else {}
    promote: list[tuple[InventoryHost, SwarmNode]] = []
    demote: list[tuple[InventoryHost, SwarmNode]] = []

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
                (promote if h.role == "manager" else demote).append((h, node))
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

    if cluster is not None:
        _plan_roles(plan, cluster, promote, demote)
        plan.advice += manager_advice(sum(1 for n in cluster.nodes if n.role == "manager")
                                      + len([s for s in plan.steps if s.action in ("promote", "join-manager")])
                                      - len(plan.demotions))
    else:
        plan.advice += manager_advice(1 + len([s for s in plan.steps if s.action == "join-manager"]))
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


def _plan_roles(plan: BootstrapPlan, cluster: ClusterState, promote: list[tuple[InventoryHost, SwarmNode]],
                demote: list[tuple[InventoryHost, SwarmNode]]) -> None:
    """Promotions of Ready workers first, then demotions (unreachable managers first) if the safety check lets
    them through; refused ones are reported with the reason."""
    ok_promote = []
    for h, node in promote:
        if node.state != "ready":
            plan.problems.append(f"{h.name}: is a worker but the inventory says manager; not promoted while the "
                                 f"node is {node.state} (a manager that cannot join raft weakens the quorum)")
            continue
        ok_promote.append((h, node))
    managers = sum(1 for n in cluster.nodes if n.role == "manager")
    for h, node in ok_promote:
        managers += 1
        plan.steps.append(Step("promote", h.name, f"is a worker, the inventory says manager: promote (raft grows "
                                                  f"to {managers} managers)", target=node.node_id))
    demote = sorted(demote, key=lambda hn: hn[1].reachability == "reachable")
    unsafe = check_role_changes(cluster.nodes, [n.node_id for _, n in ok_promote], [n.node_id for _, n in demote])
    if unsafe:
        for h, _ in demote:
            msg = f"{h.name}: is a manager, the inventory says worker; demotion refused: {'; '.join(unsafe)}"
            plan.refused.append(msg)
            plan.problems.append(msg)
        return
    for h, node in demote:
        managers -= 1
        lead = "; it is the leader: raft elects another one first" if node.leader else ""
        plan.steps.append(Step("demote", h.name, f"is a manager, the inventory says worker: demote (disruptive, "
                                                 f"needs confirm=True; raft shrinks to {managers} managers, quorum "
                                                 f"{quorum(managers)}{lead})", target=node.node_id))


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
