"""Errors of the PowerVC / OpenStack area (translated from HTTP statuses at the seam)."""

from __future__ import annotations

from core.errors import HostError, PowerOpsError


class ApiError(HostError):
    """The cloud's API refused or failed a request."""

    def __init__(self, host: str, what: str, status: int, detail: str) -> None:
        self.what = what
        self.status = status
        self.detail = detail
        super().__init__(host, f"{what}: HTTP {status}: {detail.strip()[:500]}")


class ApiForbidden(ApiError):
    """HTTP 403: the policy does not allow this caller to do this."""


class ApiNotFound(ApiError):
    """HTTP 404: the object does not exist."""


class ApiOverQuota(ApiError):
    """HTTP 413 or a quota message: the request exceeds a quota (e.g. volumes_<type> = 0)."""


class VerificationFailed(PowerOpsError):
    """A post-change verification did not see the expected behaviour; the message lists the failed checks."""

    def __init__(self, failed: list[str]) -> None:
        self.failed = failed
        super().__init__("verification failed: " + "; ".join(failed))


class NotFound(PowerOpsError):
    """A named object the parameters refer to does not exist (aggregate, volume type, group...)."""
