"""Errors of the operations area (tickets, approvals, locks)."""

from __future__ import annotations

from core.errors import InvalidInput, PowerOpsError, SafetyCheckFailed


class TicketAuthError(PowerOpsError):
    """A ticket delivery was not authenticated (missing/bad signature or token, stale timestamp)."""


class TicketInvalid(InvalidInput):
    """A ticket payload or its parameters do not validate; ``errors`` lists every problem."""

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__(f"{message}: " + "; ".join(f"{e['loc']}: {e['msg']}" for e in errors))


class ApprovalRefused(SafetyCheckFailed):
    """An approval decision was refused (approver not on the list, self-approval) or the plan was denied."""


class TargetBusy(PowerOpsError):
    """Another run holds the lock of the same target."""

    def __init__(self, key: str, holder: str) -> None:
        self.key = key
        self.holder = holder
        super().__init__(f"target {key} is locked by {holder}")
