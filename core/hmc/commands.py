"""HMC and VIOS command lines as argument lists, built only from validated values.

Nothing here reaches a shell: the SSH seam quotes each argument (``shlex.join``) and the HMC's restricted
shell re-splits them. HMC attribute text (``-a``) is built with the HMC's own quoting rules.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from core.errors import InvalidInput
from core.hmc import attrs
from core.hmc import parsers as P

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,62}$")
_LOGPORT = re.compile(r"^[0-9a-fA-F]{8}$")
_MAC = re.compile(r"^[0-9a-fA-F]{12}$|^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
_DEVICE = re.compile(r"^[a-z]+[0-9]+$")
_IPV4 = re.compile(r"^(\d{1,3}\.){3}\d{1,3}$")
_CAPACITY = re.compile(r"^\d{1,3}(\.\d{1,2})?$")

DELIM = "%"  # -F delimiter of the flows (never appears in the values we read)


def validate_name(value: str, what: str = "name") -> str:
    """Partition, managed system, profile and VIOS names: letters, digits, ``_ . + -``; no spaces or quotes."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(f"invalid {what} {value!r}: use 1-63 of [A-Za-z0-9_.+-], starting with a letter/digit")
    return value


def validate_logport(value: str) -> str:
    if not _LOGPORT.fullmatch(value):
        raise InvalidInput(f"invalid SR-IOV logical port id {value!r}: 8 hex digits as lshwres prints it")
    return value.lower()


def validate_priority(value: int) -> int:
    if not isinstance(value, int) or not 1 <= value <= 100:
        raise InvalidInput(f"failover priority {value!r} out of range 1-100")
    return value


def validate_capacity(value: str) -> str:
    if not _CAPACITY.fullmatch(value) or not 0 < float(value) <= 100:
        raise InvalidInput(f"invalid capacity {value!r}: a percentage such as 2.0")
    return value


def validate_slot(value: int) -> int:
    if not isinstance(value, int) or not 2 <= value <= 65535:
        raise InvalidInput(f"invalid virtual slot number {value!r}")
    return value


def validate_vlan(value: int) -> int:
    if not isinstance(value, int) or not 0 <= value <= 4094:
        raise InvalidInput(f"invalid VLAN id {value!r}: 0-4094")
    return value


