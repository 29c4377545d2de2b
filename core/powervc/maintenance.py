"""Pure planning for the PowerVC maintenance flows: group-snapshot retention, quota classes, ceilometer event
retention, and the guarded repairs (instance state reset, ghost volume detach)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import ConfirmationRequired, InvalidInput, SafetyCheckFailed
from core.powervc.models import Action, Plan

# -- generic volume group snapshots with a retention count ----------------------------------------------


@dataclass(frozen=True)
class GroupSnapshot:
    id: str
    name: str
    status: str
    created_at: str  # ISO 8601 as returned by cinder; sorts chronologically

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> GroupSnapshot:
        return cls(str(body["id"]), str(body.get("name") or ""), str(body["status"]), str(body["created_at"]))


def snapshot_name(prefix: str, group: str, stamp: str) -> str:
    return f"{prefix}{group}-{stamp}"


def plan_retention(snapshots: list[GroupSnapshot], keep: int, prefix: str) -> Plan:
    """Prune the oldest snapshots this flow made (name starts with ``prefix``) beyond ``keep``.

    Snapshots made by people (other names) are never pruned; snapshots in error count as prunable (they are
    not restore-ready) and go first; the newest ``keep`` available ones stay."""
    if keep < 1:
        raise InvalidInput("keep must be at least 1: the last restore-ready snapshot is never pruned")
    ours = [s for s in snapshots if s.name.startswith(prefix)]
    others = [s for s in snapshots if not s.name.startswith(prefix)]
    broken = [s for s in ours if s.status in ("error", "error_deleting")]
    good = sorted((s for s in ours if s.status == "available"), key=lambda s: (s.created_at, s.name),
                  reverse=True)
    busy = [s for s in ours if s not in broken and s not in good]
    actions = [Action("delete_group_snapshot", s.name, f"status {s.status}: not restore-ready", {"id": s.id})
               for s in broken]
    actions += [Action("delete_group_snapshot", s.name, f"older than the newest {keep} (created {s.created_at})",
                       {"id": s.id}) for s in reversed(good[keep:])]
    in_place = [f"keep {s.name} ({s.created_at})" for s in good[:keep]]
    in_place += [f"in progress, left alone: {s.name} ({s.status})" for s in busy]
    in_place += [f"not ours, never pruned: {s.name or s.id}" for s in others]
    warnings = [] if good else ["no available (restore-ready) snapshot of this group"]
    return Plan(tuple(actions), tuple(in_place), tuple(warnings))


def restore_ready(snapshots: list[GroupSnapshot], prefix: str) -> GroupSnapshot | None:
    """The newest available snapshot this flow made, if any."""
    good = sorted((s for s in snapshots if s.name.startswith(prefix) and s.status == "available"),
                  key=lambda s: (s.created_at, s.name))
    return good[-1] if good else None


# -- quota classes ("above the petabyte") ----------------------------------------------------------------


def plan_quota_class(current: dict[str, int], desired: dict[str, int], klass: str = "default") -> Plan:
    unknown = sorted(set(desired) - set(current))
    if unknown:
        raise InvalidInput(f"quota class {klass} has no limit(s) {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(current))})")
    actions, ok = [], []
    for key, value in sorted(desired.items()):
        if value < -1:
            raise InvalidInput(f"{key}: -1 means unlimited; {value} is not a limit")
        if current[key] == value:
            ok.append(f"{klass}.{key} = {value}")
        else:
            actions.append(Action("set_quota_class", f"{klass}.{key}", f"{current[key]} -> {value}",
                                  {"key": key, "value": value}))
    return Plan(tuple(actions), tuple(ok))


# -- ceilometer event retention ----------------------------------------------------------------------------

UNIT_SECONDS = {"hr": 3600, "day": 86400}
_TTL = re.compile(r"event_ttl\s*[=:]\s*(-?\d+)\s*(hr|hour|hours|day|days)?", re.IGNORECASE)


@dataclass(frozen=True)
class EventTtl:
    value: int
    unit: str  # "hr" | "day"

    @property
    def seconds(self) -> int:
        return self.value * UNIT_SECONDS[self.unit] if self.value >= 0 else -1

    def __str__(self) -> str:
        return f"{self.value} {self.unit}"


def parse_event_ttl(output: str) -> EventTtl:
    """Output of ``powervc-config metering event_ttl`` (e.g. ``event_ttl = 270 day``)."""
    m = _TTL.search(output)
    if not m:
        raise InvalidInput(f"cannot read the event TTL from powervc-config output: {output.strip()[:200]!r}")
    unit = (m.group(2) or "day").lower()
    return EventTtl(int(m.group(1)), "hr" if unit.startswith("h") else "day")


def plan_event_ttl(current: EventTtl, desired: EventTtl, expire: bool = True) -> Plan:
    if desired.value < 1 or desired.unit not in UNIT_SECONDS:
        raise InvalidInput("event TTL must be a positive number of 'hr' or 'day'")
    actions = []
    ok = []
    if current.seconds == desired.seconds:
        ok.append(f"event_ttl is {current}")
    else:
        actions.append(Action("set_event_ttl", "metering event_ttl", f"{current} -> {desired}",
                              {"value": desired.value, "unit": desired.unit}))
    if expire:
        actions.append(Action("run_expirer", "ceilometer-expirer", f"drop events older than {desired}"))
    return Plan(tuple(actions), tuple(ok))


_DROPPED = re.compile(r"dropped\s+(\d+)\s+events?", re.IGNORECASE)


def parse_expirer(stdout: str, stderr: str) -> str:
    """A one-line summary of a ceilometer-expirer run."""
    m = _DROPPED.search(stdout + "\n" + stderr)
    if m:
        return stdout.strip().splitlines()[-1] if stdout.strip() else f"dropped {m.group(1)} events"
    if "Nothing to clean" in stderr:
        return "nothing to clean (event time to live disabled)"
    tail = (stderr.strip() or stdout.strip()).splitlines()[-1:] or ["no output"]
    return tail[0][:200]


# -- guarded repairs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerState:
    id: str
    name: str
    status: str  # ACTIVE, ERROR, SHUTOFF...
    vm_state: str
    task_state: str | None
    host: str


def plan_state_reset(servers: list[ServerState], names: list[str], target: str = "active") -> Plan:
    """Reset servers stuck in ERROR (optionally only the named ones) to ``target`` through the API
    (``os-resetState``: what ``nova reset-state`` does), instead of editing the nova database."""
    if target not in ("active", "error"):
        raise InvalidInput("target state must be 'active' or 'error'")
    wanted = set(names)
    known = {s.name for s in servers} | {s.id for s in servers}
    missing = sorted(wanted - known)
    if missing:
        raise InvalidInput(f"server(s) not found: {', '.join(missing)}")
    actions, ok = [], []
    for s in servers:
        if wanted and s.name not in wanted and s.id not in wanted:
            continue
        if s.vm_state == "error" or s.status == "ERROR":
            actions.append(Action("reset_state", s.name, f"{s.status}/{s.vm_state} on {s.host or '-'} -> {target}",
                                  {"id": s.id, "state": target}))
        elif wanted:
            ok.append(f"{s.name} is {s.status}: nothing to reset")
    return Plan(tuple(actions), tuple(ok))


@dataclass(frozen=True)
class VolumeAttachmentState:
    volume_id: str
    volume_name: str
    status: str  # cinder volume status
    attach_status: str
    attachments: tuple[tuple[str, str], ...]  # (attachment_id, server_id)


def plan_ghost_detach(volumes: list[VolumeAttachmentState], existing_servers: set[str]) -> Plan:
    """Volumes still marked attached to servers that no longer exist (the seed's "ghost LUNs").

    Through the API: ``os-force_detach`` for each dangling attachment, then ``os-reset_status`` to
    available/detached if nothing real remains (what the seed did with UPDATE statements)."""
    actions, ok = [], []
    for v in volumes:
        dangling = [(a, s) for a, s in v.attachments if s not in existing_servers]
        real = [(a, s) for a, s in v.attachments if s in existing_servers]
        marked = v.status in ("in-use", "attaching", "detaching") or v.attach_status == "attached"
        if not dangling and not (marked and not v.attachments):
            continue
        for attachment_id, server in dangling:
            actions.append(Action("force_detach", v.volume_name or v.volume_id,
                                  f"attachment {attachment_id} to missing server {server}",
                                  {"volume_id": v.volume_id, "attachment_id": attachment_id}))
        if real:
            ok.append(f"{v.volume_name or v.volume_id}: still attached to existing server(s) "
                      f"{', '.join(s for _, s in real)}")
        else:
            actions.append(Action("reset_volume_status", v.volume_name or v.volume_id,
                                  f"{v.status}/{v.attach_status} -> available/detached",
                                  {"volume_id": v.volume_id}))
    return Plan(tuple(actions), tuple(ok))


def guard_repair(count: int, what: str, confirm: bool, max_changes: int) -> None:
    """The two gates of every guarded repair, in order: an explicit ``confirm``, then a ceiling on how many
    records one run may touch. ``what`` names the records, e.g. ``"server(s) to reset"``."""
    if not confirm:
        raise ConfirmationRequired(f"{count} {what} planned: re-run with confirm=True")
    if count > max_changes:
        raise SafetyCheckFailed(f"{count} {what} is more than max_changes={max_changes}; narrow the selection "
                                "or raise the limit")
