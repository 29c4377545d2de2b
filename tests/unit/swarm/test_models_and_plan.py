"""Parsers on recorded Docker API outputs, and the bootstrap planner as data (cases: fresh, converged, foreign,
drained, wrong network, role mismatch)."""

from __future__ import annotations

import dataclasses

import pytest

from core.swarm import models as m
from core.swarm.plan import InventoryHost, check_role_changes, manager_advice, not_ready, plan_bootstrap
from tests.unit.swarm.conftest import load

INV = [InventoryHost("lab-dock1", "10.250.77.11", "manager"), InventoryHost("lab-dock2", "10.250.77.12", "worker"),
       InventoryHost("lab-dock3", "10.250.77.13", "worker")]
NODE_IDS = {"lab-dock1": "p6y83r2z8cc1k0ma792r52wut", "lab-dock2": "rbv1u09crk9bzgjwdfql2ut5t"}


def recorded_cluster() -> m.ClusterState:
    return m.parse_cluster("lab-dock1", load("swarm_inspect.json"), load("nodes.json"), load("networks.json"))


def recorded_hosts() -> dict[str, m.HostSwarmState]:
    mgr = m.parse_host_state("lab-dock1", "10.250.77.11", load("info_swarm_dock1.json"))
    wrk = m.parse_host_state("lab-dock2", "10.250.77.12", load("info_swarm_dock2.json"))
    dock3 = next(n for n in recorded_cluster().nodes if n.hostname == "dock3")
    w3 = dataclasses.replace(wrk, host="lab-dock3", address="10.250.77.13", node_id=dock3.node_id)
    return {"lab-dock1": mgr, "lab-dock2": wrk, "lab-dock3": w3}


def inactive(name: str, addr: str) -> m.HostSwarmState:
    return m.parse_host_state(name, addr, {"Swarm": {"LocalNodeState": "inactive", "NodeID": ""}})


def test_parse_host_state_manager_and_worker():
    hosts = recorded_hosts()
    mgr, wrk = hosts["lab-dock1"], hosts["lab-dock2"]
    assert (mgr.local_state, mgr.is_manager, mgr.node_id) == ("active", True, NODE_IDS["lab-dock1"])
    assert mgr.cluster_id == load("swarm_inspect.json")["ID"]
    assert (wrk.is_manager, wrk.cluster_id, wrk.manager_addrs) == (False, "", ("10.250.77.11:2377",))
    assert wrk.in_swarm and not inactive("x", "1.2.3.4").in_swarm


def test_parse_cluster_nodes_networks_heartbeat():
    c = recorded_cluster()
    assert [(n.hostname, n.role, n.state, n.availability) for n in c.nodes] == [
        ("dock1", "manager", "ready", "active"), ("dock2", "worker", "ready", "active"),
        ("dock3", "worker", "ready", "active")]
    assert c.nodes[0].leader and c.nodes[1].memory_bytes > 0
    assert c.networks["powerops"]["driver"] == "overlay" and c.networks["powerops"]["attachable"] is True
    assert c.heartbeat_s == 1.0


def test_parse_service_and_tasks():
    s = m.parse_service(load("service_whoami_replicated.json"), load("tasks_whoami_replicated.json"),
                        "org.powerops.spec-hash")
    assert (s.name, s.mode, s.replicas, s.endpoint_mode) == ("whoami", "replicated", 10, "dnsrr")
    assert s.constraints == ("node.role==worker",) and s.labels["org.powerops.layout"] == "dns"
    running = [t for t in s.tasks if t.running]
    assert len(running) == 10 and len(s.tasks) == 25
    assert all(t.addresses and t.addresses[0].startswith("10.0.") for t in running)
    assert all("/" not in a for t in running for a in t.addresses)


def test_plan_fresh_swarm_inits_joins_and_creates_network():
    hosts = {h.name: inactive(h.name, h.address) for h in INV}
    plan = plan_bootstrap(INV, hosts, None, "powerops", 1.0)
    assert [(s.action, s.host) for s in plan.steps] == [
        ("init", "lab-dock1"), ("join-worker", "lab-dock2"), ("join-worker", "lab-dock3"),
        ("create-network", "lab-dock1"), ("set-heartbeat", "lab-dock1")]
    assert "10.250.77.11" in plan.steps[0].reason and not plan.problems


