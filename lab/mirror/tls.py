"""A private CA for the lab's https upstream (made once with ``cryptography``, kept in the lab state dir).

``ensure_ca`` writes ``ca.pem`` (the CA certificate: what users put in a powerops-mirror-upstream-ca block),
``server.pem``/``server.key`` (the upstream's certificate for 127.0.0.1 and localhost, signed by the CA) and
``rogue-ca.pem`` (an unrelated CA: verification against it must fail).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.certs import issue_server_cert, make_ca


@dataclass(frozen=True)
class LabCA:
    ca_pem: Path
    server_cert: Path
    server_key: Path
    rogue_ca_pem: Path


def ensure_ca(directory: Path) -> LabCA:
    """The lab CA and the upstream's server certificate (made once, with the same code as the registry's)."""
    out = LabCA(directory / "ca.pem", directory / "server.pem", directory / "server.key", directory / "rogue-ca.pem")
    if all(p.exists() for p in (out.ca_pem, out.server_cert, out.server_key, out.rogue_ca_pem)):
        return out
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca("powerops lab private CA")
    server = issue_server_cert(ca, ["localhost", "127.0.0.1"], days=825)
    rogue = make_ca("powerops lab rogue CA")
    fd = os.open(out.server_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(server.key_pem)
    out.server_cert.write_text(server.cert_pem)  # the leaf only, as most servers send it
    out.rogue_ca_pem.write_text(rogue.cert_pem)
    out.ca_pem.write_text(ca.cert_pem)  # last: its presence means the set is complete
    return out
