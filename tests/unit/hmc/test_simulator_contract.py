"""Contract: what the simulator prints parses (with the flows' parsers) to the simulator's own model; and the
simulator's state rules. No sockets: commands are fed to the simulated CLI as the SSH edge would."""

from __future__ import annotations

import shlex
import time

import pytest

from core.hmc import commands as C
from core.hmc import parsers as P
from lab.hmc_sim import model as M
from lab.hmc_sim.hmc_cli import Hmc
from lab.hmc_sim.vios_cli import Vios

SYS = "p9-lab-sys1"


@pytest.fixture()
def sim(tmp_path):
    store = M.Store(tmp_path)
    store.init(M.seed(failover_seconds=2.0))
    return store, Hmc(store, tmp_path)


def run(hmc, argv, ok=True):
    res = hmc.run(shlex.split(shlex.join(argv)))
    if ok:
        assert res.rc == 0, res.err
    return res


def add_vnic(hmc, auto=True):
    run(hmc, C.vnic_add(SYS, "lpar1", None, 3455, auto, [C.BackingSpec("vios1", 1, 0, "2.0", 10),
                                                         C.BackingSpec("vios2", 2, 0, "2.0", 20)]))


def vnics(hmc):
    argv = C.lshwres_vnic(SYS, "lpar1")
    return P.parse_lshwres_vnic(run(hmc, argv).out, P.VNIC_FIELDS, C.DELIM)


def test_listings_parse_to_the_model(sim):
    store, hmc = sim
    add_vnic(hmc)
    st = store.read()
    sysd = st["systems"][SYS]
    assert P.parse_lshmc_v(run(hmc, C.lshmc_version()).out) == M.hmc_version(st)
    assert P.parse_lslic(run(hmc, C.lslic(SYS)).out, P.LSLIC_FIELDS, C.DELIM) == M.firmware(sysd)
    assert P.parse_lssyscfg_lpar(run(hmc, C.lssyscfg_lpar(SYS)).out, P.LPAR_FIELDS, C.DELIM) == M.partitions(sysd)
    assert P.parse_sriov_adapters(run(hmc, C.lshwres_sriov(SYS, "adapter")).out, P.ADAPTER_FIELDS,
                                  C.DELIM) == M.adapters(sysd)
    assert P.parse_sriov_physports(run(hmc, C.lshwres_sriov(SYS, "physport")).out, P.PHYSPORT_FIELDS,
                                   C.DELIM) == M.physports(sysd)
    assert P.parse_sriov_logports(run(hmc, C.lshwres_sriov(SYS, "logport")).out, P.LOGPORT_FIELDS,
                                  C.DELIM) == M.logports(sysd)
    assert vnics(hmc) == M.vnics(sysd)
    # default format too (no -F)
    default = run(hmc, ["lshwres", "-r", "virtualio", "--rsubtype", "vnic", "-m", SYS]).out
    assert P.parse_lshwres_vnic(default) == M.vnics(sysd)
    assert P.parse_lssvcevents(run(hmc, ["lssvcevents", "-t", "hardware"]).out)[0].refcode == "B3030001"


def test_vios_outputs_parse_to_the_model(sim):
    store, hmc = sim
    add_vnic(hmc)
    vios = Vios(store, "vios1", "vios")
    st = store.read()
    assert P.parse_lsdev_fmt(vios.run(C.lsdev_adapters()).out) == M.vios_devices(st, SYS, "vios1")
    maps = M.vios_mappings(st, SYS, "vios1")
    assert P.parse_lsmap_vnic_fmt(vios.run(C.lsmap_vnic()).out) == maps
    default = vios.run(["ioscli", "lsmap", "-all", "-vnic"]).out
    assert P.parse_lsmap_vnic(default) == maps
    stat = vios.run(["oem_setup_env"], C.root_script(C.vnicstat("vnicserver0")))
    assert P.parse_vnicstat(stat.out) == M.vnicstat(st, SYS, "vios1", "vnicserver0")
    errpt = vios.run(["oem_setup_env"], C.root_script(C.errpt_summary())).out
    assert P.parse_errpt(errpt) == M.errpt_entries(st, "vios1")
    detail = vios.run(["oem_setup_env"], C.root_script(C.errpt_detail("60D73419"))).out
    assert P.parse_errpt_detail(detail) == M.errpt_details(st, "vios1", "60D73419")
    assert P.parse_ioslevel(vios.run(C.ioslevel()).out).level == "2.2.5.10"
    empty = Vios(store, "vios2", "vios")
    run(hmc, ["chhwres", "-r", "virtualio", "--rsubtype", "vnic", "-m", SYS, "-o", "r", "-p", "lpar1", "-s", "6"])
    assert empty.run(C.lsmap_vnic()).rc == 10  # nothing mapped


def test_errors_follow_the_real_hmc(sim):
    _, hmc = sim
    r = run(hmc, C.lssyscfg_lpar(SYS, ["ghost"]), ok=False)
    assert r.rc == 1 and r.err.startswith("HSCL8012 The partition named ghost was not found")
    r = run(hmc, ["lssyscfg", "-r", "lpar", "-m", SYS, "-F", "name:colour"], ok=False)
    assert r.rc == 1 and "The invalid attribute is colour." in r.err
    assert run(hmc, C.lshwres_vnic(SYS, "lpar1")).out == "No results were found.\n"


