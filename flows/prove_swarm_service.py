"""Flow prove-swarm-service (seed: 10,000 curl calls through haproxy, ``sort | uniq -c`` ~1000 per container;
then one node shut down, replicas rescheduled, haproxy marks the node down).

Evidence, not assertion: N requests (bounded concurrency, private/loopback targets only) through haproxy,
responses counted per container, max deviation from the mean and a chi-square p-value, as a table and a bar
chart. Then, only with ``confirm=True`` and after a safety check (a worker, the others healthy, room for every
replica on the remaining nodes), one worker is taken down with the inventory's node-down method while requests
keep flowing: seconds until haproxy marks it DOWN, seconds until the service is back to its replica count on
the remaining nodes, failed requests in that window. The node is brought back (always, even when a step fails)
and recovery is verified. A timeline artifact tells the story.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from blocks.docker_host import DockerHost
from blocks.ssh import SshTarget
from blocks.swarm import HaproxyHost, SwarmInventory
from core.errors import ConfirmationRequired, SafetyCheckFailed
from core.swarm import haproxy as hx
from core.swarm import service as svc
from core.swarm.chart import bar_chart_png, data_uri
from core.swarm.drill import Event, Timeline, check_drill, timeline
from core.swarm.errors import SwarmError
from core.swarm.models import ServiceState, SwarmNode
from core.swarm.spread import Spread, spread
from flows._sync import async_body
from tasks.haproxy import (
    LoadRunner,
    StatsWatcher,
    check_lab_target,
    read_haproxy_stats,
    send_requests,
    wait_for_backends_up,
)
from tasks.swarm import (
    SwarmWatcher,
    force_update_service,
    read_nodes,
    read_service_state,
    run_node_command,
    wait_for_service,
)


class ProveSwarmServiceParams(BaseModel):
    """How much load, and whether to run the node-loss drill (destructive: needs confirm)."""

    inventory: str = Field(description="Swarm inventory block name.")
    service: str = Field(default="whoami", description="Service deployed by deploy-swarm-service.")
    requests: int = Field(default=10_000, ge=10, le=1_000_000, description="Requests for the spread proof.")
    concurrency: int = Field(default=8, ge=1, le=64, description="Parallel requests.")
    drill: bool = Field(default=False, description="Also run the node-loss drill (needs confirm=True).")
    confirm: bool = Field(default=False, description="Confirm the drill: a worker WILL be taken down.")
    victim: str | None = Field(default=None, description="Worker (Docker host block name) to take down; "
                               "default the last worker of the inventory.")
    drill_timeout_s: float = Field(default=120, gt=0, description="Deadline for detection and recovery.")
    drill_load_concurrency: int = Field(default=4, ge=1, le=32, description="Parallel requests during the drill.")
    rebalance: bool = Field(default=True, description="After the node is back, spread the replicas again "
                            "(service update --force; swarm does not rebalance by itself).")
    chart_dir: str | None = Field(default=None, description="Also write the bar chart PNG into this directory.")
    allow_public_target: bool = Field(default=False, description="Allow load against a non-private address.")


def _front(inv: SwarmInventory, live: ServiceState) -> tuple[str, str, str]:
    layout = live.labels.get(svc.LAYOUT_LABEL) or ("dns" if live.endpoint_mode == "dnsrr" and not any(
        t.host_ports for t in live.tasks) else "seed")
    lb_docker = DockerHost.load(inv.lb_docker_host or inv.managers[0], _sync=True)
    seed_addr = HaproxyHost.load(inv.load_balancer, _sync=True).address if layout == "seed" and inv.load_balancer else None
    port = int(live.labels.get(svc.LB_PORT_LABEL) or inv.lb_port)
    stats_port = int(live.labels.get(svc.LB_STATS_PORT_LABEL) or inv.lb_stats_port)
    url, stats = hx.endpoints(layout, seed_addr, lb_docker.address, port, stats_port, inv.lb_stats_uri)
    return layout, url, stats


def _spread_markdown(sp: Spread, rps: float, png: bytes, layout: str, url: str) -> str:
    rows = "\n".join(f"| {i + 1} | {r['container']} | {r['responses']} | {r['deviation_pct']} |"
                     for i, r in enumerate(sp.rows()))
    return (f"## Spread of {sp.total + sp.failed} requests through haproxy ({layout} layout, {url})\n\n"
            f"* containers: {len(sp.counts)}, mean {sp.mean:.1f}, **max deviation {sp.max_deviation_pct:.2f}%**\n"
            f"* chi-square {sp.chi_square:.2f} with {sp.dof} dof, **p-value {sp.p_value:.4f}** "
            f"(uniform spread is not rejected when p > 0.05)\n* failed requests: {sp.failed}; {rps:.0f} req/s\n\n"
            f"![responses per container]({data_uri(png)})\n\n| bar | container | responses | deviation % |\n"
            f"|---|---|---|---|\n{rows}\n")


def _node_lost(nodes: list[SwarmNode], node_id: str) -> bool:
    return any(n.node_id == node_id and n.state != "ready" for n in nodes)


def _fill(argv: list[str], node: str, address: str) -> str:
    return " ".join(a.replace("{node}", node).replace("{address}", address) for a in argv)


def _running_on(live: ServiceState | None, exclude_node: str) -> int:
    if live is None:
        return 0
    return sum(1 for t in live.tasks if t.running and t.node_id != exclude_node)


@flow(name="prove-swarm-service")
async def prove_swarm_service(params: ProveSwarmServiceParams) -> dict[str, object]:
    # async with a sync body: see flows._sync
    with async_body():
        return _prove(params)


def _prove(params: ProveSwarmServiceParams) -> dict[str, object]:
    logger = get_run_logger()
    inv = SwarmInventory.load(params.inventory, _sync=True)
    anchor = DockerHost.load(inv.managers[0], _sync=True)
    live = read_service_state(anchor, params.service)
    if live is None:
        raise SwarmError(f"service {params.service} does not exist: run deploy-swarm-service first")
    layout, url, stats_url = _front(inv, live)
    check_lab_target(url.split("/")[2].rsplit(":", 1)[0], params.allow_public_target)

    # refusals first: nothing is sent, nothing is changed
    victim: DockerHost | None = None
    nodes: list[SwarmNode] = []
    if params.drill:
        if not params.confirm:
            raise ConfirmationRequired("the drill takes a worker of the swarm down: run again with confirm=True")
        victim_name = params.victim or (inv.workers[-1] if inv.workers else None)
        if victim_name is None:
            raise SafetyCheckFailed("the inventory has no worker to take down")
        victim = DockerHost.load(victim_name, _sync=True)
        nodes = read_nodes(anchor)
        vnode = next((n for n in nodes if n.addr == victim.address), None)
        role = "worker" if victim_name in inv.workers else "manager"
        check_drill(victim.name, role, nodes, vnode.node_id if vnode else "", live.mode, live.replicas,
                    live.constraints, live.max_replicas_per_node, live.memory_reservation)

    # spread
    answers, seconds = send_requests(url, params.requests, params.concurrency)
    sp = spread(answers)
    rps = len(answers) / seconds if seconds else 0.0
    png = bar_chart_png([sp.counts[k] for k in sorted(sp.counts)], reference=sp.mean)
    chart_path = None
    if params.chart_dir:
        Path(params.chart_dir).mkdir(parents=True, exist_ok=True)
        chart_path = str(Path(params.chart_dir) / f"spread-{params.service}-{int(time.time())}.png")
        Path(chart_path).write_bytes(png)
    create_table_artifact(key="swarm-spread", table=sp.rows(), _sync=True,
                          description=f"{params.service}: responses per container, max deviation "
                                      f"{sp.max_deviation_pct:.2f}%, chi-square p={sp.p_value:.4f}")
    create_markdown_artifact(key="swarm-spread-chart", markdown=_spread_markdown(sp, rps, png, layout, url),
                             description=f"{params.service}: spread bar chart", _sync=True)
    result: dict[str, object] = {
        "layout": layout, "url": url, "requests": len(answers), "failed": sp.failed, "containers": len(sp.counts),
        "counts": sp.counts, "mean": sp.mean, "max_deviation_pct": sp.max_deviation_pct,
        "chi_square": sp.chi_square, "p_value": sp.p_value, "rps": rps, "chart": chart_path}
    if not params.drill or victim is None:
        return result
    result["drill"] = _drill(params, inv, anchor, victim, live, nodes, layout, url, stats_url)
    logger.info("drill: %s", result["drill"])
    return result


def _drill(params: ProveSwarmServiceParams, inv: SwarmInventory, anchor: DockerHost, victim: DockerHost,
           live: ServiceState, nodes: list[SwarmNode], layout: str, url: str, stats_url: str) -> dict[str, object]:
    vnode = next(n for n in nodes if n.addr == victim.address)
    remaining_eligible = svc.eligible_count([n for n in nodes if n.node_id != vnode.node_id], live.constraints)
    desired = live.replicas if live.mode == "replicated" else remaining_eligible
    victim_addrs = {victim.address} if layout == "seed" else {
        a for t in live.tasks if t.running and t.node_id == vnode.node_id for a in t.addresses}
    before = read_haproxy_stats(stats_url)
    victim_servers = [s.name for s in before if hx.host_of(s.addr) in victim_addrs]
    if not victim_servers:
        raise SafetyCheckFailed(f"haproxy has no server on {victim.name} (addresses {sorted(victim_addrs)}): "
                                "nothing to observe")
    control = SshTarget.load(inv.node_control_host, _sync=True) if inv.node_control_host else victim.ssh
    events: list[Event] = []
    t0 = time.monotonic()

    def lb_marked_down(stats: list[hx.ServerStat]) -> bool:
        return not any(s.up and hx.host_of(s.addr) in victim_addrs for s in stats)

    up_at: float | None = None
    deadline_hit = ""
    with LoadRunner(url, t0, params.drill_load_concurrency) as load, StatsWatcher(stats_url, t0) as sw, \
            SwarmWatcher(anchor, params.service, t0) as wat:
        time.sleep(2.0)  # baseline under load
        down_at = time.monotonic() - t0
        events.append(Event(down_at, f"node-down command on {control.host}: "
                                  f"{_fill(inv.node_down_command, victim.name, victim.address)}"))
        try:
            run_node_command(control, inv.node_down_command, victim.name, victim.address)
            deadline = time.monotonic() + params.drill_timeout_s
            while time.monotonic() < deadline:
                det = any(c for t, c in sw.series(lb_marked_down) if t >= down_at)
                rec = any(t >= down_at and _node_lost(ns, vnode.node_id) and _running_on(s, vnode.node_id) >= desired
                          for t, ns, s in wat.samples)
                if det and rec:
                    break
                time.sleep(0.2)
            else:
                deadline_hit = "detection or recovery did not happen before the deadline"
            time.sleep(1.0)
        finally:
            up_at = time.monotonic() - t0
            events.append(Event(up_at, f"node-up command: {_fill(inv.node_up_command, victim.name, victim.address)}"))
            run_node_command(control, inv.node_up_command, victim.name, victim.address)
        back_deadline = time.monotonic() + params.drill_timeout_s
        while time.monotonic() < back_deadline:
            if any(t >= up_at and next((n for n in ns if n.node_id == vnode.node_id and n.state == "ready"), None)
                   for t, ns, _ in wat.samples):
                break
            time.sleep(0.3)
    marked = next((t for t, ns, _ in wat.samples if t >= down_at and _node_lost(ns, vnode.node_id)), None)
    if marked is not None:
        events.append(Event(marked, f"swarm marks {victim.name} down"))
    tl: Timeline = timeline(
        load.samples, events, down_at, sw.series(lb_marked_down),
        [(t, _node_lost(ns, vnode.node_id) and _running_on(s, vnode.node_id) >= desired)
         for t, ns, s in wat.samples], up_at,
        [(t, any(n.node_id == vnode.node_id and n.state == "ready" for n in ns)) for t, ns, _ in wat.samples])

    # recovery: node back, service converged, every backend UP again
    recovery: list[str] = []
    if params.rebalance and live.mode == "replicated":
        force_update_service(anchor, params.service)
        recovery.append("replicas spread again (service update --force)")
    conv = wait_for_service(anchor, params.service, None, list(live.constraints), params.drill_timeout_s)
    expected = conv.desired if layout == "dns" else svc.eligible_count(nodes, live.constraints)
    backends = wait_for_backends_up(stats_url, expected, params.drill_timeout_s)
    recovery.append(f"{conv.running}/{conv.desired} tasks running, {len(backends)} backends UP")
    rows = tl.rows()
    create_table_artifact(key="swarm-drill-timeline", table=rows, _sync=True,
                          description=f"node-loss drill on {victim.name}: t_s relative to the node-down command")
    md = (f"## Node-loss drill: `{victim.name}` ({layout} layout)\n\n"
          f"* haproxy marked it DOWN after **{_s(tl.detected_s)}**\n"
          f"* service back to {desired} running task(s) on the remaining nodes after **{_s(tl.recovered_s)}**\n"
          f"* failed requests: **{tl.failed_in_window}** in the window, {tl.failed} of {tl.requests} overall "
          f"({tl.failed_pct:.3f}%)\n* node Ready again {_s(tl.node_back_s)} after the up command\n"
          f"* recovery: {'; '.join(recovery)}\n" + (f"* **{deadline_hit}**\n" if deadline_hit else "") +
          "\n| t (s) | event |\n|---|---|\n" + "\n".join(f"| {r['t_s']} | {r['event']} |" for r in rows) + "\n")
    create_markdown_artifact(key="swarm-drill", markdown=md, description=f"drill on {victim.name}", _sync=True)
    out: dict[str, object] = {
        "victim": victim.name, "detected_s": tl.detected_s, "recovered_s": tl.recovered_s,
        "node_back_s": tl.node_back_s, "requests": tl.requests, "failed": tl.failed,
        "failed_in_window": tl.failed_in_window, "failed_pct": tl.failed_pct, "timeline": rows,
        "recovery": recovery, "victim_servers": victim_servers, "watch_errors": wat.errors[:5]}
    if deadline_hit:
        raise SwarmError(f"drill on {victim.name}: {deadline_hit}; {out}")
    return out


def _s(v: float | None) -> str:
    return "never" if v is None else f"{v:.1f} s"
