"""Prefect Blocks: connection settings and credentials a user configures once. They build clients; no work."""

from blocks.docker_host import DockerHost
from blocks.hmc import HmcConsole, ViosHost
from blocks.mirror import MirrorHost, MirrorKeyring
from blocks.novalink import NovaLinkInstallServer
from blocks.powervc import PowerVC
from blocks.registry import RegistryTarget
from blocks.ssh import SshTarget
from blocks.swarm import HaproxyHost, SwarmInventory

ALL_BLOCKS = (SshTarget, DockerHost, RegistryTarget, HmcConsole, ViosHost, MirrorHost, MirrorKeyring,
              NovaLinkInstallServer, PowerVC, HaproxyHost, SwarmInventory)

__all__ = ["ALL_BLOCKS", "DockerHost", "HaproxyHost", "HmcConsole", "MirrorHost", "MirrorKeyring",
           "NovaLinkInstallServer", "PowerVC", "RegistryTarget", "SshTarget", "SwarmInventory", "ViosHost"]
