"""Blocks of the swarm area: the inventory of a swarm and the haproxy load-balancer host."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from blocks.ssh import SshTarget


class HaproxyHost(Block):
    """A host running haproxy from its distribution, managed over SSH (seed: haproxy on its own host)."""

    _block_type_name = "powerops haproxy host"
    _block_type_slug = "powerops-haproxy-host"
    _description = "A load-balancer host with haproxy: where its config lives and how to check and reload it."

    name: str = Field(description="Short name shown in reports (e.g. lb1).")
    ssh: SshTarget = Field(description="SSH target of the load-balancer host.")
    address: str = Field(description="Address clients (and the proof flow) use to reach haproxy.")
    config_path: str = Field(default="/etc/haproxy/haproxy.cfg", description="haproxy configuration file.")
    haproxy_binary: str = Field(default="haproxy", description="haproxy binary used for `haproxy -c -f`.")
    reload_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "reload-or-restart", "haproxy"],
        description="argv run on the host to reload haproxy gracefully after a new config is installed.")


class SwarmInventory(Block):
    """Which Docker hosts form the swarm, which front end serves it, and how a drill takes a worker down."""

    _block_type_name = "powerops swarm inventory"
    _block_type_slug = "powerops-swarm-inventory"
    _description = ("A Docker swarm: managers and workers (Docker host block names), overlay network, "
                    "load balancer, and the node-down method of the resilience drill.")

    managers: list[str] = Field(description="Docker host block names of the managers; the first one "
                                "initialises the swarm.", min_length=1)
    workers: list[str] = Field(default_factory=list, description="Docker host block names of the workers.")
    network: str = Field(default="powerops", description="Attachable overlay network of the services.")
    dispatcher_heartbeat_s: float | None = Field(
        default=None, description="Swarm dispatcher heartbeat in seconds (Docker's default is 5; 1 detects a "
        "lost node in ~3 s). None leaves the swarm's setting alone.")
    load_balancer: str | None = Field(default=None, description="haproxy host block name (seed layout: "
                                      "haproxy on its own host in front of every node's published port).")
    lb_docker_host: str | None = Field(default=None, description="Docker host block name where the haproxy "
                                       "container of the DNS layout runs, attached to the overlay (default: "
                                       "the first manager).")
    lb_port: int = Field(default=80, ge=1, le=65535, description="Port haproxy serves the service on.")
    lb_stats_port: int = Field(default=8404, ge=1, le=65535, description="Port of haproxy's stats page.")
    lb_stats_uri: str = Field(default="/stats", description="URI of haproxy's stats page (CSV: <uri>;csv).")
    node_down_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "stop", "docker.socket", "docker"],
        description="argv that takes a node down for the drill. {node} = the node's name, {address} = its "
        "address. Run on node_control_host if set, else on the node itself over SSH.")
    node_up_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "start", "docker"],
        description="argv that brings the node back (same placeholders and host as node_down_command).")
    node_control_host: str | None = Field(
        default=None, description="SSH target block name of the host that runs the node-down/up commands "
        "(e.g. a hypervisor or switch host that can cut a node's link); None: on the node itself.")
