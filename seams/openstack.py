"""The one seam to OpenStack / PowerVC APIs: an openstacksdk connection factory and REST helpers.

* TLS: an https endpoint is verified against the configured CA (written to a private temp file); with no CA
  configured the system trust store is used. Verification is never turned off.
* Passwords are handed to keystoneauth only; they never appear in a message, a log line or a URL.
* Raw errors (keystoneauth, openstacksdk, HTTP status codes) become powerops errors here, and only here:
  401 -> AuthenticationFailed, 403 -> ApiForbidden, 404 -> ApiNotFound, 413 (quota) -> ApiOverQuota,
  connection failures -> HostUnreachable.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import openstack
import openstack.connection
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from core.errors import AuthenticationFailed, HostUnreachable, InvalidInput
from core.powervc.errors import ApiError, ApiForbidden, ApiNotFound, ApiOverQuota


@dataclass(frozen=True)
class OpenStackParams:
    """How to reach and authenticate to one cloud (built from a ``PowerVC`` block)."""

    auth_url: str
    username: str
    password: str = field(repr=False)
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str = "RegionOne"
    ca_cert: str = field(default="", repr=False)  # PEM; empty = system trust store
    interface: str = "public"
    compute_api_version: str = "2.79"
    timeout: float = 120.0

    @property
    def host(self) -> str:
        return urlparse(self.auth_url).hostname or self.auth_url

    def with_user(self, username: str, password: str, project_name: str,
                  user_domain_name: str = "Default", project_domain_name: str = "Default") -> OpenStackParams:
        """Same endpoint and CA, other credentials (used to verify as the tenant user)."""
        return OpenStackParams(
            auth_url=self.auth_url, username=username, password=password, project_name=project_name,
            user_domain_name=user_domain_name, project_domain_name=project_domain_name,
            region_name=self.region_name, ca_cert=self.ca_cert, interface=self.interface,
            compute_api_version=self.compute_api_version, timeout=self.timeout)


_CA_FILES: dict[str, str] = {}
_CA_LOCK = threading.Lock()


def _ca_file(pem: str) -> str:
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    with _CA_LOCK:
        path = _CA_FILES.get(digest)
        if path and os.path.exists(path):
            return path
        fd, path = tempfile.mkstemp(prefix=f"powerops-ca-{digest}-", suffix=".pem")
        with os.fdopen(fd, "w") as fh:
            fh.write(pem)
        _CA_FILES[digest] = path
        atexit.register(_remove, path)
        return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def verify_setting(params: OpenStackParams) -> str | bool:
    """What keystoneauth gets as ``verify``: the CA file for https with a CA, else True (never False)."""
    scheme = urlparse(params.auth_url).scheme
    if scheme not in ("http", "https"):
        raise InvalidInput(f"auth URL {params.auth_url!r} must start with https:// (or http:// in a lab)")
    if params.ca_cert.strip():
        if "BEGIN CERTIFICATE" not in params.ca_cert:
            raise InvalidInput("the configured CA is not a PEM certificate")
        return _ca_file(params.ca_cert)
    return True


def connect(params: OpenStackParams) -> openstack.connection.Connection:
    """An authenticated openstacksdk connection (authenticates now, so bad credentials fail here)."""
    verify = verify_setting(params)
    with translate_errors(params.host, "authenticate"):
        conn = openstack.connection.Connection(
            auth_type="password",
            auth={
                "auth_url": params.auth_url, "username": params.username, "password": params.password,
                "project_name": params.project_name, "user_domain_name": params.user_domain_name,
                "project_domain_name": params.project_domain_name,
            },
            region_name=params.region_name, interface=params.interface, verify=verify,
            cacert=verify if isinstance(verify, str) else None,
            compute_api_version=params.compute_api_version, block_storage_api_version="3",
            api_timeout=params.timeout,
        )
        conn.authorize()
    return conn


@contextlib.contextmanager
def translate_errors(host: str, what: str) -> Iterator[None]:
    """Turn keystoneauth/openstacksdk exceptions into powerops errors (no credentials in messages)."""
    try:
        yield
    except (ksa_exc.Unauthorized, sdk_exc.HttpException) as exc:
        status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
        detail = _detail(exc)
        if isinstance(exc, ksa_exc.Unauthorized) or status == 401:
            raise AuthenticationFailed(host, f"{what}: the cloud refused the credentials ({detail})") from None
        raise _status_error(host, what, int(status or 0), detail) from None
    except ksa_exc.http.HttpError as exc:
        raise _status_error(host, what, int(exc.http_status or 0), _detail(exc)) from None
    except ksa_exc.SSLError as exc:
        raise HostUnreachable(host, f"{what}: TLS verification failed (is the configured CA right?): "
                                    f"{exc}") from None
    except (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout, ksa_exc.DiscoveryFailure) as exc:
        raise HostUnreachable(host, f"{what}: {exc}") from None
    except sdk_exc.SDKException as exc:  # openstacksdk wraps keystoneauth transport errors at authorize()
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ksa_exc.SSLError) or "SSL exception" in str(exc):
            raise HostUnreachable(host, f"{what}: TLS verification failed (is the configured CA right?): "
                                        f"{exc}") from None
        if isinstance(cause, (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout)):
            raise HostUnreachable(host, f"{what}: {exc}") from None
        raise


def _detail(exc: BaseException) -> str:
    for attr in ("details", "message"):
        value = getattr(exc, attr, None)
        if value:
            return str(value)
    return str(exc)


def _status_error(host: str, what: str, status: int, detail: str) -> ApiError:
    if status == 403:
        return ApiForbidden(host, what, status, detail)
    if status == 404:
        return ApiNotFound(host, what, status, detail)
    if status == 413 or "exceeded for quota" in detail or "VolumeLimitExceeded" in detail:
        return ApiOverQuota(host, what, status, detail)
    return ApiError(host, what, status, detail)


def request(conn: openstack.connection.Connection, service: str, method: str, path: str,
            what: str, json: Any = None, microversion: str | None = None,
            ok: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
    """One REST call through the connection's service adapter (for what the SDK resources do not model).

    Returns the decoded JSON body (or None); raises the translated error for any status not in ``ok``.
    """
    adapter = getattr(conn, service)
    host = urlparse(conn.auth["auth_url"]).hostname or "cloud"
    with translate_errors(host, what):
        resp = adapter.request(path, method, json=json, microversion=microversion, raise_exc=False)
    if resp.status_code not in ok:
        detail = resp.text[:2000]
        if resp.status_code == 401:
            raise AuthenticationFailed(host, f"{what}: the cloud refused the credentials")
        raise _status_error(host, what, resp.status_code, detail)
    if resp.status_code == 204 or not resp.content:
        return None
    return resp.json()
