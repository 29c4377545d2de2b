from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class RegistryTarget(Block):
    """A private Docker registry: where it is, which CA signs it, and how to log in."""

    _block_type_name = "powerops registry"
    _block_type_slug = "powerops-registry"
    _description = "A private Docker registry (distribution): address, CA certificate and credentials."

    address: str = Field(description="host:port clients use in image references, e.g. registry.example:5000.")
    ca_cert: str = Field(default="", description="PEM certificate of the CA that signed the registry's certificate.")
    username: str = Field(description="Registry user (htpasswd).")
    password: SecretStr = Field(description="Registry password.")
