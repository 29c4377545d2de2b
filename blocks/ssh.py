from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator

from core.names import validate_host
from seams.ssh import SshConnection, SshParams, connect


class SshTarget(Block):
    """A host reached over SSH with a key. The host key must be configured: unknown keys are refused."""

    _block_type_name = "powerops SSH target"
    _block_type_slug = "powerops-ssh-target"
    _description = "A host powerops reaches over SSH (key authentication, verified host key)."

    host: str = Field(description="Host name or IP address the SSH server listens on.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    username: str = Field(default="root", description="Login user.")
    private_key: SecretStr = Field(description="Unencrypted OpenSSH/PEM private key used to log in.")
    host_key: str = Field(
        description="Expected host public key as in known_hosts without the name, e.g. 'ssh-ed25519 AAAA...'. "
        "Connections presenting any other key are refused."
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for the connection.")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        return validate_host(v)

    def params(self) -> SshParams:
        return SshParams(
            host=self.host, port=self.port, username=self.username,
            private_key=self.private_key.get_secret_value(), host_key=self.host_key,
            connect_timeout=self.connect_timeout,
        )

    def connect(self) -> SshConnection:
        return connect(self.params())
