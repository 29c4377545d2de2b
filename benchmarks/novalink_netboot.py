"""NovaLink network install benchmark: prints the milestone times of a real lab install, asserts nothing.

Brings the netboot lab and the simulated HMC up (idempotent), starts a temporary Prefect server, runs
prepare-novalink-install (with its TFTP/HTTP verification), then ``lpar_netboot`` on the simulated HMC
(which starts the emulated POWER partition) and follows the install server's logs locally, sampling the
qemu process's CPU seconds (utime+stime from /proc) when each milestone is first seen.

    .venv/bin/python benchmarks/novalink_netboot.py [--runs N]

Uses the main lab's partition (one qemu at a time): do not run it while the novalink lab tests run.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

PASSWORD = "bench-NovaLink-Pw-77e1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qemu_cpu(pidfile: Path) -> float | None:
    try:
        pid = int(pidfile.read_text().strip())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def one_install(lab, server_block, hmc_block, part, media, deadline: float) -> list[tuple[str, float, float | None]]:
    import lab.netboot as nb
    from core.novalink.hmc import check_lpar_netboot, lpar_netboot_argv
    from core.novalink.milestones import LogLine, Milestone, Tracker
    from tasks.novalink import install_target

    d = nb.dirs(lab)
    logs = {"boot": d.logs / "dnsmasq.log", "http": d.logs / "access.log", "console": nb.console_log(lab)}
    offsets = {k: (p.stat().st_size if p.exists() else 0) for k, p in logs.items()}
    from core.novalink.render import paths_for

    paths = paths_for(part, media, server_block.layout())
    sizes = {p: Path(p).stat().st_size for p in (paths.kernel, paths.initrd)}  # the lab server is local
    tracker = Tracker(install_target(server_block, media, part, sizes))
    t0 = time.monotonic()
    res = hmc_block.connect().run(lpar_netboot_argv(part, server_block.server_ip), check=False, timeout=300)
    check_lpar_netboot(res.host, res.command, res.exited, res.stdout, res.stderr)
    rows: list[tuple[str, float, float | None]] = []
    seen: set[Milestone] = set()
    pidfile = nb.qemu_pidfile(lab)
    while time.monotonic() - t0 < deadline:
        now = time.monotonic() - t0
        for src, path in logs.items():
            if not path.exists():
                continue
            with open(path, "rb") as fh:
                if path.stat().st_size < offsets[src]:
                    offsets[src] = 0
                fh.seek(offsets[src])
                data = fh.read()
            cut = data.rfind(b"\n") + 1
            offsets[src] += cut
            for raw in data[:cut].split(b"\n"):
                tracker.feed(LogLine(src, raw.decode(errors="replace").replace("\r", ""), now))  # type: ignore[arg-type]
        cpu = qemu_cpu(pidfile)
        for m in tracker.reached.keys() - seen:
            seen.add(m)
            rows.append((m.value, tracker.reached[m], cpu))
        if tracker.fatal or tracker.has(Milestone.CONFIG_FETCHED):
            break
        time.sleep(1.0)
    if tracker.fatal or not tracker.has(Milestone.CONFIG_FETCHED):
        print(tracker.failure_message(Milestone.CONFIG_FETCHED, waited=time.monotonic() - t0))
    nb.stop_partition(lab)
    order = [m.value for m in Milestone]
    return sorted(rows, key=lambda r: order.index(r[0]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--deadline", type=float, default=900.0)
    args = ap.parse_args()

    from prefect.blocks.system import Secret

    import lab.netboot as nb
    from blocks.hmc import HmcConsole
    from blocks.novalink import NovaLinkInstallServer
    from core.novalink.model import InstallMedia, NovaLinkPartition
    from lab import hmc_sim
    from lab import prefect_server as ps
    from lab.context import LabContext

    lab = LabContext()
    t = time.monotonic()
    hmc_sim.up(lab)
    nb.up(lab)
    print(f"lab up (netboot + HMC simulator, GRUB/media cached): {time.monotonic() - t:.1f} s")
    home = tempfile.mkdtemp(prefix="powerops-bench-prefect-")
    info = ps.start(home, port=_free_port())
    os.environ["PREFECT_API_URL"] = info.api_url
    try:
        nb.register_blocks(lab)
        hmc_sim.register_blocks(lab)
        Secret(value=PASSWORD).save("bench-novalink-admin", overwrite=True)
        from flows.prepare_novalink_install import PrepareNovaLinkParams, prepare_novalink_install

        part = NovaLinkPartition(partition_name=nb.LPAR_NAME, managed_system=nb.managed_system(), mac=nb.LPAR_MAC,
                                 ip=nb.LPAR_IP, gateway="10.250.77.1", netmask="255.255.255.0", dns=[nb.INST_IP],
                                 domain="powerops.test", ntp=[nb.INST_IP])
        media = InstallMedia(name=nb.MEDIA_NAME, installer="debian-installer")
        params = PrepareNovaLinkParams(install_server=nb.BLOCK_SERVER, media_source=str(nb.dirs(lab).media_src),
                                       media=media, admin_password_secret="bench-novalink-admin", partitions=[part])
        for label in ("prepare-novalink-install", "prepare-novalink-install (re-run, converged)"):
            t = time.monotonic()
            out = prepare_novalink_install(params)
            print(f"{label}: {time.monotonic() - t:.1f} s wall, {len(out['changed'])} change(s), "
                  f"{len(out['verified'])} fetches verified")
        server = NovaLinkInstallServer.load(nb.BLOCK_SERVER)
        hmc = HmcConsole.load(nb.hmc_block_name())
        for run in range(1, args.runs + 1):
            rows = one_install(lab, server, hmc, part, media, args.deadline)
            print(f"\nrun {run}: milestones after lpar_netboot (loadavg {os.getloadavg()[0]:.2f})")
            print(f"  {'milestone':<28}{'wall s':>8}{'qemu CPU s':>12}")
            for name, wall, cpu in rows:
                print(f"  {name:<28}{wall:>8.0f}{'' if cpu is None else f'{cpu:.1f}':>12}")
    finally:
        ps.stop(home)


if __name__ == "__main__":
    main()
