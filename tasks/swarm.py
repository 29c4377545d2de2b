"""Thin swarm tasks: read state, init/join, network, service create/update, waits, node down/up.

Every read and change goes through the Docker SDK via ``DockerHost.client()`` (errors translated by
``seams.docker.call``). Join tokens are read inside the join task from the anchor manager: they never travel as
task parameters, results, logs or artifacts.
"""

from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import get_run_logger, task
from prefect.blocks.core import Block
from prefect.cache_policies import NO_CACHE

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from blocks.ssh import SshTarget
from core.errors import InvalidInput, SafetyCheckFailed
from core.swarm import models as m
from core.swarm import plan
from core.swarm import service as svc
from core.swarm.errors import ConvergenceTimeout, SwarmError
from seams.docker import FACT_TIMEOUT_S, call, read_state, request_timeout

SWARM_PORT = 2377


def load_blocks(wanted: list[tuple[type[Block], str]]) -> dict[tuple[type[Block], str], Block | None]:
    """Block documents loaded concurrently (one API round-trip each), duplicates once; None where loading failed
    (the caller loads again where it needs the block, to raise the real error). Each thread runs in a copy of
    the caller's context (Prefect settings and the run context are context variables); ``_sync=True`` because
    in the context of an async flow ``Block.load`` would otherwise return a coroutine."""
    unique = list(dict.fromkeys(wanted))
    ctx = contextvars.copy_context()

    def load(item: tuple[type[Block], str]) -> Block | None:
        try:
            return ctx.copy().run(item[0].load, item[1], _sync=True)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - reported where the block is actually needed
            return None

    with ThreadPoolExecutor(max_workers=min(8, len(unique) or 1)) as pool:
        return dict(zip(unique, pool.map(load, unique), strict=True))


def load_docker_hosts(names: list[str]) -> dict[str, DockerHost]:
    """Docker host blocks by name, loaded concurrently; a name that does not load raises as ``load`` does."""
    got = load_blocks([(DockerHost, n) for n in names])
    return {n: h if isinstance(h, DockerHost) else DockerHost.load(n, _sync=True) for (_, n), h in got.items()}


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1, task_run_name="read swarm state of {host.name}")
def read_host_swarm_state(host: DockerHost) -> m.HostSwarmState:
    with host.client() as client:
        info = read_state(host.name, "docker info", client.info)
    return m.parse_host_state(host.name, host.address, info)


def _cluster(host: DockerHost, client: Any) -> m.ClusterState:
    attrs = read_state(host.name, "inspect swarm", lambda: client.api.inspect_swarm())
    nodes = read_state(host.name, "list nodes", lambda: client.api.nodes())
    nets = read_state(host.name, "list networks", lambda: client.api.networks())
    return m.parse_cluster(host.name, attrs, nodes, nets)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1, task_run_name="read swarm cluster from {host.name}")
def read_cluster_state(host: DockerHost) -> m.ClusterState:
    with host.client() as client:
        return _cluster(host, client)


@task(cache_policy=NO_CACHE, task_run_name="swarm init on {host.name}")
def init_swarm(host: DockerHost, heartbeat_s: float | None) -> str:
    """``docker swarm init --advertise-addr <address>``; returns the new node ID."""
    spec: dict[str, Any] = {}
    with host.client() as client:
        if heartbeat_s is not None:
            spec = client.api.create_swarm_spec(dispatcher_heartbeat_period=int(heartbeat_s * 1e9))
        node_id = call(host.name, "swarm init", lambda: client.api.init_swarm(
            advertise_addr=host.address, listen_addr=f"{host.address}:{SWARM_PORT}", swarm_spec=spec or None))
    get_run_logger().info("%s: swarm initialised (node %s)", host.name, str(node_id)[:12])
    return str(node_id)


@task(cache_policy=NO_CACHE, task_run_name="swarm join {host.name} as {role}")
def join_swarm(host: DockerHost, anchor: DockerHost, role: str) -> str:
    """Join ``host`` to the anchor manager's swarm; the token is read here, never passed around."""
    if role not in ("manager", "worker"):
        raise InvalidInput(f"role must be manager or worker, not {role!r}")
    with anchor.client() as ac:
        tokens = read_state(anchor.name, "read join tokens", lambda: ac.api.inspect_swarm())["JoinTokens"]
    token = tokens["Manager" if role == "manager" else "Worker"]
    with host.client() as client:
        call(host.name, f"swarm join as {role}", lambda: client.api.join_swarm(
            remote_addrs=[f"{anchor.address}:{SWARM_PORT}"], join_token=token,
            listen_addr=f"{host.address}:{SWARM_PORT}", advertise_addr=host.address))
        node_id = str((read_state(host.name, "docker info", client.info).get("Swarm") or {}).get("NodeID", ""))
    get_run_logger().info("%s joined the swarm of %s as %s (node %s)", host.name, anchor.name, role, node_id[:12])
    return node_id


