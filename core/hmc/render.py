"""Model -> text in the formats the HMC and the VIOS print (used by the simulator; contract-tested against
the parsers: ``parse(render(x)) == x``)."""

from __future__ import annotations

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

Pairs = list[tuple[str, str]]


class UnknownAttribute(InvalidInput):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"invalid attribute {name}")


def render_listing(rows: Sequence[Pairs], fields: Sequence[str] | None = None, delimiter: str = ",") -> str:
    """Default or ``-F`` listing; an empty listing is 'No results were found.'."""
    if not rows:
        return attrs.NO_RESULTS + "\n"
    lines = []
    for pairs in rows:
        if fields is None:
            lines.append(attrs.format_attr_line(pairs))
            continue
        d = dict(pairs)
        values = []
        for f in fields:
            if f not in d:
                raise UnknownAttribute(f)
            values.append(d[f])
        lines.append(attrs.format_field_line(values, delimiter))
    return "\n".join(lines) + "\n"


def backing_device_text(d: BackingDevice) -> str:
    return "/".join(["sriov", d.vios_name, str(d.vios_id), str(d.adapter_id), str(d.phys_port_id),
                     d.logical_port_id, d.current_capacity, d.desired_capacity, str(d.failover_priority),
                     d.current_max_capacity, d.desired_max_capacity])


def backing_state_text(s: BackingDeviceState) -> str:
    return f"sriov/{s.logical_port_id}/{1 if s.active else 0}/{s.status}"


def vnic_pairs(v: Vnic) -> Pairs:
    return [
        ("lpar_name", v.lpar_name), ("lpar_id", str(v.lpar_id)), ("slot_num", str(v.slot_num)),
        ("desired_mode", "ded"), ("curr_mode", v.curr_mode),
        ("auto_priority_failover", "1" if v.auto_priority_failover else "0"),
        ("port_vlan_id", str(v.port_vlan_id)), ("pvid_priority", "0"), ("allowed_vlan_ids", "all"),
        ("mac_addr", v.mac_addr.lower()), ("allowed_os_mac_addrs", "all"),
        ("backing_devices", ",".join(backing_device_text(d) for d in v.backing_devices)),
        ("backing_device_states", ",".join(backing_state_text(s) for s in v.states)),
    ]


def partition_pairs(p: Partition) -> Pairs:
    return [("name", p.name), ("lpar_id", str(p.lpar_id)), ("lpar_env", p.lpar_env), ("state", p.state),
            ("resource_config", "1"), ("os_version", p.os_version), ("logical_serial_num", f"X{p.lpar_id:04d}"),
            ("default_profile", p.curr_profile or "default"), ("curr_profile", p.curr_profile)]


def system_pairs(s: ManagedSystem) -> Pairs:
    return [("name", s.name), ("type_model", s.type_model), ("serial_num", s.serial_num), ("state", s.state)]


def adapter_pairs(a: SriovAdapter) -> Pairs:
    return [("adapter_id", str(a.adapter_id)), ("slot_id", f"2101{a.adapter_id:04x}"),
            ("adapter_max_logical_ports", str(a.max_logical_ports)), ("config_state", a.config_state),
            ("functional_state", str(a.functional_state)), ("logical_ports", str(a.logical_ports)),
            ("phys_loc", a.phys_loc), ("phys_ports", str(a.phys_ports)), ("sriov_status", "running"),
            ("alternate_config", "0"), ("description", a.description)]


def physport_pairs(p: SriovPhysPort) -> Pairs:
    return [("adapter_id", str(p.adapter_id)), ("phys_port_id", str(p.phys_port_id)),
            ("phys_port_type", p.phys_port_type), ("phys_port_loc", p.phys_port_loc),
            ("phys_port_label", p.label), ("phys_port_sub_label", p.sub_label), ("state", str(p.state)),
            ("speed", p.speed)]


def logport_pairs(lp: SriovLogicalPort) -> Pairs:
    return [("config_id", str(int(lp.logical_port_id[-3:], 16))), ("lpar_name", lp.lpar_name),
            ("lpar_id", str(lp.lpar_id)), ("adapter_id", str(lp.adapter_id)),
            ("logical_port_id", lp.logical_port_id), ("logical_port_type", "eth"),
            ("phys_port_id", str(lp.phys_port_id)), ("capacity", lp.capacity),
            ("is_vnic_backing_device", "1" if lp.is_vnic_backing_device else "0"),
            ("location_code", lp.location_code)]


def lslic_pairs(f: FirmwareLevel) -> Pairs:
    return [("lic_type", "Managed System"), ("management_status", "Enabled"),
            ("activated_level", f.activated_level), ("activated_spname", f.activated_spname)]


