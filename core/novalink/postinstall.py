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


# -- repository keys -----------------------------------------------------------------------------------------

REPO_KEY_DIR = "/etc/apt/trusted.gpg.d"


def repo_key_path(repo: str) -> str:
    """Where the signing key of ``repo`` (pvm, rsct) is installed (a binary keyring: every apt version reads
    ``trusted.gpg.d/*.gpg``, Ubuntu 16.04's included)."""
    if repo not in ("pvm", "rsct"):
        raise InvalidInput(f"unknown repository {repo!r}")
    return f"{REPO_KEY_DIR}/powerops-{repo}.gpg"


def repo_key_urls(mirror_url: str, pvm_key: str, rsct_key: str) -> dict[str, str]:
    """URLs of the public keys published at the repositories' roots (IBM's ``novalink-gpg-pub.key``)."""
    base = mirror_url.rstrip("/")
    urls: dict[str, str] = {}
    for repo, sub, name in (("pvm", "nova/debian", pvm_key), ("rsct", "rsct/ubuntu", rsct_key)):
        if not name:
            continue
        if name.startswith(("http://", "https://")):
            urls[repo] = name
        elif re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            urls[repo] = f"{base}/{sub}/{name}"
        else:
            raise InvalidInput(f"invalid key file name {name!r} (a file name at the repository root or a URL)")
    return urls


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def dearmor(armored: str) -> bytes:
    """The binary OpenPGP packets of an ASCII-armored public key block (RFC 4880 §6), checksum verified."""
    import base64
    import binascii

    lines = [ln.strip() for ln in armored.replace("\r", "").split("\n")]
    try:
        start = lines.index("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        end = lines.index("-----END PGP PUBLIC KEY BLOCK-----", start)
    except ValueError:
        raise InvalidInput("not an ASCII-armored OpenPGP public key block") from None
    body = lines[start + 1:end]
    if "" in body:  # armor headers (Version:, Comment:) end at the first blank line
        body = body[body.index("") + 1:]
    checksum = None
    if body and body[-1].startswith("="):
        checksum = body.pop()[1:]
    try:
        data = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the armored key block is not valid base64") from None
    if not data or not data[0] & 0x80:
        raise InvalidInput("the armored key block holds no OpenPGP packet")
    if checksum is not None and base64.b64decode(checksum) != _crc24(data).to_bytes(3, "big"):
        raise InvalidInput("the armored key block fails its CRC-24 checksum")
    return data


# -- package state (facts -> plan) -------------------------------------------------------------------------


def parse_apt_policy(text: str) -> dict[str, tuple[str | None, str | None]]:
    """``apt-cache policy PKG...`` -> {package: (installed, candidate)}; None for ``(none)``."""
    out: dict[str, tuple[str | None, str | None]] = {}
    current: str | None = None
    installed: str | None = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = line.rstrip()[:-1]
            installed = None
            out[current] = (None, None)
            continue
        if current is None:
            continue
        s = line.strip()
        if s.startswith("Installed:"):
            v = s.split(":", 1)[1].strip()
            installed = None if v == "(none)" else v
            out[current] = (installed, out[current][1])
        elif s.startswith("Candidate:"):
            v = s.split(":", 1)[1].strip()
            out[current] = (installed, None if v == "(none)" else v)
    return out


def packages_to_install(policy: dict[str, tuple[str | None, str | None]], wanted: list[str]) -> list[str]:
    """The wanted packages missing or older than the mirror's candidate; InvalidInput if the mirror lacks one."""
    absent = [p for p in wanted if policy.get(p, (None, None))[1] is None]
    if absent:
        raise InvalidInput("not available from the configured apt sources: " + ", ".join(absent)
                           + " (check the mirror URL, the suites and the repository key)")
    return [p for p in wanted if policy[p][0] != policy[p][1]]
