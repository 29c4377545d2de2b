"""What a NovaLink network install is made of: the partition, the install media, the install server layout.

Pure models, validated at the edge: every value that ends up in a file, a path or a command is checked here.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import InvalidInput
from core.names import validate_host

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,46}$")
_HOSTLABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SERIAL = re.compile(r"^[A-Z0-9]{4,12}$")
_TZ = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+){0,2}$")
_DISK = re.compile(r"^/dev/[A-Za-z0-9/_.-]+$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_RELPATH = re.compile(r"^[A-Za-z0-9_.+/-]+$")


def normalize_mac(value: str) -> str:
    """'AABBCCDDEEFF', 'aa:bb:..', 'aa-bb-..', 'aabb.ccdd.eeff' -> 'aa:bb:cc:dd:ee:ff'."""
    hexdigits = re.sub(r"[:\-.]", "", value.strip()).lower()
    if not re.fullmatch(r"[0-9a-f]{12}", hexdigits):
        raise InvalidInput(f"invalid MAC address {value!r} (want 12 hex digits, e.g. 'FA:16:3E:00:00:01')")
    if int(hexdigits[:2], 16) & 1:
        raise InvalidInput(f"MAC address {value!r} is a multicast address, not a network card's")
    return ":".join(hexdigits[i:i + 2] for i in range(0, 12, 2))


def validate_relpath(value: str, what: str) -> str:
    v = value.strip().strip("/")
    if not v or not _RELPATH.match(v) or ".." in v.split("/"):
        raise InvalidInput(f"{what} {value!r} must be a relative path of [A-Za-z0-9_.+-/] without '..'")
    return v


def validate_abspath(value: str, what: str) -> str:
    v = posixpath.normpath(value.strip())
    if not v.startswith("/") or not _RELPATH.match(v.lstrip("/") or "x") or ".." in v.split("/"):
        raise InvalidInput(f"{what} {value!r} must be an absolute path of [A-Za-z0-9_.+-/] without '..'")
    return v


def serial_from_name(name: str, prefix: str = "nova") -> str:
    """The author's convention: partition ``nova0696010`` installs the system with serial ``0696010``."""
    serial = name[len(prefix):] if name.lower().startswith(prefix) else name
    serial = serial.upper()
    if not _SERIAL.match(serial):
        raise InvalidInput(f"cannot derive a system serial from partition name {name!r}; give system_serial")
    return serial


class _PartitionIdentity(BaseModel):
    """Validation shared by every model naming a NovaLink partition (name, host name, MAC)."""

    @field_validator("partition_name", check_fields=False)
    @classmethod
    def _pname(cls, v: str) -> str:
        if not _NAME.match(v):
            raise InvalidInput(f"invalid partition name {v!r}")
        return v

    @field_validator("hostname", check_fields=False)
    @classmethod
    def _hostname(cls, v: str) -> str:
        if v and not _HOSTLABEL.match(v):
            raise InvalidInput(f"invalid host name {v!r} (one lowercase DNS label)")
        return v

    @field_validator("mac", check_fields=False)
    @classmethod
    def _mac(cls, v: str) -> str:
        return normalize_mac(v)


