"""Pure text -> model parsers for HMC and VIOS command output.

Each parser takes the command's stdout. Listing parsers accept the default ``attr=value`` format or, when
``fields`` is given, the ``-F`` format with that delimiter (the flows ask for explicit fields). Every parser
has recorded samples in tests/fixtures/hmc/ (a meta-test checks it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.errors import InvalidInput
from core.hmc import attrs
from core.hmc.models import (
    BackingDevice,
    BackingDeviceState,
    ErrptDetail,
    ErrptEntry,
    FirmwareLevel,
    HmcVersion,
    IosLevel,
    ManagedSystem,
    NetbootResult,
    Partition,
    ServiceEvent,
    SriovAdapter,
    SriovLogicalPort,
    SriovPhysPort,
    ViosDevice,
    Vnic,
    VnicMapping,
    VnicStat,
)

# The fields the flows ask for (``-F`` lists); the simulator answers any subset.
VNIC_FIELDS = ["lpar_name", "lpar_id", "slot_num", "port_vlan_id", "mac_addr", "auto_priority_failover",
               "backing_devices", "backing_device_states"]
LPAR_FIELDS = ["name", "lpar_id", "lpar_env", "state", "os_version", "curr_profile"]
SYS_FIELDS = ["name", "type_model", "serial_num", "state"]
ADAPTER_FIELDS = ["adapter_id", "phys_loc", "config_state", "functional_state", "phys_ports", "logical_ports",
                  "adapter_max_logical_ports", "description"]
PHYSPORT_FIELDS = ["adapter_id", "phys_port_id", "phys_port_loc", "phys_port_label", "phys_port_sub_label",
                   "state", "phys_port_type", "speed"]
LOGPORT_FIELDS = ["adapter_id", "phys_port_id", "logical_port_id", "lpar_name", "lpar_id", "capacity",
                  "is_vnic_backing_device", "location_code"]
LSLIC_FIELDS = ["activated_level", "activated_spname"]


def _rows(text: str, fields: Sequence[str] | None, delimiter: str) -> list[dict[str, str]]:
    if fields is None:
        return attrs.records(text)
    return attrs.field_records(text, list(fields), delimiter)


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{what}: expected an integer, got {value!r}") from None


# -- HMC ---------------------------------------------------------------------------------------------------


def parse_lshmc_v(text: str) -> HmcVersion:
    """``lshmc -V``: quoted multi-line values (version=..., base_version=...) plus fix lines."""
    m_ver = re.search(r"Version:\s*(\d+)", text)
    m_rel = re.search(r"Release:\s*([\d.]+)", text)
    if not m_ver or not m_rel:
        raise InvalidInput("lshmc -V output has no 'Version:'/'Release:' lines")
    m_sp = re.search(r"Service Pack:\s*(\d+)", text)
    m_build = re.search(r"HMC Build level\s+(\S+)", text)
    m_base = re.search(r"base_version=(\S+?)\s*\"?\s*$", text, re.M)
    fixes = tuple(m.group(1) for m in re.finditer(r"^\s*\"?((?:MH|MF)\d{5}):", text, re.M))
    return HmcVersion(
        version=int(m_ver.group(1)), release=m_rel.group(1),
        service_pack=int(m_sp.group(1)) if m_sp else 0,
        build_level=m_build.group(1) if m_build else "",
        fixes=fixes, base_version=m_base.group(1).strip('"') if m_base else "",
    )


def parse_lslic(text: str, fields: Sequence[str] | None = None, delimiter: str = ",") -> FirmwareLevel:
    rows = _rows(text, fields, delimiter)
    if not rows:
        raise InvalidInput("lslic printed no level")
    r = rows[0]
    return FirmwareLevel(activated_level=r.get("activated_level", ""), activated_spname=r.get("activated_spname", ""))


def parse_lssyscfg_sys(text: str, fields: Sequence[str] | None = None, delimiter: str = ",") -> list[ManagedSystem]:
    return [ManagedSystem(name=r["name"], type_model=r.get("type_model", ""), serial_num=r.get("serial_num", ""),
                          state=r.get("state", "")) for r in _rows(text, fields, delimiter)]


def parse_lssyscfg_lpar(text: str, fields: Sequence[str] | None = None, delimiter: str = ",") -> list[Partition]:
    return [
        Partition(name=r["name"], lpar_id=_int(r["lpar_id"], "lpar_id"), lpar_env=r.get("lpar_env", ""),
                  state=r.get("state", ""), os_version=r.get("os_version", ""),
                  curr_profile=r.get("curr_profile", ""))
        for r in _rows(text, fields, delimiter)
    ]


def parse_sriov_adapters(text: str, fields: Sequence[str] | None = None, delimiter: str = ",") -> list[SriovAdapter]:
    out = []
    for r in _rows(text, fields, delimiter):
        out.append(SriovAdapter(
            adapter_id=_int(r["adapter_id"] or "0", "adapter_id"), phys_loc=r.get("phys_loc", ""),
            config_state=r.get("config_state", ""), functional_state=_int(r.get("functional_state", "0"), "state"),
            phys_ports=_int(r.get("phys_ports", "0") or "0", "phys_ports"),
            logical_ports=_int(r.get("logical_ports", "0") or "0", "logical_ports"),
            max_logical_ports=_int(r.get("adapter_max_logical_ports", "0") or "0", "adapter_max_logical_ports"),
            description=r.get("description", ""),
        ))
    return out


def parse_sriov_physports(text: str, fields: Sequence[str] | None = None,
                          delimiter: str = ",") -> list[SriovPhysPort]:
    out = []
    for r in _rows(text, fields, delimiter):
        out.append(SriovPhysPort(
            adapter_id=_int(r["adapter_id"], "adapter_id"), phys_port_id=_int(r["phys_port_id"], "phys_port_id"),
            phys_port_loc=r.get("phys_port_loc", ""), label=r.get("phys_port_label", ""),
            sub_label=r.get("phys_port_sub_label", ""), state=_int(r.get("state", "0") or "0", "state"),
            phys_port_type=r.get("phys_port_type", "ethc"), speed=r.get("speed", ""),
        ))
    return out


def parse_sriov_logports(text: str, fields: Sequence[str] | None = None,
                         delimiter: str = ",") -> list[SriovLogicalPort]:
    out = []
    for r in _rows(text, fields, delimiter):
        out.append(SriovLogicalPort(
            adapter_id=_int(r["adapter_id"], "adapter_id"), phys_port_id=_int(r["phys_port_id"], "phys_port_id"),
            logical_port_id=r["logical_port_id"].lower(), lpar_name=r.get("lpar_name", ""),
            lpar_id=_int(r.get("lpar_id", "0") or "0", "lpar_id"), capacity=r.get("capacity", ""),
            is_vnic_backing_device=r.get("is_vnic_backing_device", "0") == "1",
            location_code=r.get("location_code", ""),
        ))
    return out


def parse_backing_devices(value: str) -> tuple[BackingDevice, ...]:
    """``sriov/vios1/1/1/2/2700400b/2.0/2.0/10/100.0/100.0,...`` (lshwres output, 11 fields each)."""
    out = []
    for item in [v for v in value.split(",") if v]:
        f = item.split("/")
        if len(f) < 9 or f[0] != "sriov":
            raise InvalidInput(f"unexpected backing device entry {item!r}")
        out.append(BackingDevice(
            vios_name=f[1], vios_id=_int(f[2], "vios id"), adapter_id=_int(f[3], "adapter id"),
            phys_port_id=_int(f[4], "physical port id"), logical_port_id=f[5].lower(),
            current_capacity=f[6], desired_capacity=f[7], failover_priority=_int(f[8], "failover priority"),
            current_max_capacity=f[9] if len(f) > 9 else "100.0",
            desired_max_capacity=f[10] if len(f) > 10 else "100.0",
        ))
    return tuple(out)


def parse_backing_device_states(value: str) -> tuple[BackingDeviceState, ...]:
    """``sriov/2700400b/1/Operational,...`` (type/logical port/active/status)."""
    out = []
    for item in [v for v in value.split(",") if v]:
        f = item.split("/")
        if len(f) != 4:
            raise InvalidInput(f"unexpected backing device state {item!r}")
        out.append(BackingDeviceState(logical_port_id=f[1].lower(), active=f[2] == "1", status=f[3]))
    return tuple(out)


def parse_lshwres_vnic(text: str, fields: Sequence[str] | None = None, delimiter: str = ",") -> list[Vnic]:
    out = []
    for r in _rows(text, fields, delimiter):
        out.append(Vnic(
            lpar_name=r["lpar_name"], lpar_id=_int(r["lpar_id"], "lpar_id"),
            slot_num=_int(r["slot_num"], "slot_num"),
            port_vlan_id=_int(r.get("port_vlan_id", "0") or "0", "port_vlan_id"),
            mac_addr=r.get("mac_addr", "").upper(),
            auto_priority_failover=r.get("auto_priority_failover", "0") == "1",
            backing_devices=parse_backing_devices(r.get("backing_devices", "")),
            states=parse_backing_device_states(r.get("backing_device_states", "")),
            curr_mode=r.get("curr_mode", "ded"),
        ))
    return out


def parse_lssvcevents(text: str) -> list[ServiceEvent]:
    return [
        ServiceEvent(problem_num=_int(r.get("problem_num", "0"), "problem_num"), refcode=r.get("refcode", ""),
                     status=r.get("status", ""), first_time=r.get("first_time", ""),
                     sys_name=r.get("sys_name", ""), text=r.get("text", ""))
        for r in attrs.records(text)
    ]


_HSCL = re.compile(r"\b(HSCL[0-9A-F]{4})\b")


def parse_hmc_error(text: str) -> tuple[str | None, str]:
    """(HSCL code or None, the message without trailing blank lines)."""
    msg = text.strip()
    m = _HSCL.search(msg)
    return (m.group(1) if m else None), msg


def parse_lpar_netboot(text: str) -> NetbootResult:
    def grab(pattern: str) -> str:
        m = re.search(pattern, text)
        return m.group(1) if m else ""

    ok = bool(re.search(r"^# Finished\.", text, re.M))
    err = re.search(r"^lpar_netboot: (.*)$", text, re.M)
    return NetbootResult(
        ok=ok and err is None, partition=grab(r"# Connecting to (\S+)\."),
        client_ip=grab(r"# Client IP address is (\S+)\."), server_ip=grab(r"# Server IP address is (\S+)\."),
        gateway=grab(r"# Gateway IP address is (\S+)\."),
        message=err.group(1) if err else ("network boot proceeding" if ok else text.strip()[-200:]),
    )


# -- VIOS --------------------------------------------------------------------------------------------------


def parse_ioslevel(text: str) -> IosLevel:
    m = re.search(r"^\s*(\d+(?:\.\d+){2,3})\s*$", text, re.M)
    if not m:
        raise InvalidInput(f"ioslevel printed no level: {text.strip()[:80]!r}")
    return IosLevel(m.group(1))


LSDEV_FIELDS = ["name", "status", "physloc", "description"]


def parse_lsdev_fmt(text: str, fields: Sequence[str] = tuple(LSDEV_FIELDS), delimiter: str = ":") -> list[ViosDevice]:
    """``lsdev ... -field name status physloc description -fmt :``; the last field may contain the delimiter."""
    out = []
    n = len(fields)
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(delimiter, n - 1)
        if len(parts) != n:
            raise InvalidInput(f"lsdev line has {len(parts)} fields, want {n}: {line!r}")
        r = dict(zip(fields, parts, strict=True))
        out.append(ViosDevice(name=r.get("name", ""), status=r.get("status", ""), physloc=r.get("physloc", ""),
                              description=r.get("description", "")))
    return out


LSMAP_VNIC_FMT_FIELDS = ["name", "physloc", "client_id", "client_name", "client_os", "backing_device", "status",
                         "backing_physloc", "client_device_name", "client_device_physloc"]


def _client_id(v: str) -> int:
    v = v.strip()
    return int(v) if v.isdigit() else 0


def parse_lsmap_vnic_fmt(text: str, delimiter: str = ":") -> list[VnicMapping]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(delimiter)
        if len(parts) < 5:
            raise InvalidInput(f"lsmap -vnic -fmt line too short: {line!r}")
        parts += [""] * (len(LSMAP_VNIC_FMT_FIELDS) - len(parts))
        r = dict(zip(LSMAP_VNIC_FMT_FIELDS, parts[: len(LSMAP_VNIC_FMT_FIELDS)], strict=True))
        out.append(VnicMapping(
            name=r["name"], physloc=r["physloc"], client_id=_client_id(r["client_id"]),
            client_name=r["client_name"], client_os=r["client_os"], backing_device=r["backing_device"],
            status=r["status"], backing_physloc=r["backing_physloc"], client_device_name=r["client_device_name"],
            client_device_physloc=r["client_device_physloc"],
        ))
    return out


def parse_lsmap_vnic(text: str) -> list[VnicMapping]:
    """Default ``lsmap -all -vnic`` (a header block per vnicserver, then ``Key:value`` lines)."""
    out: list[VnicMapping] = []
    cur: dict[str, str] | None = None

    def flush() -> None:
        if cur is not None:
            out.append(VnicMapping(
                name=cur["name"], physloc=cur["physloc"], client_id=_client_id(cur["client_id"]),
                client_name=cur["client_name"], client_os=cur["client_os"],
                backing_device=cur.get("Backing device", ""), status=cur.get("Status", ""),
                backing_physloc=cur.get("Physloc", ""), client_device_name=cur.get("Client device name", ""),
                client_device_physloc=cur.get("Client device physloc", ""),
            ))

    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("Name ") or set(s) <= {"-", " "}:
            continue
        if ":" in s and not re.match(r"^\S+\s+\S+-V\d+-C\d+", s):
            key, _, value = s.partition(":")
            if cur is not None:
                cur[key.strip()] = value.strip()
            continue
        cols = s.split()
        if len(cols) >= 3:
            flush()
            cur = {"name": cols[0], "physloc": cols[1], "client_id": cols[2],
                   "client_name": cols[3] if len(cols) > 3 else "", "client_os": cols[4] if len(cols) > 4 else ""}
    flush()
    return out


def parse_vnicstat(text: str) -> VnicStat:
    kv: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        m = re.match(r"^VNIC Server Statistics:\s*(\S+)", line)
        if m:
            name = m.group(1)
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() != "Device Statistics":
            kv.setdefault(key.strip(), value.strip())
    if not name or "State" not in kv:
        raise InvalidInput("vnicstat output has no 'VNIC Server Statistics'/'State' lines")
    cpid = kv.get("Client Partition ID", "")
    return VnicStat(
        name=name, state=kv["State"], backing_device=kv.get("Backing Device Name", ""),
        failover_state=kv.get("Failover State", ""), failover_readiness=kv.get("Failover Readiness", ""),
        failover_priority=_int(kv.get("Failover Priority", "0"), "Failover Priority"),
        client_partition_id=int(cpid) if cpid.isdigit() else None,
        client_partition_name=kv.get("Client Partition Name", ""), client_os=kv.get("Client Operating System", ""),
        client_device_name=kv.get("Client Device Name", ""),
        client_device_location=kv.get("Client Device Location Code", ""),
    )


_ERRPT_LINE = re.compile(r"^([0-9A-F]{8})\s+(\d{10})\s+(\S)\s+(\S)\s+(\S+)\s+(.*?)\s*$")


def parse_errpt(text: str) -> list[ErrptEntry]:
    """``errpt`` summary (header line optional)."""
    out = []
    for line in text.splitlines():
        m = _ERRPT_LINE.match(line)
        if m:
            out.append(ErrptEntry(identifier=m.group(1), timestamp=m.group(2), type=m.group(3),
                                  err_class=m.group(4), resource=m.group(5), description=m.group(6)))
    return out


def parse_errpt_detail(text: str) -> list[ErrptDetail]:
    """``errpt -a`` / ``errpt -aj ID``: blocks separated by dashed lines, ``Key: value`` headers."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if re.match(r"^-{20,}\s*$", line):
            blocks.append([])
        else:
            blocks[-1].append(line)
    out = []
    for block in blocks:
        kv: dict[str, str] = {}
        rest: list[str] = []
        for line in block:
            m = re.match(r"^(IDENTIFIER|LABEL|Date/Time|Sequence Number|Machine Id|Node Id|Class|Type|WPAR|"
                         r"Resource Name|Resource Class|Resource Type|Location):\s*(.*)$", line)
            if m:
                kv[m.group(1)] = m.group(2).strip()
            elif line.strip():
                rest.append(line.strip())
        if "IDENTIFIER" not in kv:
            continue
        if rest and rest[0] == "Description":
            rest = rest[1:]
        out.append(ErrptDetail(
            identifier=kv["IDENTIFIER"], date_time=kv.get("Date/Time", ""),
            sequence_number=_int(kv.get("Sequence Number", "0"), "Sequence Number"),
            machine_id=kv.get("Machine Id", ""), node_id=kv.get("Node Id", ""), err_class=kv.get("Class", ""),
            type=kv.get("Type", ""), resource_name=kv.get("Resource Name", ""),
            description=rest[0] if rest else "", extra=tuple(rest[1:]),
        ))
    return out


# The parsers the fixture meta-test checks (name -> callable taking the raw text).
PARSERS = {
    "lshmc_v": parse_lshmc_v,
    "lslic": parse_lslic,
    "lssyscfg_sys": parse_lssyscfg_sys,
    "lssyscfg_lpar": parse_lssyscfg_lpar,
    "sriov_adapters": parse_sriov_adapters,
    "sriov_physports": parse_sriov_physports,
    "sriov_logports": parse_sriov_logports,
    "lshwres_vnic": parse_lshwres_vnic,
    "lssvcevents": parse_lssvcevents,
    "hmc_error": parse_hmc_error,
    "lpar_netboot": parse_lpar_netboot,
    "ioslevel": parse_ioslevel,
    "lsdev_fmt": parse_lsdev_fmt,
    "lsmap_vnic": parse_lsmap_vnic,
    "lsmap_vnic_fmt": parse_lsmap_vnic_fmt,
    "vnicstat": parse_vnicstat,
    "errpt": parse_errpt,
    "errpt_detail": parse_errpt_detail,
}
