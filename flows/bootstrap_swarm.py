"""Flow bootstrap-swarm (seed: "Creating a swarm cluster").

Facts -> plan -> apply: every engine of the inventory says whether it is in a swarm; the first inventory manager
that already manages one is the anchor (else the first manager is ``swarm init``-ed with its address); the others
join with the right token; a node of another swarm is reported and left alone; the attachable overlay network is
created; then every node must be Ready/Active. A dry run publishes the plan and changes nothing; a re-run on a
converged swarm plans nothing.

A member whose role differs from the inventory is promoted (Ready workers, one at a time, each until it is a
reachable raft member) or demoted (disruptive: only with ``confirm=True``, after the planner's and then the
task's live safety check - never the last manager, never below quorum); the plan advises an odd manager count.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture, wait
from pydantic import BaseModel, Field

from blocks.swarm import SwarmInventory
from core.errors import ConfirmationRequired, SafetyCheckFailed
from core.swarm.errors import ForeignSwarm, SwarmError
from core.swarm.models import ClusterState
from core.swarm.plan import BootstrapPlan, InventoryHost, Step, plan_bootstrap
from flows._sync import async_body
from tasks.background import Background
from tasks.swarm import (
    activate_node,
    create_overlay_network,
    init_swarm,
    join_swarm,
    load_docker_hosts,
    read_cluster_state,
    read_host_swarm_state,
    set_dispatcher_heartbeat,
    set_node_role,
    wait_for_swarm_nodes,
)


class BootstrapSwarmParams(BaseModel):
    """Which inventory to make one swarm, and whether to only show the plan."""

    inventory: str = Field(description="Swarm inventory block name (managers, workers, network).")
    dry_run: bool = Field(default=False, description="Publish the plan and change nothing.")
    ready_timeout_s: float = Field(default=90, gt=0, description="Seconds to wait for every node Ready/Active.")
    confirm: bool = Field(default=False, description="Confirm disruptive steps: demoting a manager the inventory "
                          "lists as a worker.")


def plan_markdown(plan: BootstrapPlan) -> str:
    lines = [f"## Swarm bootstrap plan (anchor `{plan.anchor}`)", ""]
    if plan.steps:
        lines += ["| step | host | reason |", "|---|---|---|",
                  *[f"| {'**demote** (needs confirm=True)' if s.action == 'demote' else s.action} | {s.host} | "
                    f"{s.reason} |" for s in plan.steps]]
    else:
        lines.append("**Nothing to change**: every node is already in the swarm, Ready/Active, network present.")
    if plan.keep:
        lines += ["", "| unchanged | why |", "|---|---|", *[f"| {k} | {w} |" for k, w in plan.keep]]
    if plan.problems:
        lines += ["", "### Reported, not changed", *[f"* {p}" for p in plan.problems]]
    if plan.advice:
        lines += ["", "### Advice", *[f"* {a}" for a in plan.advice]]
    return "\n".join(lines) + "\n"


@flow(name="bootstrap-swarm")
async def bootstrap_swarm(params: BootstrapSwarmParams) -> dict[str, object]:
    # async with a sync body: see flows._sync
    with async_body() as bg:  # side calls (artifacts, block loads) go on while the flow does
        return _bootstrap(params, bg)


def _bootstrap(params: BootstrapSwarmParams, bg: Background) -> dict[str, object]:
    logger = get_run_logger()
    t0 = time.monotonic()
    inv = SwarmInventory.load(params.inventory, _sync=True)
    names = [*inv.managers, *inv.workers]
    if len(set(names)) != len(names):
        raise SwarmError(f"inventory {params.inventory} names a host twice: {names}")
    hosts = load_docker_hosts(names)
    inventory = [InventoryHost(n, hosts[n].address, "manager") for n in inv.managers] + \
                [InventoryHost(n, hosts[n].address, "worker") for n in inv.workers]

    futures = {n: read_host_swarm_state.submit(hosts[n]) for n in names}
    states = {n: f.result() for n, f in futures.items()}
    cluster: ClusterState | None = None
    for n in inv.managers:  # the anchor: first inventory manager that already manages a swarm
        if states[n].is_manager and states[n].local_state == "active":
            cluster = dataclasses.replace(read_cluster_state(hosts[n]), anchor=n)
            break
    plan = plan_bootstrap(inventory, states, cluster, inv.network, inv.dispatcher_heartbeat_s)
    bg.submit(create_markdown_artifact, key="swarm-bootstrap-plan", markdown=plan_markdown(plan),
              description=f"bootstrap-swarm plan for {params.inventory}", _sync=True)
    planned = [f"{s.action} {s.host}" for s in plan.steps]
    if params.dry_run:
        logger.info("dry run: %d step(s) planned, none applied", len(plan.steps))
        return {"planned": planned, "applied": [], "problems": plan.problems, "advice": plan.advice,
                "needs_confirm": plan.needs_confirm, "dry_run": True}
    if plan.refused:  # nothing is changed when a demotion the inventory asks for is unsafe
        raise SafetyCheckFailed("; ".join(plan.refused))
    if plan.needs_confirm and not params.confirm:
        raise ConfirmationRequired(f"demoting {', '.join(s.host for s in plan.demotions)} is disruptive (raft "
                                   "membership shrinks): run again with confirm=True, or fix the inventory")

    if cluster is None and not any(s.action == "init" for s in plan.steps):
        raise ForeignSwarm("; ".join(plan.problems))
    anchor = hosts[plan.anchor]
    applied: list[str] = []
    steps = list(plan.steps)
    node_ids = {n: st.node_id for n, st in states.items()}
    if any(s.action == "init" for s in steps):
        node_ids[plan.anchor] = init_swarm(anchor, inv.dispatcher_heartbeat_s)  # heartbeat goes into the init spec
        applied += [f"{s.action} {s.host}" for s in steps if s.action in ("init", "set-heartbeat")]
        steps = [s for s in steps if s.action not in ("init", "set-heartbeat")]
    # cluster-wide steps on the anchor (network, heartbeat, activations) run while the nodes join: they only
    # need the swarm to exist. Managers join one at a time (raft quorum changes), workers together.
    side: list[tuple[Step, PrefectFuture[Any]]] = []
    for step in steps:
        if step.action == "activate":
            side.append((step, activate_node.submit(anchor, step.target)))
        elif step.action == "create-network":
            side.append((step, create_overlay_network.submit(anchor, step.target)))
        elif step.action == "set-heartbeat":
            side.append((step, set_dispatcher_heartbeat.submit(anchor, float(step.target))))
    for s in [s for s in steps if s.action == "join-manager"]:
        node_ids[s.host] = join_swarm(hosts[s.host], anchor, "manager")
        applied.append(f"{s.action} {s.host}")
    joins = [(s, join_swarm.submit(hosts[s.host], anchor, "worker")) for s in steps if s.action == "join-worker"]
    pending: list[PrefectFuture[Any]] = [f for _, f in joins] + [f for _, f in side]
    wait(pending)
    for s, f in joins:
        node_ids[s.host] = f.result()
        applied.append(f"{s.action} {s.host}")
    for s in [s for s in steps if s.action == "promote"] + plan.demotions:  # one at a time: raft changes
        set_node_role(anchor, s.target, s.action, params.ready_timeout_s)
        applied.append(f"{s.action} {s.host}")
    for step, fut in side:
        fut.result()
        applied.append(f"{step.action} {step.host}")
    foreign = {h for h, _ in plan.foreign}
    members = [i for i in inventory if i.name not in foreign]
    final = wait_for_swarm_nodes(anchor, {i.name: node_ids[i.name] for i in members}, params.ready_timeout_s)
    rows = [{"node": n.hostname, "role": n.role, "state": n.state, "availability": n.availability,
             "address": n.addr, "leader": n.leader} for n in final.nodes]
    bg.submit(create_table_artifact, key="swarm-nodes", table=rows,
              description=f"swarm {final.cluster_id[:12]}: nodes after bootstrap", _sync=True)
    seconds = round(time.monotonic() - t0, 2)
    bg.submit(
        create_markdown_artifact, key="swarm-bootstrap-summary", description="bootstrap-swarm summary", _sync=True,
        markdown=f"## Swarm `{final.cluster_id[:12]}`\n\n* applied: {', '.join(applied) or 'nothing (converged)'}\n"
                 f"* verified: {len(members)} inventory node(s) Ready/Active, network `{inv.network}`\n"
                 f"* reported: {'; '.join(plan.problems) or 'nothing'}\n"
                 f"* advice: {'; '.join(plan.advice) or 'none'}\n* {seconds} s\n")
    summary: dict[str, object] = {"cluster_id": final.cluster_id, "anchor": plan.anchor, "planned": planned,
                                  "applied": applied, "nodes": rows, "problems": plan.problems,
                                  "advice": plan.advice,
                                  "seconds": seconds, "dry_run": False}
    if plan.foreign:
        raise ForeignSwarm("; ".join(f"{h}: {d} - left alone" for h, d in plan.foreign))
    if plan.problems:
        logger.warning("reported, not changed: %s", "; ".join(plan.problems))
    return summary
