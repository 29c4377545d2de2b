"""Errors of the HMC/VIOS area, translated from HSCL codes and VIOS return codes at the seam."""

from __future__ import annotations

from core.errors import CommandFailed, InvalidInput, PowerOpsError, SafetyCheckFailed


class HmcCommandError(CommandFailed):
    """An HMC command failed; ``code`` is the HSCL code when the HMC printed one."""

    def __init__(self, host: str, command: str, exited: int, stderr: str, code: str | None) -> None:
        self.code = code
        super().__init__(host, command, exited, stderr)


class PartitionNotFound(HmcCommandError):
    """HSCL8012: the HMC has no partition of that name on the managed system."""


class ManagedSystemNotFound(HmcCommandError):
    """The HMC does not manage a system of that name."""


class InvalidVnicSpec(InvalidInput):
    """A desired vNIC breaks a rule of the platform (priorities 1-100, at most 6 backing devices, ...)."""


class VnicNotFound(PowerOpsError):
    """No vNIC matches (LPAR, slot) on the managed system."""


class DrillRefused(SafetyCheckFailed):
    """The failover drill's safety interlock did not pass."""


class PlanApplyFailed(PowerOpsError):
    """A step of a vNIC plan failed; ``applied`` lists the steps that were applied before it."""

    def __init__(self, failed_step: str, applied: list[str], remaining: list[str], cause: str) -> None:
        self.failed_step = failed_step
        self.applied = applied
        self.remaining = remaining
        self.cause = cause
        done = "; ".join(applied) if applied else "nothing"
        super().__init__(
            f"step `{failed_step}` failed: {cause}. Applied before it: {done}. "
            f"Not applied: {len(remaining)} step(s)."
        )
