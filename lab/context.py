"""Where the lab keeps its state, and how lab hosts become blocks (the lab is just one more inventory)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from blocks.ssh import SshTarget


@dataclass
class LabContext:
    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("POWEROPS_LAB_DIR", "/var/lib/powerops-lab")))
    run_dir: Path = field(default_factory=lambda: Path(os.environ.get("POWEROPS_LAB_RUN", "/run/powerops-lab")))

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def client_key_path(self) -> Path:
        return self.state_dir / "ssh" / "id_ed25519"

    def node_dir(self, node: str, create: bool = True) -> Path:
        d = self.state_dir / "nodes" / node
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d

    def node_run_dir(self, node: str) -> Path:
        d = self.run_dir / node
        d.mkdir(parents=True, exist_ok=True)
        return d

    def ssh_target(self, node: str, ip: str, username: str = "root") -> SshTarget:
        from lab.sshd import host_public_key

        return SshTarget(
            host=ip, port=22, username=username,
            private_key=SecretStr(self.client_key_path.read_text()),
            host_key=host_public_key(self, node),
        )
