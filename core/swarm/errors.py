"""Errors of the swarm area (subclasses of the shared hierarchy)."""

from __future__ import annotations

from core.errors import PowerOpsError


class SwarmError(PowerOpsError):
    """The swarm refused an operation or is not in the state a flow needs."""


class ForeignSwarm(SwarmError):
    """A host of the inventory already belongs to another swarm: it is reported, never taken over."""


class ConvergenceTimeout(SwarmError):
    """A service did not reach its desired tasks before the deadline; the message lists the tasks and why."""


class HaproxyError(PowerOpsError):
    """haproxy refused a configuration, did not reload, or reports backends that are not UP."""
