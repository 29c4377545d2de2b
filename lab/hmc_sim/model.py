"""The shared model of the simulated managed systems (one JSON file, guarded by a file lock).

Every simulated console, VIOS and client LPAR process, and the hypervisor daemon, load it under the lock,
change it and save it. Timed transitions (a VIOS booting, a vNIC failing over) are stored as deadlines and
applied by ``reconcile`` (run by the hypervisor daemon every 100 ms and before every command).

State rules (the real platform's, as the source material and IBM's documentation describe them):
* failover priorities 1-100, lower number = higher priority (as with SEA);
* at most 6 backing devices per vNIC, no two on the same physical port;
* a backing device is operational when its VIOS is Running, its adapter functional and its port linked;
* with auto priority failover on, the hypervisor makes the highest-priority operational device active
  (a switch takes ``failover_seconds``, a graceful fallback ``failback_seconds``; the client is cut off the
  network meanwhile); with it off nothing moves by itself;
* a manual activation (``chhwres -o act``) turns auto priority failover off;
* errpt entries appear on the VIOS that takes the client over (VNIC Client Login) and on the client
  (VNIC Link Down / VNIC Link Up).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.hmc.models import (
    BackingDevice,
    BackingDeviceState,
    ErrptDetail,
    ErrptEntry,
    FirmwareLevel,
    HmcVersion,
    ManagedSystem,
    Partition,
    SriovAdapter,
    SriovLogicalPort,
    SriovPhysPort,
    ViosDevice,
    Vnic,
    VnicMapping,
    VnicStat,
)

State = dict[str, Any]

VF_DESCRIPTION = "PCIe3 4-Port 10GbE SR Adapter VF(df1028e21410e304)"
ERRPT = {
    "60D73419": ("I", "S", "VNIC Client Login"),
    "8C577CB6": ("I", "S", "VNIC Transport Event"),
    "4FB9389C": ("I", "S", "VNIC Link Up"),
    "F655DA07": ("I", "S", "VNIC Link Down"),
    "3EB09F5A": ("I", "S", "Migration completed successfully"),
}


class SimError(Exception):
    """A command refused by the simulated platform: (HSCL message, return code)."""

    def __init__(self, message: str, rc: int = 1) -> None:
        self.message = message
        self.rc = rc
        super().__init__(message)


def _port(loc: str, n: int) -> dict[str, Any]:
    return {"loc": f"{loc}-T{n + 1}", "label": "", "sub_label": "", "state": 1, "speed": "10000"}


def _adapter(loc: str, labels: list[tuple[str, str]], mode: str = "sriov") -> dict[str, Any]:
    ports = {}
    for n, (label, sub) in enumerate(labels):
        p = _port(loc, n)
        p["label"], p["sub_label"] = label, sub
        ports[str(n)] = p
    return {"phys_loc": loc, "config_state": mode, "functional": 1, "max_lp": 48,
            "description": "PCIe3 4-Port 10GbE SR Adapter", "ports": ports}


def seed(failover_seconds: float = 2.0) -> State:
    """The lab's managed systems: p9-lab-sys1 (vios1, vios2, lpar1 with nodes) and p9-lab-sys2 (LPM target)."""
    labels1 = [("prod10g", "sw1"), ("prod10g", "sw2"), ("backup10g", "sw1"), ("backup10g", "sw2")]
    labels2 = [("prod10g", "sw1"), ("prod10g", "sw2"), ("backup10g", "sw1"), ("backup10g", "swX")]
    return {
        "hmc": {"version": 8, "release": "8.6.0", "service_pack": 0, "build_level": "20161101.1",
                "fixes": ["MH01655"]},
        "failover_seconds": failover_seconds,
        "failback_seconds": 0.5,
        "vios_boot_seconds": 4.0,
        "lpar_boot_seconds": 1.0,
        "systems": {
            "p9-lab-sys1": {
                "type_model": "9119-MME", "serial": "659707C", "state": "Operating",
                "firmware": {"level": "56", "spname": "FW860.10"},
                "partitions": {
                    "vios1": {"id": 1, "env": "vioserver", "state": "Running", "os_version": "VIOS 2.2.5.10",
                              "ioslevel": "2.2.5.10", "node": "vios1", "profile": "default"},
                    "vios2": {"id": 2, "env": "vioserver", "state": "Running", "os_version": "VIOS 2.2.5.10",
                              "ioslevel": "2.2.5.10", "node": "vios2", "profile": "default"},
                    "lpar1": {"id": 6, "env": "aixlinux", "state": "Running", "os_version": "AIX 7.2 7200-01-01-1642",
                              "node": "lpar1", "profile": "default"},
                },
                "adapters": {
                    "1": _adapter("U78CA.001.CSS08ZN-P1-C3-C1", labels1),
                    "2": _adapter("U78CA.001.CSS08EL-P1-C4-C1", labels1),
                },
                "logports": {},
                "vnics": [],
            },
            "p9-lab-sys2": {
                "type_model": "9119-MME", "serial": "65BA46F", "state": "Operating",
                "firmware": {"level": "56", "spname": "FW860.10"},
                "partitions": {
                    "vios3": {"id": 1, "env": "vioserver", "state": "Running", "os_version": "VIOS 2.2.5.10",
                              "ioslevel": "2.2.5.10", "profile": "default"},
                    "vios4": {"id": 2, "env": "vioserver", "state": "Running", "os_version": "VIOS 2.2.5.10",
                              "ioslevel": "2.2.5.10", "profile": "default"},
                },
                "adapters": {
                    "1": _adapter("U78CB.001.WZS0AB1-P1-C3-C1", labels2),
                    "2": _adapter("U78CB.001.WZS0AB1-P1-C4-C1", labels2),
                },
                "logports": {},
                "vnics": [],
            },
        },
        "errpt": {},
        "svcevents": [
            {"problem_num": 1, "refcode": "B3030001", "status": "Open", "first_time": "2026-11-20 08:00:00",
             "sys_name": "p9-lab-sys1", "text": "ACT04284I HMC connection failed (lab sample)"},
        ],
        "faults": [],
        "seq": {"errpt": 10560},
        "netboot": {},
    }


