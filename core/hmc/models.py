"""Typed models of what the HMC and the VIOS report (frozen: parsers build them, planners compare them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HmcVersion:
    version: int
    release: str  # "8.6.0"
    service_pack: int
    build_level: str
    fixes: tuple[str, ...] = ()
    base_version: str = ""

    @property
    def vrm(self) -> tuple[int, int, int]:
        """(8, 8, 6) for V8R8.6.0 (major, release major, release minor)."""
        parts = [int(p) for p in re.findall(r"\d+", self.release)[:2]]
        while len(parts) < 2:
            parts.append(0)
        return (self.version, parts[0], parts[1])

    @property
    def label(self) -> str:
        return f"V{self.version}R{self.release} SP{self.service_pack}"


@dataclass(frozen=True)
class ManagedSystem:
    name: str
    type_model: str
    serial_num: str
    state: str


@dataclass(frozen=True)
class Partition:
    name: str
    lpar_id: int
    lpar_env: str  # "vioserver" | "aixlinux" | "os400"
    state: str  # "Running" | "Not Activated" | "Starting" | "Shutting Down" | "Open Firmware" | "Error"
    os_version: str = ""
    curr_profile: str = ""

    @property
    def is_vios(self) -> bool:
        return self.lpar_env == "vioserver"


@dataclass(frozen=True)
class FirmwareLevel:
    activated_level: str
    activated_spname: str  # "FW860.10"

    @property
    def release(self) -> int | None:
        """860 for FW860.10 (the firmware release the source material's prerequisites name)."""
        m = re.match(r"^[A-Z]{2}(\d{3})", self.activated_spname)
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class SriovAdapter:
    adapter_id: int
    phys_loc: str
    config_state: str  # "sriov" (shared mode) | "dedicated"
    functional_state: int
    phys_ports: int
    logical_ports: int
    max_logical_ports: int
    description: str = ""

    @property
    def shared_mode(self) -> bool:
        return self.config_state == "sriov"


@dataclass(frozen=True)
class SriovPhysPort:
    adapter_id: int
    phys_port_id: int
    phys_port_loc: str
    label: str
    sub_label: str
    state: int  # link 1 = up
    phys_port_type: str = "ethc"
    speed: str = "10000"


@dataclass(frozen=True)
class SriovLogicalPort:
    adapter_id: int
    phys_port_id: int
    logical_port_id: str  # hex as the CLI prints it, e.g. "2700400b"
    lpar_name: str
    lpar_id: int
    capacity: str
    is_vnic_backing_device: bool
    location_code: str = ""


@dataclass(frozen=True)
class BackingDevice:
    """One entry of ``backing_devices`` (11 slash-separated fields in lshwres output)."""

    vios_name: str
    vios_id: int
    adapter_id: int
    phys_port_id: int
    logical_port_id: str
    current_capacity: str
    desired_capacity: str
    failover_priority: int
    current_max_capacity: str = "100.0"
    desired_max_capacity: str = "100.0"


@dataclass(frozen=True)
class BackingDeviceState:
    logical_port_id: str
    active: bool
    status: str  # "Operational" | "NotOperational" | "Unknown"

    @property
    def operational(self) -> bool:
        return self.status == "Operational"


@dataclass(frozen=True)
class Vnic:
    lpar_name: str
    lpar_id: int
    slot_num: int
    port_vlan_id: int
    mac_addr: str
    auto_priority_failover: bool
    backing_devices: tuple[BackingDevice, ...]
    states: tuple[BackingDeviceState, ...] = ()
    curr_mode: str = "ded"

    def state_of(self, logical_port_id: str) -> BackingDeviceState | None:
        for s in self.states:
            if s.logical_port_id == logical_port_id:
                return s
        return None

    @property
    def active_device(self) -> BackingDevice | None:
        for d in self.backing_devices:
            st = self.state_of(d.logical_port_id)
            if st is not None and st.active:
                return d
        return None

    def operational(self, dev: BackingDevice) -> bool:
        st = self.state_of(dev.logical_port_id)
        return st is not None and st.operational

    @property
    def preferred_device(self) -> BackingDevice | None:
        """The operational device the hypervisor picks with auto priority failover (lowest number wins)."""
        ops = [d for d in self.backing_devices if self.operational(d)]
        return min(ops, key=lambda d: (d.failover_priority, d.logical_port_id)) if ops else None


# -- VIOS ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IosLevel:
    level: str  # "2.2.5.10"

    @property
    def parts(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.level.split(".") if p.isdigit())


@dataclass(frozen=True)
class ViosDevice:
    name: str
    status: str
    physloc: str
    description: str


@dataclass(frozen=True)
class VnicMapping:
    """One vnicserver of ``lsmap -all -vnic``."""

    name: str
    physloc: str
    client_id: int
    client_name: str
    client_os: str
    backing_device: str
    status: str
    backing_physloc: str
    client_device_name: str
    client_device_physloc: str

    @property
    def mapped(self) -> bool:
        return self.backing_device not in ("", "N/A")


@dataclass(frozen=True)
class VnicStat:
    name: str
    state: str  # "active" | "config_2" | "inactive"
    backing_device: str
    failover_state: str
    failover_readiness: str
    failover_priority: int
    client_partition_id: int | None = None
    client_partition_name: str = ""
    client_os: str = ""
    client_device_name: str = ""
    client_device_location: str = ""


@dataclass(frozen=True)
class ErrptEntry:
    identifier: str
    timestamp: str  # MMDDhhmmYY as errpt prints it
    type: str  # I, P, T, U, ...
    err_class: str  # H, S, O, U
    resource: str
    description: str


@dataclass(frozen=True)
class ErrptDetail:
    identifier: str
    date_time: str
    sequence_number: int
    machine_id: str
    node_id: str
    err_class: str
    type: str
    resource_name: str
    description: str
    extra: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ServiceEvent:
    problem_num: int
    refcode: str
    status: str
    first_time: str
    sys_name: str
    text: str


@dataclass(frozen=True)
class NetbootResult:
    ok: bool
    partition: str
    client_ip: str
    server_ip: str
    gateway: str
    message: str
