"""Typed facts read from a PowerVC / OpenStack cloud and the plans computed from them (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Aggregate:
    """A Nova host aggregate (a PowerVC host group)."""

    id: str
    name: str
    hosts: tuple[str, ...]
    metadata: dict[str, str]


@dataclass(frozen=True)
class Action:
    """One change a plan will make; ``args`` are what the apply step needs (no secrets)."""

    kind: str
    target: str
    detail: str
    args: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        return {"action": self.kind, "target": self.target, "detail": self.detail}


@dataclass(frozen=True)
class Plan:
    """What would change, what is already right (with the reason), and what the operator must know."""

    actions: tuple[Action, ...]
    in_place: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions

    def of_kind(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]


def render_plan_markdown(title: str, plan: Plan) -> str:
    """A Markdown summary of a plan (the dry-run artifact)."""
    lines = [f"# {title}", ""]
    if plan.warnings:
        lines += ["## Warnings", ""] + [f"- **{w}**" for w in plan.warnings] + [""]
    lines += ["## Changes", ""]
    if plan.empty:
        lines.append("Nothing to change.")
    else:
        lines += ["| # | action | target | detail |", "|---|---|---|---|"]
        for i, a in enumerate(plan.actions, 1):
            lines.append(f"| {i} | {a.kind} | {_cell(a.target)} | {_cell(a.detail)} |")
    if plan.in_place:
        lines += ["", "## Already in place", ""] + [f"- {r}" for r in plan.in_place]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
