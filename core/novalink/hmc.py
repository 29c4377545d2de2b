"""The HMC side of a network install: ``lpar_netboot`` argv (real syntax) and its outcome (pure)."""

from __future__ import annotations

import re

from core.errors import InvalidInput
from core.novalink.errors import NetbootRefused
from core.novalink.model import NovaLinkPartition

_HSCL = re.compile(r"\b(HSCL[0-9A-F]{4})\b.*")


def lpar_netboot_argv(p: NovaLinkPartition, server_ip: str, speed: str = "auto", duplex: str = "auto") -> list[str]:
    """``lpar_netboot -t ent -m <MAC> -s auto -d auto -S <server> -G <gateway> -C <client> <lpar> <profile>
    <managed-system>`` (the MAC without separators, as the HMC prints it)."""
    if not p.managed_system:
        raise InvalidInput(f"partition {p.partition_name}: managed_system is needed for lpar_netboot")
    return [
        "lpar_netboot", "-t", "ent", "-m", p.mac.replace(":", "").upper(), "-s", speed, "-d", duplex,
        "-S", server_ip, "-G", p.gateway, "-C", p.ip, p.partition_name, p.profile, p.managed_system,
    ]


def check_lpar_netboot(host: str, command: str, exited: int, stdout: str, stderr: str) -> None:
    """lpar_netboot prints 'Network boot proceeding' / 'Finished.' on success; HSCL codes or rc != 0 fail."""
    text = f"{stdout}\n{stderr}"
    m = _HSCL.search(text)
    if exited != 0 or m:
        detail = m.group(0).strip() if m else (stderr.strip() or stdout.strip() or "(no output)")
        raise NetbootRefused(host, f"`{command}` exited {exited}: {detail}")