class NovaLinkPartition(_PartitionIdentity):
    """One NovaLink partition to install over the network (one per managed system)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition_name: str = Field(description="LPAR name of the NovaLink partition on the HMC, e.g. nova0696010.")
    hostname: str = Field(default="", description="Host name given to NovaLink (default: the partition name).")
    system_serial: str = Field(
        default="", description="Serial number of the managed system (default: derived from the partition "
        "name, nova0696010 -> 0696010).")
    managed_system: str = Field(default="", description="HMC managed system name (for lpar_netboot).")
    profile: str = Field(default="default_profile", description="Partition profile used for the netboot.")
    mac: str = Field(description="MAC address of the partition's network adapter used for the boot.")
    ip: str = Field(description="IP address of the NovaLink partition.")
    gateway: str = Field(description="Default gateway.")
    netmask: str = Field(description="Netmask, dotted (255.255.255.0).")
    dns: list[str] = Field(default_factory=list, description="Up to two DNS servers.")
    domain: str = Field(default="", description="DNS domain.")
    ntp: list[str] = Field(default_factory=list, description="NTP servers (first one goes into pvm-install.cfg).")
    timezone: str = Field(default="UTC", description="Time zone, e.g. Europe/Paris.")
    install_disk: str = Field(default="", description="Install disk (vSCSI), e.g. /dev/sda; empty = installer's choice.")
    pvmdisk: str = Field(default="", description="NPIV install disk for the installer, e.g. /dev/mapper/mpatha.")
    admin_user: str = Field(default="padmin", description="NovaLink administrator account.")
    lmbsize: int = Field(default=256, description="Logical memory block size (MB).")

    @field_validator("ip", "gateway")
    @classmethod
    def _ipv4(cls, v: str) -> str:
        try:
            return str(ipaddress.IPv4Address(v.strip()))
        except ValueError:
            raise InvalidInput(f"invalid IPv4 address {v!r}") from None

    @field_validator("netmask")
    @classmethod
    def _netmask(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(f"0.0.0.0/{v.strip()}")
        except ValueError:
            raise InvalidInput(f"invalid netmask {v!r}") from None
        return str(net.netmask)

    @field_validator("dns")
    @classmethod
    def _dns(cls, v: list[str]) -> list[str]:
        if len(v) > 2:
            raise InvalidInput("at most two DNS servers (dns1, dns2)")
        return [str(ipaddress.IPv4Address(x.strip())) for x in v]

    @field_validator("ntp")
    @classmethod
    def _ntp(cls, v: list[str]) -> list[str]:
        return [validate_host(x) for x in v]

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return validate_host(v) if v else v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        if not _TZ.match(v):
            raise InvalidInput(f"invalid time zone {v!r}")
        return v

    @field_validator("install_disk", "pvmdisk")
    @classmethod
    def _disk(cls, v: str) -> str:
        if v and not _DISK.match(v):
            raise InvalidInput(f"invalid disk device {v!r} (want /dev/...)")
        return v

    @field_validator("admin_user")
    @classmethod
    def _user(cls, v: str) -> str:
        if not _USER.match(v):
            raise InvalidInput(f"invalid user name {v!r}")
        return v

    @field_validator("system_serial")
    @classmethod
    def _serial(cls, v: str) -> str:
        if v and not _SERIAL.match(v.upper()):
            raise InvalidInput(f"invalid system serial {v!r}")
        return v.upper()

    @field_validator("managed_system", "profile")
    @classmethod
    def _hmcname(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.*+-]{0,62}", v):
            raise InvalidInput(f"invalid HMC object name {v!r}")
        return v

    @model_validator(mode="after")
    def _same_subnet(self) -> NovaLinkPartition:
        net = ipaddress.IPv4Network(f"{self.ip}/{self.netmask}", strict=False)
        if ipaddress.IPv4Address(self.gateway) not in net:
            raise InvalidInput(f"gateway {self.gateway} is not in {net} of {self.partition_name} ({self.ip})")
        if self.install_disk and self.pvmdisk:
            raise InvalidInput("give install_disk (vSCSI) or pvmdisk (NPIV), not both")
        return self

    @property
    def host(self) -> str:
        return self.hostname or self.partition_name.lower()

    @property
    def serial(self) -> str:
        return self.system_serial or serial_from_name(self.partition_name)

    @property
    def prefix_len(self) -> int:
        return ipaddress.IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen


class ClientRef(_PartitionIdentity):
    """Enough to find (and remove) the install files of one partition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition_name: str = Field(description="LPAR name of the NovaLink partition.")
    hostname: str = Field(default="", description="Host name given at prepare time (default: partition name).")
    mac: str = Field(description="MAC address used at prepare time.")

    @property
    def host(self) -> str:
        return self.hostname or self.partition_name.lower()


def check_batch(partitions: list[NovaLinkPartition]) -> None:
    """Several partitions prepared at once must not collide (MAC, IP, host name, partition name)."""
    for attr in ("mac", "ip", "host", "partition_name"):
        seen: dict[str, str] = {}
        for p in partitions:
            v = str(getattr(p, attr))
            if v in seen:
                raise InvalidInput(f"{p.partition_name} and {seen[v]} have the same {attr} {v}")
            seen[v] = p.partition_name


