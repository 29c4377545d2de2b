"""Desired vNIC -> plan of HMC commands (facts, then plan, then apply), and verification of the result."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.hmc import commands as C
from core.hmc.errors import InvalidVnicSpec
from core.hmc.models import (
    BackingDevice,
    Partition,
    SriovAdapter,
    SriovLogicalPort,
    SriovPhysPort,
    ViosDevice,
    Vnic,
    VnicMapping,
)

MAX_BACKING_DEVICES = 6


@dataclass(frozen=True)
class DesiredVnic:
    lpar: str
    vlan: int
    auto_failover: bool
    backing: tuple[C.BackingSpec, ...]
    slot: int | None = None

    def __post_init__(self) -> None:
        C.validate_name(self.lpar, "partition")
        C.validate_vlan(self.vlan)
        if self.slot is not None:
            C.validate_slot(self.slot)
        validate_backing_set(self.backing)


def validate_backing_set(backing: tuple[C.BackingSpec, ...] | list[C.BackingSpec]) -> None:
    """The platform's rules: 1-6 backing devices, no two on one physical port."""
    if not 1 <= len(backing) <= MAX_BACKING_DEVICES:
        raise InvalidVnicSpec(f"a vNIC takes 1 to {MAX_BACKING_DEVICES} backing devices, got {len(backing)}")
    seen: dict[tuple[int, int], str] = {}
    for b in backing:
        if b.port_key in seen:
            raise InvalidVnicSpec(
                f"backing devices on {seen[b.port_key]} and {b.vios} share physical port "
                f"{b.adapter_id}/{b.phys_port_id}: each backing device of a vNIC needs its own physical port")
        seen[b.port_key] = b.vios


@dataclass(frozen=True)
class Step:
    kind: str  # add_vnic | add_backing | set_priority | remove_backing | set_auto_failover
    description: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class VnicPlan:
    lpar: str
    slot: int | None
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()
    noop_reason: str = ""

    @property
    def changes(self) -> bool:
        return bool(self.steps)


def _key(vios: str, adapter: int, port: int) -> tuple[str, int, int]:
    return (vios, adapter, port)


def find_vnic(desired: DesiredVnic, current: list[Vnic]) -> Vnic | None:
    mine = [v for v in current if v.lpar_name == desired.lpar]
    if desired.slot is not None:
        return next((v for v in mine if v.slot_num == desired.slot), None)
    by_vlan = [v for v in mine if v.port_vlan_id == desired.vlan]
    if len(by_vlan) > 1:
        raise InvalidVnicSpec(f"{desired.lpar} has {len(by_vlan)} vNICs on VLAN {desired.vlan}: give the slot")
    return by_vlan[0] if by_vlan else None


def check_inventory(desired: DesiredVnic, partitions: list[Partition], adapters: list[SriovAdapter],
                    physports: list[SriovPhysPort]) -> list[str]:
    """Problems that make the desired vNIC impossible on this system (empty list = fine)."""
    problems = []
    parts = {p.name: p for p in partitions}
    if desired.lpar not in parts:
        problems.append(f"partition {desired.lpar} does not exist on the managed system")
    ads = {a.adapter_id: a for a in adapters}
    ports = {(p.adapter_id, p.phys_port_id) for p in physports}
    for b in desired.backing:
        p = parts.get(b.vios)
        if p is None:
            problems.append(f"VIOS {b.vios} does not exist")
        elif not p.is_vios:
            problems.append(f"{b.vios} is not a Virtual I/O Server (lpar_env={p.lpar_env})")
        elif p.state != "Running":
            problems.append(f"VIOS {b.vios} is {p.state}: start it before adding backing devices on it")
        a = ads.get(b.adapter_id)
        if a is None:
            problems.append(f"SR-IOV adapter {b.adapter_id} does not exist")
        elif not a.shared_mode:
            problems.append(f"SR-IOV adapter {b.adapter_id} is not in shared (sriov) mode")
        elif b.port_key not in ports:
            problems.append(f"adapter {b.adapter_id} has no physical port {b.phys_port_id} (ports count from 0)")
    return problems


def _spec_of(d: BackingDevice) -> C.BackingSpec:
    return C.BackingSpec(vios=d.vios_name, adapter_id=d.adapter_id, phys_port_id=d.phys_port_id,
                         capacity=d.desired_capacity, priority=d.failover_priority)


