"""The simulated VIOS (padmin's ioscli, root's commands through ``oem_setup_env``) and client LPAR (AIX
``errpt``) command lines.

* padmin: ``ioslevel``, ``lsdev`` (``-type adapter``, ``-virtual``, ``-field ... -fmt X``), ``lsmap -all -vnic``
  (default, ``-fmt X``, ``-cpid N``; rc 10 with no vnicserver, as ansible-power-vios handles it),
  ``shutdown -force [-restart]``; commands may be prefixed with ``ioscli``.
* root (``oem_setup_env`` reads command lines on stdin, as ``echo cmd | oem_setup_env``): ``vnicstat``,
  ``errpt`` (summary, ``-a``, ``-aj ID``), ``ioslevel``.
"""

from __future__ import annotations

import shlex

from core.hmc import render as R
from lab.hmc_sim import model as M
from lab.hmc_sim.hmc_cli import Result


class Vios:
    def __init__(self, store: M.Store, node: str, role: str) -> None:
        self.store = store
        self.node = node
        self.role = role  # "vios" | "lpar"

    def run(self, argv: list[str], stdin: bytes = b"") -> Result:
        if not argv:
            return Result(0, "")
        try:
            with self.store.locked() as st:
                M.reconcile(st)
                where = M.find_node(st, self.node)
                if where is None:
                    return Result(1, "", f"{self.node}: not a partition of the simulated systems\n")
                sname, pname, _ = where
                if argv[0] == "oem_setup_env" and self.role == "vios":
                    outs, errs, rc = [], [], 0
                    for line in stdin.decode().splitlines():
                        if not line.strip():
                            continue
                        r = self._root(st, sname, pname, shlex.split(line))
                        outs.append(r.out)
                        errs.append(r.err)
                        rc = r.rc or rc
                    return Result(rc, "".join(outs), "".join(errs))
                if self.role == "lpar":
                    return self._aix(st, sname, pname, argv)
                if argv[0] == "ioscli":
                    argv = argv[1:]
                return self._padmin(st, sname, pname, argv)
        except M.SimError as exc:
            return Result(exc.rc, "", exc.message + "\n")

    def _padmin(self, st: M.State, sname: str, pname: str, argv: list[str]) -> Result:
        cmd, args = argv[0], argv[1:]
        if cmd == "ioslevel":
            return Result(0, st["systems"][sname]["partitions"][pname]["ioslevel"] + "\n")
        if cmd == "lsdev":
            devs = M.vios_devices(st, sname, pname)
            if "-virtual" in args:
                devs = [d for d in devs if d.name.startswith("vnicserver") or "Virtual" in d.description]
            if "-dev" in args:
                name = args[args.index("-dev") + 1]
                devs = [d for d in devs if d.name == name]
                if not devs:
                    return Result(1, "", f'Device "{name}" is not in AVAILABLE state.\n')
            if "-field" in args:
                i = args.index("-field") + 1
                fields = []
                while i < len(args) and not args[i].startswith("-"):
                    fields.append(args[i].lower())
                    i += 1
                delim = args[args.index("-fmt") + 1] if "-fmt" in args else " "
                try:
                    return Result(0, R.render_lsdev_fmt(devs, fields, delim))
                except R.UnknownAttribute as exc:
                    return Result(1, "", f"Invalid field name: {exc.name}\n")
            return Result(0, R.render_lsdev(devs))
        if cmd == "lsmap":
            if "-vnic" not in args:
                return Result(1, "", "lsmap: only -vnic mappings are simulated\n")
            maps = M.vios_mappings(st, sname, pname)
            if "-cpid" in args:
                cpid = int(args[args.index("-cpid") + 1])
                maps = [m for m in maps if m.client_id == cpid]
            if "-vadapter" in args:
                name = args[args.index("-vadapter") + 1]
                maps = [m for m in maps if m.name == name]
                if not maps:
                    return Result(1, "", f'Device "{name}" is not a Virtual NIC Server Adapter.\n')
            if not maps:
                return Result(10, "", "")
            if "-fmt" in args:
                return Result(0, R.render_lsmap_vnic_fmt(maps, args[args.index("-fmt") + 1]))
            return Result(0, R.render_lsmap_vnic(maps))
        if cmd == "shutdown":
            if "-force" not in args:
                return Result(1, "", "Shutting down the VIO Server could affect Client Partitions. Continue "
                                     "[y|n]?\nshutdown: use -force in a non-interactive session\n")
            sysd = st["systems"][sname]
            if "-restart" in args:
                M.set_partition_state(st, sysd, pname, "Shutting Down", 0.5, "Starting")
                p = sysd["partitions"][pname]
                p["after_boot"] = st["vios_boot_seconds"]
            else:
                M.set_partition_state(st, sysd, pname, "Shutting Down", 0.5, "Not Activated")
            return Result(0, "Shutting down the VIO Server could affect Client Partitions.\n"
                             "SHUTDOWN PROGRAM\n")
        if cmd in ("vnicstat", "errpt"):
            return Result(1, "", f"rksh: {cmd}: 0403-006 Execute permission denied. (run it as root via "
                                 "oem_setup_env)\n")
        return Result(127, "", f"rksh: {cmd}: not found.\n")

    def _root(self, st: M.State, sname: str, pname: str, argv: list[str]) -> Result:
        cmd, args = argv[0], argv[1:]
        if cmd == "vnicstat":
            names = [a for a in args if not a.startswith("-")]
            if not names:
                return Result(1, "", "Usage: vnicstat [-b] [-d] [-r] Device_Name\n")
            return Result(0, R.render_vnicstat(M.vnicstat(st, sname, pname, names[0])))
        if cmd == "errpt":
            return self._errpt(st, args)
        if cmd in ("ioslevel", "/usr/ios/cli/ioscli"):
            return self._padmin(st, sname, pname, argv if cmd == "ioslevel" else args)
        return Result(127, "", f"ksh: {cmd}: not found.\n")

    def _errpt(self, st: M.State, args: list[str]) -> Result:
        if "-aj" in args or "-a" in args:
            ident = args[args.index("-aj") + 1] if "-aj" in args else None
            return Result(0, R.render_errpt_detail(M.errpt_details(st, self.node, ident)))
        if "-j" in args:
            ident = args[args.index("-j") + 1]
            return Result(0, R.render_errpt([e for e in M.errpt_entries(st, self.node) if e.identifier == ident]))
        return Result(0, R.render_errpt(M.errpt_entries(st, self.node)))

    def _aix(self, st: M.State, sname: str, pname: str, argv: list[str]) -> Result:
        if argv[0] == "errpt":
            return self._errpt(st, argv[1:])
        if argv[0] == "uname":
            return Result(0, "AIX\n")
        return Result(127, "", f"ksh: {argv[0]}: not found.\n")
