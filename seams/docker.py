"""The one Docker client factory.

Two transports, as a user reaches real hosts:

* ``ssh``: the Docker API tunnelled over a verified SSH connection, exactly like ``docker -H ssh://``:
  each API connection is a channel running ``docker system dial-stdio`` on the host. The tunnel ends in a
  private unix socket (mode 0700 directory) that docker-py talks to. Host keys are verified by our SSH seam,
  not by ``~/.ssh/known_hosts``.
* ``tls``: ``tcp://host:2376`` with a client certificate and the daemon's CA.

docker-py errors are translated to ``DockerError`` naming the host here; a request that gets no answer in time,
or whose connection breaks, to ``HostUnreachable``.

Timeouts: a client waits ``DockerParams.timeout`` (300 s) for an answer, what an image pull or push may need.
Reads of engine state (``docker info``, swarm, nodes, networks, services) pass a short per-call timeout
(``call(..., timeout=FACT_TIMEOUT_S)`` or ``with request_timeout(...)``): an engine behind a dead pooled SSH tunnel
then fails such a read within seconds, naming the host, instead of after 300 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import docker.errors
import docker.tls
import paramiko
import requests.exceptions
from docker.transport import UnixHTTPAdapter

from core.errors import DockerError, HostUnreachable
from seams.ssh import SshParams, connect

T = TypeVar("T")

FACT_TIMEOUT_S = 20.0  # seconds a read of engine state may wait for an answer (the client default is 300)

# per-thread (per-context) request timeout of the docker-py calls made inside request_timeout(); None: the client's
_CALL_TIMEOUT: ContextVar[float | None] = ContextVar("powerops_docker_call_timeout", default=None)


@dataclass(frozen=True)
class DockerParams:
    name: str
    ssh: SshParams | None = None
    tls_url: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = field(default=None, repr=False)
    api_version: str = "auto"
    timeout: int = 300


class _SshTunnel:
    """A local unix socket whose every connection is a ``docker system dial-stdio`` channel."""

    def __init__(self, ssh: SshParams) -> None:
        self.ssh = ssh
        self.dir = tempfile.mkdtemp(prefix="powerops-docker-")
        os.chmod(self.dir, 0o700)
        self.path = os.path.join(self.dir, "docker.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(16)
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name=f"docker-ssh-{ssh.host}")
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            chan = connect(self.ssh).open_exec_channel(["docker", "system", "dial-stdio"])
        except Exception:
            client.close()
            return
        _pump(client, chan)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pump(sock: socket.socket, chan: paramiko.Channel) -> None:
    def up() -> None:
        try:
            while True:
                data = sock.recv(1 << 16)
                if not data:
                    break
                chan.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(Exception):
                chan.shutdown_write()

    t = threading.Thread(target=up, daemon=True)
    t.start()
    try:
        while True:
            data = chan.recv(1 << 16)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        t.join(timeout=5)
        chan.close()
        sock.close()


class _OnePoolUnixAdapter(UnixHTTPAdapter):  # type: ignore[misc]
    """docker-py keys its unix-socket connection pools by the request URL, so every distinct endpoint (every
    container ID, every image name) opens a new connection. Through the SSH tunnel each new connection starts
    a ``docker system dial-stdio`` process on the host: ~0.1 s per request (measured, lab swarm: ``haproxy -c``
    in a container 0.47 s over the tunnel against 0.19 s on the socket). One keep-alive pool per engine, as
    the docker CLI has."""

    def get_connection(self, url: str, proxies: Any = None) -> Any:
        return super().get_connection("http+docker://engine", proxies)


def one_connection_pool(client: docker.DockerClient, max_pool_size: int = 16) -> docker.DockerClient:
    """Give a unix-socket ``client`` one connection pool for all its requests (see ``_OnePoolUnixAdapter``)."""
    api = client.api
    adapter = _OnePoolUnixAdapter("http+unix://" + api._custom_adapter.socket_path, timeout=api.timeout,
                                  max_pool_size=max_pool_size)
    api.mount("http+docker://", adapter)
    old, api._custom_adapter = api._custom_adapter, adapter
    old.close()
    return client


_TUNNELS: dict[tuple[str, int, str, str, str], _SshTunnel] = {}
_CLIENTS: dict[tuple[str, str, str], docker.DockerClient] = {}  # one negotiated client per engine
_LOCK = threading.Lock()


@contextlib.contextmanager
def docker_client(params: DockerParams) -> Iterator[docker.DockerClient]:
    """A docker-py client for one host; errors name the host."""
    if params.ssh is not None:
        key = params.ssh.pool_key()
        with _LOCK:
            tunnel = _TUNNELS.get(key)
            if tunnel is None:
                connect(params.ssh)  # verify reachability and host key up front, with a clear error
                tunnel = _TUNNELS[key] = _SshTunnel(params.ssh)
        base_url = f"unix://{tunnel.path}"
        tls: Any = False
    elif params.tls_url:
        base_url = params.tls_url
        tls = True
    else:
        raise DockerError(params.name, "Docker host has neither an SSH target nor a TLS URL")
    material = hashlib.sha256(f"{params.tls_ca}|{params.tls_cert}|{params.tls_key}".encode()).hexdigest()
    cache_key = (base_url, material, params.api_version)
    with _LOCK:
        client = _CLIENTS.get(cache_key)
    if client is None:
        try:
            # version negotiated after trust_env is off: REQUESTS_CA_BUNDLE & co. in the environment would
            # otherwise silently replace the daemon's CA given in the block
            if tls:
                files = _tls_files(params)
                tls = docker.tls.TLSConfig(client_cert=(files["cert"], files["key"]), ca_cert=files["ca"],
                                           verify=True)
            client = docker.DockerClient(base_url=base_url, version="1.41", timeout=params.timeout, tls=tls)
            client.api.trust_env = False
            if not tls:
                one_connection_pool(client)
            with_call_timeouts(client)
            if params.api_version == "auto":
                with request_timeout(params.name, "read the Docker API version", FACT_TIMEOUT_S):
                    client.api._version = client.api._retrieve_server_version()
            else:
                client.api._version = params.api_version
        except docker.errors.DockerException as exc:
            raise HostUnreachable(params.name, f"Docker API not reachable: {exc}") from exc
        with _LOCK:
            _CLIENTS[cache_key] = client
    yield client


def with_call_timeouts(client: docker.DockerClient) -> docker.DockerClient:
    """Let ``request_timeout`` set the timeout of this client's requests per call (docker-py otherwise sends its
    constructor's timeout with every request; the client is shared by threads, so it is not changed)."""
    api = client.api

    def set_request_timeout(kwargs: dict[str, Any]) -> dict[str, Any]:
        seconds = _CALL_TIMEOUT.get()
        kwargs.setdefault("timeout", api.timeout if seconds is None else seconds)
        return kwargs

    api._set_request_timeout = set_request_timeout  # type: ignore[method-assign]
    return client


