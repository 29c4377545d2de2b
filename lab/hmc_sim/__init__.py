"""Lab component: simulated HMC, VIOS and client LPAR (they cannot run on x86), faithfully enough for the
flows to run unchanged against them.

What ``up`` starts (addresses from the HMC/VIOS range .30-.49 and the client range .50-.69):
  * ``pwl-hmc1``  10.250.77.30  SSH server answering as an HMC (user hscroot)
  * ``pwl-vios1`` 10.250.77.31, ``pwl-vios2`` 10.250.77.32  SSH servers answering as VIOS (user padmin)
  * ``pwl-lpar1`` 10.250.77.50  the client LPAR of the vNIC: a real IP endpoint (pinged from the machine),
    with an SSH server answering AIX ``errpt`` (user root)
  * the hypervisor daemon (machine's root namespace): timed rules and link state of those nodes.
All of them share one model: ``<state>/hmc/model.json`` (see lab/hmc_sim/model.py for the state rules).
Each SSH server is ``ip netns exec pwl-<node> .venv/bin/python -m lab.hmc_sim serve ...`` with a host key the
lab generates (lab/sshd.ensure_host_key) and the lab client key authorized.

Contract for other components (the NovaLink network install reuses this HMC):
  * ``add_partition(lab, system, name, lpar_id, mac, ...)`` adds (or updates) a partition in the model;
    it works before or after ``up``.
  * ``lpar_netboot -t ent -m <MAC> -s auto -d auto -S <server> -G <gateway> -C <client> [-K <mask>]
    <partition> <profile> <managed-system>`` prints the real progress lines and ends with the partition
    Running. The partition must exist (HSCL8012 otherwise); if it has a MAC in the model, ``-m`` must match
    (``lpar_netboot: can not find mac address ...`` otherwise). If ``<state>/hmc/netboot/<partition>.json``
    exists with ``{"argv": [...], "pidfile": "...", "log": "..."(optional)}``, the simulator kills the process
    named by the pidfile, spawns ``argv`` (no shell, detached in its own session, stdout/stderr to the log,
    by default ``<state>/hmc/netboot/<partition>.log``), writes its PID to the pidfile and returns. The
    process starts inside the HMC's namespace (``pwl-hmc1``): use ``ip netns exec <ns> ...`` in argv to run it
    elsewhere. ``chsysstate -r lpar -o shutdown [--immed] -n <partition>`` kills the process in the pidfile.
    ``-f``, ``-D``, ``-A``, ``-x``, ``-v``, ``-i`` are accepted as flags; ``lpar_netboot -M -n -t ent <p> <prof>
    <sys>`` lists the partition's virtual adapter with its MAC (and leaves it in Open Firmware, no boot).
  * ``netboot_dir(lab)`` gives that directory; ``hmc_block_name()`` the name of the registered HMC block.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab import netns
from lab.context import LabContext
from lab.hmc_sim import model as M
from lab.sshd import pid_alive

REPO = Path(__file__).resolve().parents[2]
HMC_NODE = "hmc1"
NODES: dict[str, tuple[str, str]] = {  # node -> (role, ip)
    "hmc1": ("hmc", f"{netns.PREFIX}.30"),
    "vios1": ("vios", f"{netns.PREFIX}.31"),
    "vios2": ("vios", f"{netns.PREFIX}.32"),
    "lpar1": ("lpar", f"{netns.PREFIX}.50"),
}
SYSTEM = "p9-lab-sys1"
TARGET_SYSTEM = "p9-lab-sys2"
BLOCKS = {"hmc1": "lab-hmc1", "vios1": "lab-vios1", "vios2": "lab-vios2", "lpar1": "lab-lpar1"}


def state_dir(lab: LabContext) -> Path:
    return lab.state_dir / "hmc"


def netboot_dir(lab: LabContext) -> Path:
    d = state_dir(lab) / "netboot"
    d.mkdir(parents=True, exist_ok=True)
    return d


def hmc_block_name() -> str:
    return BLOCKS[HMC_NODE]


def store(lab: LabContext) -> M.Store:
    return M.Store(state_dir(lab))


def ensure_model(lab: LabContext) -> None:
    s = store(lab)
    if not s.exists():
        s.init(M.seed())


def reset_model(lab: LabContext, **overrides: Any) -> None:
    """Put the model back to the seed (tests), keeping partitions added by other components."""
    s = store(lab)
    fresh = M.seed()
    fresh.update(overrides)
    with s.locked(create=fresh) as st:
        added = {sn: {pn: p for pn, p in sd["partitions"].items() if p.get("added")}
                 for sn, sd in st.get("systems", {}).items()}
        st.clear()
        st.update(fresh)
        for sn, parts in added.items():
            if sn in st["systems"]:
                st["systems"][sn]["partitions"].update(parts)


def add_partition(lab: LabContext, system: str, name: str, lpar_id: int, mac: str = "", *,
                  env: str = "aixlinux", state: str = "Not Activated", profile: str = "default",
                  os_version: str = "", node: str | None = None) -> None:
    """Add or update a partition of ``system`` in the simulator's model (before or after ``up``).

    ``mac`` (12 hex digits or colon form) is what ``lpar_netboot -m`` must match. ``node``: a lab node
    (namespace ``pwl-<node>``) whose link the simulated hypervisor then drives (up only while the partition is
    Running); leave it empty to keep the simulator away from your namespace. Partitions added here survive
    ``reset_model``.
    """
    from core.hmc.commands import validate_mac, validate_name

    validate_name(system, "managed system")
    validate_name(name, "partition")
    ensure_model(lab)
    with store(lab).locked() as st:
        sysd = st["systems"].get(system)
        if sysd is None:
            raise ValueError(f"no simulated managed system {system}; known: {sorted(st['systems'])}")
        for other, p in sysd["partitions"].items():
            if p["id"] == lpar_id and other != name:
                raise ValueError(f"partition id {lpar_id} is already used by {other}")
        entry = sysd["partitions"].setdefault(name, {})
        entry.update({"id": lpar_id, "env": env, "state": state, "profile": profile, "os_version": os_version,
                      "added": True})
        if mac:
            entry["mac"] = validate_mac(mac)
        if node:
            entry["node"] = node


def remove_partition(lab: LabContext, system: str, name: str) -> None:
    with store(lab).locked() as st:
        st["systems"].get(system, {}).get("partitions", {}).pop(name, None)


def inject_fault(lab: LabContext, match: str, message: str, count: int = 1, rc: int = 1) -> None:
    """Make the next ``count`` HMC commands containing ``match`` fail with ``message`` (lab tests)."""
    with store(lab).locked() as st:
        st["faults"].append({"match": match, "message": message, "remaining": count, "rc": rc})


def clear_faults(lab: LabContext) -> None:
    with store(lab).locked() as st:
        st["faults"] = []


def _pidfile(lab: LabContext, node: str) -> Path:
    return lab.node_dir(node) / "hmcsim.pid"


def _hyper_pidfile(lab: LabContext) -> Path:
    return state_dir(lab) / "hypervisor.pid"


def _spawn(argv: list[str], pidfile: Path, logfile: Path) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    with open(logfile, "ab") as log:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def _wait_port(node: str, ip: str, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((ip, 22), timeout=0.5) as s:
            if s.recv(4).startswith(b"SSH"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"simulated {node} did not listen on {ip}:22 within {timeout:.0f}s")


def up(lab: LabContext) -> None:
    from lab.sshd import ensure_client_key, ensure_host_key

    ensure_client_key(lab)
    ensure_model(lab)
    netboot_dir(lab)
    hosts = {n: ip for n, (_, ip) in NODES.items()}
    py = sys.executable
    for node, (role, ip) in NODES.items():
        netns.ensure_node(node, ip, hosts)
        key = ensure_host_key(lab, node)
        pf = _pidfile(lab, node)
        if pid_alive(pf):
            continue
        argv = netns.exec_argv(node, [py, "-m", "lab.hmc_sim", "serve", "--role", role, "--node", node,
                                      "--ip", ip, "--state", str(state_dir(lab)), "--host-key", str(key),
                                      "--authorized", str(lab.state_dir / "ssh" / "authorized_keys")])
        _spawn(argv, pf, lab.node_dir(node) / "hmcsim.log")
    hp = _hyper_pidfile(lab)
    if not pid_alive(hp):
        _spawn([py, "-m", "lab.hmc_sim", "hypervisor", "--state", str(state_dir(lab))], hp,
               state_dir(lab) / "hypervisor.log")
    _wait_port(HMC_NODE, NODES[HMC_NODE][1])
    for node, (_, ip) in NODES.items():
        # the others answer once the hypervisor raised their links (only if the model says they run)
        with contextlib.suppress(RuntimeError):
            _wait_port(node, ip, 3.0)


def _kill(pidfile: Path) -> None:
    pid = pid_alive(pidfile)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(30):
            if pid_alive(pidfile) is None:
                break
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


def down(lab: LabContext) -> None:
    _kill(_hyper_pidfile(lab))
    for node in NODES:
        _kill(_pidfile(lab, node))
        netns.remove_node(node)
        shutil.rmtree(lab.state_dir / "nodes" / node, ignore_errors=True)
    nb = state_dir(lab) / "netboot"
    if nb.exists():
        # stop boot backends we started (their pidfiles are named in the specs)
        import json

        for spec in nb.glob("*.json"):
            with contextlib.suppress(Exception):
                pf = Path(json.loads(spec.read_text())["pidfile"])
                if pf.exists():
                    pid = int(pf.read_text().strip())
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGTERM)
    shutil.rmtree(state_dir(lab), ignore_errors=True)


def status(lab: LabContext) -> list[str]:
    lines = []
    for node, (role, ip) in NODES.items():
        pid = pid_alive(_pidfile(lab, node))
        lines.append(f"hmc_sim {role} {node} {ip}: " + (f"running (pid {pid})" if pid else "stopped"))
    pid = pid_alive(_hyper_pidfile(lab))
    lines.append("hmc_sim hypervisor: " + (f"running (pid {pid})" if pid else "stopped"))
    if store(lab).exists():
        st = store(lab).read()
        for sname, sysd in st["systems"].items():
            parts = ", ".join(f"{n}={p['state']}" for n, p in sysd["partitions"].items())
            lines.append(f"hmc_sim model {sname}: {parts}; {len(sysd['vnics'])} vNIC(s)")
    return lines


def register_blocks(lab: LabContext) -> list[str]:
    """Save the blocks the flows use against the lab (needs a Prefect API)."""
    from blocks.hmc import HmcConsole, ViosHost
    from lab.sshd import host_public_key

    key = lab.client_key_path.read_text()
    names = []
    hmc_ip = NODES[HMC_NODE][1]
    HmcConsole(host=hmc_ip, username="hscroot", private_key=key, host_key=host_public_key(lab, HMC_NODE),
               max_sessions=4).save(BLOCKS[HMC_NODE], overwrite=True)
    names.append(BLOCKS[HMC_NODE])
    for node in ("vios1", "vios2"):
        ViosHost(host=NODES[node][1], username="padmin", private_key=key, host_key=host_public_key(lab, node),
                 partition_name=node, managed_system=SYSTEM).save(BLOCKS[node], overwrite=True)
        names.append(BLOCKS[node])
    lab.ssh_target("lpar1", NODES["lpar1"][1], username="root").save(BLOCKS["lpar1"], overwrite=True)
    names.append(BLOCKS["lpar1"])
    return names