# -- storage ----------------------------------------------------------------------------------------------


class Store:
    """The model file plus its lock (``<state>/hmc/model.json``)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.path = self.dir / "model.json"
        self.lock_path = self.dir / "model.lock"

    def exists(self) -> bool:
        return self.path.exists()

    def init(self, state: State) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with self.locked(create=state):
            pass

    @contextlib.contextmanager
    def locked(self, create: State | None = None) -> Iterator[State]:
        """Load under an exclusive lock, yield the state, save it back when the block ends without error."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lf:
            fcntl.flock(lf, fcntl.LOCK_EX)
            try:
                if self.path.exists():
                    state = json.loads(self.path.read_text())
                elif create is not None:
                    state = copy.deepcopy(create)
                else:
                    raise FileNotFoundError(f"no simulator model at {self.path}")
                before = json.dumps(state, sort_keys=True)
                yield state
                after = json.dumps(state, sort_keys=True)
                if after != before or not self.path.exists():
                    fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".model-")
                    with os.fdopen(fd, "w") as fh:
                        fh.write(json.dumps(state, indent=1, sort_keys=True))
                    os.replace(tmp, self.path)
            finally:
                fcntl.flock(lf, fcntl.LOCK_UN)

    def read(self) -> State:
        with self.locked() as st:
            return copy.deepcopy(st)


# -- lookups ----------------------------------------------------------------------------------------------


def system(st: State, name: str) -> dict[str, Any]:
    s = st["systems"].get(name)
    if s is None:
        raise SimError(f"HSCL8019 The managed system {name} could not be found. Please check the name and "
                       "retry the command.")
    return s  # type: ignore[no-any-return]


def partition(sysd: dict[str, Any], name: str | None = None, lpar_id: int | None = None) -> tuple[str, dict[str, Any]]:
    for n, p in sysd["partitions"].items():
        if (name is not None and n == name) or (lpar_id is not None and p["id"] == lpar_id):
            return n, p
    label = name if name is not None else f"with id {lpar_id}"
    raise SimError(f"HSCL8012 The partition named {label} was not found. Please check your entry and retry "
                   "the command.")


def find_node(st: State, node: str) -> tuple[str, str, dict[str, Any]] | None:
    for sname, s in st["systems"].items():
        for pname, p in s["partitions"].items():
            if p.get("node") == node:
                return sname, pname, p
    return None


def mtms(sysd: dict[str, Any]) -> str:
    return f"U{sysd['type_model'].replace('-', '.')}.{sysd['serial']}"


# -- derived state ----------------------------------------------------------------------------------------


def device_operational(sysd: dict[str, Any], dev: dict[str, Any]) -> bool:
    vios = sysd["partitions"].get(dev["vios"])
    ad = sysd["adapters"].get(str(dev["adapter"]))
    if vios is None or ad is None:
        return False
    port = ad["ports"].get(str(dev["port"]))
    return bool(vios["state"] == "Running" and ad["functional"] == 1 and port and port["state"] == 1)