def validate_device(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise InvalidInput(f"invalid VIOS device name {value!r}")
    return value


def validate_mac(value: str) -> str:
    if not _MAC.fullmatch(value):
        raise InvalidInput(f"invalid MAC address {value!r}")
    return value.replace(":", "").lower()


def validate_ipv4(value: str) -> str:
    if not _IPV4.fullmatch(value) or any(int(p) > 255 for p in value.split(".")):
        raise InvalidInput(f"invalid IPv4 address {value!r}")
    return value


@dataclass(frozen=True)
class BackingSpec:
    """One backing device as chhwres takes it: sriov/vios/[vios_id]/adapter/port/capacity/priority."""

    vios: str
    adapter_id: int
    phys_port_id: int
    capacity: str = "2.0"
    priority: int = 50

    def __post_init__(self) -> None:
        validate_name(self.vios, "VIOS name")
        validate_capacity(self.capacity)
        validate_priority(self.priority)
        if not 0 <= self.adapter_id <= 999 or not 0 <= self.phys_port_id <= 63:
            raise InvalidInput(f"invalid adapter/port {self.adapter_id}/{self.phys_port_id}")

    def text(self) -> str:
        return f"sriov/{self.vios}//{self.adapter_id}/{self.phys_port_id}/{self.capacity}/{self.priority}"

    @property
    def port_key(self) -> tuple[int, int]:
        return (self.adapter_id, self.phys_port_id)


def _spec(fields: list[str]) -> str:
    return attrs.build_field_spec(fields, DELIM)


# -- HMC: reads ----------------------------------------------------------------------------------------------


def lshmc_version() -> list[str]:
    return ["lshmc", "-V"]


def lslic(system: str) -> list[str]:
    return ["lslic", "-m", validate_name(system, "managed system"), "-t", "sys", "-F", _spec(P.LSLIC_FIELDS)]


def lssyscfg_sys() -> list[str]:
    return ["lssyscfg", "-r", "sys", "-F", _spec(P.SYS_FIELDS)]


def lssyscfg_lpar(system: str, names: list[str] | None = None) -> list[str]:
    argv = ["lssyscfg", "-r", "lpar", "-m", validate_name(system, "managed system")]
    if names:
        argv += ["--filter", attrs.build_filter({"lpar_names": [validate_name(n, "partition") for n in names]})]
    return argv + ["-F", _spec(P.LPAR_FIELDS)]


def lshwres_sriov(system: str, rsubtype: str) -> list[str]:
    fields = {"adapter": P.ADAPTER_FIELDS, "physport": P.PHYSPORT_FIELDS, "logport": P.LOGPORT_FIELDS}
    if rsubtype not in fields:
        raise InvalidInput(f"unknown SR-IOV resource subtype {rsubtype!r}")
    argv = ["lshwres", "-r", "sriov", "--rsubtype", rsubtype, "-m", validate_name(system, "managed system")]
    if rsubtype in ("physport", "logport"):
        argv += ["--level", "eth"]
    return argv + ["-F", _spec(fields[rsubtype])]


def lshwres_vnic(system: str, lpar: str | None = None) -> list[str]:
    argv = ["lshwres", "-r", "virtualio", "--rsubtype", "vnic", "-m", validate_name(system, "managed system"),
            "--level", "lpar"]
    if lpar:
        argv += ["--filter", attrs.build_filter({"lpar_names": [validate_name(lpar, "partition")]})]
    return argv + ["-F", _spec(P.VNIC_FIELDS)]


def lssvcevents(days: int = 1) -> list[str]:
    if not 1 <= days <= 365:
        raise InvalidInput("days must be 1-365")
    return ["lssvcevents", "-t", "hardware", "-d", str(days)]


# -- HMC: changes --------------------------------------------------------------------------------------------


def _vnic_base(system: str, lpar: str, op: str) -> list[str]:
    return ["chhwres", "-r", "virtualio", "--rsubtype", "vnic", "-m", validate_name(system, "managed system"),
            "-o", op, "-p", validate_name(lpar, "partition")]


def vnic_add(system: str, lpar: str, slot: int | None, vlan: int, auto_failover: bool,
             backing: list[BackingSpec]) -> list[str]:
    if not backing:
        raise InvalidInput("a vNIC needs at least one backing device")
    argv = _vnic_base(system, lpar, "a")
    if slot is not None:
        argv += ["-s", str(validate_slot(slot))]
    text = (f"port_vlan_id={validate_vlan(vlan)},auto_priority_failover={1 if auto_failover else 0},"
            + attrs.quote_token("backing_devices=" + ",".join(b.text() for b in backing)))
    return argv + ["-a", text]


def vnic_add_backing(system: str, lpar: str, slot: int, backing: list[BackingSpec]) -> list[str]:
    text = attrs.quote_token("backing_devices+=" + ",".join(b.text() for b in backing))
    return _vnic_base(system, lpar, "s") + ["-s", str(validate_slot(slot)), "-a", text]


def vnic_remove_backing(system: str, lpar: str, slot: int, backing: list[BackingSpec]) -> list[str]:
    text = attrs.quote_token("backing_devices-=" + ",".join(b.text() for b in backing))
    return _vnic_base(system, lpar, "s") + ["-s", str(validate_slot(slot)), "-a", text]


def vnic_set_auto_failover(system: str, lpar: str, slot: int, enabled: bool) -> list[str]:
    return _vnic_base(system, lpar, "s") + ["-s", str(validate_slot(slot)), "-a",
                                            f"auto_priority_failover={1 if enabled else 0}"]


def bkdev_set_priority(system: str, lpar: str, slot: int, logport: str, priority: int) -> list[str]:
    return ["chhwres", "-r", "virtualio", "--rsubtype", "vnicbkdev", "-m", validate_name(system, "managed system"),
            "-o", "s", "-p", validate_name(lpar, "partition"), "-s", str(validate_slot(slot)),
            "--logport", validate_logport(logport), "-a", f"failover_priority={validate_priority(priority)}"]


def bkdev_activate(system: str, lpar: str, slot: int, logport: str) -> list[str]:
    return ["chhwres", "-r", "virtualio", "--rsubtype", "vnicbkdev", "-m", validate_name(system, "managed system"),
            "-o", "act", "-p", validate_name(lpar, "partition"), "-s", str(validate_slot(slot)),
            "--logport", validate_logport(logport)]


def partition_start(system: str, lpar: str, profile: str = "default") -> list[str]:
    return ["chsysstate", "-r", "lpar", "-m", validate_name(system, "managed system"), "-o", "on",
            "-n", validate_name(lpar, "partition"), "-f", validate_name(profile, "profile")]


def partition_shutdown(system: str, lpar: str, immediate: bool = True) -> list[str]:
    argv = ["chsysstate", "-r", "lpar", "-m", validate_name(system, "managed system"), "-o", "shutdown",
            "-n", validate_name(lpar, "partition")]
    return argv + (["--immed"] if immediate else [])


def lpar_netboot(system: str, lpar: str, profile: str, mac: str, server: str, gateway: str, client: str,
                 netmask: str | None = None) -> list[str]:
    argv = ["lpar_netboot", "-t", "ent", "-m", validate_mac(mac), "-s", "auto", "-d", "auto",
            "-S", validate_ipv4(server), "-G", validate_ipv4(gateway), "-C", validate_ipv4(client)]
    if netmask:
        argv += ["-K", validate_ipv4(netmask)]
    return argv + [validate_name(lpar, "partition"), validate_name(profile, "profile"),
                   validate_name(system, "managed system")]


# -- VIOS -----------------------------------------------------------------------------------------------------


def ioslevel() -> list[str]:
    return ["ioscli", "ioslevel"]


def lsdev_adapters() -> list[str]:
    return ["ioscli", "lsdev", "-type", "adapter", "-field", *P.LSDEV_FIELDS, "-fmt", ":"]


def lsmap_vnic() -> list[str]:
    return ["ioscli", "lsmap", "-all", "-vnic", "-fmt", ":"]


def vios_shutdown(restart: bool = False) -> list[str]:
    return ["ioscli", "shutdown", "-force"] + (["-restart"] if restart else [])


def root_script(argv: list[str]) -> bytes:
    """A root command for ``oem_setup_env`` (it reads commands on stdin); values are validated first."""
    return (shlex.join(argv) + "\n").encode()


def vnicstat(server: str) -> list[str]:
    return ["vnicstat", validate_device(server)]


def errpt_summary() -> list[str]:
    return ["errpt"]


def errpt_detail(identifier: str) -> list[str]:
    if not re.fullmatch(r"[0-9A-F]{8}", identifier):
        raise InvalidInput(f"invalid errpt identifier {identifier!r}")
    return ["errpt", "-aj", identifier]
