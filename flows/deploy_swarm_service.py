"""Flow deploy-swarm-service (seed: "Running an application in a swarm cluster" and its haproxy).

The whoami service from the registry, global or replicated, with the site content bind-mounted as the seed does
with NFS; haproxy in front: on its own host in front of every node's published port (seed layout; needs the
routing mesh, or host-mode publishing = global mode), or attached to the overlay resolving ``tasks.<service>``
through Docker's DNS (service in ``dnsrr`` mode). The layout follows what the cluster supports (IPVS or not)
and the flow says which was chosen. haproxy's config is rendered, checked with the real ``haproxy -c -f``,
installed, reloaded gracefully, and every backend must be UP in the stats CSV.
A re-run on a converged service plans nothing and changes nothing.

Concurrency (bring-up speed): blocks load together; the site content is written while the facts are read;
IPVS (which decides the layout) is read first, with the swarm, the live service and the images; the haproxy
config is checked while the image is pre-pulled where missing; once it passed, the haproxy container (DNS
layout) starts while the service is created and converges; artifacts are published in the background.
"""

from __future__ import annotations

import time
from typing import TypeVar

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.blocks.core import Block
from prefect.futures import wait
from pydantic import BaseModel, Field

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from blocks.ssh import SshTarget
from blocks.swarm import HaproxyHost, SwarmInventory
from core.swarm import haproxy as hx
from core.swarm import service as svc
from core.swarm.errors import SwarmError
from flows._sync import async_body
from tasks.background import Background
from tasks.haproxy import (
    container_config_dir,
    ensure_haproxy_container,
    ensure_haproxy_image,
    inspect_images,
    install_container_config,
    install_haproxy_config,
    reload_haproxy,
    validate_haproxy_config,
    validate_haproxy_config_in_image,
    wait_for_backends_up,
)
from tasks.registry import pull_image
from tasks.swarm import (
    create_swarm_service,
    load_blocks,
    read_cluster_state,
    read_image_present,
    read_ipvs_support,
    read_service_state,
    remove_swarm_service,
    update_swarm_service,
    wait_for_service,
    write_site_content,
)

B = TypeVar("B", bound=Block)