@task(cache_policy=NO_CACHE, task_run_name="activate node {node_id:.12} via {anchor.name}")
def activate_node(anchor: DockerHost, node_id: str) -> None:
    with anchor.client() as client:
        node = read_state(anchor.name, f"inspect node {node_id}", lambda: client.nodes.get(node_id))
        spec = dict(node.attrs["Spec"], Availability="active")
        call(anchor.name, f"activate node {node_id}", lambda: node.update(spec))


@task(cache_policy=NO_CACHE, task_run_name="{role} node {node_id:.12} via {anchor.name}")
def set_node_role(anchor: DockerHost, node_id: str, role: str, timeout: float = 60.0) -> m.SwarmNode:
    """``docker node promote`` / ``demote`` (node update --role) and wait until raft agrees: a promoted node is
    a reachable raft member, a demoted one has left raft. A demotion re-checks the live swarm first and refuses
    one that would leave no manager or no quorum."""
    if role not in ("promote", "demote"):
        raise InvalidInput(f"role change must be promote or demote, not {role!r}")
    want = "manager" if role == "promote" else "worker"
    with anchor.client() as client:
        nodes = [m.parse_node(n) for n in read_state(anchor.name, "list nodes", lambda: client.api.nodes())]
        if role == "demote":
            unsafe = plan.check_role_changes(nodes, [], [node_id])
            if unsafe:
                raise SafetyCheckFailed("; ".join(unsafe))
        attrs = read_state(anchor.name, f"inspect node {node_id}", lambda: client.api.inspect_node(node_id))
        if (attrs.get("Spec") or {}).get("Role") != want:
            spec = dict(attrs["Spec"], Role=want)
            call(anchor.name, f"{role} node {node_id}", lambda: client.api.update_node(
                node_id, attrs["Version"]["Index"], spec))
        deadline = time.monotonic() + timeout
        while True:
            node = m.parse_node(read_state(anchor.name, f"inspect node {node_id}", lambda: client.api.inspect_node(node_id)))
            if (node.reachability == "reachable") if want == "manager" else not node.in_raft:
                get_run_logger().info("node %s (%s) is now a %s", node.hostname, node_id[:12], want)
                return node
            if time.monotonic() > deadline:
                raise SwarmError(f"{role} of node {node.hostname} ({node_id[:12]}): raft did not agree after "
                                 f"{timeout:.0f}s (manager status {node.reachability or 'none'})")
            time.sleep(0.25)


@task(cache_policy=NO_CACHE, task_run_name="create overlay network {name} on {anchor.name}")
def create_overlay_network(anchor: DockerHost, name: str) -> str:
    with anchor.client() as client:
        net = call(anchor.name, f"create network {name}", lambda: client.networks.create(
            name, driver="overlay", attachable=True, scope="swarm",
            labels={"org.powerops.managed-by": "bootstrap-swarm"}))
    return str(net.id)


@task(cache_policy=NO_CACHE, task_run_name="set dispatcher heartbeat on {anchor.name}")
def set_dispatcher_heartbeat(anchor: DockerHost, seconds: float) -> None:
    with anchor.client() as client:
        call(anchor.name, "update swarm", lambda: client.swarm.update(
            dispatcher_heartbeat_period=int(seconds * 1e9)))


@task(cache_policy=NO_CACHE, task_run_name="wait for swarm nodes Ready/Active")
def wait_for_swarm_nodes(anchor: DockerHost, node_ids: dict[str, str], timeout: float = 60.0) -> m.ClusterState:
    """Until every given node (inventory name -> node ID) is a Ready/Active member, as the anchor sees it."""
    deadline = time.monotonic() + timeout
    with anchor.client() as client:
        while True:
            cluster = _cluster(anchor, client)
            missing = []
            for name, node_id in node_ids.items():
                node = cluster.node_by_id(node_id)
                if node is None:
                    missing.append(f"{name}: not a member")
                elif not node.ready_active:
                    missing.append(f"{name}: {node.state}/{node.availability}")
            if not missing:
                return cluster
            if time.monotonic() > deadline:
                raise SwarmError(f"nodes not Ready/Active after {timeout:.0f}s: {'; '.join(missing)}")
            time.sleep(0.25)