def test_plan_converged_swarm_plans_nothing_and_says_why():
    plan = plan_bootstrap(INV, recorded_hosts(), recorded_cluster(), "powerops", 1.0)
    assert plan.steps == [] and not plan.changes and not plan.problems
    whys = dict(plan.keep)
    assert whys["lab-dock2"].startswith("already a worker") and "attachable overlay" in whys["network powerops"]
    assert not_ready(INV, recorded_hosts(), recorded_cluster()) == []


def test_plan_reports_a_node_of_another_swarm_and_never_joins_it():
    hosts = recorded_hosts()
    hosts["lab-dock3"] = dataclasses.replace(hosts["lab-dock3"], node_id="zzzforeignnode00000000000",
                                             manager_addrs=("10.9.9.9:2377",))
    plan = plan_bootstrap(INV, hosts, recorded_cluster(), "powerops", None)
    assert plan.steps == []
    assert [h for h, _ in plan.foreign] == ["lab-dock3"]
    assert "10.9.9.9:2377" in plan.foreign[0][1] and "left alone" in plan.problems[0]


def test_plan_foreign_first_manager_cannot_init():
    hosts = {h.name: inactive(h.name, h.address) for h in INV}
    hosts["lab-dock1"] = dataclasses.replace(hosts["lab-dock1"], local_state="active", node_id="abc",
                                             is_manager=True, cluster_id="othercluster0")
    # the flow only uses a cluster of OUR inventory managers as anchor; here it found none it could trust
    plan = plan_bootstrap(INV, hosts, None, "powerops", None)
    assert plan.steps == [] and plan.foreign[0][0] == "lab-dock1"
    assert any("another swarm" in p for p in plan.problems)


def test_plan_activates_drained_node_and_promotes_a_worker_listed_as_manager():
    c = recorded_cluster()
    nodes = tuple(dataclasses.replace(n, availability="drain") if n.hostname == "dock2" else n for n in c.nodes)
    inv = [INV[0], INV[1], InventoryHost("lab-dock3", "10.250.77.13", "manager")]
    plan = plan_bootstrap(inv, recorded_hosts(), dataclasses.replace(c, nodes=nodes), "powerops", None)
    assert [(s.action, s.host) for s in plan.steps] == [("activate", "lab-dock2"), ("promote", "lab-dock3")]
    dock3 = next(n for n in c.nodes if n.hostname == "dock3")
    assert plan.steps[1].target == dock3.node_id and "raft grows to 2 managers" in plan.steps[1].reason
    assert not plan.needs_confirm and not plan.problems  # promotion is not disruptive
    assert plan.advice and "2 managers: an even count" in plan.advice[0]  # 2 managers tolerate 0 failures
    assert not_ready(inv, recorded_hosts(), dataclasses.replace(c, nodes=nodes)) == ["lab-dock2: ready/drain"]


def _managers(c: m.ClusterState, reach: dict[str, str]) -> m.ClusterState:
    """The recorded cluster with every node in ``reach`` (hostname -> reachability) made a manager."""
    nodes = tuple(dataclasses.replace(n, role="manager", reachability=reach[n.hostname]) if n.hostname in reach
                  else n for n in c.nodes)
    return dataclasses.replace(c, nodes=nodes)


def test_parse_node_manager_status():
    c = recorded_cluster()
    mgr = next(n for n in c.nodes if n.hostname == "dock1")
    wrk = next(n for n in c.nodes if n.hostname == "dock2")
    assert (mgr.reachability, mgr.in_raft) == ("reachable", True)
    assert (wrk.reachability, wrk.in_raft) == ("", False)


def test_plan_demotes_a_manager_listed_as_worker_only_with_confirm():
    c = _managers(recorded_cluster(), {"dock1": "reachable", "dock2": "reachable", "dock3": "reachable"})
    plan = plan_bootstrap(INV, recorded_hosts(), c, "powerops", None)
    assert [(s.action, s.host) for s in plan.steps] == [("demote", "lab-dock2"), ("demote", "lab-dock3")]
    assert plan.needs_confirm and [s.host for s in plan.demotions] == ["lab-dock2", "lab-dock3"]
    assert "raft shrinks to 2 managers, quorum 2" in plan.steps[0].reason
    assert "raft shrinks to 1 managers, quorum 1" in plan.steps[1].reason
    assert not plan.refused and not plan.advice  # 1 manager in the end: odd


