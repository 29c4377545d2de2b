"""The simulated hypervisor: applies the model's timed rules and makes the network follow them.

Every 100 ms it reconciles the model (boots, failovers) and sets each lab node's link (the host side of its
veth on the lab bridge): a VIOS that is not Running is unreachable; a client LPAR is unreachable while it is
down, while its vNIC has no operational active backing device, and during a failover.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from lab.hmc_sim import model as M


def host_if(node: str) -> str:
    return f"pv{node}"[:15]


def set_link(node: str, up: bool) -> None:
    subprocess.run(["ip", "link", "set", host_if(node), "up" if up else "down"], check=False,
                   capture_output=True)


def desired_links(st: M.State) -> dict[str, bool]:
    out = {}
    for sname, sysd in st["systems"].items():
        for pname, p in sysd["partitions"].items():
            node = p.get("node")
            if node:
                out[node] = M.lpar_reachable(st, sname, pname)
    return out


def run(state_dir: Path, period: float = 0.1) -> None:
    store = M.Store(state_dir)
    applied: dict[str, bool] = {}
    last_full = 0.0
    while True:
        with store.locked() as st:
            M.reconcile(st)
            want = desired_links(st)
        now = time.monotonic()
        full = now - last_full > 5  # re-assert every 5 s (a link changed by hand, a node re-created)
        for node, up in want.items():
            if full or applied.get(node) != up:
                set_link(node, up)
                applied[node] = up
        if full:
            last_full = now
        time.sleep(period)
