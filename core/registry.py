"""The private registry: desired state, facts read from the host, and the plan between them. Pure."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from core import certs, htpasswd
from core.names import split_host_port, validate_host
from core.render import render

CONTAINER = "powerops-registry"
PREVIOUS = "powerops-registry-previous"
LABEL_RELEASE = "org.powerops.registry.release"


@dataclass(frozen=True)
class RegistrySpec:
    address: str  # host:port as clients write it in image references
    names: tuple[str, ...]  # every DNS name / IP the certificate must cover
    user: str
    root: str = "/etc/powerops/registry"
    data_dir: str = "/var/lib/powerops/registry"
    image: str = "powerops/registry:2"
    realm: str = "powerops-registry"
    log_level: str = "info"
    delete_enabled: bool = True

    def __post_init__(self) -> None:
        split_host_port(self.address)
        for n in self.names:
            validate_host(n)
        htpasswd.validate_user(self.user)

    @property
    def host(self) -> str:
        return split_host_port(self.address)[0]

    @property
    def port(self) -> int:
        return split_host_port(self.address)[1]

    def cert_names(self) -> list[str]:
        out: list[str] = []
        for n in (self.host, *self.names):
            if n not in out:
                out.append(n)
        return out

    def render_config(self) -> str:
        return render("registry/config.yml.j2", port=self.port, realm=self.realm, log_level=self.log_level,
                      delete_enabled=self.delete_enabled)


@dataclass(frozen=True)
class RegistryFacts:
    """What is on the registry host now (file contents, None when absent) and the container state."""

    ca_cert: str | None = None
    ca_key: str | None = None
    server_cert: str | None = None
    server_key: str | None = None
    htpasswd: str | None = None
    image_id: str | None = None
    container_running: bool = False
    container_exists: bool = False
    container_release: str | None = None


@dataclass(frozen=True)
class Material:
    """The files of one release of the registry (what the container mounts)."""

    ca: certs.KeyPair
    server: certs.KeyPair
    htpasswd: str
    config: str

    def release(self, image_id: str) -> str:
        h = hashlib.sha256()
        for part in (self.server.cert_pem, self.server.key_pem, self.htpasswd, self.config, image_id):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()[:16]


@dataclass
class RegistryPlan:
    material: Material
    actions: list[tuple[str, str]] = field(default_factory=list)  # (action, reason)
    keep: list[tuple[str, str]] = field(default_factory=list)  # (thing, why nothing to do)
    write_ca: bool = False
    write_server: bool = False
    write_htpasswd: bool = False
    recreate_container: bool = False

    @property
    def changes(self) -> bool:
        return bool(self.actions)


def plan_registry(spec: RegistrySpec, facts: RegistryFacts, password: str, image_id: str,
                  now: dt.datetime | None = None) -> RegistryPlan:
    """Compare facts with the desired registry; only what differs is planned (with the reason)."""
    now = now or dt.datetime.now(dt.UTC)
    actions: list[tuple[str, str]] = []
    keep: list[tuple[str, str]] = []
    rotate = certs.ROTATE_WITHIN_DAYS

    # CA
    ca_ok, why = False, "no CA on the host"
    if facts.ca_cert and facts.ca_key:
        info = certs.inspect_cert(facts.ca_cert)
        if not info.is_ca:
            why = "ca.crt is not a CA certificate"
        elif info.days_left(now) <= rotate:
            why = f"CA expires in {info.days_left(now):.0f} days (rotate within {rotate})"
        elif not certs.key_matches(facts.ca_cert, facts.ca_key):
            why = "ca.key does not match ca.crt"
        else:
            ca_ok = True
    if ca_ok:
        assert facts.ca_cert and facts.ca_key
        ca = certs.KeyPair(facts.ca_cert, facts.ca_key)
        keep.append(("CA", f"valid for {certs.inspect_cert(ca.cert_pem).days_left(now):.0f} more days"))
    else:
        ca = certs.make_ca(now=now)
        actions.append(("create CA", why))

    # server certificate
    names = spec.cert_names()
    srv_ok, why = False, "no server certificate on the host"
    if ca_ok and facts.server_cert and facts.server_key:
        info = certs.inspect_cert(facts.server_cert)
        if info.days_left(now) <= rotate:
            why = f"server certificate expires in {info.days_left(now):.0f} days (rotate within {rotate})"
        elif not certs.covers(info, names):
            why = f"server certificate does not cover {', '.join(names)}"
        elif not certs.signed_by(facts.server_cert, ca.cert_pem):
            why = "server certificate is not signed by the CA"
        elif not certs.key_matches(facts.server_cert, facts.server_key):
            why = "server.key does not match server.crt"
        else:
            srv_ok = True
    elif not ca_ok and facts.server_cert:
        why = "the CA changes, so the server certificate is re-issued"
    if srv_ok:
        assert facts.server_cert and facts.server_key
        server = certs.KeyPair(facts.server_cert, facts.server_key)
        keep.append(("server certificate", f"covers {', '.join(names)}, "
                     f"valid {certs.inspect_cert(server.cert_pem).days_left(now):.0f} more days"))
    else:
        server = certs.issue_server_cert(ca, names, now=now)
        actions.append(("issue server certificate", why))

    # htpasswd
    if facts.htpasswd is not None and htpasswd.verify(facts.htpasswd, spec.user, password):
        ht = facts.htpasswd
        keep.append(("htpasswd", f"user {spec.user} verifies"))
    else:
        ht = htpasswd.make_entry(spec.user, password)
        actions.append(("write htpasswd", "missing" if facts.htpasswd is None
                        else f"no matching bcrypt entry for {spec.user}"))

    material = Material(ca=ca, server=server, htpasswd=ht, config=spec.render_config())
    release = material.release(image_id)
    recreate = False
    if not facts.container_exists:
        actions.append(("create container", f"{CONTAINER} does not exist"))
        recreate = True
    elif facts.container_release != release:
        actions.append(("recreate container", f"release {facts.container_release} -> {release} "
                        "(configuration, certificate, credentials or image changed)"))
        recreate = True
    elif not facts.container_running:
        actions.append(("start container", f"{CONTAINER} is not running"))
        recreate = True
    else:
        keep.append(("container", f"{CONTAINER} running release {release}"))
    return RegistryPlan(material=material, actions=actions, keep=keep, write_ca=not ca_ok,
                        write_server=not srv_ok, write_htpasswd=ht != facts.htpasswd,
                        recreate_container=recreate)


def release_dir(spec: RegistrySpec, release: str) -> str:
    return f"{spec.root}/releases/{release}"


def certs_d_path(certs_dir: str, address: str) -> str:
    """Where a Docker engine looks for the CA of registry ``address`` (host:port)."""
    host, port = split_host_port(address)
    return f"{certs_dir.rstrip('/')}/{host}:{port}/ca.crt"
