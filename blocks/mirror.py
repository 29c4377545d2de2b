"""Blocks of the mirror area: where mirrors are published, and which keys sign their upstreams."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, field_validator

from core.errors import InvalidInput


class MirrorKeyring(Block):
    """Public OpenPGP keys an upstream repository must be signed with (not a secret)."""

    _block_type_name = "powerops mirror keyring"
    _block_type_slug = "powerops-mirror-keyring"
    _description = "Public keys that sign an upstream apt/yum repository; unsigned or badly signed upstreams are refused."

    armored_keys: str = Field(description="One or more ASCII-armored OpenPGP public keys (gpg --export --armor).")
    allowed_fingerprints: list[str] = Field(
        default_factory=list,
        description="If set, only signatures by these primary key fingerprints are accepted (40 or 64 hex digits).",
    )

    def keyring_bytes(self) -> bytes:
        return self.armored_keys.encode()


class MirrorHost(Block):
    """A host that serves mirrors over HTTP; mirrors are written to it over SSH (or locally)."""

    _block_type_name = "powerops mirror host"
    _block_type_slug = "powerops-mirror-host"
    _description = "Mirror host: directory the mirrors live in, URL clients use, SSH target to write to it."

    root: str = Field(description="Directory on the mirror host holding one sub-directory per mirror, "
                                  "e.g. /srv/mirror; its web server maps /<mirror>/ to <root>/<mirror>/current/.")
    base_url: str = Field(description="URL clients use to reach the web server, e.g. http://10.250.77.100")
    ssh_target: str = Field(default="", description="Name of the powerops-ssh-target block of the mirror "
                                                    "host; empty when the mirror host is the worker itself.")
    cache_dir: str = Field(default="/var/cache/powerops/mirror",
                           description="Worker-local directory where remote mirrors are assembled before upload.")
    listen: str = Field(default="80", description="nginx listen address of the mirror site ('80' or 'ip:port').")
    web_conf_path: str = Field(default="/etc/nginx/conf.d/powerops-mirrors.conf",
                               description="Where serve-mirrors writes the nginx site on the mirror host.")
    web_test_command: list[str] = Field(default=["nginx", "-t"],
                                        description="Command that validates the web server configuration.")
    web_reload_command: list[str] = Field(default=["nginx", "-s", "reload"],
                                          description="Command that makes the web server load a new configuration.")

    @field_validator("root", "cache_dir")
    @classmethod
    def _abs(cls, v: str) -> str:
        if not v.startswith("/") or v.rstrip("/") == "":
            raise InvalidInput(f"mirror directories must be absolute paths below /, got {v!r}")
        return v.rstrip("/")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise InvalidInput(f"base_url must be an http(s) URL, got {v!r}")
        return v.rstrip("/")

    def mirror_url(self, name: str) -> str:
        return f"{self.base_url}/{name}/"


class MirrorUpstreamCA(Block):
    """CA certificate(s) an https upstream's certificate must chain to: a private CA (not a secret)."""

    _block_type_name = "powerops mirror upstream CA"
    _block_type_slug = "powerops-mirror-upstream-ca"
    _description = ("CA certificate (PEM) of an https upstream served with a private CA; mirror-apt, mirror-yum "
                    "and build-wheelhouse verify the upstream against it instead of the system trust store.")

    ca_pem: str = Field(description="One or more PEM CA certificates ('-----BEGIN CERTIFICATE-----' blocks); "
                                    "the upstream's certificate must chain to one of them. Never a private key.")

    @field_validator("ca_pem")
    @classmethod
    def _pem(cls, v: str) -> str:
        from core.mirror.tls import check_ca_pem

        check_ca_pem(v)
        return v.strip() + "\n"


def upstream_ca(block: str) -> str | None:
    """The PEM text of a powerops-mirror-upstream-ca block; None for '' (the system trust store)."""
    return MirrorUpstreamCA.load(block, _sync=True).ca_pem if block else None  # sync also in an async flow