class DeploySwarmServiceParams(BaseModel):
    """The service, its mode and front end. Registry credentials come from a registry block (by name)."""

    inventory: str = Field(description="Swarm inventory block name.")
    service: str = Field(default="whoami", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$", description="Service name.")
    image: str = Field(description="Image reference in the registry, e.g. 10.250.77.11:5000/powerops/whoami:1.")
    registry: str | None = Field(default=None, description="Registry block name (credentials sent to the nodes).")
    mode: str = Field(default="replicated", pattern="^(global|replicated)$", description="global or replicated.")
    replicas: int = Field(default=10, ge=1, le=200, description="Replicas (replicated mode).")
    layout: str = Field(default="auto", pattern="^(auto|seed|dns)$",
                        description="Front end: auto (detect), seed (haproxy host + published ports), dns.")
    port: int = Field(default=80, ge=1, le=65535, description="Port the application listens on in the container.")
    published_port: int = Field(default=8080, ge=1, le=65535, description="Port published on the nodes (seed).")
    constraints: list[str] = Field(default_factory=lambda: ["node.role==worker"],
                                   description="Placement constraints (keep tasks off the managers).")
    max_replicas_per_node: int = Field(default=0, ge=0, description="Placement limit per node (0 = none).")
    site_dir: str | None = Field(default="/srv/powerops/whoami-site",
                                 description="Host directory bind-mounted read-only as the site content.")
    site_target: str = Field(default="/srv/www/site", description="Where the site content appears in tasks.")
    site_files: dict[str, str] = Field(default_factory=lambda: {"motd": "served by a powerops swarm service\n"},
                                       description="Files written into site_dir on every node (empty: the "
                                       "directory is shared storage you manage, e.g. NFS).")
    haproxy_base_image: str | None = Field(default=None, description="DNS layout: base image the haproxy image "
                                           "is built FROM (on the haproxy docker host).")
    build_host: str | None = Field(default=None, description="DNS layout: SSH target block name of the build "
                                   "host that fetches haproxy's packages.")
    haproxy_image: str = Field(default="powerops/haproxy:2.6", description="DNS layout: haproxy image tag.")
    lb_port: int | None = Field(default=None, ge=1, le=65535, description="Port haproxy serves this service on "
                                "(default: the inventory's lb_port); several services need different ports.")
    lb_stats_port: int | None = Field(default=None, ge=1, le=65535, description="haproxy stats port of this "
                                      "service (default: the inventory's lb_stats_port).")
    prepull: str = Field(default="missing", pattern="^(always|missing|never)$",
                         description="Pull the image on every node before creating the service: always, only "
                         "where it is missing, or never. Needed where engines never pull for tasks (offline sites "
                         "with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1); pin the image by digest to be exact.")
    convergence_timeout_s: float = Field(default=120, gt=0, description="Deadline for all tasks Running.")
    dry_run: bool = Field(default=False, description="Publish the plan and change nothing.")


def _plan_markdown(p: DeploySwarmServiceParams, layout: svc.Layout, plan: svc.DeployPlan, hx_note: str,
                   site_note: str, config: str) -> str:
    return (f"## Deploy `{p.service}` ({p.mode}{f', {p.replicas} replicas' if p.mode == 'replicated' else ''})\n\n"
            f"* layout: **{layout.name}** (endpoint {layout.endpoint_mode}, publish {layout.publish_mode}): "
            f"{layout.reason}\n* service: **{plan.action}** ({plan.reason})\n* site content: {site_note}\n"
            f"* haproxy: {hx_note}\n\n```\n{config}```\n")


@flow(name="deploy-swarm-service")
async def deploy_swarm_service(params: DeploySwarmServiceParams) -> dict[str, object]:
    # async with a sync body: see flows._sync
    with async_body() as bg:  # side calls (artifacts, block loads) go on while the flow does
        return _deploy(params, bg)


def _deploy(params: DeploySwarmServiceParams, bg: Background) -> dict[str, object]:
    logger = get_run_logger()
    t0 = time.monotonic()
    inv = SwarmInventory.load(params.inventory, _sync=True)
    port = params.lb_port or inv.lb_port
    stats_port = params.lb_stats_port or inv.lb_stats_port
    members = [*inv.managers, *inv.workers]
    # every block the flow may need, loaded concurrently (a load that fails is retried where it is needed)
    others: list[tuple[type[Block], str]] = [
        *([(RegistryTarget, params.registry)] if params.registry else []),
        *([(SshTarget, params.build_host)] if params.build_host else []),
        *([(HaproxyHost, inv.load_balancer)] if inv.load_balancer else [])]
    blocks = load_blocks([*((DockerHost, n) for n in [*members, inv.lb_docker_host or inv.managers[0]]), *others])
    loaded = {n: b if isinstance(b, DockerHost) else DockerHost.load(n, _sync=True)
              for (cls, n), b in blocks.items() if cls is DockerHost}
    anchor = loaded[inv.managers[0]]
    nodes_hosts = {n: loaded[n] for n in members}
    lb_docker = loaded[inv.lb_docker_host or inv.managers[0]]

    def block(cls: type[B], name: str) -> B:
        got = blocks.get((cls, name))
        return got if isinstance(got, cls) else cls.load(name, _sync=True)
    # the site content depends on no fact and the service needs it first: written on every node while the facts
    # are read (only differing files are written; never in a dry run)
    site_f = ([(h, write_site_content.submit(h, params.site_dir, params.site_files)) for h in nodes_hosts.values()]
              if params.site_dir and params.site_files and not params.dry_run else [])
    # facts, all read in parallel: the swarm, IPVS per node (decides the layout: needed first), the live
    # service, the haproxy images, and per node whether the image is there (only when the flow may pre-pull)
    cluster_f = read_cluster_state.submit(anchor)
    ipvs_f = {n: read_ipvs_support.submit(h) for n, h in nodes_hosts.items()}
    live_f = read_service_state.submit(anchor, params.service)
    images_f = (inspect_images.submit(lb_docker, [params.haproxy_base_image, params.haproxy_image])
                if params.haproxy_base_image else None)
    has_f = ({n: read_image_present.submit(h, params.image) for n, h in nodes_hosts.items()}
             if params.registry and params.prepull == "missing" else {})
    cluster = cluster_f.result()
    if not cluster.cluster_id:
        raise SwarmError(f"{anchor.name} is not a swarm manager: run bootstrap-swarm first")
    ipvs = all(f.result() for f in ipvs_f.values())
    layout = svc.choose_layout(params.layout, ipvs, params.mode)
    logger.info("front-end layout: %s (%s)", layout.name, layout.reason)

    mounts = ((("bind", params.site_dir, params.site_target),) if params.site_dir else ())
    spec = svc.ServiceSpec(
        name=params.service, image=params.image, mode=params.mode, replicas=params.replicas, network=inv.network,
        endpoint_mode=layout.endpoint_mode, port=params.port,
        published_port=params.published_port if layout.name == "seed" else None,
        publish_mode=layout.publish_mode if layout.publish_mode != "none" else "ingress",
        constraints=tuple(params.constraints), mounts=mounts, init=True,
        max_replicas_per_node=params.max_replicas_per_node)
    live = live_f.result()
    plan = svc.plan_deploy(spec, live)
    eligible = [n for n in cluster.nodes if n.ready_active and svc.eligible_count([n], params.constraints)]
    by_addr = {h.address: h for h in nodes_hosts.values()}

    # haproxy configuration for the chosen layout
    if layout.name == "seed":
        servers = tuple(hx.Server(by_addr[n.addr].name if n.addr in by_addr else n.hostname, n.addr,
                                  params.published_port) for n in eligible)
        cfg = hx.HaproxyConfig("seed", port, stats_port, inv.lb_stats_uri, params.service,
                               params.port, servers=servers)
        expected_backends = len(servers)
    else:
        cfg = hx.HaproxyConfig("dns", port, stats_port, inv.lb_stats_uri, params.service,
                               params.port, slots=max(20, params.replicas + 5))
        expected_backends = params.replicas if params.mode == "replicated" else len(eligible)
    text = hx.render_config(cfg)
    url, stats_url = hx.endpoints(layout.name, block(HaproxyHost, inv.load_balancer).address if layout.name == "seed"
                                  and inv.load_balancer else None, lb_docker.address, port,
                                  stats_port, inv.lb_stats_uri)
    hx_where = (f"host {inv.load_balancer}" if layout.name == "seed"
                else f"container {hx.container_name(params.service)} on {lb_docker.name}, overlay {inv.network}")
    site_note = (f"{len(params.site_files)} file(s) into {params.site_dir} on every node" if params.site_files
                 else f"{params.site_dir or 'none'} (managed outside)")
    bg.submit(create_markdown_artifact, key="swarm-deploy-plan", _sync=True,
              description=f"deploy-swarm-service plan for {params.service}",
              markdown=_plan_markdown(params, layout, plan, f"{hx_where}; {url}", site_note, text))
    if params.dry_run:
        return {"layout": layout.name, "service_action": plan.action, "planned": [plan.action], "applied": [],
                "url": url, "stats_url": stats_url, "dry_run": True}

    changed: list[str] = []
    registry = block(RegistryTarget, params.registry) if params.registry else None
    # haproxy: the candidate config is validated while the nodes are prepared and the service converges
    lb: HaproxyHost | None = None
    image_id = cfg_dir = ""
    if layout.name == "seed":
        if not inv.load_balancer:
            raise SwarmError("the seed layout needs load_balancer (an haproxy host block) in the inventory")
        lb = block(HaproxyHost, inv.load_balancer)
        valid_f = validate_haproxy_config.submit(lb, text)
    else:
        if not (params.haproxy_base_image and params.build_host):
            raise SwarmError("the DNS layout runs haproxy in a container: give haproxy_base_image and build_host")
        image_id = ensure_haproxy_image(lb_docker, block(SshTarget, params.build_host), params.haproxy_base_image,
                                        params.haproxy_image, images_f.result() if images_f else None)
        cfg_dir = container_config_dir(lb_docker, params.service)
        valid_f = validate_haproxy_config_in_image.submit(lb_docker, image_id, cfg_dir, text)

    # per node, in parallel: the image where the engine would not pull it itself
    # (engines started with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1, e.g. offline sites, never pull for a task)
    need = ([h for n, h in nodes_hosts.items() if params.prepull == "always" or not has_f[n].result()]
            if registry is not None and params.prepull != "never" else [])
    pull_f = [(h, pull_image.submit(h, params.image, registry)) for h in need]
    wait([f for _, f in site_f + pull_f])
    for h, f in site_f:
        changed += [f"site file {name} on {h.name}" for name in f.result()]
    for h, f in pull_f:
        f.result()
        changed.append(f"pulled {params.image} on {h.name}")
    labels = {svc.LAYOUT_LABEL: layout.name, svc.LB_PORT_LABEL: str(port), svc.LB_STATS_PORT_LABEL: str(stats_port)}
    differs = valid_f.result()  # a config haproxy refuses stops here: service and haproxy left as they were
    # the haproxy container (DNS layout) starts while the service is created and converges: it resolves
    # tasks.<service> as the tasks appear
    container_f = None
    if lb is None:
        if differs:
            install_container_config(lb_docker, cfg_dir, text)
        container_f = ensure_haproxy_container.submit(lb_docker, hx.container_name(params.service), image_id,
                                                      inv.network, cfg_dir, [port, stats_port], differs)
    if plan.action == "create":
        create_swarm_service(anchor, spec, registry, labels)
        changed.append(f"created service {params.service}")
    elif plan.action == "recreate":
        remove_swarm_service(anchor, params.service)
        create_swarm_service(anchor, spec, registry, labels)
        changed.append(f"recreated service {params.service}")
    elif plan.action == "update":
        update_swarm_service(anchor, spec, registry, labels)
        changed.append(f"updated service {params.service}")
    if lb is not None:
        if differs:
            install_haproxy_config(lb, text)
            reload_haproxy(lb)
            changed.append(f"haproxy config installed and reloaded on {lb.name}")
    elif container_f is not None:
        did = container_f.result()
        if did != "unchanged":
            changed.append(f"haproxy container {did} on {lb_docker.name}")
    conv = wait_for_service(anchor, params.service, plan.spec_hash, list(params.constraints),
                            params.convergence_timeout_s)
    backends = wait_for_backends_up(stats_url, expected_backends, 60.0)
    rows = [{"server": s.name, "address": s.addr, "status": s.status, "check": s.check_status} for s in backends]
    bg.submit(create_table_artifact, key="swarm-haproxy-backends", table=rows, _sync=True,
              description=f"haproxy backends of {params.service} ({layout.name} layout): all UP")
    seconds = round(time.monotonic() - t0, 2)
    bg.submit(
        create_markdown_artifact, key="swarm-deploy-summary", description="deploy-swarm-service summary", _sync=True,
        markdown=f"## `{params.service}` deployed\n\n* layout: {layout.name} ({layout.reason})\n"
                 f"* changed: {'; '.join(changed) or 'nothing (converged)'}\n"
                 f"* verified: {conv.running}/{conv.desired} tasks running, {len(backends)} haproxy backends UP\n"
                 f"* service URL {url}, stats {stats_url}\n* {seconds} s\n")
    return {"layout": layout.name, "reason": layout.reason, "service_action": plan.action,
            "planned": [] if plan.action == "none" else [plan.action], "applied": changed,
            "running": conv.running, "desired": conv.desired, "backends": rows, "url": url,
            "stats_url": stats_url, "seconds": seconds, "dry_run": False}