@contextlib.contextmanager
def request_timeout(host: str, what: str, seconds: float | None) -> Iterator[None]:
    """docker-py requests made in this block (this thread) wait at most ``seconds`` for an answer (None: the
    client's timeout). A request that times out or whose connection breaks raises ``HostUnreachable`` naming
    the host and the operation; docker-py's own errors pass through unchanged."""
    token = _CALL_TIMEOUT.set(seconds) if seconds is not None else None
    try:
        yield
    except requests.exceptions.Timeout as exc:
        waited = f"within {seconds:g} s" if seconds is not None else "in time"
        raise HostUnreachable(host, f"{what}: the Docker engine did not answer {waited} ({exc})") from exc
    except requests.exceptions.ConnectionError as exc:
        raise HostUnreachable(host, f"{what}: connection to the Docker engine failed ({exc})") from exc
    finally:
        if token is not None:
            _CALL_TIMEOUT.reset(token)


def call(host: str, what: str, fn: Callable[[], T], timeout: float | None = None) -> T:
    """Run one docker-py call and translate its errors into ``DockerError`` naming host and operation.
    ``timeout``: seconds the call's requests may wait for an answer (reads of engine state pass
    ``FACT_TIMEOUT_S``); None keeps the client's (long) timeout. No answer in time: ``HostUnreachable``."""
    try:
        with request_timeout(host, what, timeout):
            return fn()
    except docker.errors.APIError as exc:
        raise DockerError(host, f"{what} failed: {exc.explanation or exc}") from exc
    except docker.errors.DockerException as exc:
        raise DockerError(host, f"{what} failed: {exc}") from exc


def read_state(host: str, what: str, fn: Callable[[], T]) -> T:
    """``call`` for a read of engine state (info, swarm, nodes, networks, services, images): no answer within
    ``FACT_TIMEOUT_S`` raises ``HostUnreachable``."""
    return call(host, what, fn, timeout=FACT_TIMEOUT_S)


def _tls_files(params: DockerParams) -> dict[str, str]:
    d = tempfile.mkdtemp(prefix="powerops-docker-tls-")
    os.chmod(d, 0o700)
    out = {}
    for name, value in (("ca", params.tls_ca), ("cert", params.tls_cert), ("key", params.tls_key)):
        if not value:
            raise DockerError(params.name, f"TLS connection needs {name}")
        path = os.path.join(d, f"{name}.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
            fh.write(value)
        out[name] = path
    return out


def close_tunnels() -> None:
    with _LOCK:
        for c in _CLIENTS.values():
            c.close()
        _CLIENTS.clear()
        for t in _TUNNELS.values():
            t.close()
        _TUNNELS.clear()