@task(cache_policy=NO_CACHE, task_run_name="swarm leave on {host.name}")
def leave_swarm(host: DockerHost, force: bool = False) -> bool:
    """Leave the swarm (``--force`` on the last manager). False when the engine was not in a swarm."""
    with host.client() as client:
        state = m.parse_host_state(host.name, host.address,
                                   read_state(host.name, "docker info", client.info))
        if not state.in_swarm:
            return False
        call(host.name, "swarm leave", lambda: client.api.leave_swarm(force=force))
    return True


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1, task_run_name="is {image} on {host.name}")
def read_image_present(host: DockerHost, image: str) -> bool:
    """Whether the engine already has the image (the deploy pre-pulls only where it is missing)."""
    import docker.errors

    with host.client() as client, request_timeout(host.name, f"inspect image {image}", FACT_TIMEOUT_S):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            return False
    return True


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1, task_run_name="detect IPVS on {host.name}")
def read_ipvs_support(host: DockerHost) -> bool:
    """The routing mesh and VIPs need IPVS in the kernel: loaded (/proc/net/ip_vs) or loadable (what
    ``modprobe -n ip_vs`` answers, read from the kernel's module lists). Files only, over the open SFTP
    session: no process to start on the node (an exec cost 0.1 s idle, up to 0.7 s during a bring-up)."""
    conn = host.ssh.connect()
    if conn.read_file("/proc/net/ip_vs") is not None:
        return True
    release = conn.read_file("/proc/sys/kernel/osrelease")
    if release is None:
        return False
    base = f"/lib/modules/{release.decode(errors='replace').strip()}"
    lists = [conn.read_file(f"{base}/{name}") for name in ("modules.dep", "modules.builtin")]
    return svc.kernel_module_available("ip_vs", *(b.decode(errors="replace") if b else None for b in lists))


# ---- services --------------------------------------------------------------------------------------------------

def _service_state(anchor: DockerHost, client: Any, name: str) -> m.ServiceState | None:
    import docker.errors

    try:
        with request_timeout(anchor.name, f"inspect service {name}", FACT_TIMEOUT_S):
            attrs = client.api.inspect_service(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise SwarmError(f"{anchor.name}: inspect service {name} failed: {exc.explanation or exc}") from exc
    tasks = read_state(anchor.name, f"list tasks of {name}", lambda: client.api.tasks(filters={"service": attrs["ID"]}))
    return m.parse_service(attrs, tasks, svc.HASH_LABEL)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1, task_run_name="read service {name}")
def read_service_state(anchor: DockerHost, name: str) -> m.ServiceState | None:
    with anchor.client() as client:
        return _service_state(anchor, client, name)


def _login(anchor: DockerHost, client: Any, registry: RegistryTarget | None) -> None:
    """docker-py sends the registry credentials of the image's registry with create/update
    (``--with-registry-auth``) once the client has logged in."""
    if registry is None:
        return
    call(anchor.name, f"login to {registry.address}", lambda: client.login(
        username=registry.username, password=registry.password.get_secret_value(), registry=registry.address))


@task(cache_policy=NO_CACHE, task_run_name="create service {spec.name}")
def create_swarm_service(anchor: DockerHost, spec: svc.ServiceSpec, registry: RegistryTarget | None,
                         extra_labels: dict[str, str] | None = None) -> str:
    api = svc.api_spec(spec)
    labels = {svc.HASH_LABEL: svc.spec_hash(spec), svc.MANAGED_LABEL: "deploy-swarm-service", **(extra_labels or {})}
    with anchor.client() as client:
        _login(anchor, client, registry)
        res = call(anchor.name, f"create service {spec.name}", lambda: client.api.create_service(
            api["TaskTemplate"], name=spec.name, labels=labels, mode=api["Mode"],
            update_config=api["UpdateConfig"], endpoint_spec=api["EndpointSpec"]))
    return str(res["ID"])


@task(cache_policy=NO_CACHE, task_run_name="update service {spec.name}")
def update_swarm_service(anchor: DockerHost, spec: svc.ServiceSpec, registry: RegistryTarget | None,
                         extra_labels: dict[str, str] | None = None, force: bool = False) -> None:
    api = svc.api_spec(spec)
    labels = {svc.HASH_LABEL: svc.spec_hash(spec), svc.MANAGED_LABEL: "deploy-swarm-service", **(extra_labels or {})}
    with anchor.client() as client:
        _login(anchor, client, registry)
        cur = read_state(anchor.name, f"inspect service {spec.name}", lambda: client.api.inspect_service(spec.name))
        template = dict(api["TaskTemplate"])
        if force:
            template["ForceUpdate"] = int(cur["Spec"]["TaskTemplate"].get("ForceUpdate") or 0) + 1
        call(anchor.name, f"update service {spec.name}", lambda: client.api.update_service(
            cur["ID"], cur["Version"]["Index"], task_template=template, name=spec.name, labels=labels,
            mode=api["Mode"], update_config=api["UpdateConfig"], endpoint_spec=api["EndpointSpec"]))


