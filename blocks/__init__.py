"""Prefect Blocks: connection settings and credentials a user configures once. They build clients; they do no work."""

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from blocks.ssh import SshTarget

ALL_BLOCKS = (SshTarget, DockerHost, RegistryTarget)

__all__ = ["ALL_BLOCKS", "DockerHost", "RegistryTarget", "SshTarget"]
