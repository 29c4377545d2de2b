"""Errors of NovaLink network installs (subclasses of the powerops hierarchy)."""

from __future__ import annotations

from typing import Any

from core.errors import HostError, PowerOpsError


class VerificationFailed(PowerOpsError):
    """The install server does not serve what a partition needs (TFTP/HTTP fetch, checksum, Range)."""


class InstallMilestoneFailed(PowerOpsError):
    """A network install stopped before its goal; carries the last milestone reached and the timeline."""

    def __init__(self, message: str, last: Any = None, timeline: Any = None) -> None:
        super().__init__(message)
        self.last = last
        self.timeline = timeline


class NetbootRefused(HostError):
    """The HMC refused or failed lpar_netboot."""