class InstallMedia(BaseModel):
    """Where things are inside the NovaLink install media (ISO content), relative to its root."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="novalink", description="Name of the media directory on the install server.")
    kernel: str = Field(default="install/vmlinux", description="Kernel, relative to the media root.")
    initrd: str = Field(default="install/netboot_initrd.gz", description="Initrd, relative to the media root.")
    squashfs: str = Field(default="install/filesystem.squashfs", description="Live installer image.")
    core_elf: str = Field(default="boot/grub/powerpc-ieee1275/core.elf", description="GRUB network boot image.")
    pvm_repo_archive: str = Field(default="pvm/repo/pvmrepo.tgz", description="The pvm repository archive.")
    initrd_preseed: str = Field(
        default="opt/ibm/pvm-install/data/pvm-install-preseed.cfg",
        description="Installer preseed inside the initrd; for NPIV partitions (pvmdisk) a per-partition initrd "
        "is built with 'd-i grub-installer/bootdev string <pvmdisk>' in it (the NPIV grub-install fix).")
    installer: Literal["novalink", "debian-installer"] = Field(
        default="novalink", description="Installer family: 'novalink' reads pvm-installer-config; "
        "'debian-installer' (the lab stand-in) reads a d-i preseed (url=).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise InvalidInput(f"invalid media name {v!r}")
        return v

    @field_validator("kernel", "initrd", "squashfs", "core_elf", "pvm_repo_archive", "initrd_preseed")
    @classmethod
    def _rel(cls, v: str) -> str:
        return validate_relpath(v, "media path")


class ServerLayout(BaseModel):
    """Directories and URLs of the install server (bootp/DHCP + TFTP + HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server_ip: str = Field(description="Address the partitions reach the install server at.")
    http_root: str = Field(description="Directory served at http://server_ip/ (DocumentRoot).")
    http_port: int = Field(default=80, ge=1, le=65535)
    base_dir: str = Field(description="Directory under http_root holding media, repositories and client files.")
    tftp_root: str = Field(description="TFTP root directory.")
    grub_dir: str = Field(default="boot/grub", description="Directory of grub.cfg files, relative to tftp_root "
                          "(the prefix compiled into core.elf).")
    boot_file: str = Field(default="boot/grub/powerpc-ieee1275/core.elf",
                           description="Boot file path relative to tftp_root.")
    boot_service: Literal["dnsmasq", "bootpd"] = Field(default="dnsmasq")
    dnsmasq_hosts_dir: str = Field(default="/etc/dnsmasq.d/powerops-hosts",
                                   description="dhcp-hostsdir of dnsmasq (one file per partition).")
    bootptab: str = Field(default="/etc/bootptab")

    @field_validator("server_ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        return str(ipaddress.IPv4Address(v))

    @field_validator("http_root", "base_dir", "tftp_root", "dnsmasq_hosts_dir", "bootptab")
    @classmethod
    def _abs(cls, v: str) -> str:
        return validate_abspath(v, "install server path")

    @field_validator("grub_dir", "boot_file")
    @classmethod
    def _rel(cls, v: str) -> str:
        return validate_relpath(v, "TFTP path")

    @model_validator(mode="after")
    def _base_under_root(self) -> ServerLayout:
        if not (self.base_dir + "/").startswith(self.http_root.rstrip("/") + "/"):
            raise InvalidInput(f"base_dir {self.base_dir} is not under http_root {self.http_root}")
        return self

    def url_path(self, abspath: str) -> str:
        """URL path of a file under http_root."""
        root = self.http_root.rstrip("/")
        if not (abspath + "/").startswith(root + "/"):
            raise InvalidInput(f"{abspath} is not served over HTTP (not under {self.http_root})")
        return "/" + abspath[len(root):].lstrip("/")

    def tftp_path(self, abspath: str) -> str | None:
        root = self.tftp_root.rstrip("/")
        if (abspath + "/").startswith(root + "/"):
            return abspath[len(root):].lstrip("/")
        return None

    @property
    def http_authority(self) -> str:
        return self.server_ip if self.http_port == 80 else f"{self.server_ip}:{self.http_port}"
