"""Blocks for HMC consoles and Virtual I/O Servers: settings plus a client factory, no work."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator

from core.hmc.commands import validate_name
from core.names import validate_host
from seams.ssh import SshConnection, SshParams, connect


class HmcConsole(Block):
    """An HMC reached over SSH with a key (hscroot or another HMC user); host key verified."""

    _block_type_name = "powerops HMC console"
    _block_type_slug = "powerops-hmc-console"
    _description = "A Hardware Management Console reached over SSH (key authentication, verified host key)."

    host: str = Field(description="HMC host name or IP address.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port of the HMC.")
    username: str = Field(default="hscroot", description="HMC user (needs hmcsuperadmin or a role allowing "
                                                           "lshwres/chhwres/chsysstate).")
    private_key: SecretStr = Field(description="Unencrypted OpenSSH/PEM private key authorized for the user "
                                               "(mkauthkeys on the HMC).")
    host_key: str = Field(description="Expected HMC host public key, e.g. 'ssh-ed25519 AAAA...'; any other key "
                                      "is refused.")
    max_sessions: int = Field(default=4, ge=1, le=64, description="Concurrent powerops sessions allowed on this "
                                                                  "HMC (a Prefect global concurrency limit).")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for the connection.")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        return validate_host(v)

    @property
    def concurrency_key(self) -> str:
        """The Prefect global concurrency limit shared by every flow talking to this HMC."""
        return f"hmc:{self.host}:{self.port}"

    def params(self) -> SshParams:
        return SshParams(host=self.host, port=self.port, username=self.username,
                         private_key=self.private_key.get_secret_value(), host_key=self.host_key,
                         connect_timeout=self.connect_timeout)

    def connect(self) -> SshConnection:
        return connect(self.params())


class ViosHost(Block):
    """A Virtual I/O Server partition reached over SSH as padmin (root commands go through oem_setup_env)."""

    _block_type_name = "powerops VIOS"
    _block_type_slug = "powerops-vios"
    _description = "A Virtual I/O Server reached over SSH as padmin, and its partition name on the HMC."

    host: str = Field(description="VIOS host name or IP address.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    username: str = Field(default="padmin", description="VIOS user (padmin).")
    private_key: SecretStr = Field(description="Unencrypted OpenSSH/PEM private key authorized for the user.")
    host_key: str = Field(description="Expected VIOS host public key, e.g. 'ssh-ed25519 AAAA...'.")
    partition_name: str = Field(description="The VIOS partition's name as the HMC lists it (lssyscfg -r lpar).")
    managed_system: str = Field(description="The managed system the VIOS runs on, as the HMC names it.")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for the connection.")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        return validate_host(v)

    @field_validator("partition_name", "managed_system")
    @classmethod
    def _names(cls, v: str) -> str:
        return validate_name(v)

    def params(self) -> SshParams:
        return SshParams(host=self.host, port=self.port, username=self.username,
                         private_key=self.private_key.get_secret_value(), host_key=self.host_key,
                         connect_timeout=self.connect_timeout)

    def connect(self) -> SshConnection:
        return connect(self.params())
