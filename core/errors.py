"""The error hierarchy of powerops.

Every error names the host (or object) and the cause so a user reading the message knows what to fix.
Raw errors (paramiko, docker-py, httpx, HSCL codes) are translated into these at the seams.
"""

from __future__ import annotations


class PowerOpsError(Exception):
    """Base class of every error powerops raises on purpose."""


class InvalidInput(PowerOpsError, ValueError):
    """A parameter or configuration value is malformed; nothing was changed."""


class HostError(PowerOpsError):
    """Something went wrong talking to one host."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"{host}: {message}")


class HostUnreachable(HostError):
    """The host did not answer (DNS, routing, refused or timed-out connection)."""


class HostKeyMismatch(HostError):
    """The host presented a key other than the one configured: possible impersonation."""


class HostKeyUnknown(HostError):
    """No expected host key is configured; powerops never accepts an unknown key."""


class AuthenticationFailed(HostError):
    """The host refused the credentials."""


class CommandFailed(HostError):
    """A remote command exited non-zero."""

    def __init__(self, host: str, command: str, exited: int, stderr: str) -> None:
        self.command = command
        self.exited = exited
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-5:]
        detail = " | ".join(tail) if tail else "(no error output)"
        super().__init__(host, f"command `{command}` exited {exited}: {detail}")


class DockerError(HostError):
    """The Docker engine of a host refused or failed an operation."""


class RegistryError(PowerOpsError):
    """The private registry refused or failed an operation."""


class ConfirmationRequired(PowerOpsError):
    """A destructive operation was asked for without explicit confirmation."""


class SafetyCheckFailed(PowerOpsError):
    """A destructive operation was refused because its safety check did not pass."""
