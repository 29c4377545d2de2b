"""The classic BOOTP server of AIX NIM install servers, for real: Debian's ``bootp`` package (CMU bootpd 2.4.3)
reading the ``/etc/bootptab`` the prepare flow writes, proven by a real BOOTP exchange.

* ``nlboot`` (namespace ``pwl-nlboot``, 10.250.77.71): ``bootpd -s -d 4 <state>/netboot/bootpd/bootptab``.
  It runs in its own namespace because the install server's dnsmasq already owns UDP port 67 in ``pwl-nlinst``;
  TFTP and HTTP stay on the install server (10.250.77.70), which is what the entries' ``sa=`` names.
* The block ``lab-netboot-install-server-bootpd`` is the same install server (same SSH host, same TFTP/HTTP
  roots) with ``boot_service="bootpd"``: the flow writes the bootptab over SSH and signals bootpd.
* ``probe(mac)`` sends the BOOTREQUEST a firmware sends (the partition's MAC, no address, broadcast flag) from a
  throw-away namespace and returns the raw reply.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lab import netns
from lab.context import LabContext
from lab.sshd import pid_alive

BOOT_NODE = "nlboot"
BOOT_IP = f"{netns.PREFIX}.71"
PROBE_NODE = "nlprobe"
BLOCK = "lab-netboot-install-server-bootpd"
REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER = "# /etc/bootptab of the powerops lab install server (entries added by prepare-novalink-install)\n"


def d(lab: LabContext) -> Path:
    p = lab.state_dir / "netboot" / "bootpd"
    p.mkdir(parents=True, exist_ok=True)
    return p


def bootptab(lab: LabContext) -> Path:
    return d(lab) / "bootptab"


def pidfile(lab: LabContext) -> Path:
    return d(lab) / "bootpd.pid"


def log(lab: LabContext) -> Path:
    return d(lab) / "bootpd.log"


def up(lab: LabContext) -> None:
    # bootpd resolves its own host name to learn its address: the namespace's /etc/hosts maps it
    netns.ensure_node(BOOT_NODE, BOOT_IP, {BOOT_NODE: BOOT_IP, socket.gethostname(): BOOT_IP})
    # bootpd answers a request with the broadcast flag to the interface's broadcast address (SIOCGIFBRDADDR):
    # an address added without ``brd`` has none (0.0.0.0) and the reply never leaves the namespace
    ns, cidr = netns.ns_name(BOOT_NODE), f"{BOOT_IP}/{netns.NETMASK_BITS}"
    if b" brd " not in netns.sh(["ip", "-n", ns, "-4", "addr", "show", "dev", "eth0"]).stdout:
        netns.sh(["ip", "-n", ns, "addr", "del", cidr, "dev", "eth0"])
        netns.sh(["ip", "-n", ns, "addr", "add", cidr, "brd", "+", "dev", "eth0"])
    if not bootptab(lab).exists():
        bootptab(lab).write_text(HEADER)
    if pid_alive(pidfile(lab)):
        return
    with open(log(lab), "ab") as err:
        proc = subprocess.Popen(netns.exec_argv(BOOT_NODE, ["bootpd", "-s", "-d", "4", str(bootptab(lab))]),
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
    pidfile(lab).write_text(f"{proc.pid}\n")
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if "read " in log(lab).read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"bootpd did not start; see {log(lab)}")


def down(lab: LabContext) -> None:
    pid = pid_alive(pidfile(lab))
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    pidfile(lab).unlink(missing_ok=True)
    netns.remove_node(PROBE_NODE)
    netns.remove_node(BOOT_NODE)


def status(lab: LabContext) -> list[str]:
    pid = pid_alive(pidfile(lab))
    return [f"netboot bootpd (pwl-{BOOT_NODE}, {BOOT_IP}): " + (f"running (pid {pid})" if pid else "stopped")]


def install_server_block(lab: LabContext):  # type: ignore[no-untyped-def]
    import lab.netboot as nb

    return nb.install_server_block(lab).model_copy(update={
        "boot_service": "bootpd", "bootptab": str(bootptab(lab)),
        "reload_command": ["pkill", "-HUP", "-F", str(pidfile(lab))], "boot_log": str(log(lab))})


def register_blocks(lab: LabContext) -> list[str]:
    install_server_block(lab).save(BLOCK, overwrite=True)
    return [BLOCK]


def probe(mac: str, ip: str, timeout: float = 20.0) -> bytes:
    """One BOOTP exchange from a throw-away namespace playing the partition: its NIC has the partition's MAC
    and the address the entry gives it, because CMU bootpd answers by unicast to ``yiaddr`` (it sets the ARP
    entry from ``chaddr`` and ignores the broadcast flag). Returns the raw reply."""
    netns.ensure_node(PROBE_NODE, ip, {})
    ns = netns.ns_name(PROBE_NODE)
    netns.sh(["ip", "-n", ns, "link", "set", "eth0", "down"])
    netns.sh(["ip", "-n", ns, "link", "set", "eth0", "address", mac])
    netns.sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
    try:
        res = subprocess.run(
            netns.exec_argv(PROBE_NODE, [sys.executable, "-m", "lab.netboot.bootp_probe", mac, str(timeout)]),
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout + 30,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    finally:
        netns.remove_node(PROBE_NODE)
    if res.returncode != 0:
        raise RuntimeError(f"BOOTP probe failed: {res.stderr.strip() or res.stdout.strip()}")
    return bytes.fromhex(json.loads(res.stdout)["reply"])