def test_vnic_rules(sim):
    _, hmc = sim
    add_vnic(hmc)
    r = run(hmc, C.vnic_add_backing(SYS, "lpar1", 6, [C.BackingSpec("vios2", 1, 0, "2.0", 30)]), ok=False)
    assert "cannot share the SR-IOV physical port 1/0" in r.err
    r = run(hmc, ["chhwres", "-r", "virtualio", "--rsubtype", "vnicbkdev", "-m", SYS, "-o", "s", "-p", "lpar1",
                  "-s", "6", "--logport", "27010001", "-a", "failover_priority=0"], ok=False)
    assert "Valid values are 1 - 100" in r.err
    for port in range(1, 4):
        run(hmc, C.vnic_add_backing(SYS, "lpar1", 6, [C.BackingSpec("vios1", 1, port, "2.0", 30 + port)]))
    run(hmc, C.vnic_add_backing(SYS, "lpar1", 6, [C.BackingSpec("vios2", 2, 1, "2.0", 50)]))
    r = run(hmc, C.vnic_add_backing(SYS, "lpar1", 6, [C.BackingSpec("vios2", 2, 2, "2.0", 60)]), ok=False)
    assert "at most 6 backing devices" in r.err
    r = run(hmc, C.vnic_remove_backing(SYS, "lpar1", 6, [C.BackingSpec("vios1", 1, 0, "2.0", 10)]), ok=False)
    assert "is active and cannot be removed" in r.err


def test_manual_activation_turns_auto_failover_off(sim):
    store, hmc = sim
    add_vnic(hmc)
    run(hmc, C.bkdev_activate(SYS, "lpar1", 6, "27020001"))
    v = vnics(hmc)[0]
    assert v.auto_priority_failover is False
    with store.locked() as st:
        M.reconcile(st, time.time() + 1)
    assert vnics(hmc)[0].active_device.logical_port_id == "27020001"


def test_vios_down_fails_over_after_the_failover_time_only_with_auto_on(sim):
    store, hmc = sim
    add_vnic(hmc)
    t = time.time()
    with store.locked() as st:
        st["systems"][SYS]["partitions"]["vios1"]["state"] = "Not Activated"
        M.reconcile(st, t)
        assert not M.lpar_reachable(st, SYS, "lpar1")
        M.reconcile(st, t + 1.0)
        assert M.active(st["systems"][SYS]["vnics"][0])["vios"] == "vios1"  # still failing over
        M.reconcile(st, t + 2.1)
        assert M.active(st["systems"][SYS]["vnics"][0])["vios"] == "vios2"
        assert M.lpar_reachable(st, SYS, "lpar1")
        # back up: auto priority failover returns to the preferred device (graceful, failback_seconds)
        st["systems"][SYS]["partitions"]["vios1"]["state"] = "Running"
        M.reconcile(st, t + 3)
        M.reconcile(st, t + 3.6)
        assert M.active(st["systems"][SYS]["vnics"][0])["vios"] == "vios1"
        ids = [e["id"] for e in st["errpt"]["lpar1"]]
        assert ids.count("F655DA07") == 2 and ids.count("4FB9389C") == 2
        st["systems"][SYS]["vnics"][0]["auto"] = False
        st["systems"][SYS]["partitions"]["vios1"]["state"] = "Not Activated"
        M.reconcile(st, t + 10)
        M.reconcile(st, t + 20)
        assert M.active(st["systems"][SYS]["vnics"][0])["vios"] == "vios1"  # nothing moves by itself
        assert not M.lpar_reachable(st, SYS, "lpar1")


def test_chsysstate_and_lpar_netboot(sim, tmp_path):
    store, hmc = sim
    import json
    import os

    with store.locked() as st:
        st["systems"][SYS]["partitions"]["nl1"] = {"id": 9, "env": "aixlinux", "state": "Not Activated",
                                                    "mac": "525400aabbcc", "profile": "default"}
    pidfile = tmp_path / "nl1.pid"
    (tmp_path / "netboot").mkdir()
    (tmp_path / "netboot" / "nl1.json").write_text(json.dumps({"argv": ["sleep", "30"], "pidfile": str(pidfile)}))
    r = run(hmc, C.lpar_netboot(SYS, "nl1", "default", "52:54:00:aa:bb:cc", "10.0.0.1", "10.0.0.254", "10.0.0.5"))
    res = P.parse_lpar_netboot(r.out)
    assert res.ok and res.client_ip == "10.0.0.5" and res.partition == "nl1"
    assert store.read()["systems"][SYS]["partitions"]["nl1"]["state"] == "Running"
    pid = int(pidfile.read_text())
    os.kill(pid, 0)
    forced = ["lpar_netboot", "-f", "-t", "ent", "-D", "-m", "525400aabbcc", "-s", "auto", "-d", "auto", "-S",
              "10.0.0.1", "-G", "10.0.0.254", "-C", "10.0.0.5", "-K", "255.255.255.0", "nl1", "default", SYS]
    assert P.parse_lpar_netboot(run(hmc, forced).out).ok
    assert int(pidfile.read_text()) != pid  # the previous backend was replaced
    pid = int(pidfile.read_text())
    bad = run(hmc, C.lpar_netboot(SYS, "nl1", "default", "52:54:00:aa:bb:cd", "10.0.0.1", "10.0.0.254", "10.0.0.5"),
              ok=False)
    assert P.parse_lpar_netboot(bad.out + bad.err).message.startswith("can not find mac address")
    r = run(hmc, C.lpar_netboot(SYS, "ghost", "default", "52:54:00:aa:bb:cc", "10.0.0.1", "10.0.0.254",
                                "10.0.0.5"), ok=False)
    assert "HSCL8012" in r.err
    run(hmc, C.partition_shutdown(SYS, "nl1"))
    assert store.read()["systems"][SYS]["partitions"]["nl1"]["state"] == "Not Activated"
    for _ in range(50):
        try:
            os.kill(pid, 0)
            os.waitpid(pid, os.WNOHANG)
        except (ProcessLookupError, ChildProcessError):
            break
        time.sleep(0.05)
    else:
        pytest.fail("netboot backend still running after chsysstate -o shutdown")
