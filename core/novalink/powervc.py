"""Registration of an installed NovaLink host in PowerVC (pure: request body, facts, plan).

PowerVC's compute host registration API (IBM Knowledge Center, "Compute host registration"; the same body as
IBM's ansible-powervc ``novalink`` module): ``POST /v2.1/{tenant_id}/os-hosts`` with

    {"host": {"registration": {"access_ip": ..., "user_id": ..., "password" | "private_key_data": ...,
                               "host_type": "powervm", "host_display_name": ..., "host_group": ...,
                               "asynchronous": true, "host_standby": false, "auto_add_host_key": true,
                               "force_switch": false, "force_unmanage": false}}}

PowerVC then installs its compute packages on the NovaLink partition and starts nova-compute there; the host
appears as a hypervisor named ``<type><model>_<serial>`` (e.g. ``9119MME_0696010``) whose ``host_ip`` is the
NovaLink partition's address. "Already registered" is read from the standard ``GET /os-hypervisors/detail``
(microversion >= 2.53 for ``host_ip``), so the check works against any Nova.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput

HYPERVISORS_MICROVERSION = "2.53"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,62}$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$")
_HOSTNAME_SERIAL = re.compile(r"^[A-Za-z0-9]{4,8}_([A-Za-z0-9]{5,8})$")


@dataclass(frozen=True)
class Hypervisor:
    name: str
    host_ip: str
    state: str
    status: str
    service_host: str

    @property
    def serial(self) -> str | None:
        m = _HOSTNAME_SERIAL.match(self.name)
        return m.group(1).upper() if m else None


def parse_hypervisors(body: Any) -> list[Hypervisor]:
    """``GET /os-hypervisors/detail`` -> hypervisors (name, host_ip, state, status, service host)."""
    if not isinstance(body, dict) or not isinstance(body.get("hypervisors"), list):
        raise InvalidInput("unexpected os-hypervisors answer (no 'hypervisors' list)")
    out = []
    for h in body["hypervisors"]:
        service = h.get("service") or {}
        out.append(Hypervisor(name=str(h.get("hypervisor_hostname") or ""), host_ip=str(h.get("host_ip") or ""),
                              state=str(h.get("state") or ""), status=str(h.get("status") or ""),
                              service_host=str(service.get("host") or "")))
    return out


def find_registered(hypervisors: list[Hypervisor], access_ip: str, serial: str) -> Hypervisor | None:
    """The hypervisor that already is this NovaLink host: same management address, or the PowerVC host name
    of the same managed system (``<type><model>_<serial>``)."""
    for h in hypervisors:
        if h.host_ip == access_ip or (serial and h.serial == serial.upper()):
            return h
    return None


def registration_body(access_ip: str, user_id: str, display_name: str, *, password: str = "",
                      private_key: str = "", host_group: str = "", standby: bool = False,
                      asynchronous: bool = True) -> dict[str, Any]:
    """The documented request body; exactly one of password / private_key."""
    if bool(password) == bool(private_key):
        raise InvalidInput("give exactly one of a password or a private key for the NovaLink user")
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user_id):
        raise InvalidInput(f"invalid NovaLink user {user_id!r}")
    if not _NAME.match(display_name):
        raise InvalidInput(f"invalid host display name {display_name!r}")
    if host_group and not _GROUP.match(host_group):
        raise InvalidInput(f"invalid host group {host_group!r}")
    reg: dict[str, Any] = {
        "access_ip": access_ip, "user_id": user_id, "host_type": "powervm", "host_display_name": display_name,
        "asynchronous": asynchronous, "host_standby": standby, "auto_add_host_key": True,
        "force_switch": False, "force_unmanage": False,
    }
    if host_group:
        reg["host_group"] = host_group
    if password:
        reg["password"] = password
    else:
        reg["private_key_data"] = private_key
    return {"host": {"registration": reg}}


def redacted(body: dict[str, Any]) -> dict[str, Any]:
    """The body as it may be logged or published: credentials replaced."""
    reg = dict(body["host"]["registration"])
    for key in ("password", "private_key_data"):
        if key in reg:
            reg[key] = "********"
    return {"host": {"registration": reg}}


def parse_registration_answer(body: Any) -> dict[str, str]:
    """The documented answer of a registration (``{"host": {"registration": {...}, "host_name": ...}}`` or the
    asynchronous ``{"host": {...}}``): what names the new host, never credentials."""
    host = body.get("host") if isinstance(body, dict) else None
    if not isinstance(host, dict):
        raise InvalidInput("unexpected registration answer (no 'host' object)")
    raw = host.get("registration")
    reg: dict[str, Any] = raw if isinstance(raw, dict) else {}
    out = {k: str(v) for k, v in {**host, **reg}.items()
           if k in ("host_name", "host", "access_ip", "host_display_name", "state", "status", "user_id")
           and isinstance(v, (str, int))}
    return out
