"""The swarm service: the desired spec (Docker API JSON), its hash, the deploy plan, the front-end layout and
the convergence check. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput
from core.swarm.models import ServiceState, ServiceTask, SwarmNode

HASH_LABEL = "org.powerops.spec-hash"
MANAGED_LABEL = "org.powerops.managed-by"
LAYOUT_LABEL = "org.powerops.layout"
LB_PORT_LABEL = "org.powerops.lb-port"
LB_STATS_PORT_LABEL = "org.powerops.lb-stats-port"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    mode: str  # global | replicated
    replicas: int
    network: str
    endpoint_mode: str  # vip | dnsrr
    port: int  # container port (80)
    published_port: int | None  # None: not published
    publish_mode: str  # ingress | host
    constraints: tuple[str, ...]
    mounts: tuple[tuple[str, str, str], ...]  # (type bind|volume, source, target)
    init: bool = True
    max_replicas_per_node: int = 0
    memory_reservation: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("global", "replicated"):
            raise InvalidInput(f"service mode must be global or replicated, not {self.mode!r}")
        if self.mode == "replicated" and self.replicas < 1:
            raise InvalidInput("a replicated service needs at least 1 replica")
        if self.endpoint_mode not in ("vip", "dnsrr"):
            raise InvalidInput(f"endpoint mode must be vip or dnsrr, not {self.endpoint_mode!r}")
        if self.endpoint_mode == "dnsrr" and self.published_port and self.publish_mode == "ingress":
            raise InvalidInput("a dnsrr service cannot publish through the ingress routing mesh: use host mode")


def api_spec(s: ServiceSpec) -> dict[str, Any]:
    """The service as the Docker API wants it (``POST /services/create``), without the hash label."""
    container: dict[str, Any] = {"Image": s.image, "Init": s.init}
    if s.mounts:
        container["Mounts"] = [{"Type": t, "Source": src, "Target": dst, "ReadOnly": True}
                               for t, src, dst in s.mounts]
    placement: dict[str, Any] = {"Constraints": list(s.constraints)}
    if s.max_replicas_per_node:
        placement["MaxReplicas"] = s.max_replicas_per_node
    task: dict[str, Any] = {"ContainerSpec": container, "Placement": placement,
                            "Networks": [{"Target": s.network}],
                            "RestartPolicy": {"Condition": "any", "Delay": 1_000_000_000}}
    if s.memory_reservation:
        task["Resources"] = {"Reservations": {"MemoryBytes": s.memory_reservation}}
    endpoint: dict[str, Any] = {"Mode": s.endpoint_mode}
    if s.published_port:
        endpoint["Ports"] = [{"Protocol": "tcp", "TargetPort": s.port, "PublishedPort": s.published_port,
                              "PublishMode": s.publish_mode}]
    mode: dict[str, Any] = {"Global": {}} if s.mode == "global" else {"Replicated": {"Replicas": s.replicas}}
    return {"Name": s.name, "TaskTemplate": task, "Mode": mode, "EndpointSpec": endpoint,
            "UpdateConfig": {"Parallelism": 2, "Delay": 1_000_000_000, "FailureAction": "pause",
                             "Order": "stop-first"}}


def spec_hash(s: ServiceSpec) -> str:
    return hashlib.sha256(json.dumps(api_spec(s), sort_keys=True).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class DeployPlan:
    action: str  # create | update | recreate | none
    reason: str
    spec_hash: str


def plan_deploy(spec: ServiceSpec, live: ServiceState | None) -> DeployPlan:
    h = spec_hash(spec)
    if live is None:
        return DeployPlan("create", f"service {spec.name} does not exist", h)
    if live.mode != spec.mode:
        return DeployPlan("recreate", f"mode changes {live.mode} -> {spec.mode} (swarm cannot update a service's "
                                      "mode in place)", h)
    if live.spec_hash != h:
        return DeployPlan("update", f"spec changed (live {live.spec_hash or 'unmanaged'} -> {h})", h)
    return DeployPlan("none", f"service {spec.name} already has spec {h}", h)


# ---- front-end layout ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    name: str  # seed | dns
    endpoint_mode: str
    publish_mode: str  # ingress | host | none
    reason: str


def _module_name(path: str) -> str:
    base = path.strip().rsplit("/", 1)[-1]
    for ext in (".gz", ".xz", ".zst"):
        base = base.removesuffix(ext)
    return base.removesuffix(".ko").replace("-", "_")


def kernel_module_available(name: str, modules_dep: str | None, modules_builtin: str | None) -> bool:
    """What ``modprobe -n -q NAME`` answers, from the kernel's own lists (``/lib/modules/$(uname -r)/``):
    built in (``modules.builtin``, one path a line) or loadable (``modules.dep``, ``path: deps...`` lines;
    compressed ``.ko.xz``/``.ko.zst``/``.ko.gz`` too). ``-`` and ``_`` are the same in module names, as for
    modprobe. No lists (no /lib/modules for this kernel) means not available. Read as files, these answer
    without starting a process on the host."""
    want = name.replace("-", "_")
    for line in (modules_builtin or "").splitlines():
        if line.strip() and _module_name(line) == want:
            return True
    for line in (modules_dep or "").splitlines():
        head = line.split(":", 1)[0]
        if head.strip() and _module_name(head) == want:
            return True
    return False


def choose_layout(requested: str, ipvs: bool, mode: str) -> Layout:
    """Which front end the cluster supports.

    * ``seed``: haproxy on its own host, one backend per node at the published port. Needs the routing mesh
      (IPVS) for replicated services; without IPVS only host-mode publishing works, i.e. one task per node:
      a global service.
    * ``dns``: haproxy attached to the overlay network, ``server-template`` over ``tasks.<service>`` through
      Docker's embedded DNS; the service uses ``endpoint_mode=dnsrr`` (no VIP, no IPVS needed).
    """
    if requested not in ("auto", "seed", "dns"):
        raise InvalidInput(f"layout must be auto, seed or dns, not {requested!r}")
    if requested == "dns":
        return Layout("dns", "dnsrr", "none", "asked for DNS service discovery")
    if ipvs:
        return Layout("seed", "vip", "ingress", "the kernel has IPVS: routing mesh, haproxy on its own host "
                                                "in front of every node's published port")
    if mode == "global":
        return Layout("seed", "dnsrr", "host", "no IPVS (no routing mesh): global service published in host mode, "
                                               "haproxy on its own host in front of every node's port")
    if requested == "seed":
        raise InvalidInput("the seed layout needs the routing mesh (IPVS) for a replicated service and this cluster "
                           "has no IPVS: use global mode or layout 'dns'")
    return Layout("dns", "dnsrr", "none", "no IPVS (no routing mesh, no VIP): service in dnsrr mode, haproxy on "
                                          "the overlay resolving tasks.<service> through Docker's DNS")


# ---- convergence -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Convergence:
    desired: int
    running: int
    not_running: tuple[str, ...]  # human lines naming task, node and why

    @property
    def converged(self) -> bool:
        return self.running == self.desired and not self.not_running


def convergence(live: ServiceState, nodes: Sequence[SwarmNode], expected_hash: str | None = None,
                eligible_nodes: int | None = None) -> Convergence:
    """Running tasks versus desired. For a global service the desired count is the number of eligible nodes
    (given) or, failing that, the number of nodes with a task meant to run."""
    names = {n.node_id: n.hostname for n in nodes}
    want = [t for t in live.tasks if t.desired == "running"]
    if live.mode == "global":
        desired = eligible_nodes if eligible_nodes is not None else len({t.node_id for t in want})
    else:
        desired = live.replicas
    running = [t for t in want if t.state == "running"]
    bad = [_why(live.name, t, names) for t in want if t.state != "running"]
    # the last failure of each slot (replicated) or node (global) without a running task tells why its tasks
    # keep being replaced; the replacement itself may sit in new/pending/ready during the restart delay
    def key(t: ServiceTask) -> str:
        return str(t.slot) if live.mode == "replicated" else t.node_id

    running_keys = {key(t) for t in running}
    last_failure: dict[str, ServiceTask] = {}
    for t in live.tasks:
        if t.state in ("rejected", "failed") and (key(t) not in last_failure
                                                   or t.timestamp > last_failure[key(t)].timestamp):
            last_failure[key(t)] = t
    seen = {_why(live.name, t, names) for t in want}
    if len(running) < desired:
        for k in sorted(last_failure):
            line = _why(live.name, last_failure[k], names)
            if k not in running_keys and line not in seen:
                bad.append(line)
                seen.add(line)
    if len(running) < desired and not bad:
        bad.append(f"{desired - len(running)} task(s) of {live.name} not scheduled yet (no node can take them?)")
    if expected_hash is not None and live.spec_hash != expected_hash:
        bad.append(f"{live.name}: spec hash {live.spec_hash} is not the deployed {expected_hash}")
    return Convergence(desired=desired, running=min(len(running), max(desired, len(running))),
                       not_running=tuple(bad))


def _why(service: str, t: ServiceTask, names: dict[str, str]) -> str:
    node = names.get(t.node_id, t.node_id[:12] or "unassigned")
    detail = t.err or t.message or "no message"
    return f"{service}.{t.slot or t.node_id[:6]} on {node}: {t.state} ({detail})"


def eligible_count(nodes: Sequence[SwarmNode], constraints: Sequence[str]) -> int:
    """Ready/Active nodes matching ``node.role==X`` / ``node.role!=X`` / ``node.hostname==X`` constraints."""
    return sum(1 for n in nodes if n.ready_active and all(_matches(n, c) for c in constraints))


def _matches(n: SwarmNode, constraint: str) -> bool:
    c = constraint.replace(" ", "")
    for op in ("==", "!="):
        if op in c:
            key, value = c.split(op, 1)
            actual = {"node.role": n.role, "node.hostname": n.hostname, "node.id": n.node_id}.get(key)
            if actual is None:
                return True  # unknown attribute (labels...): the scheduler decides, we do not exclude the node
            return (actual == value) == (op == "==")
    return True


def capacity(nodes: Sequence[SwarmNode], constraints: Sequence[str], max_per_node: int,
             memory_reservation: int) -> int:
    """How many replicas the given nodes can hold (max per node and memory reservations)."""
    total = 0
    for n in nodes:
        if not (n.ready_active and all(_matches(n, c) for c in constraints)):
            continue
        fit = 1 << 30
        if max_per_node:
            fit = min(fit, max_per_node)
        if memory_reservation and n.memory_bytes:
            fit = min(fit, n.memory_bytes // memory_reservation)
        total += fit
    return total
