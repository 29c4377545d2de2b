"""Rendering of the mirror host's web server configuration (nginx), pure and strict."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from core.errors import InvalidInput

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "mirror"
_LISTEN = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]|localhost)?:?\d{1,5}$")
_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False,  # noqa: S701 - config files, not HTML
    )


def _check(root: str, listen: str, run_dir: str = "/run", access_log: str = "off", user: str = "") -> None:
    for label, value in (("root", root), ("run_dir", run_dir)):
        if not _PATH.match(value):
            raise InvalidInput(f"nginx {label} must be an absolute path of [A-Za-z0-9._/-], got {value!r}")
    if not _LISTEN.match(listen):
        raise InvalidInput(f"nginx listen address must be 'ip:port' or 'port', got {listen!r}")
    if access_log != "off" and not _PATH.match(access_log):
        raise InvalidInput(f"invalid access log path {access_log!r}")
    if user and not re.match(r"^[a-z_][a-z0-9_-]*( [a-z_][a-z0-9_-]*)?$", user):
        raise InvalidInput(f"invalid nginx user {user!r}")


def render_nginx_site(root: str, listen: str, published: bool = True, purpose: str = "mirror host") -> str:
    """The ``server {}`` block serving the mirrors (what goes to /etc/nginx/conf.d/ on a mirror host)."""
    _check(root, listen)
    return environment().get_template("nginx-site.conf.j2").render(
        root=root.rstrip("/") or "/", listen=listen, published=published, purpose=purpose, slow_rate="",
        tls_cert="", tls_key="")


def render_nginx(root: str, listen: str, run_dir: str, published: bool = True, purpose: str = "mirror host",
                 workers: int = 1, user: str = "", access_log: str = "off", sites_dir: str = "",
                 slow_rate: str = "", tls_listen: str = "", tls_cert: str = "", tls_key: str = "") -> str:
    """A whole nginx.conf serving ``root`` (the lab's web servers); with ``published`` each /<mirror>/ maps
    to <root>/<mirror>/current/. With ``sites_dir`` the server blocks come from ``sites_dir``/*.conf.
    With ``tls_listen`` the same tree is also served over https with ``tls_cert``/``tls_key`` (PEM files)."""
    _check(root, listen, run_dir, access_log, user)
    if tls_listen:
        if not _LISTEN.match(tls_listen):
            raise InvalidInput(f"nginx https listen address must be 'ip:port' or 'port', got {tls_listen!r}")
        for label, value in (("certificate", tls_cert), ("key", tls_key)):
            if not _PATH.match(value):
                raise InvalidInput(f"nginx TLS {label} must be an absolute path of [A-Za-z0-9._/-], got {value!r}")
    if sites_dir and not _PATH.match(sites_dir):
        raise InvalidInput(f"invalid sites directory {sites_dir!r}")
    if slow_rate and not re.match(r"^\d+[km]?$", slow_rate):
        raise InvalidInput(f"invalid rate {slow_rate!r}")
    return environment().get_template("nginx.conf.j2").render(
        root=root.rstrip("/") or "/", listen=listen, run_dir=run_dir, published=published, purpose=purpose,
        workers=max(1, workers), user=user, access_log=access_log, sites_dir=sites_dir, slow_rate=slow_rate,
        tls_listen=tls_listen, tls_cert_file=tls_cert, tls_key_file=tls_key, tls_cert="", tls_key="",
    )