def test_plan_refuses_a_demotion_that_would_lose_quorum():
    # 3 managers, dock3 unreachable: demoting dock2 leaves dock1 + unreachable dock3 = 1 of 2, quorum is 2
    c = _managers(recorded_cluster(), {"dock1": "reachable", "dock2": "reachable", "dock3": "unreachable"})
    inv = [INV[0], INV[1], InventoryHost("lab-dock3", "10.250.77.13", "manager")]
    plan = plan_bootstrap(inv, recorded_hosts(), c, "powerops", None)
    assert plan.steps == [] and plan.needs_confirm
    assert len(plan.refused) == 1 and plan.refused[0].startswith("lab-dock2: is a manager")
    assert "2 manager(s) of which 1 reachable (unreachable: dock3); raft needs 2 for quorum" in plan.refused[0]
    assert plan.refused[0] in plan.problems


def test_demotions_order_unreachable_first_and_check_every_step():
    # 3 managers, dock3 unreachable, both dock2 and dock3 to be demoted: dock3 first keeps quorum all the way
    c = _managers(recorded_cluster(), {"dock1": "reachable", "dock2": "reachable", "dock3": "unreachable"})
    plan = plan_bootstrap(INV, recorded_hosts(), c, "powerops", None)
    assert [(s.action, s.host) for s in plan.steps] == [("demote", "lab-dock3"), ("demote", "lab-dock2")]
    ids = {n.hostname: n.node_id for n in c.nodes}
    assert check_role_changes(c.nodes, [], [ids["dock3"], ids["dock2"]]) == []
    # the other order loses quorum after the first step
    assert "raft needs 2 for quorum" in check_role_changes(c.nodes, [], [ids["dock2"], ids["dock3"]])[0]


def test_never_demote_the_last_manager_and_promotion_counts_towards_quorum():
    c = recorded_cluster()
    ids = {n.hostname: n.node_id for n in c.nodes}
    assert "without a manager" in check_role_changes(c.nodes, [], [ids["dock1"]])[0]
    # promoting a Ready worker first makes the demotion of the only manager safe (raft grows, then shrinks)
    assert check_role_changes(c.nodes, [ids["dock2"]], [ids["dock1"]]) == []
    # a worker that is down is never counted (and the planner does not promote it)
    down = tuple(dataclasses.replace(n, state="down") if n.hostname == "dock2" else n for n in c.nodes)
    assert check_role_changes(down, [ids["dock2"]], [ids["dock1"]])
    inv = [INV[0], InventoryHost("lab-dock2", "10.250.77.12", "manager"), INV[2]]
    plan = plan_bootstrap(inv, recorded_hosts(), dataclasses.replace(c, nodes=down), "powerops", None)
    assert plan.steps == [] and "not promoted while the node is down" in plan.problems[0]


def test_manager_count_advice():
    assert manager_advice(1) == manager_advice(3) == manager_advice(7) == []
    assert "(1 tolerates 0)" not in manager_advice(2)[0] and "3 tolerates 1" in manager_advice(2)[0]
    assert "5 tolerates 2" in manager_advice(4)[0] and "more than 7" in manager_advice(9)[0]


def test_plan_network_of_the_wrong_kind_is_a_problem_not_replaced():
    c = recorded_cluster()
    nets = dict(c.networks)
    nets["powerops"] = {"driver": "bridge", "attachable": False}
    plan = plan_bootstrap(INV, recorded_hosts(), dataclasses.replace(c, networks=nets), "powerops", None)
    assert plan.steps == [] and "expected an attachable overlay" in plan.problems[0]


def test_plan_heartbeat_change_and_no_manager():
    plan = plan_bootstrap(INV, recorded_hosts(), recorded_cluster(), "powerops", 5.0)
    assert [(s.action, s.target) for s in plan.steps] == [("set-heartbeat", "5.0")]
    with pytest.raises(ValueError):
        plan_bootstrap(INV[1:], recorded_hosts(), None, "powerops", None)