def preferred(sysd: dict[str, Any], vnic: dict[str, Any]) -> dict[str, Any] | None:
    ops = [d for d in vnic["backing"] if device_operational(sysd, d)]
    return min(ops, key=lambda d: (d["priority"], d["logport"])) if ops else None


def active(vnic: dict[str, Any]) -> dict[str, Any] | None:
    return next((d for d in vnic["backing"] if d.get("active")), None)


def lpar_reachable(st: State, sname: str, pname: str) -> bool:
    sysd = st["systems"][sname]
    p = sysd["partitions"][pname]
    if p["env"] == "vioserver":
        # still answering while its OS shuts down (its vnicservers are already gone: see device_operational)
        return p["state"] in ("Running", "Shutting Down")
    if p["state"] != "Running":
        return False
    vnics = [v for v in sysd["vnics"] if v["lpar"] == pname]
    if not vnics:
        return True
    for v in vnics:
        a = active(v)
        if a is not None and device_operational(sysd, a) and not v.get("switch"):
            return True
    return False


def errpt_add(st: State, node: str, identifier: str, resource: str, when: float | None = None) -> None:
    when = time.time() if when is None else when
    st["seq"]["errpt"] += 1
    st["errpt"].setdefault(node, []).append(
        {"id": identifier, "time": when, "resource": resource, "seq": st["seq"]["errpt"]})


# -- rules ------------------------------------------------------------------------------------------------


def reconcile(st: State, now: float | None = None) -> None:
    """Apply every transition that is due: boots, shutdowns, vNIC switches and auto priority failover."""
    now = time.time() if now is None else now
    for sysd in st["systems"].values():
        for p in sysd["partitions"].values():
            due = p.get("state_at")
            if due is not None and now >= due:
                p["state"] = p.pop("next_state")
                p.pop("state_at")
                if p["state"] == "Starting" and "after_boot" in p:
                    p["state_at"] = now + p.pop("after_boot")
                    p["next_state"] = "Running"
        for v in sysd["vnics"]:
            sw = v.get("switch")
            if sw and now >= sw["at"]:
                target = next((d for d in v["backing"] if d["logport"] == sw["to"]), None)
                v.pop("switch")
                if target is not None and device_operational(sysd, target):
                    _make_active(st, sysd, v, target, now)
            if v.get("switch"):
                continue
            cur = active(v)
            if v["auto"]:
                best = preferred(sysd, v)
                if best is not None and best is not cur:
                    failed = cur is None or not device_operational(sysd, cur)
                    delay = st["failover_seconds"] if failed else st["failback_seconds"]
                    v["switch"] = {"to": best["logport"], "at": now + delay, "since": now}
                    if cur is not None:
                        _client_link(st, sysd, v, "F655DA07", now)


def _client_link(st: State, sysd: dict[str, Any], v: dict[str, Any], ident: str, now: float) -> None:
    client = sysd["partitions"].get(v["lpar"], {})
    if client.get("node"):
        errpt_add(st, client["node"], ident, f"ent{v.get('client_dev', 0)}", now)


def _make_active(st: State, sysd: dict[str, Any], v: dict[str, Any], target: dict[str, Any], now: float) -> None:
    for d in v["backing"]:
        d["active"] = d is target
    target["used"] = True
    vios = sysd["partitions"][target["vios"]]
    if vios.get("node"):
        errpt_add(st, vios["node"], "60D73419", target["server"], now)
    _client_link(st, sysd, v, "4FB9389C", now)


