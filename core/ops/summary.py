"""The run summary every operated run publishes: what was planned, changed and verified, with numbers, and
links to the related runs (ticket -> run -> sub-runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PLANNED_KEYS = ("planned", "plan", "actions", "to_change")
CHANGED_KEYS = ("applied", "changed", "files_changed", "created", "removed", "published")
VERIFIED_KEYS = ("verified", "verify", "checks", "hosts", "catalog", "proof")


@dataclass
class RunSummary:
    procedure: str
    outcome: str
    ticket_id: str | None = None
    requester: str | None = None
    planned: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)
    approval: str | None = None
    locks: list[str] = field(default_factory=list)
    related: list[tuple[str, str, str]] = field(default_factory=list)  # (relation, label, url)


def _items(value: Any) -> list[str]:
    if value is None or value is False:
        return []
    if isinstance(value, dict):
        return [f"{k}: {_one(v)}" for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [_one(v) for v in value]
    return [_one(value)]


def _one(v: Any) -> str:
    if isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(x, str) for x in v):
        return f"{v[0]} ({v[1]})"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_one(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(_one(x) for x in v)
    return str(v)


def from_result(procedure: str, outcome: str, result: Any) -> RunSummary:
    """Read planned/changed/verified and the numbers from a flow's returned dict (keys by convention)."""
    s = RunSummary(procedure=procedure, outcome=outcome)
    if not isinstance(result, dict):
        return s
    for k in PLANNED_KEYS:
        s.planned += _items(result.get(k))
    for k in CHANGED_KEYS:
        s.changed += _items(result.get(k))
    for k in VERIFIED_KEYS:
        s.verified += [x if k == "verified" else f"{k}: {x}" for x in _items(result.get(k))]
    for k, v in result.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float):
            s.numbers[k] = float(v)
        elif isinstance(v, list | tuple | dict) and k in (*PLANNED_KEYS, *CHANGED_KEYS, *VERIFIED_KEYS):
            s.numbers[f"{k} (count)"] = float(len(v))
    return s


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(s: RunSummary, limit: int = 40) -> str:
    lines = [f"## {s.procedure}: {s.outcome}", ""]
    if s.ticket_id:
        lines.append(f"* ticket: **{s.ticket_id}** (requested by {s.requester or 'unknown'})")
    if s.approval:
        lines.append(f"* approval: {s.approval}")
    if s.locks:
        lines.append(f"* locks held: {', '.join(f'`{k}`' for k in s.locks)}")
    lines.append("")
    for title, items in (("Planned", s.planned), ("Changed", s.changed), ("Verified", s.verified)):
        lines.append(f"### {title} ({len(items)})")
        if items:
            lines += [f"* {_cell(i)}" for i in items[:limit]]
            if len(items) > limit:
                lines.append(f"* ... and {len(items) - limit} more")
        else:
            lines.append("* nothing")
        lines.append("")
    if s.numbers:
        lines += ["### Numbers", "", "| measure | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {v:g} |" for k, v in sorted(s.numbers.items())]
        lines.append("")
    if s.related:
        lines += ["### Related runs", "", "| relation | run |", "|---|---|"]
        lines += [f"| {rel} | [{_cell(label)}]({url}) |" if url else f"| {rel} | {_cell(label)} |"
                  for rel, label, url in s.related]
    return "\n".join(lines).rstrip() + "\n"
