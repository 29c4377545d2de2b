"""Post-install configuration of a NovaLink partition (pure): apt sources of the install server's mirror,
NTP/DNS files, and the pvm-backup crontab check."""

from __future__ import annotations

import re

from core.errors import InvalidInput
from core.names import validate_package
from core.novalink.model import NovaLinkPartition

_SUITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")  # IBM's suites have '_' (novalink_1.0.0)


def validate_suite(value: str) -> str:
    if not _SUITE.match(value):
        raise InvalidInput(f"invalid apt suite {value!r}")
    return value


DEFAULT_PACKAGES = ["pvm-novalink", "rsct.core", "rsct.basic"]

# What NovaLink installs in root's crontab (hourly and daily backups of VIOS and hypervisor).
BACKUP_ENTRIES = [
    ("1-23", "vios", "hourly"),
    ("1-23", "system", "hourly"),
    ("0", "vios", "daily"),
    ("0", "system", "daily"),
]


def apt_sources(mirror_url: str, pvm_suite: str = "novalink_1.0.0", rsct_suite: str = "xenial") -> dict[str, str]:
    """``/etc/apt/sources.list.d/{pvm,rsct}.list`` pointing at the install server's mirror."""
    base = mirror_url.rstrip("/")
    return {
        "/etc/apt/sources.list.d/pvm.list":
            f"deb {base}/nova/debian {validate_suite(pvm_suite)} non-free\n",
        "/etc/apt/sources.list.d/rsct.list":
            f"deb {base}/rsct/ubuntu {validate_suite(rsct_suite)} main\n",
    }


def validate_packages(packages: list[str]) -> list[str]:
    return [validate_package(p) for p in packages]


def time_dns_files(p: NovaLinkPartition) -> dict[str, str]:
    files: dict[str, str] = {}
    if p.ntp:
        files["/etc/systemd/timesyncd.conf.d/powerops.conf"] = (
            "[Time]\nNTP=" + " ".join(p.ntp) + "\n")
    if p.dns:
        lines = [f"nameserver {d}" for d in p.dns]
        if p.domain:
            lines.insert(0, f"search {p.domain}")
        files["/etc/resolv.conf"] = "\n".join(lines) + "\n"
    return files


def missing_backup_entries(crontab: str) -> list[str]:
    """The expected pvm-backup lines absent from ``crontab -l`` output (empty list = all present)."""
    missing = []
    for hours, kind, freq in BACKUP_ENTRIES:
        pat = re.compile(rf"^\s*\d+\s+{re.escape(hours)}\s+\*\s+\*\s+\*\s+\S*pvm-backup\s+--type\s+{kind}"
                         rf"\s+--frequency\s+{freq}\b", re.M)
        if not pat.search(crontab):
            missing.append(f"pvm-backup --type {kind} --frequency {freq} (hours {hours})")
    return missing
