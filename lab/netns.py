"""The lab network: one bridge on the machine, one network namespace per lab host (veth into the bridge).

Every lab host is a network namespace named ``pwl-<node>`` with its own IP on the lab subnet, its own
``/etc/netns/pwl-<node>/`` (bind-mounted over /etc by ``ip netns exec``: hosts, resolv.conf, docker/, ssh/).
Nothing here touches the machine's own network configuration except the bridge and one iptables FORWARD rule
for it, both removed by ``down``.

Address plan of the lab subnet (10.250.77.0/24, override with POWEROPS_LAB_SUBNET_PREFIX):
  .1 the machine (bridge) | .11-.19 Docker hosts | .20-.29 load balancers | .30-.49 HMC/VIOS simulators |
  .50-.69 client LPARs | .70-.89 network-boot lab | .90-.99 OpenStack/PowerVC | .100-.109 mirror hosts
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

# A second, independent lab (e.g. for a benchmark) sets POWEROPS_LAB_TAG, a subnet prefix and its own dirs.
LAB_TAG = os.environ.get("POWEROPS_LAB_TAG", "")
PREFIX = os.environ.get("POWEROPS_LAB_SUBNET_PREFIX", "10.250.77")
BRIDGE = os.environ.get("POWEROPS_LAB_BRIDGE", f"pwlab{LAB_TAG or 0}")
GATEWAY = f"{PREFIX}.1"
NETMASK_BITS = 24
NS_PREFIX = f"pwl{LAB_TAG}-"
DOMAIN = "powerops.test"


def sh(argv: Sequence[str], check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(argv), check=check, capture_output=True, input=input)


def ns_name(node: str) -> str:
    return f"{NS_PREFIX}{node}"


def veth_name(node: str) -> str:
    return f"pv{LAB_TAG}{node}"[:15]


def ns_exists(node: str) -> bool:
    return Path(f"/run/netns/{ns_name(node)}").exists()


def list_namespaces() -> list[str]:
    out = sh(["ip", "netns", "list"], check=False).stdout.decode()
    return [line.split()[0] for line in out.splitlines() if line.startswith(NS_PREFIX)]


def ensure_bridge() -> None:
    if sh(["ip", "link", "show", BRIDGE], check=False).returncode != 0:
        sh(["ip", "link", "add", BRIDGE, "type", "bridge"])
        sh(["ip", "addr", "add", f"{GATEWAY}/{NETMASK_BITS}", "dev", BRIDGE])
    sh(["ip", "link", "set", BRIDGE, "up"])
    # A dockerd on the machine sets FORWARD to DROP: allow traffic between lab hosts on the bridge.
    rule = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"]
    if sh(["iptables", "-C", *rule], check=False).returncode != 0:
        sh(["iptables", "-I", *rule[:1], "1", *rule[1:]])
    # and nothing from the lab is ever forwarded anywhere else
    drop = ["FORWARD", "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP"]
    if sh(["iptables", "-C", *drop], check=False).returncode != 0:
        sh(["iptables", "-I", *drop[:1], "1", *drop[1:]])


def remove_bridge() -> None:
    for rule in (["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"],
                 ["FORWARD", "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP"]):
        while sh(["iptables", "-C", *rule], check=False).returncode == 0:
            sh(["iptables", "-D", *rule], check=False)
    sh(["ip", "link", "del", BRIDGE], check=False)


def etc_dir(node: str) -> Path:
    """The namespace's private /etc overlay directory (files here replace /etc/<name> inside the namespace)."""
    return Path("/etc/netns") / ns_name(node)


def ensure_node(node: str, ip: str, hosts: dict[str, str]) -> None:
    """Create namespace ``pwl-<node>`` with ``ip`` on the lab bridge (idempotent)."""
    ensure_bridge()
    ns = ns_name(node)
    if not ns_exists(node):
        sh(["ip", "netns", "add", ns])
    host_if = veth_name(node)
    if sh(["ip", "link", "show", host_if], check=False).returncode != 0:
        sh(["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns])
        sh(["ip", "link", "set", host_if, "master", BRIDGE, "up"])
        sh(["ip", "-n", ns, "addr", "add", f"{ip}/{NETMASK_BITS}", "dev", "eth0"])
        sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    # No default route: lab hosts reach the lab subnet only, never the outside (lookups fail at once).
    sh(["ip", "-n", ns, "route", "del", "default"], check=False)
    etc = etc_dir(node)
    etc.mkdir(parents=True, exist_ok=True)
    write_hosts(node, hosts)
    # A resolver that answers at once (no route out): swarm and docker never wait on DNS timeouts.
    (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    (etc / "hostname").write_text(f"{node}\n")


def write_hosts(node: str, hosts: dict[str, str]) -> None:
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    for name, addr in sorted(hosts.items()):
        lines.append(f"{addr} {name}.{DOMAIN} {name}")
    (etc_dir(node) / "hosts").write_text("\n".join(lines) + "\n")


def remove_node(node: str) -> None:
    ns = ns_name(node)
    if ns_exists(node):
        # kill whatever still runs in the namespace (our daemons were stopped by PID before this)
        pids = sh(["ip", "netns", "pids", ns], check=False).stdout.decode().split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)
        sh(["ip", "netns", "del", ns], check=False)
    sh(["ip", "link", "del", veth_name(node)], check=False)
    shutil.rmtree(etc_dir(node), ignore_errors=True)


def exec_argv(node: str, argv: Sequence[str]) -> list[str]:
    """argv that runs ``argv`` inside the node's namespace."""
    return ["ip", "netns", "exec", ns_name(node), *argv]
