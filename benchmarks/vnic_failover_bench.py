"""vNIC benchmark against the simulated HMC/VIOS: prints figures, asserts nothing.

Figures: latency of HMC commands over SSH to the simulator (lshwres vnic, chhwres priority change), and the
pings lost by a VIOS-shutdown failover for several hypervisor failover times (0.1 s ping interval, real ICMP
to the client LPAR's namespace). Uses the main lab (runs ``lab.hmc_sim.up``) and resets the simulator model
at the end; do not run it while the hmc lab tests run.

    .venv/bin/python benchmarks/vnic_failover_bench.py
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import time

import lab.hmc_sim as sim
from core.hmc import commands as C
from core.hmc import parsers as P
from core.hmc.drill import parse_ping
from lab.context import LabContext
from lab.sshd import host_public_key
from seams.ssh import SshParams, connect

SYS = sim.SYSTEM


def main() -> None:
    lab = LabContext()
    sim.up(lab)
    sim.reset_model(lab)
    key = lab.client_key_path.read_text()
    hmc = connect(SshParams(sim.NODES["hmc1"][1], 22, "hscroot", key, host_public_key(lab, "hmc1")))

    def vios(node: str):  # noqa: ANN202
        return connect(SshParams(sim.NODES[node][1], 22, "padmin", key, host_public_key(lab, node)))

    hmc.run(C.vnic_add(SYS, "lpar1", None, 3455, True, [C.BackingSpec("vios1", 1, 0, "2.0", 10),
                                                         C.BackingSpec("vios2", 2, 0, "2.0", 20)]))
    argv = C.lshwres_vnic(SYS, "lpar1")

    def read():  # noqa: ANN202
        return P.parse_lshwres_vnic(hmc.run(argv).stdout, P.VNIC_FIELDS, C.DELIM)[0]

    lat = []
    for _ in range(30):
        t = time.perf_counter()
        read()
        lat.append(time.perf_counter() - t)
    chg = []
    for i in range(10):
        t = time.perf_counter()
        hmc.run(C.bkdev_set_priority(SYS, "lpar1", 6, "27020001", 20 + i % 2))
        chg.append(time.perf_counter() - t)
    print(f"lshwres vnic over SSH: median {statistics.median(lat) * 1000:.1f} ms, "
          f"max {max(lat) * 1000:.1f} ms (n={len(lat)})")
    print(f"chhwres vnicbkdev -o s: median {statistics.median(chg) * 1000:.1f} ms (n={len(chg)})")

    print("failover_seconds  pings_sent  pings_lost  switch_seen_after_s  restore_s")
    for fs in (0.5, 1.0, 2.0, 4.0):
        with sim.store(lab).locked() as st:
            st["failover_seconds"] = fs
        ping = subprocess.Popen(["ping", "-D", "-O", "-n", "-i", "0.1", "-W", "1", sim.NODES["lpar1"][1]],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        t0 = time.monotonic()
        with contextlib.suppress(Exception):  # the session may drop as the VIOS goes down
            vios("vios1").run(C.vios_shutdown(), timeout=30)
        while read().active_device.vios_name != "vios2":  # type: ignore[union-attr]
            time.sleep(0.05)
        switched = time.monotonic() - t0
        time.sleep(1)
        t1 = time.monotonic()
        while "Not Activated" not in hmc.run(C.lssyscfg_lpar(SYS, ["vios1"])).stdout:
            time.sleep(0.2)
        hmc.run(C.partition_start(SYS, "vios1"))
        while read().active_device.vios_name != "vios1":  # type: ignore[union-attr]
            time.sleep(0.1)
        restore = time.monotonic() - t1
        time.sleep(1)
        ping.send_signal(2)
        out, _ = ping.communicate(timeout=10)
        rep = parse_ping(out, 0.1)
        print(f"{fs:16.1f}  {rep.transmitted:10d}  {rep.lost:10d}  {switched:19.2f}  {restore:9.2f}")
    sim.reset_model(lab)


if __name__ == "__main__":
    main()
