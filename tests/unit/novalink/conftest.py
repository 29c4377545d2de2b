from __future__ import annotations

import pytest

from core.novalink.model import InstallMedia, NovaLinkPartition, ServerLayout

PASSWORD = "unit-Clear-Pw-3b9f"  # must never appear in anything rendered
SALT = "n1hP6cJ32p17VMpQ"


@pytest.fixture
def part() -> NovaLinkPartition:
    return NovaLinkPartition(
        partition_name="nova0696010", managed_system="Server-9119-MME-SN0696010", mac="FA163E0096A1",
        ip="10.10.20.31", gateway="10.10.20.1", netmask="255.255.255.0", dns=["10.10.1.53", "10.10.2.53"],
        domain="prod.example.com", ntp=["timeserver1", "timeserver2"], timezone="Europe/Paris")


@pytest.fixture
def npiv(part: NovaLinkPartition) -> NovaLinkPartition:
    return part.model_copy(update={"pvmdisk": "/dev/mapper/mpatha"})


@pytest.fixture
def media() -> InstallMedia:
    return InstallMedia(name="novalink-1.0.0.3")


@pytest.fixture
def di_media() -> InstallMedia:
    return InstallMedia(name="novalink-lab", installer="debian-installer")


@pytest.fixture
def nim() -> ServerLayout:
    """The author's AIX NIM server: DocumentRoot /, tftp root /var/lib/tftpboot, bootpd."""
    return ServerLayout(server_ip="10.10.20.5", http_root="/", base_dir="/export/nim/lpp_source/powervc",
                        tftp_root="/var/lib/tftpboot", grub_dir=".", boot_file="core.elf", boot_service="bootpd")


@pytest.fixture
def dnsmasq() -> ServerLayout:
    return ServerLayout(server_ip="10.250.77.70", http_root="/srv/netboot", base_dir="/srv/netboot/export",
                        tftp_root="/srv/netboot", dnsmasq_hosts_dir="/etc/dnsmasq.d/powerops-hosts")
