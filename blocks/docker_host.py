from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker
from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from blocks.ssh import SshTarget
from seams.docker import DockerParams, docker_client


class DockerHost(Block):
    """A Docker engine: reached through SSH (like ``docker -H ssh://``) or TLS TCP."""

    _block_type_name = "powerops Docker host"
    _block_type_slug = "powerops-docker-host"
    _description = "A Docker engine host: its SSH target (for files and commands) and how to reach its API."

    name: str = Field(description="Short name of the host as shown in reports (e.g. dock1).")
    ssh: SshTarget = Field(description="SSH target of the host: used for files (certs.d) and the API tunnel.")
    address: str = Field(description="Address other hosts use to reach this one (IP or DNS name).")
    api: str = Field(default="ssh", pattern="^(ssh|tls)$", description="'ssh' tunnels the API over SSH; "
                     "'tls' uses tls_url with a client certificate.")
    tls_url: str | None = Field(default=None, description="tcp://host:2376 when api is 'tls'.")
    tls_ca: str | None = Field(default=None, description="PEM CA of the daemon's certificate (api 'tls').")
    tls_cert: str | None = Field(default=None, description="PEM client certificate (api 'tls').")
    tls_key: SecretStr | None = Field(default=None, description="PEM client key (api 'tls').")
    docker_config_dir: str = Field(
        default="/root/.docker", description="Where the docker CLI on the host keeps its config (login state)."
    )
    certs_dir: str = Field(
        default="/etc/docker/certs.d", description="Directory of per-registry CA files the engine trusts."
    )

    def params(self) -> DockerParams:
        return DockerParams(
            name=self.name,
            ssh=self.ssh.params() if self.api == "ssh" else None,
            tls_url=self.tls_url, tls_ca=self.tls_ca, tls_cert=self.tls_cert,
            tls_key=self.tls_key.get_secret_value() if self.tls_key else None,
        )

    @contextlib.contextmanager
    def client(self) -> Iterator[docker.DockerClient]:
        with docker_client(self.params()) as c:
            yield c