def render_lshmc_v(v: HmcVersion) -> str:
    fixes = "".join(f"{fx}: Required fix for HMC V{v.version}R{v.release} \n" for fx in v.fixes)
    base = v.base_version or f"V{v.version}R{v.release}"
    return (f'"version= Version: {v.version}\n Release: {v.release}\n Service Pack: {v.service_pack}\n'
            f'HMC Build level {v.build_level}\n{fixes}","base_version={base}\n"\n')


# -- VIOS --------------------------------------------------------------------------------------------------


def render_lsdev_fmt(devs: Sequence[ViosDevice], fields: Sequence[str], delimiter: str) -> str:
    lines = []
    for d in devs:
        row = {"name": d.name, "status": d.status, "physloc": d.physloc, "description": d.description}
        try:
            lines.append(delimiter.join(row[f] for f in fields))
        except KeyError as exc:
            raise UnknownAttribute(str(exc.args[0])) from None
    return "\n".join(lines) + ("\n" if lines else "")


def render_lsdev(devs: Sequence[ViosDevice]) -> str:
    lines = [f"{'name':<17}{'status':<12}description"]
    lines += [f"{d.name:<17}{d.status:<12}{d.description}" for d in devs]
    return "\n".join(lines) + "\n"


def render_lsmap_vnic(maps: Sequence[VnicMapping]) -> str:
    out = []
    for m in maps:
        cid = str(m.client_id) if m.client_id else ""
        out.append(f"{'Name':<14}{'Physloc':<35}{'ClntID':<7}{'ClntName':<15}ClntOS")
        out.append(f"{'-' * 13} {'-' * 34} {'-' * 6} {'-' * 14} {'-' * 7}")
        out.append(f"{m.name:<14}{m.physloc:<35}{cid:>6} {m.client_name or 'N/A':<15}{m.client_os or 'N/A'}")
        out.append("")
        out.append(f"Backing device:{m.backing_device or 'N/A'}")
        out.append(f"Status:{m.status}")
        out.append(f"Physloc:{m.backing_physloc}")
        out.append(f"Client device name:{m.client_device_name or 'N/A'}")
        out.append(f"Client device physloc:{m.client_device_physloc}")
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def render_lsmap_vnic_fmt(maps: Sequence[VnicMapping], delimiter: str) -> str:
    lines = []
    for m in maps:
        lines.append(delimiter.join([
            m.name, m.physloc, str(m.client_id) if m.client_id else "", m.client_name or "N/A",
            m.client_os or "N/A", m.backing_device, m.status, m.backing_physloc,
            m.client_device_name or "N/A", m.client_device_physloc]))
    return "\n".join(lines) + ("\n" if lines else "")


def render_vnicstat(s: VnicStat) -> str:
    lines = [f"VNIC Server Statistics: {s.name}", "Device Statistics:", f"State: {s.state}",
             f"Backing Device Name: {s.backing_device}", f"Failover State: {s.failover_state}",
             f"Failover Readiness: {s.failover_readiness}", f"Failover Priority: {s.failover_priority}"]
    if s.client_partition_id is not None:
        lines += [f"Client Partition ID: {s.client_partition_id}",
                  f"Client Partition Name: {s.client_partition_name}",
                  f"Client Operating System: {s.client_os}", f"Client Device Name: {s.client_device_name}",
                  f"Client Device Location Code: {s.client_device_location}"]
    return "\n".join(lines) + "\n"


def render_errpt(entries: Sequence[ErrptEntry]) -> str:
    if not entries:
        return ""
    lines = ["IDENTIFIER TIMESTAMP  T C RESOURCE_NAME  DESCRIPTION"]
    lines += [f"{e.identifier}   {e.timestamp} {e.type} {e.err_class} {e.resource:<14} {e.description}"
              for e in entries]
    return "\n".join(lines) + "\n"


def render_errpt_detail(details: Sequence[ErrptDetail]) -> str:
    out = []
    for d in details:
        out += ["-" * 75, f"LABEL:          VNIC_{d.identifier}", f"IDENTIFIER:     {d.identifier}", "",
                f"Date/Time:       {d.date_time}", f"Sequence Number: {d.sequence_number}",
                f"Machine Id:      {d.machine_id}", f"Node Id:         {d.node_id}",
                f"Class:           {d.err_class}", f"Type:            {d.type}", "WPAR:            Global",
                f"Resource Name:   {d.resource_name}", "", "Description", d.description, *d.extra, ""]
    return "\n".join(out) + ("\n" if out else "")
