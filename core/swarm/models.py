"""Swarm state as typed models, parsed from the Docker API's JSON (``GET /info``, ``/nodes``, ``/tasks``,
``/swarm``, ``/services``). Pure: the dicts come from docker-py's ``client.info()``, ``node.attrs``, ..."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JsonDict = Mapping[str, Any]


@dataclass(frozen=True)
class HostSwarmState:
    """What one engine says about its own swarm membership (``docker info`` -> Swarm)."""

    host: str
    address: str
    local_state: str  # inactive | pending | active | error | locked
    node_id: str
    is_manager: bool
    cluster_id: str  # only known on managers
    manager_addrs: tuple[str, ...]  # RemoteManagers addresses (host:2377)
    error: str = ""

    @property
    def in_swarm(self) -> bool:
        return self.local_state in ("active", "pending", "locked", "error") and bool(self.node_id)


def parse_host_state(host: str, address: str, info: JsonDict) -> HostSwarmState:
    sw: JsonDict = info.get("Swarm") or {}
    cluster: JsonDict = sw.get("Cluster") or {}
    remotes: Sequence[JsonDict] = sw.get("RemoteManagers") or []
    return HostSwarmState(
        host=host, address=address,
        local_state=str(sw.get("LocalNodeState") or "inactive"),
        node_id=str(sw.get("NodeID") or ""),
        is_manager=bool(sw.get("ControlAvailable")),
        cluster_id=str(cluster.get("ID") or ""),
        manager_addrs=tuple(sorted(str(r.get("Addr", "")) for r in remotes)),
        error=str(sw.get("Error") or ""),
    )


@dataclass(frozen=True)
class SwarmNode:
    """One node as the managers see it (``docker node ls``)."""

    node_id: str
    hostname: str
    role: str  # manager | worker
    state: str  # ready | down | unknown | disconnected
    availability: str  # active | pause | drain
    addr: str
    leader: bool = False
    memory_bytes: int = 0
    nano_cpus: int = 0
    reachability: str = ""  # managers (ManagerStatus): reachable | unreachable | unknown; "" = not in raft

    @property
    def ready_active(self) -> bool:
        return self.state == "ready" and self.availability == "active"

    @property
    def in_raft(self) -> bool:
        """A manager in the raft group (``ManagerStatus`` present); ``role`` is the DESIRED role (Spec.Role)."""
        return bool(self.reachability)


def parse_node(attrs: JsonDict) -> SwarmNode:
    spec: JsonDict = attrs.get("Spec") or {}
    status: JsonDict = attrs.get("Status") or {}
    desc: JsonDict = attrs.get("Description") or {}
    res: JsonDict = desc.get("Resources") or {}
    mstat: JsonDict = attrs.get("ManagerStatus") or {}
    return SwarmNode(
        node_id=str(attrs.get("ID", "")), hostname=str(desc.get("Hostname", "")),
        role=str(spec.get("Role", "worker")), state=str(status.get("State", "unknown")),
        availability=str(spec.get("Availability", "active")), addr=str(status.get("Addr", "")),
        leader=bool(mstat.get("Leader")), memory_bytes=int(res.get("MemoryBytes") or 0),
        nano_cpus=int(res.get("NanoCPUs") or 0), reachability=str(mstat.get("Reachability") or ""),
    )


@dataclass(frozen=True)
class ClusterState:
    """The swarm as seen from one of our managers."""

    cluster_id: str
    anchor: str  # inventory host the state was read from
    nodes: tuple[SwarmNode, ...]
    networks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> {driver, attachable, scope}
    heartbeat_s: float = 5.0

    def node_by_id(self, node_id: str) -> SwarmNode | None:
        return next((n for n in self.nodes if n.node_id == node_id), None)


def parse_cluster(anchor: str, swarm_attrs: JsonDict, nodes: Sequence[JsonDict],
                  networks: Sequence[JsonDict]) -> ClusterState:
    spec: JsonDict = swarm_attrs.get("Spec") or {}
    disp: JsonDict = spec.get("Dispatcher") or {}
    hb_ns = int(disp.get("HeartbeatPeriod") or 5_000_000_000)
    nets = {str(n.get("Name")): {"driver": n.get("Driver"), "attachable": bool(n.get("Attachable")),
                                 "scope": n.get("Scope"), "id": n.get("Id") or n.get("ID")}
            for n in networks}
    return ClusterState(cluster_id=str(swarm_attrs.get("ID", "")), anchor=anchor,
                        nodes=tuple(sorted((parse_node(n) for n in nodes), key=lambda n: n.hostname)),
                        networks=nets, heartbeat_s=hb_ns / 1e9)


@dataclass(frozen=True)
class ServiceTask:
    """One task of a service (``docker service ps``)."""

    task_id: str
    slot: int
    node_id: str
    desired: str  # running | shutdown | ...
    state: str  # new | pending | assigned | preparing | starting | running | failed | rejected | ...
    message: str
    err: str
    container_id: str
    addresses: tuple[str, ...]  # overlay addresses without prefix length
    host_ports: tuple[int, ...]  # host-mode published ports
    timestamp: str = ""

    @property
    def running(self) -> bool:
        return self.desired == "running" and self.state == "running"


def parse_task(attrs: JsonDict) -> ServiceTask:
    status: JsonDict = attrs.get("Status") or {}
    cstat: JsonDict = status.get("ContainerStatus") or {}
    ports: Sequence[JsonDict] = (status.get("PortStatus") or {}).get("Ports") or []
    addrs: list[str] = []
    for att in attrs.get("NetworksAttachments") or []:
        for a in att.get("Addresses") or []:
            addrs.append(str(a).split("/", 1)[0])
    return ServiceTask(
        task_id=str(attrs.get("ID", "")), slot=int(attrs.get("Slot") or 0), node_id=str(attrs.get("NodeID", "")),
        desired=str(attrs.get("DesiredState", "")), state=str(status.get("State", "")),
        message=str(status.get("Message", "")), err=str(status.get("Err", "")),
        container_id=str(cstat.get("ContainerID", "")), addresses=tuple(addrs),
        host_ports=tuple(int(p["PublishedPort"]) for p in ports if p.get("PublishedPort")),
        timestamp=str(status.get("Timestamp", "")),
    )


@dataclass(frozen=True)
class ServiceState:
    """A live service: its spec hash label, mode, replicas and tasks."""

    name: str
    service_id: str
    spec_hash: str
    mode: str  # replicated | global
    replicas: int  # desired for replicated; 0 for global
    endpoint_mode: str
    tasks: tuple[ServiceTask, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()
    max_replicas_per_node: int = 0
    memory_reservation: int = 0


def parse_service(attrs: JsonDict, tasks: Sequence[JsonDict], hash_label: str) -> ServiceState:
    spec: JsonDict = attrs.get("Spec") or {}
    mode: JsonDict = spec.get("Mode") or {}
    labels: JsonDict = spec.get("Labels") or {}
    if "Global" in mode:
        kind, replicas = "global", 0
    else:
        kind, replicas = "replicated", int((mode.get("Replicated") or {}).get("Replicas", 1))
    ep: JsonDict = spec.get("EndpointSpec") or {}
    template: JsonDict = spec.get("TaskTemplate") or {}
    placement: JsonDict = template.get("Placement") or {}
    return ServiceState(
        name=str(spec.get("Name", "")), service_id=str(attrs.get("ID", "")),
        spec_hash=str(labels.get(hash_label, "")), mode=kind, replicas=replicas,
        endpoint_mode=str(ep.get("Mode", "vip")),
        tasks=tuple(sorted((parse_task(t) for t in tasks), key=lambda t: (t.slot, t.node_id, t.timestamp))),
        labels={str(k): str(v) for k, v in labels.items()},
        constraints=tuple(str(c) for c in placement.get("Constraints") or []),
        max_replicas_per_node=int(placement.get("MaxReplicas") or 0),
        memory_reservation=int(((template.get("Resources") or {}).get("Reservations") or {}).get("MemoryBytes")
                               or 0),
    )