def request_activate(st: State, sysd: dict[str, Any], v: dict[str, Any], logport: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    target = next((d for d in v["backing"] if d["logport"] == logport), None)
    if target is None:
        raise SimError(f"HSCLB10A The logical port {logport} is not a backing device of the virtual NIC in slot "
                       f"{v['slot']}.")
    if not device_operational(sysd, target):
        raise SimError(f"HSCLB10B The backing device with logical port {logport} is not operational and cannot "
                       "be made active.")
    v["auto"] = False  # the real platform turns auto priority failover off on a manual activation
    if target.get("active"):
        return
    cur = active(v)
    if cur is not None:
        _client_link(st, sysd, v, "F655DA07", now)
    v["switch"] = {"to": logport, "at": now + st["failback_seconds"], "since": now}


def set_partition_state(st: State, sysd: dict[str, Any], pname: str, state: str, after: float, final: str) -> None:
    p = sysd["partitions"][pname]
    p["state"] = state
    if after <= 0:
        p["state"] = final
        p.pop("state_at", None)
        p.pop("next_state", None)
    else:
        p["state_at"] = time.time() + after
        p["next_state"] = final


# -- views as core models ---------------------------------------------------------------------------------


def hmc_version(st: State) -> HmcVersion:
    h = st["hmc"]
    return HmcVersion(version=h["version"], release=h["release"], service_pack=h["service_pack"],
                      build_level=h["build_level"], fixes=tuple(h["fixes"]),
                      base_version=f"V{h['version']}R{h['release']}")


def systems(st: State) -> list[ManagedSystem]:
    return [ManagedSystem(name=n, type_model=s["type_model"], serial_num=s["serial"], state=s["state"])
            for n, s in st["systems"].items()]


def firmware(sysd: dict[str, Any]) -> FirmwareLevel:
    return FirmwareLevel(activated_level=sysd["firmware"]["level"], activated_spname=sysd["firmware"]["spname"])


def partitions(sysd: dict[str, Any]) -> list[Partition]:
    return [Partition(name=n, lpar_id=p["id"], lpar_env=p["env"], state=p["state"],
                      os_version=p.get("os_version", ""), curr_profile=p.get("profile", "default"))
            for n, p in sorted(sysd["partitions"].items(), key=lambda kv: kv[1]["id"])]


def adapters(sysd: dict[str, Any]) -> list[SriovAdapter]:
    out = []
    for aid, a in sorted(sysd["adapters"].items(), key=lambda kv: int(kv[0])):
        used = sum(1 for lp in sysd["logports"].values() if lp["adapter"] == int(aid))
        out.append(SriovAdapter(adapter_id=int(aid), phys_loc=a["phys_loc"], config_state=a["config_state"],
                                functional_state=a["functional"], phys_ports=len(a["ports"]), logical_ports=used,
                                max_logical_ports=a["max_lp"], description=a["description"]))
    return out


def physports(sysd: dict[str, Any]) -> list[SriovPhysPort]:
    out = []
    for aid, a in sorted(sysd["adapters"].items(), key=lambda kv: int(kv[0])):
        if a["config_state"] != "sriov":
            continue
        for pid, p in sorted(a["ports"].items(), key=lambda kv: int(kv[0])):
            out.append(SriovPhysPort(adapter_id=int(aid), phys_port_id=int(pid), phys_port_loc=p["loc"],
                                     label=p["label"], sub_label=p["sub_label"], state=p["state"],
                                     speed=p["speed"]))
    return out


def logports(sysd: dict[str, Any]) -> list[SriovLogicalPort]:
    return [SriovLogicalPort(adapter_id=lp["adapter"], phys_port_id=lp["port"], logical_port_id=lpid,
                             lpar_name=lp["lpar"], lpar_id=sysd["partitions"][lp["lpar"]]["id"],
                             capacity=lp["capacity"], is_vnic_backing_device=True, location_code=lp["loc"])
            for lpid, lp in sorted(sysd["logports"].items())]


def vnic_model(sysd: dict[str, Any], v: dict[str, Any]) -> Vnic:
    devs, states = [], []
    for d in v["backing"]:
        vios = sysd["partitions"][d["vios"]]
        devs.append(BackingDevice(vios_name=d["vios"], vios_id=vios["id"], adapter_id=d["adapter"],
                                  phys_port_id=d["port"], logical_port_id=d["logport"],
                                  current_capacity=d["capacity"], desired_capacity=d["capacity"],
                                  failover_priority=d["priority"]))
        states.append(BackingDeviceState(logical_port_id=d["logport"], active=bool(d.get("active")),
                                         status="Operational" if device_operational(sysd, d) else "NotOperational"))
    return Vnic(lpar_name=v["lpar"], lpar_id=sysd["partitions"][v["lpar"]]["id"], slot_num=v["slot"],
                port_vlan_id=v["vlan"], mac_addr=v["mac"].upper(), auto_priority_failover=bool(v["auto"]),
                backing_devices=tuple(devs), states=tuple(states))


def vnics(sysd: dict[str, Any]) -> list[Vnic]:
    return [vnic_model(sysd, v) for v in sorted(sysd["vnics"], key=lambda v: (sysd["partitions"][v["lpar"]]["id"],
                                                                             v["slot"]))]


def vios_devices(st: State, sname: str, vname: str) -> list[ViosDevice]:
    sysd = st["systems"][sname]
    vios = sysd["partitions"][vname]
    base = mtms(sysd)
    devs = [ViosDevice("ent0", "Available", "U78CA.001.CSS08ZN-P1-C2-T1", "4-Port Gigabit Ethernet PCI-Express "
                       "Adapter (e414571614102004)"),
            ViosDevice("ent1", "Available", f"{base}-V{vios['id']}-C2-T1", "Virtual I/O Ethernet Adapter (l-lan)")]
    vfs, servers = [], []
    for v in sysd["vnics"]:
        for d in v["backing"]:
            if d["vios"] != vname:
                continue
            lp = sysd["logports"][d["logport"]]
            vfs.append(ViosDevice(d["vf"], "Available", lp["loc"], VF_DESCRIPTION))
            servers.append(ViosDevice(d["server"], "Available", f"{base}-V{vios['id']}-C{d['vslot']}",
                                      "Virtual NIC Server Device (vnicserver)"))
    key = lambda dv: int("".join(ch for ch in dv.name if ch.isdigit()) or 0)  # noqa: E731
    return devs + sorted(vfs, key=key) + sorted(servers, key=key)


def vios_mappings(st: State, sname: str, vname: str) -> list[VnicMapping]:
    sysd = st["systems"][sname]
    vios = sysd["partitions"][vname]
    base = mtms(sysd)
    out = []
    for v in sysd["vnics"]:
        client = sysd["partitions"][v["lpar"]]
        for d in v["backing"]:
            if d["vios"] != vname:
                continue
            lp = sysd["logports"][d["logport"]]
            used = bool(d.get("used"))
            out.append(VnicMapping(
                name=d["server"], physloc=f"{base}-V{vios['id']}-C{d['vslot']}", client_id=client["id"],
                client_name=v["lpar"] if used else "N/A", client_os="AIX" if used else "N/A",
                backing_device=d["vf"], status="Available", backing_physloc=lp["loc"],
                client_device_name=f"ent{v.get('client_dev', 0)}" if used else "N/A",
                client_device_physloc=f"{base}-V{client['id']}-C{v['slot']}"))
    return sorted(out, key=lambda m: int(m.name.replace("vnicserver", "") or 0))


def vnicstat(st: State, sname: str, vname: str, server: str) -> VnicStat:
    sysd = st["systems"][sname]
    base = mtms(sysd)
    for v in sysd["vnics"]:
        for d in v["backing"]:
            if d["vios"] == vname and d["server"] == server:
                client = sysd["partitions"][v["lpar"]]
                act = bool(d.get("active"))
                return VnicStat(
                    name=server, state="active" if act else "config_2", backing_device=d["vf"],
                    failover_state="active" if act else "inactive",
                    failover_readiness="operational" if device_operational(sysd, d) else "not operational",
                    failover_priority=d["priority"],
                    client_partition_id=client["id"] if d.get("used") else None,
                    client_partition_name=v["lpar"], client_os="AIX",
                    client_device_name=f"ent{v.get('client_dev', 0)}",
                    client_device_location=f"{base}-V{client['id']}-C{v['slot']}")
    raise SimError(f"vnicstat: 0551-001 Device {server} not found.", rc=1)


def errpt_entries(st: State, node: str) -> list[ErrptEntry]:
    out = []
    for e in sorted(st["errpt"].get(node, []), key=lambda e: (e["time"], e["seq"]), reverse=True):
        t, c, desc = ERRPT[e["id"]]
        out.append(ErrptEntry(identifier=e["id"], timestamp=time.strftime("%m%d%H%M%y", time.localtime(e["time"])),
                              type=t, err_class=c, resource=e["resource"], description=desc))
    return out


def errpt_details(st: State, node: str, identifier: str | None) -> list[ErrptDetail]:
    out = []
    for e in sorted(st["errpt"].get(node, []), key=lambda e: (e["time"], e["seq"]), reverse=True):
        if identifier and e["id"] != identifier:
            continue
        t, c, desc = ERRPT[e["id"]]
        out.append(ErrptDetail(
            identifier=e["id"], date_time=time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(e["time"])),
            sequence_number=e["seq"], machine_id="00C9707C4C00", node_id=node, err_class=c,
            type={"I": "INFO", "P": "PERM", "T": "TEMP"}.get(t, "UNKN"), resource_name=e["resource"],
            description=desc, extra=("Probable Causes", desc, "Failure Causes", desc)))
    return out
