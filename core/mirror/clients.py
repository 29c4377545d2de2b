"""Client-side configuration of the mirrors: apt sources entry, yum .repo file, pip.conf (pure, strict)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import InvalidInput
from core.mirror.web import environment
from core.names import validate_suite

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_WORD = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")


@dataclass(frozen=True)
class ClientFile:
    """A file to install on a client host: absolute path, bytes and mode."""

    path: str
    content: bytes
    mode: int = 0o644


def _url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in url for c in " \n\t'\"<>"):
        raise InvalidInput(f"mirror URL must be http(s)://host/..., got {url!r}")
    return url.rstrip("/") + "/"


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"invalid mirror name {name!r}")
    return name


def apt_files(name: str, url: str, suites: list[str], components: list[str], architectures: list[str],
              keyring: bytes | None, sources: bool = False) -> list[ClientFile]:
    """``/etc/apt/sources.list.d/powerops-<name>.list`` with ``[signed-by=...]`` plus the keyring it names.

    ``sources`` adds a ``deb-src`` line per suite (``apt-get source`` from a mirror made with sources).
    """
    _name(name)
    for s in suites:
        validate_suite(s)
    for w in (*components, *architectures):
        if not _WORD.match(w):
            raise InvalidInput(f"invalid component or architecture {w!r}")
    if not suites or not components:
        raise InvalidInput("an apt source needs at least one suite and one component")
    keyring_path = f"/etc/apt/keyrings/powerops-{name}.gpg"
    text = environment().get_template("apt.list.j2").render(
        name=name, url=_url(url), suites=suites, components=components, architectures=architectures,
        keyring_path=keyring_path, sources=sources)
    files = [ClientFile(f"/etc/apt/sources.list.d/powerops-{name}.list", text.encode())]
    if keyring is None:
        raise InvalidInput(f"apt source {name}: a keyring is required (signed-by); unsigned mirrors are not configured")
    files.insert(0, ClientFile(keyring_path, keyring))
    return files


def yum_files(name: str, url: str, gpgkey: bytes | None, description: str = "") -> list[ClientFile]:
    """``/etc/yum.repos.d/powerops-<name>.repo`` (gpgcheck on when a key is given) plus the key file."""
    _name(name)
    key_path = f"/etc/pki/rpm-gpg/RPM-GPG-KEY-powerops-{name}" if gpgkey else ""
    desc = description or f"powerops mirror {name}"
    if "\n" in desc:
        raise InvalidInput("repository description must be one line")
    text = environment().get_template("yum.repo.j2").render(
        name=name, repo_id=f"powerops-{name}", description=desc, url=_url(url), gpgkey_path=key_path)
    files = [ClientFile(f"/etc/yum.repos.d/powerops-{name}.repo", text.encode())]
    if gpgkey:
        files.insert(0, ClientFile(key_path, gpgkey))
    return files


def pip_files(name: str, index_url: str, path: str = "/etc/pip.conf") -> list[ClientFile]:
    """``pip.conf`` pointing pip at the wheelhouse's simple index (trusted-host only for plain http)."""
    _name(name)
    if not _PATH.match(path):
        raise InvalidInput(f"invalid pip.conf path {path!r}")
    url = _url(index_url)
    parts = urlsplit(url)
    text = environment().get_template("pip.conf.j2").render(
        name=name, index_url=url, trusted_host=parts.hostname if parts.scheme == "http" else "")
    return [ClientFile(path, text.encode())]


def under_root(files: list[ClientFile], root: str) -> list[ClientFile]:
    """The same files below ``root`` (a chroot or image tree); '/' leaves them as they are."""
    if root in ("", "/"):
        return files
    if not _PATH.match(root):
        raise InvalidInput(f"invalid root directory {root!r}")
    r = root.rstrip("/")
    return [ClientFile(r + f.path, f.content, f.mode) for f in files]
