"""The NovaLink install server (bootp/DHCP + TFTP + HTTP, reached over SSH): settings and a client factory."""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field

from blocks.ssh import SshTarget
from core.novalink.model import ServerLayout
from seams.ssh import SshConnection


class NovaLinkInstallServer(Block):
    """An install server for NovaLink network installs (NIM-like: bootp/DHCP, TFTP, HTTP)."""

    _block_type_name = "powerops NovaLink install server"
    _block_type_slug = "powerops-novalink-install-server"
    _description = ("Install server for NovaLink network installs: SSH access, the directories served over "
                    "TFTP/HTTP, the boot service and the logs followed during an install.")

    ssh: SshTarget = Field(description="How powerops logs in to the install server.")
    server_ip: str = Field(description="Address the partitions reach the install server at (BOOTP server).")
    http_root: str = Field(description="Directory the HTTP server serves at / (DocumentRoot).")
    http_port: int = Field(default=80, ge=1, le=65535, description="HTTP port (GRUB uses it for kernel/initrd).")
    base_dir: str = Field(description="Directory under http_root for media, pvm repositories and client files.")
    tftp_root: str = Field(description="TFTP root directory.")
    grub_dir: str = Field(default="boot/grub", description="grub.cfg directory relative to tftp_root "
                          "(the prefix compiled into core.elf).")
    boot_file: str = Field(default="boot/grub/powerpc-ieee1275/core.elf",
                           description="Boot file relative to tftp_root (the bootp 'bf').")
    boot_service: Literal["dnsmasq", "bootpd"] = Field(
        default="dnsmasq", description="dnsmasq (one dhcp-hostsdir file per partition) or bootpd (/etc/bootptab).")
    dnsmasq_hosts_dir: str = Field(default="/etc/dnsmasq.d/powerops-hosts",
                                   description="dnsmasq --dhcp-hostsdir directory.")
    bootptab: str = Field(default="/etc/bootptab", description="bootptab file of bootpd.")
    reload_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "reload-or-restart", "dnsmasq"],
        description="Command (argument list) that makes the boot service re-read its entries.")
    boot_log: str = Field(default="/var/log/dnsmasq.log", description="Log of the DHCP/BOOTP and TFTP service.")
    http_access_log: str = Field(default="/var/log/nginx/access.log",
                                 description="HTTP access log (combined format).")
    console_log_pattern: str = Field(
        default="", description="Optional console log of a partition, '{partition}' replaced by its name.")

    def layout(self) -> ServerLayout:
        return ServerLayout(
            server_ip=self.server_ip, http_root=self.http_root, http_port=self.http_port, base_dir=self.base_dir,
            tftp_root=self.tftp_root, grub_dir=self.grub_dir, boot_file=self.boot_file,
            boot_service=self.boot_service, dnsmasq_hosts_dir=self.dnsmasq_hosts_dir, bootptab=self.bootptab,
        )

    def connect(self) -> SshConnection:
        return self.ssh.connect()
