"""Validation of names that end up in commands, file paths and image references."""

from __future__ import annotations

import ipaddress
import re

from core.errors import InvalidInput

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# Docker reference grammar (distribution/reference), simplified to what we accept.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPO = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SUITE = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}$")
_PKG = re.compile(r"^[a-z0-9][a-z0-9+.-]{0,127}$")


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_host(value: str) -> str:
    """A DNS name or an IP address; anything else (spaces, shell characters, empty) is refused."""
    v = value.strip()
    if is_ip(v) or _HOSTNAME.match(v):
        return v
    raise InvalidInput(f"invalid host name or address: {value!r}")


def split_host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port)."""
    a = address.strip()
    if a.startswith("["):
        host, _, rest = a[1:].partition("]")
        port_s = rest.lstrip(":")
    elif a.count(":") == 1:
        host, _, port_s = a.partition(":")
    else:
        host, port_s = a, ""
    if not port_s:
        if default_port is None:
            raise InvalidInput(f"address {address!r} has no port (want host:port)")
        return validate_host(host), default_port
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise InvalidInput(f"address {address!r} has an invalid port {port_s!r}")
    return validate_host(host), int(port_s)


def validate_repository(value: str) -> str:
    if not _REPO.match(value) or len(value) > 255:
        raise InvalidInput(
            f"malformed image repository {value!r}: lowercase letters, digits and separators (. _ __ -), "
            "path components joined by '/'"
        )
    return value


def validate_tag(value: str) -> str:
    if not _TAG.match(value):
        raise InvalidInput(f"malformed image tag {value!r}: up to 128 of [A-Za-z0-9_.-], not starting with . or -")
    return value


def parse_image_ref(ref: str) -> tuple[str, str]:
    """'repo[:tag]' (optionally with a registry host:port prefix) -> (repository, tag)."""
    if "@" in ref:
        raise InvalidInput(f"image reference {ref!r}: digests are not accepted here, give a tag")
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
    else:
        repo, tag = ref, "latest"
    first, _, rest = repo.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        split_host_port(first, default_port=443)
        validate_repository(rest)
    else:
        validate_repository(repo)
    return repo, validate_tag(tag)


def validate_suite(value: str) -> str:
    if not _SUITE.match(value):
        raise InvalidInput(f"invalid suite/release name {value!r}")
    return value


def validate_package(value: str) -> str:
    if not _PKG.match(value):
        raise InvalidInput(f"invalid package name {value!r}")
    return value
