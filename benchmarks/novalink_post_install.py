"""NovaLink post-install benchmark: prints times, asserts nothing.

On the lab's installed-NovaLink stand-in (chrooted Debian behind sshd) and the signed stand-in mirror:
  * baseline: the hand procedure as plain ``ssh`` commands (key, sources, apt-get update, apt-get install,
    crontab -l) on a fresh userland;
  * the novalink-post-install flow on a fresh userland, then its re-run (converged: nothing installed);
measured side by side so the ratio survives a loaded machine.

    .venv/bin/python benchmarks/novalink_post_install.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def baseline(lab, mirror: str) -> float:  # type: ignore[no-untyped-def]
    """The hand procedure as one ssh command line, the way an admin types it (a remote shell script on
    purpose: that is the baseline). The host key is checked against the lab's own key, as the flow does."""
    from lab.netboot import novalink_host as h
    from lab.sshd import host_public_key

    key = subprocess.run(["gpg", "--dearmor"], input=(h.mirror_root(lab) / "nova/debian" / h.PVM_KEY).read_bytes(),
                         capture_output=True, check=True).stdout
    pvm = shlex.quote(f"deb {mirror}/nova/debian {h.PVM_SUITE} non-free")
    rsct = shlex.quote(f"deb {mirror}/rsct/ubuntu {h.RSCT_SUITE} main")
    script = (f"cat > /etc/apt/trusted.gpg.d/powerops-pvm.gpg && "
              f"echo {pvm} > /etc/apt/sources.list.d/pvm.list && "
              f"echo {rsct} > /etc/apt/sources.list.d/rsct.list && "
              "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
              "pvm-novalink rsct.core rsct.basic >/dev/null && crontab -l | grep -c pvm-backup")
    with tempfile.NamedTemporaryFile("w", prefix="powerops-bench-known-hosts-") as known:
        known.write(f"{h.HOST_IP} {host_public_key(lab, h.HOST_NODE)}\n")
        known.flush()
        t = time.monotonic()
        subprocess.run(["ssh", "-i", str(lab.client_key_path), "-o", "StrictHostKeyChecking=yes", "-o",
                        f"UserKnownHostsFile={known.name}", "-o", "LogLevel=ERROR", f"root@{h.HOST_IP}", script],
                       input=key, check=True, capture_output=True)
        return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()

    import lab.netboot as nb
    from lab import hmc_sim
    from lab import prefect_server as ps
    from lab.context import LabContext
    from lab.netboot import novalink_host as h

    lab = LabContext()
    t = time.monotonic()
    hmc_sim.up(lab)
    nb.up(lab)
    print(f"lab up (netboot, mirror, installed-host stand-in): {time.monotonic() - t:.1f} s")
    t = time.monotonic()
    h.reset_host_root(lab)
    print(f"fresh userland (extract the cached rootfs): {time.monotonic() - t:.1f} s")
    home = tempfile.mkdtemp(prefix="powerops-bench-prefect-")
    info = ps.start(home, port=_free_port())
    os.environ["PREFECT_API_URL"] = info.api_url
    try:
        nb.register_blocks(lab)
        from core.novalink.model import NovaLinkPartition
        from flows.novalink_post_install import (
            NovaLinkPostInstallParams,
            PostInstallParams,
            novalink_post_install,
        )

        mirror = h.mirror_url(nb.INST_IP)
        part = NovaLinkPartition(partition_name=nb.LPAR_NAME, mac=nb.LPAR_MAC, ip=h.HOST_IP, gateway="10.250.77.1",
                                 netmask="255.255.255.0", dns=[nb.INST_IP], domain="powerops.test", ntp=[nb.INST_IP])
        params = NovaLinkPostInstallParams(partitions=[part], post_install=PostInstallParams(
            novalink_ssh={nb.LPAR_NAME: h.BLOCK_HOST_SSH}, mirror_url=mirror, rsct_key=h.RSCT_KEY))
        print(f"\n{'run':<5}{'baseline ssh s':>16}{'flow fresh s':>14}{'ratio':>8}{'flow re-run s':>15}  loadavg")
        for run in range(1, args.runs + 1):
            h.reset_host_root(lab)
            base = baseline(lab, mirror)
            h.reset_host_root(lab)
            t = time.monotonic()
            first = novalink_post_install(params)[nb.LPAR_NAME]
            fresh = time.monotonic() - t
            t = time.monotonic()
            again = novalink_post_install(params)[nb.LPAR_NAME]
            rerun = time.monotonic() - t
            if not first["installed"] or again["installed"]:
                print(f"  (unexpected: first run installed {first['installed']}, re-run {again['installed']})")
            print(f"{run:<5}{base:>16.1f}{fresh:>14.1f}{fresh / base:>8.2f}{rerun:>15.1f}  "
                  f"{os.getloadavg()[0]:.2f}")
    finally:
        ps.stop(home)


if __name__ == "__main__":
    main()