def plan_vnic(desired: DesiredVnic, current: list[Vnic], system: str) -> VnicPlan:
    vnic = find_vnic(desired, current)
    if vnic is None:
        argv = C.vnic_add(system, desired.lpar, desired.slot, desired.vlan, desired.auto_failover,
                          list(desired.backing))
        devs = ", ".join(f"{b.vios}:{b.adapter_id}/{b.phys_port_id}@{b.priority}" for b in desired.backing)
        return VnicPlan(desired.lpar, desired.slot, (Step(
            "add_vnic", f"add vNIC on VLAN {desired.vlan} with backing devices {devs} "
                        f"(auto priority failover {'on' if desired.auto_failover else 'off'})", tuple(argv)),))
    slot = vnic.slot_num
    steps: list[Step] = []
    notes: list[str] = []
    if vnic.port_vlan_id != desired.vlan:
        notes.append(f"slot {slot} has port VLAN {vnic.port_vlan_id}, desired {desired.vlan}: the port VLAN of an "
                     "existing vNIC is not changed here (remove and re-add the vNIC in a window)")
    cur = {_key(d.vios_name, d.adapter_id, d.phys_port_id): d for d in vnic.backing_devices}
    want = {_key(b.vios, b.adapter_id, b.phys_port_id): b for b in desired.backing}
    to_add = [b for k, b in want.items() if k not in cur]
    to_remove = [d for k, d in cur.items() if k not in want]
    if len(cur) - len(to_remove) + len(to_add) > MAX_BACKING_DEVICES:
        raise InvalidVnicSpec("the plan would exceed 6 backing devices")
    for b in to_add:
        steps.append(Step("add_backing", f"add backing device {b.vios}:{b.adapter_id}/{b.phys_port_id} "
                                         f"capacity {b.capacity} priority {b.priority} to slot {slot}",
                          tuple(C.vnic_add_backing(system, desired.lpar, slot, [b]))))
    for k, b in want.items():
        d = cur.get(k)
        if d is None:
            continue
        if d.failover_priority != b.priority:
            steps.append(Step("set_priority", f"set failover priority of logical port {d.logical_port_id} "
                                              f"({b.vios}:{b.adapter_id}/{b.phys_port_id}) from "
                                              f"{d.failover_priority} to {b.priority}",
                              tuple(C.bkdev_set_priority(system, desired.lpar, slot, d.logical_port_id,
                                                         b.priority))))
        if d.desired_capacity != b.capacity and float(d.desired_capacity) != float(b.capacity):
            notes.append(f"logical port {d.logical_port_id} has capacity {d.desired_capacity}%, desired "
                         f"{b.capacity}%: capacity of an existing logical port is not changed here")
    for d in to_remove:
        steps.append(Step("remove_backing", f"remove backing device {d.vios_name}:{d.adapter_id}/"
                                            f"{d.phys_port_id} (logical port {d.logical_port_id}) from slot {slot}",
                          tuple(C.vnic_remove_backing(system, desired.lpar, slot, [_spec_of(d)]))))
    if vnic.auto_priority_failover != desired.auto_failover:
        verb = "re-enable" if desired.auto_failover else "disable"
        steps.append(Step("set_auto_failover", f"{verb} auto priority failover on slot {slot}",
                          tuple(C.vnic_set_auto_failover(system, desired.lpar, slot, desired.auto_failover))))
    reason = ""
    if not steps:
        reason = (f"vNIC slot {slot} of {desired.lpar} already has the {len(want)} desired backing device(s) with "
                  f"the desired priorities and auto priority failover {'on' if desired.auto_failover else 'off'}")
    return VnicPlan(desired.lpar, slot, tuple(steps), tuple(notes), reason)


def verify_hmc(desired: DesiredVnic, current: list[Vnic]) -> tuple[Vnic | None, list[str]]:
    vnic = find_vnic(desired, current)
    if vnic is None:
        return None, [f"no vNIC of {desired.lpar} on VLAN {desired.vlan} after apply"]
    problems = []
    cur = {_key(d.vios_name, d.adapter_id, d.phys_port_id): d for d in vnic.backing_devices}
    for b in desired.backing:
        d = cur.get(_key(b.vios, b.adapter_id, b.phys_port_id))
        if d is None:
            problems.append(f"backing device {b.vios}:{b.adapter_id}/{b.phys_port_id} missing")
        elif d.failover_priority != b.priority:
            problems.append(f"logical port {d.logical_port_id} has priority {d.failover_priority}, want {b.priority}")
    if len(cur) != len(desired.backing):
        problems.append(f"{len(cur)} backing devices, want {len(desired.backing)}")
    if vnic.auto_priority_failover != desired.auto_failover:
        problems.append(f"auto_priority_failover={int(vnic.auto_priority_failover)}")
    return vnic, problems


@dataclass
class ViosCheck:
    vios: str
    logical_port_id: str
    location_code: str
    vf_present: bool
    vnicserver: str
    mapped: bool
    problems: list[str] = field(default_factory=list)


def verify_vios(vnic: Vnic, vios: str, logports: list[SriovLogicalPort], devices: list[ViosDevice],
                mappings: list[VnicMapping]) -> list[ViosCheck]:
    """For each backing device of ``vnic`` hosted by ``vios``: the VF device and its vnicserver mapping."""
    loc = {lp.logical_port_id: lp.location_code for lp in logports}
    out = []
    for d in vnic.backing_devices:
        if d.vios_name != vios:
            continue
        code = loc.get(d.logical_port_id, "")
        vf = next((dev for dev in devices if dev.physloc == code and code), None)
        m = next((mp for mp in mappings if code and mp.backing_physloc == code), None)
        chk = ViosCheck(vios, d.logical_port_id, code, vf is not None and vf.status == "Available",
                        m.name if m else "", bool(m and m.mapped and m.client_id == vnic.lpar_id))
        if not code:
            chk.problems.append(f"logical port {d.logical_port_id} not listed by lshwres -r sriov logport")
        if vf is None:
            chk.problems.append(f"no VF device at {code} on {vios}")
        elif vf.status != "Available":
            chk.problems.append(f"VF {vf.name} is {vf.status}")
        if m is None:
            chk.problems.append(f"no vnicserver backed by {code} on {vios}")
        elif not chk.mapped:
            chk.problems.append(f"{m.name} is not mapped to client partition {vnic.lpar_id}")
        out.append(chk)
    return out