@task(cache_policy=NO_CACHE, task_run_name="force update of service {name}")
def force_update_service(anchor: DockerHost, name: str) -> None:
    """``docker service update --force``: restart the tasks so the scheduler spreads them again (swarm does
    not rebalance when a node returns). The spec and its hash label stay as they are."""
    with anchor.client() as client:
        cur = read_state(anchor.name, f"inspect service {name}", lambda: client.api.inspect_service(name))
        spec = cur["Spec"]
        template = dict(spec["TaskTemplate"])
        template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
        call(anchor.name, f"force update {name}", lambda: client.api.update_service(
            cur["ID"], cur["Version"]["Index"], task_template=template, name=spec["Name"],
            labels=spec.get("Labels"), mode=spec.get("Mode"), update_config=spec.get("UpdateConfig"),
            endpoint_spec=spec.get("EndpointSpec")))


@task(cache_policy=NO_CACHE, task_run_name="remove service {name}")
def remove_swarm_service(anchor: DockerHost, name: str) -> bool:
    with anchor.client() as client:
        if _service_state(anchor, client, name) is None:
            return False
        call(anchor.name, f"remove service {name}", lambda: client.api.remove_service(name))
    return True


@task(cache_policy=NO_CACHE, task_run_name="wait for service {name} to converge")
def wait_for_service(anchor: DockerHost, name: str, expected_hash: str | None, constraints: list[str],
                     timeout: float = 120.0) -> svc.Convergence:
    """All desired tasks Running before the deadline, else ``ConvergenceTimeout`` listing the tasks and why."""
    deadline = time.monotonic() + timeout
    while True:
        with anchor.client() as client:
            live = _service_state(anchor, client, name)
            nodes = [m.parse_node(n) for n in read_state(anchor.name, "list nodes", lambda: client.api.nodes())]
        if live is None:
            raise SwarmError(f"service {name} does not exist")
        eligible = svc.eligible_count(nodes, constraints) if live.mode == "global" else None
        conv = svc.convergence(live, nodes, expected_hash, eligible)
        if conv.converged:
            return conv
        if time.monotonic() > deadline:
            raise ConvergenceTimeout(
                f"service {name}: {conv.running}/{conv.desired} tasks running after {timeout:.0f}s; not running: "
                + "; ".join(conv.not_running[:20]))
        time.sleep(0.25)


@task(cache_policy=NO_CACHE, task_run_name="write site content on {host.name}")
def write_site_content(host: DockerHost, directory: str, files: dict[str, str]) -> list[str]:
    """The service's site content (the seed bind-mounts an NFS directory); only differing files are written."""
    for name in files:
        if "/" in name or name.startswith("."):
            raise InvalidInput(f"site file name {name!r} must be a plain file name")
    conn = host.ssh.connect()
    if not files:
        conn.run(["mkdir", "-p", directory])
    # write_file creates the directory itself when a file is new: no separate mkdir round-trip
    return [name for name, text in sorted(files.items())
            if conn.write_file(f"{directory}/{name}", text.encode(), 0o644)]


@task(cache_policy=NO_CACHE, task_run_name="read nodes from {anchor.name}")
def read_nodes(anchor: DockerHost) -> list[m.SwarmNode]:
    with anchor.client() as client:
        return [m.parse_node(n) for n in read_state(anchor.name, "list nodes", lambda: client.api.nodes())]


# ---- drill: node down / up ---------------------------------------------------------------------------------------

@task(cache_policy=NO_CACHE, task_run_name="run node command on {where.host}")
def run_node_command(where: SshTarget, argv: list[str], node: str, address: str) -> str:
    """The inventory's node-down / node-up command, placeholders {node} and {address} filled in."""
    if not argv:
        raise InvalidInput("empty node command")
    filled = [a.replace("{node}", node).replace("{address}", address) for a in argv]
    res = where.connect().run(filled, timeout=60)
    return res.stdout.strip()


class SwarmWatcher:
    """Background poller of the anchor manager: node states and running tasks of a service, with timestamps."""

    def __init__(self, anchor: DockerHost, service: str, t0: float, interval: float = 0.3) -> None:
        self.anchor, self.service, self.t0, self.interval = anchor, service, t0, interval
        self.samples: list[tuple[float, list[m.SwarmNode], m.ServiceState | None]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="swarm-watcher")

    def _run(self) -> None:
        with self.anchor.client() as client:
            while not self._stop.is_set():
                try:
                    with request_timeout(self.anchor.name, "list nodes", FACT_TIMEOUT_S):
                        nodes = [m.parse_node(n) for n in client.api.nodes()]
                    live = _service_state(self.anchor, client, self.service)
                    self.samples.append((time.monotonic() - self.t0, nodes, live))
                except Exception as exc:  # noqa: BLE001 - a failed poll is recorded, the drill goes on
                    self.errors.append(f"{time.monotonic() - self.t0:.1f}s: {exc}")
                self._stop.wait(self.interval)

    def __enter__(self) -> SwarmWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
