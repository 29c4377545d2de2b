"""Approval rules: when a procedure needs an approval, who may give it, and what is recorded.

Rules (issue 7): disruptive procedures (VIOS shutdown drills, node-loss drills, tenant changes on production)
publish their plan and wait for a typed decision. Only users on the approver list may decide; the requester
may not approve their own ticket. Every decision, accepted or refused, is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.ops.locks import get_path


@dataclass(frozen=True)
class ApprovalRule:
    """``always``: every run needs approval. ``when``: needs approval when a parameter has one of the values
    (e.g. ``{"mode": ("shutdown_vios",)}``); a dotted path reaches nested fields. Otherwise none needed."""

    always: bool = False
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    reason: str = "disruptive procedure"

    def required(self, params: Any) -> str | None:
        """Why approval is needed for ``params``, or None when it is not."""
        if self.always:
            return self.reason
        data = params.model_dump() if hasattr(params, "model_dump") else params
        for path, values in self.when.items():
            v = get_path(data, path)
            if v in values:
                return f"{self.reason} ({path}={v})"
        return None


NO_APPROVAL = ApprovalRule()


class ApprovalDecision(BaseModel):
    """The typed input a paused run waits for (the Prefect UI renders it as a form)."""

    model_config = ConfigDict(extra="forbid")

    approver: str = Field(description="Your user id (must be on the approver list; not the requester).")
    approve: bool = Field(default=False, description="Tick to approve the plan; leave unticked to deny it.")
    comment: str = Field(default="", description="Why (recorded with the decision).")


@dataclass(frozen=True)
class Verdict:
    outcome: Literal["approved", "denied", "refused"]
    reason: str


def judge(decision: ApprovalDecision, requester: str | None, approvers: list[str]) -> Verdict:
    """Whether ``decision`` counts. A refused decision leaves the run waiting for a valid one."""
    who = decision.approver.strip()
    allowed = {a.strip().lower() for a in approvers if a.strip()}
    if not allowed:
        return Verdict("refused", "no approver list is configured (Prefect Variable powerops_approvers)")
    if who.lower() not in allowed:
        return Verdict("refused", f"{who!r} is not on the approver list")
    if requester and who.lower() == requester.strip().lower():
        return Verdict("refused", f"{who!r} requested this run and cannot approve it")
    if decision.approve:
        return Verdict("approved", f"approved by {who}" + (f": {decision.comment}" if decision.comment else ""))
    return Verdict("denied", f"denied by {who}" + (f": {decision.comment}" if decision.comment else ""))


def decision_record(decision: ApprovalDecision, verdict: Verdict, requester: str | None, at: str) -> dict[str, str]:
    return {"at": at, "approver": decision.approver, "requester": requester or "",
            "decision": "approve" if decision.approve else "deny", "outcome": verdict.outcome,
            "reason": verdict.reason, "comment": decision.comment}
