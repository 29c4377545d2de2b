"""The simulated HMC command line (restricted shell of hscroot): the commands of the source material with
their real syntax, output formats, ``No results were found.`` and HSCL errors (rc 1).

Texts taken from real HMCs: ``No results were found.``, ``HSCL8012 The partition named X was not found``,
the invalid-attribute sentence, ``lshmc -V`` layout, ``lpar_netboot`` progress lines. The other HSCL codes
(rule violations of vNIC changes, unknown managed system) are modelled and marked HSCL8019/HSCLB1xx.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.hmc import attrs
from core.hmc import render as R
from lab.hmc_sim import model as M

VALUE_OPTS = {"-r", "--rsubtype", "-m", "-p", "--id", "-o", "-s", "-a", "-i", "-F", "--filter", "--level",
              "--logport", "-n", "-f", "-t", "-d", "-S", "-G", "-C", "-K", "-l", "-w", "-q"}
FLAG_OPTS = {"--immed", "--header", "-V", "-v", "--force", "-D", "-A", "-M", "-x", "-g", "--restart"}


@dataclass
class Result:
    rc: int
    out: str
    err: str = ""


def invalid_attribute(name: str) -> M.SimError:
    return M.SimError(f"An invalid attribute was entered.  The invalid attribute is {name}.  Please correct "
                      "your entry and retry the command.")


# lpar_netboot's own flags: -f (force close a console), -i, -x, -v, -A, -D are flags; -T, -g, -l take values
NETBOOT_VALUE_OPTS = {"-t", "-m", "-s", "-d", "-S", "-G", "-C", "-K", "-l", "-g", "-T"}
NETBOOT_FLAG_OPTS = {"-f", "-i", "-x", "-v", "-A", "-D", "-M", "-n"}


def parse_opts(argv: list[str], value_opts: set[str] | None = None,
               flag_opts: set[str] | None = None) -> tuple[dict[str, str], set[str], list[str]]:
    value_opts = VALUE_OPTS if value_opts is None else value_opts
    flag_opts = FLAG_OPTS if flag_opts is None else flag_opts
    opts: dict[str, str] = {}
    flags: set[str] = set()
    pos: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in value_opts:
            if i + 1 >= len(argv):
                raise M.SimError(f"HSCL350A The option {a} requires a value.")
            opts[a] = argv[i + 1]
            i += 2
        elif a in flag_opts:
            flags.add(a)
            i += 1
        elif a.startswith("-") and len(a) > 1:
            raise M.SimError(f"An invalid parameter was entered: {a}. Please check your entry and retry the "
                             "command.")
        else:
            pos.append(a)
            i += 1
    return opts, flags, pos


class Hmc:
    """Executes one HMC command line against the shared model."""

    def __init__(self, store: M.Store, state_dir: Path) -> None:
        self.store = store
        self.state_dir = state_dir

    def run(self, argv: list[str], stdin: bytes = b"") -> Result:
        if not argv:
            return Result(0, "")
        cmd = argv[0]
        try:
            if cmd == "lpar_netboot":
                opts, flags, pos = parse_opts(argv[1:], NETBOOT_VALUE_OPTS, NETBOOT_FLAG_OPTS)
            else:
                opts, flags, pos = parse_opts(argv[1:])
            with self.store.locked() as st:
                fault = self._fault(st, argv)
            if fault is not None:
                raise fault
            with self.store.locked() as st:
                M.reconcile(st)
                handler = getattr(self, "cmd_" + cmd, None)
                if handler is None:
                    return Result(127, "", f"rbash: {cmd}: command not found\n")
                return handler(st, opts, flags, pos)  # type: ignore[no-any-return]
        except M.SimError as exc:
            return Result(exc.rc, "", exc.message + "\n")
        except R.UnknownAttribute as exc:
            e = invalid_attribute(exc.name)
            return Result(e.rc, "", e.message + "\n")
        except InvalidInput as exc:
            return Result(1, "", f"An invalid parameter was entered: {exc}\n")

    def _fault(self, st: M.State, argv: list[str]) -> M.SimError | None:
        """Injected faults (lab tests): the next commands containing ``match`` fail with ``message``."""
        line = " ".join(argv)
        for f in st["faults"]:
            if f["match"] in line and f["remaining"] > 0:
                f["remaining"] -= 1
                return M.SimError(f["message"], f.get("rc", 1))
        return None

    # -- listing helpers -------------------------------------------------------------------------------

    def _listing(self, rows: list[R.Pairs], opts: dict[str, str], filters: dict[str, list[str]] | None = None,
                 allowed: set[str] | None = None) -> Result:
        if filters:
            for name in filters:
                if allowed is not None and name not in allowed:
                    raise invalid_attribute(name)
        fields, delim = (None, ",")
        if "-F" in opts:
            fields, delim = attrs.field_delimiter(opts["-F"])
        return Result(0, R.render_listing(rows, fields, delim))

    @staticmethod
    def _filters(opts: dict[str, str]) -> dict[str, list[str]]:
        return attrs.parse_filter(opts["--filter"]) if "--filter" in opts else {}

    # -- commands --------------------------------------------------------------------------------------

    def cmd_lshmc(self, st: M.State, opts: dict[str, str], flags: set[str], pos: list[str]) -> Result:
        if "-V" in flags:
            return Result(0, R.render_lshmc_v(M.hmc_version(st)))
        raise M.SimError("HSCL350C lshmc: specify -V (other views are not simulated).")

    def cmd_lslic(self, st: M.State, opts: dict[str, str], flags: set[str], pos: list[str]) -> Result:
        sysd = M.system(st, opts.get("-m", ""))
        return self._listing([R.lslic_pairs(M.firmware(sysd))], opts)

    def cmd_lssyscfg(self, st: M.State, opts: dict[str, str], flags: set[str], pos: list[str]) -> Result:
        r = opts.get("-r")
        filters = self._filters(opts)
        if r == "sys":
            rows = [R.system_pairs(s) for s in M.systems(st)
                    if "names" not in filters or s.name in filters["names"]]
            return self._listing(rows, opts, filters, {"names"})
        if r == "lpar":
            sysd = M.system(st, opts.get("-m", ""))
            parts = M.partitions(sysd)
            names = filters.get("lpar_names")
            ids = filters.get("lpar_ids")
            if names:
                for n in names:
                    M.partition(sysd, name=n)  # HSCL8012 for an unknown name, as the real HMC
                parts = [p for p in parts if p.name in names]
            if ids:
                parts = [p for p in parts if str(p.lpar_id) in ids]
            return self._listing([R.partition_pairs(p) for p in parts], opts, filters, {"lpar_names", "lpar_ids"})
        raise M.SimError(f"HSCL350D The resource type {r} is not valid for lssyscfg.")

    def cmd_lshwres(self, st: M.State, opts: dict[str, str], flags: set[str], pos: list[str]) -> Result:
        sysd = M.system(st, opts.get("-m", ""))
        r, sub = opts.get("-r"), opts.get("--rsubtype")
        filters = self._filters(opts)
        if r == "sriov":
            if sub == "adapter":
                rows = [R.adapter_pairs(a) for a in M.adapters(sysd)
                        if "adapter_ids" not in filters or str(a.adapter_id) in filters["adapter_ids"]]
                return self._listing(rows, opts, filters, {"adapter_ids"})
            if sub == "physport":
                rows = [R.physport_pairs(p) for p in M.physports(sysd)
                        if "adapter_ids" not in filters or str(p.adapter_id) in filters["adapter_ids"]]
                return self._listing(rows, opts, filters, {"adapter_ids"})
            if sub == "logport":
                lps = M.logports(sysd)
                if "lpar_names" in filters:
                    lps = [lp for lp in lps if lp.lpar_name in filters["lpar_names"]]
                return self._listing([R.logport_pairs(lp) for lp in lps], opts, filters,
                                     {"lpar_names", "adapter_ids"})
        if r == "virtualio" and sub == "vnic":
            vs = M.vnics(sysd)
            if "lpar_names" in filters:
                for n in filters["lpar_names"]:
                    M.partition(sysd, name=n)
                vs = [v for v in vs if v.lpar_name in filters["lpar_names"]]
            if "lpar_ids" in filters:
                vs = [v for v in vs if str(v.lpar_id) in filters["lpar_ids"]]
            if "slots" in filters:
                vs = [v for v in vs if str(v.slot_num) in filters["slots"]]
            return self._listing([R.vnic_pairs(v) for v in vs], opts, filters, {"lpar_names", "lpar_ids", "slots"})
        raise M.SimError(f"HSCL350E The resource type {r}/{sub} is not simulated.")

    def cmd_lssvcevents(self, st: M.State, opts: dict[str, str], flags: set[str], pos: list[str]) -> Result:
        rows = [[("problem_num", str(e["problem_num"])), ("pmh_num", ""), ("refcode", e["refcode"]),
                 ("status", e["status"]), ("first_time", e["first_time"]), ("last_time", e["first_time"]),
                 ("sys_name", e["sys_name"]), ("text", e["text"])] for e in st["svcevents"]]
        return self._listing(rows, opts)

    # -- chhwres ---------------------------------------------------------------------------------------

    def _client(self, sysd: dict[str, Any], opts: dict[str, str]) -> tuple[str, dict[str, Any]]:
        if "-p" in opts:
            return M.partition(sysd, name=opts["-p"])
        if "--id" in opts:
            return M.partition(sysd, lpar_id=int(opts["--id"]))
        raise M.SimError("HSCL350F Specify the partition with -p or --id.")

    @staticmethod
    def _vnic(sysd: dict[str, Any], lpar: str, slot: str | None) -> dict[str, Any]:
        for v in sysd["vnics"]:
            if v["lpar"] == lpar and str(v["slot"]) == str(slot):
                return v  # type: ignore[no-any-return]
        raise M.SimError(f"HSCLB101 The virtual NIC in slot {slot} of partition {lpar} does not exist.")

    def cmd_chhwres(self, st: M.State, opts: dict[str, str], flags: set[str], pos: list[str]) -> Result:
        sysd = M.system(st, opts.get("-m", ""))
        if opts.get("-r") != "virtualio" or opts.get("--rsubtype") not in ("vnic", "vnicbkdev"):
            raise M.SimError("HSCL350E Only -r virtualio --rsubtype vnic|vnicbkdev is simulated.")
        lpar, client = self._client(sysd, opts)
        op, sub = opts.get("-o"), opts["--rsubtype"]
        assigns = attrs.parse_attr_input(opts["-a"]) if "-a" in opts else []
        if sub == "vnic" and op == "a":
            self._vnic_add(st, sysd, lpar, client, opts.get("-s"), assigns)
        elif sub == "vnic" and op == "s":
            v = self._vnic(sysd, lpar, opts.get("-s"))
            self._vnic_set(st, sysd, v, assigns)
        elif sub == "vnic" and op == "r":
            v = self._vnic(sysd, lpar, opts.get("-s"))
            for d in list(v["backing"]):
                self._drop_device(sysd, v, d)
            sysd["vnics"].remove(v)
        elif sub == "vnicbkdev" and op == "s":
            v = self._vnic(sysd, lpar, opts.get("-s"))
            lp = opts.get("--logport", "").lower()
            dev = next((d for d in v["backing"] if d["logport"] == lp), None)
            if dev is None:
                raise M.SimError(f"HSCLB10A The logical port {lp} is not a backing device of the virtual NIC in "
                                 f"slot {v['slot']}.")
            for name, o, value in assigns:
                if name != "failover_priority" or o != "=":
                    raise invalid_attribute(name)
                dev["priority"] = self._priority(value)
        elif sub == "vnicbkdev" and op == "act":
            v = self._vnic(sysd, lpar, opts.get("-s"))
            M.request_activate(st, sysd, v, opts.get("--logport", "").lower())
        else:
            raise M.SimError(f"HSCL3510 The operation {op} is not valid for --rsubtype {sub}.")
        M.reconcile(st)
        return Result(0, "")

    @staticmethod
    def _priority(value: str) -> int:
        if not value.isdigit() or not 1 <= int(value) <= 100:
            raise M.SimError(f"HSCLB102 The failover priority {value} is not valid. Valid values are 1 - 100.")
        return int(value)

    def _parse_backing(self, st: M.State, sysd: dict[str, Any], value: str,
                       create: bool = True) -> list[dict[str, Any]]:
        out = []
        for item in [x for x in value.split(",") if x]:
            f = item.split("/")
            if len(f) not in (7, 8) or f[0] != "sriov":
                raise M.SimError(f"HSCLB103 The backing device {item} is not valid. Specify "
                                 "sriov/<vios>/<vios id>/<adapter id>/<port id>/<capacity>/<priority>.")
            vname = f[1]
            if not vname and f[2]:
                vname, _ = M.partition(sysd, lpar_id=int(f[2]))
            vname, vios = M.partition(sysd, name=vname)
            if vios["env"] != "vioserver":
                raise M.SimError(f"HSCLB104 The partition {vname} is not a Virtual I/O Server partition.")
            if create and vios["state"] != "Running":
                raise M.SimError(f"HSCLB117 The Virtual I/O Server partition {vname} is not running; a backing "
                                 "device cannot be created on it.")
            ad = sysd["adapters"].get(f[3])
            if ad is None or ad["config_state"] != "sriov":
                raise M.SimError(f"HSCLB105 The SR-IOV adapter {f[3]} does not exist or is not in shared mode.")
            if f[4] not in ad["ports"]:
                raise M.SimError(f"HSCLB106 The SR-IOV adapter {f[3]} has no physical port {f[4]}.")
            try:
                cap = float(f[5])
            except ValueError:
                raise M.SimError(f"HSCLB107 The capacity {f[5]} is not valid.") from None
            if not 0 < cap <= 100:
                raise M.SimError(f"HSCLB107 The capacity {f[5]} is not valid.")
            out.append({"vios": vname, "adapter": int(f[3]), "port": int(f[4]), "capacity": f"{cap:.1f}",
                        "priority": self._priority(f[6])})
        return out

    def _check_rules(self, devices: list[dict[str, Any]]) -> None:
        if len(devices) > 6:
            raise M.SimError("HSCLB108 A virtual NIC can have at most 6 backing devices.")
        seen = set()
        for d in devices:
            key = (d["adapter"], d["port"])
            if key in seen:
                raise M.SimError(f"HSCLB109 Backing devices of one virtual NIC cannot share the SR-IOV physical "
                                 f"port {d['adapter']}/{d['port']}.")
            seen.add(key)

    def _create_device(self, st: M.State, sysd: dict[str, Any], v: dict[str, Any], d: dict[str, Any]) -> None:
        ad = sysd["adapters"][str(d["adapter"])]
        used = [lp for lp in sysd["logports"].values() if lp["adapter"] == d["adapter"]]
        if len(used) >= ad["max_lp"]:
            raise M.SimError(f"HSCLB10C The SR-IOV adapter {d['adapter']} has no free logical port.")
        seqs = {int(k[-3:], 16) for k in sysd["logports"] if int(k[2:4], 16) == d["adapter"]}
        n = next(i for i in range(1, 4096) if i not in seqs)
        lpid = f"27{d['adapter']:02x}{d['port']:01x}{n:03x}"
        vf_n = len([1 for lp in sysd["logports"].values() if lp["adapter"] == d["adapter"]
                    and lp["port"] == d["port"]]) + 1
        sysd["logports"][lpid] = {"adapter": d["adapter"], "port": d["port"], "lpar": d["vios"],
                                  "capacity": d["capacity"], "loc": f"{ad['ports'][str(d['port'])]['loc']}-S{vf_n}"}
        # device names on the VIOS: next free entN (ent0-ent2 are taken) and vnicserverN, slot from 32768
        mine = [x for vv in sysd["vnics"] for x in vv["backing"] if x["vios"] == d["vios"]]
        ents = {int(x["vf"][3:]) for x in mine}
        servers = {int(x["server"][10:]) for x in mine}
        slots = {x["vslot"] for x in mine}
        d["logport"] = lpid
        d["vf"] = f"ent{next(i for i in range(3, 999) if i not in ents)}"
        d["server"] = f"vnicserver{next(i for i in range(0, 999) if i not in servers)}"
        d["vslot"] = next(i for i in range(32768, 65535) if i not in slots)
        d["active"] = False
        d["used"] = False

    def _drop_device(self, sysd: dict[str, Any], v: dict[str, Any], d: dict[str, Any]) -> None:
        sysd["logports"].pop(d["logport"], None)
        v["backing"].remove(d)

    def _vnic_add(self, st: M.State, sysd: dict[str, Any], lpar: str, client: dict[str, Any], slot: str | None,
                  assigns: list[tuple[str, str, str]]) -> None:
        if client["env"] == "vioserver":
            raise M.SimError(f"HSCLB104 A virtual NIC cannot be added to the Virtual I/O Server {lpar}.")
        if client["state"] not in ("Running", "Not Activated"):
            raise M.SimError(f"HSCLB110 The partition {lpar} must be running or shut down to add a virtual NIC "
                             f"(it is {client['state']}).")
        v: dict[str, Any] = {"lpar": lpar, "vlan": 0, "auto": True, "backing": [], "client_dev": 0}
        backing: list[dict[str, Any]] = []
        for name, o, value in assigns:
            if o != "=":
                raise invalid_attribute(name)
            if name == "port_vlan_id":
                v["vlan"] = int(value)
            elif name == "auto_priority_failover":
                v["auto"] = value == "1"
            elif name == "mac_addr":
                v["mac"] = value.lower()
            elif name == "backing_devices":
                backing = self._parse_backing(st, sysd, value)
            elif name not in ("pvid_priority", "allowed_vlan_ids", "allowed_os_mac_addrs"):
                raise invalid_attribute(name)
        if not backing:
            raise M.SimError("HSCLB111 A virtual NIC requires at least one backing device.")
        self._check_rules(backing)
        used_slots = {x["slot"] for x in sysd["vnics"] if x["lpar"] == lpar}
        if slot is not None:
            if int(slot) in used_slots:
                raise M.SimError(f"HSCLB112 The virtual slot {slot} of partition {lpar} is already in use.")
            v["slot"] = int(slot)
        else:
            v["slot"] = next(i for i in range(6, 2999) if i not in used_slots)
        v.setdefault("mac", f"aa{client['id']:02x}{v['slot']:04x}0001")
        v["client_dev"] = len([x for x in sysd["vnics"] if x["lpar"] == lpar])
        for d in backing:
            self._create_device(st, sysd, v, d)
            v["backing"].append(d)
        sysd["vnics"].append(v)
        best = M.preferred(sysd, v)
        if best is not None:
            best["active"] = True
            best["used"] = True
            vnode = sysd["partitions"][best["vios"]].get("node")
            if vnode:
                M.errpt_add(st, vnode, "60D73419", best["server"])

    def _vnic_set(self, st: M.State, sysd: dict[str, Any], v: dict[str, Any],
                  assigns: list[tuple[str, str, str]]) -> None:
        for name, o, value in assigns:
            if name == "auto_priority_failover" and o == "=":
                if value not in ("0", "1"):
                    raise M.SimError(f"HSCLB113 auto_priority_failover must be 0 or 1, not {value}.")
                v["auto"] = value == "1"
            elif name == "backing_devices" and o == "+=":
                new = self._parse_backing(st, sysd, value)
                self._check_rules([*v["backing"], *new])
                for d in new:
                    self._create_device(st, sysd, v, d)
                    v["backing"].append(d)
            elif name == "backing_devices" and o == "-=":
                gone = self._parse_backing(st, sysd, value, create=False)
                for g in gone:
                    d = next((x for x in v["backing"] if (x["vios"], x["adapter"], x["port"]) ==
                              (g["vios"], g["adapter"], g["port"])), None)
                    if d is None:
                        raise M.SimError(f"HSCLB114 The backing device sriov/{g['vios']}/{g['adapter']}/"
                                         f"{g['port']} is not a backing device of slot {v['slot']}.")
                    if len(v["backing"]) == 1:
                        raise M.SimError("HSCLB115 The last backing device of a virtual NIC cannot be removed; "
                                         "remove the virtual NIC instead.")
                    if d.get("active"):
                        raise M.SimError(f"HSCLB116 The backing device with logical port {d['logport']} is active "
                                         "and cannot be removed. Make another backing device active first.")
                    self._drop_device(sysd, v, d)
            else:
                raise invalid_attribute(name)

    # -- power -------------------------------------------------------------------------------------------

    def cmd_chsysstate(self, st: M.State, opts: dict[str, str], flags: set[str], pos: list[str]) -> Result:
        sysd = M.system(st, opts.get("-m", ""))
        if opts.get("-r") != "lpar":
            raise M.SimError("HSCL350E Only -r lpar is simulated for chsysstate.")
        pname = opts.get("-n")
        if pname is None and "--id" in opts:
            pname, _ = M.partition(sysd, lpar_id=int(opts["--id"]))
        pname, p = M.partition(sysd, name=pname)
        op = opts.get("-o")
        if op == "on":
            if p["state"] != "Not Activated":
                raise M.SimError(f"HSCL0DB4 The partition {pname} is not in the Not Activated state; it is "
                                 f"{p['state']}.")
            boot = st["vios_boot_seconds"] if p["env"] == "vioserver" else st["lpar_boot_seconds"]
            M.set_partition_state(st, sysd, pname, "Starting", boot, "Running")
        elif op in ("shutdown", "osshutdown"):
            if p["state"] == "Not Activated":
                raise M.SimError(f"HSCL0DB5 The partition {pname} is already Not Activated.")
            M.set_partition_state(st, sysd, pname, "Shutting Down", 0.0 if "--immed" in flags else 1.0,
                                  "Not Activated")
            self._stop_backend(pname)
        elif op == "restart":
            boot = st["vios_boot_seconds"] if p["env"] == "vioserver" else st["lpar_boot_seconds"]
            M.set_partition_state(st, sysd, pname, "Starting", boot, "Running")
        else:
            raise M.SimError(f"HSCL3510 The operation {op} is not valid for chsysstate -r lpar.")
        return Result(0, "")

    # -- lpar_netboot ------------------------------------------------------------------------------------

    def cmd_lpar_netboot(self, st: M.State, opts: dict[str, str], flags: set[str], pos: list[str]) -> Result:
        if len(pos) != 3:
            return Result(1, "", "Usage: lpar_netboot [-f] [-x] [-v] [-i] [-g args] [-A] -t ent [-T {on|off}] "
                                 "[-D -s speed -d duplex -S server -G gateway -C client [-K subnetmask]] "
                                 "[-m MAC] [-l location] partition-name partition-profile managed-system\n")
        pname, profile, sname = pos
        sysd = M.system(st, sname)
        pname, p = M.partition(sysd, name=pname)
        if opts.get("-t") != "ent":
            return Result(1, "", "lpar_netboot: only -t ent is supported\n")
        want = opts.get("-m", "").replace(":", "").lower()
        have = p.get("mac", "").replace(":", "").lower()
        if want and have and want != have:
            return Result(1, "", f"# Connecting to {pname}.\n# Connected\n# Checking for power off.\n"
                                 f"# Power off complete.\n# Power on {pname} to Open Firmware.\n# Power on complete."
                                 f"\nlpar_netboot: can not find mac address {want.upper()}.\n")
        if "-M" in flags:
            # discovery of the partition's adapters (-M), without booting when -n is given
            slot = p["id"] + 1
            mac = have or f"c6{p['id']:04x}000002"
            out = [f"# Connecting to {pname}.", "# Connected", "# Checking for power off.", "# Power off complete.",
                   f"# Power on {pname} to Open Firmware.", "# Power on complete.",
                   "# Getting adapter location codes.",
                   "# Type\t Location Code\t MAC Address\t Full Path Name\t Ping Result\t Device Type",
                   f"ent {M.mtms(sysd)}-V{p['id']}-C{slot}-T1 {mac} /vdevice/l-lan@3000000{slot:x} n/a virtual"]
            if "-n" in flags:
                p["state"] = "Open Firmware"
                return Result(0, "\n".join(out) + "\n")
        lines = [f"# Connecting to {pname}.", "# Connected", "# Checking for power off."]
        if p["state"] != "Not Activated":
            self._stop_backend(pname)
        lines += ["# Power off complete.", f"# Power on {pname} to Open Firmware.", "# Power on complete."]
        for flag, what in (("-C", "Client"), ("-S", "Server"), ("-G", "Gateway"), ("-K", "Subnetmask")):
            if flag in opts:
                lines.append(f"# {what} IP address is {opts[flag]}.")
        lines += ["# Getting adapter location codes.", "# /vdevice/l-lan@30000002 ping successful.",
                  "# Network booting install adapter.", "# bootp sent over network.",
                  "# Network boot proceeding, lpar_netboot is exiting.", "# Finished."]
        p["state"] = "Running"
        p.pop("state_at", None)
        p.pop("next_state", None)
        p["profile"] = profile
        st["netboot"][pname] = {"at": time.time(), "server": opts.get("-S", ""), "client": opts.get("-C", ""),
                                "gateway": opts.get("-G", ""), "mac": want}
        self._start_backend(pname)
        return Result(0, "\n".join(lines) + "\n")

    def _backend_spec(self, pname: str) -> dict[str, Any] | None:
        f = self.state_dir / "netboot" / f"{pname}.json"
        if not f.exists():
            return None
        spec = json.loads(f.read_text())
        if not isinstance(spec.get("argv"), list) or not spec.get("pidfile"):
            return None
        return spec  # type: ignore[no-any-return]

    def _stop_backend(self, pname: str) -> None:
        spec = self._backend_spec(pname)
        if spec is None:
            return
        pidfile = Path(spec["pidfile"])
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            pidfile.unlink()

    def _start_backend(self, pname: str) -> None:
        spec = self._backend_spec(pname)
        if spec is None:
            return
        self._stop_backend(pname)
        log = Path(spec.get("log", str(self.state_dir / "netboot" / f"{pname}.log")))
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            proc = subprocess.Popen([str(a) for a in spec["argv"]], stdin=subprocess.DEVNULL, stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        Path(spec["pidfile"]).parent.mkdir(parents=True, exist_ok=True)
        Path(spec["pidfile"]).write_text(f"{proc.pid}\n")
