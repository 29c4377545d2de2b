"""The one seam to remote hosts over SSH (paramiko).

* Commands are argument lists; they are joined with ``shlex.join`` here, at the edge, and nowhere else.
* Host keys are verified against the key configured for the target; unknown keys are refused.
* Secrets travel on stdin or through SFTP, never on a command line.
* Connections are pooled per process (tasks of one flow run share them).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import shlex
import stat
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import paramiko

from core.errors import (
    AuthenticationFailed,
    CommandFailed,
    HostKeyMismatch,
    HostKeyUnknown,
    HostUnreachable,
    InvalidInput,
)


@dataclass(frozen=True)
class SshParams:
    """Everything needed to open a verified SSH connection (built from an ``SshTarget`` block)."""

    host: str
    port: int
    username: str
    private_key: str = field(repr=False)
    host_key: str  # "ssh-ed25519 AAAA..." as in known_hosts, without the host name
    connect_timeout: float = 10.0

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"

    def pool_key(self) -> tuple[str, int, str, str, str]:
        digest = hashlib.sha256(self.private_key.encode()).hexdigest()
        return (self.host, self.port, self.username, self.host_key.strip(), digest)


@dataclass(frozen=True)
class CommandResult:
    """What one remote command did (modelled on invoke's Result)."""

    host: str
    command: str
    stdout: str
    stderr: str
    exited: int

    @property
    def ok(self) -> bool:
        return self.exited == 0


def load_private_key(text: str, label: str = "private key") -> paramiko.PKey:
    """Parse an OpenSSH/PEM private key of any type paramiko knows."""
    errors = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError, IndexError) as exc:
            errors.append(f"{cls.__name__}: {exc}")
    raise InvalidInput(f"{label} is not a usable unencrypted private key ({'; '.join(errors)})")


def parse_host_key(text: str, host: str) -> paramiko.PKey:
    parts = text.split()
    if len(parts) < 2:
        raise HostKeyUnknown(host, "no expected host key configured (want 'ssh-ed25519 AAAA...'); "
                                   "powerops never accepts an unknown host key")
    keytype, b64 = parts[0], parts[1]
    try:
        return paramiko.PKey.from_type_string(keytype, base64.b64decode(b64))
    except Exception as exc:  # paramiko raises several types here
        raise InvalidInput(f"{host}: configured host key is not valid ({keytype}): {exc}") from exc


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class SshConnection:
    """A verified SSH connection to one host."""

    def __init__(self, params: SshParams) -> None:
        self.params = params
        self.host = params.host
        self._client = self._connect()
        self._lock = threading.Lock()
        self._sftp: paramiko.SFTPClient | None = None

    def _connect(self) -> paramiko.SSHClient:
        p = self.params
        expected = parse_host_key(p.host_key, p.host)
        pkey = load_private_key(p.private_key, f"private key for {p.label}")
        client = paramiko.SSHClient()
        name = p.host if p.port == 22 else f"[{p.host}]:{p.port}"
        client.get_host_keys().add(name, expected.get_name(), expected)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                p.host, port=p.port, username=p.username, pkey=pkey,
                timeout=p.connect_timeout, banner_timeout=p.connect_timeout,
                auth_timeout=p.connect_timeout, allow_agent=False, look_for_keys=False,
                disabled_algorithms={"keys": []},
            )
        except paramiko.BadHostKeyException as exc:
            raise HostKeyMismatch(
                p.host, f"host key mismatch on port {p.port}: expected {fingerprint(exc.expected_key)}, "
                        f"got {fingerprint(exc.key)} - refusing to connect") from None
        except paramiko.AuthenticationException as exc:
            raise AuthenticationFailed(p.host, f"user {p.username!r} was refused: {exc}") from None
        except TimeoutError as exc:
            raise HostUnreachable(p.host, f"SSH port {p.port} timed out after {p.connect_timeout}s") from exc
        except (OSError, paramiko.SSHException) as exc:
            if "not found in known_hosts" in str(exc):
                raise HostKeyMismatch(p.host, f"host key type differs from the configured one: {exc}") from None
            raise HostUnreachable(p.host, f"SSH to port {p.port} failed: {exc}") from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    @property
    def alive(self) -> bool:
        t = self._client.get_transport()
        return bool(t and t.is_active())

    def close(self) -> None:
        self._client.close()

    @contextlib.contextmanager
    def sftp(self) -> Iterator[paramiko.SFTPClient]:
        """One SFTP session per connection, used by one thread at a time."""
        with self._lock:
            if self._sftp is None or self._sftp.sock.closed:
                self._sftp = self._client.open_sftp()
            yield self._sftp

    # -- commands ---------------------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        check: bool = True,
        timeout: float | None = 600.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run one command; ``argv`` is quoted here. ``stdin`` carries secrets, never argv."""
        if isinstance(argv, str):
            raise TypeError("run() takes an argument list, not a shell string")
        command = shlex.join(argv)
        if env:
            command = shlex.join(["env", *[f"{k}={v}" for k, v in env.items()]]) + " " + command
        chan = self._open_session(timeout)
        try:
            chan.exec_command(command)
            if stdin is not None:
                chan.sendall(stdin)
            chan.shutdown_write()
            out, err = _drain(chan, timeout, self.host, command)
            exited = chan.recv_exit_status()
        finally:
            chan.close()
        result = CommandResult(self.host, command, out.decode(errors="replace"), err.decode(errors="replace"), exited)
        if check and not result.ok:
            raise CommandFailed(self.host, command, exited, result.stderr or result.stdout)
        return result

    def stream(self, argv: Sequence[str], chunk: int = 1 << 20) -> Iterator[bytes]:
        """Run a command and yield its stdout in chunks (for tar streams); fails if it exits non-zero."""
        command = shlex.join(argv)
        chan = self._open_session(None)
        try:
            chan.exec_command(command)
            chan.shutdown_write()
            while True:
                data = chan.recv(chunk)
                if not data:
                    break
                yield data
            exited = chan.recv_exit_status()
            if exited != 0:
                err = b""
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                raise CommandFailed(self.host, command, exited, err.decode(errors="replace"))
        finally:
            chan.close()

    def open_exec_channel(self, argv: Sequence[str]) -> paramiko.Channel:
        """A raw bidirectional channel running ``argv`` (used for ``docker system dial-stdio``)."""
        chan = self._open_session(None)
        chan.exec_command(shlex.join(argv))
        return chan

    def _open_session(self, timeout: float | None) -> paramiko.Channel:
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise HostUnreachable(self.host, "SSH connection was lost")
        chan = transport.open_session(timeout=30)
        chan.settimeout(timeout)
        return chan

    # -- files ------------------------------------------------------------------------------------------

    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        with self.sftp() as sftp:
            try:
                with sftp.open(path, "rb") as fh:
                    fh.prefetch()
                    return bytes(fh.read())
            except FileNotFoundError:
                return None

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> bool:
        """Write atomically (temp file + rename) unless the content is already there. True if changed."""
        current = self.read_file(path)
        if current == data:
            with self.sftp() as sftp:
                if stat.S_IMODE(sftp.stat(path).st_mode or 0) != mode:
                    sftp.chmod(path, mode)
            return False
        tmp = f"{path}.powerops-{uuid.uuid4().hex[:8]}"
        with self.sftp() as sftp:
            try:
                fh = sftp.open(tmp, "wb")
            except FileNotFoundError:  # a new directory: made over SFTP too (no mkdir process, ~0.1 s each)
                _sftp_makedirs(sftp, path.rsplit("/", 1)[0] or "/")
                fh = sftp.open(tmp, "wb")
            with fh:
                fh.set_pipelined(True)
                fh.write(data)
            sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, path)
        return True

    def remove_file(self, path: str) -> bool:
        """Remove a file; 'already absent' is success. True if something was removed."""
        with self.sftp() as sftp:
            try:
                sftp.remove(path)
                return True
            except FileNotFoundError:
                return False

    def get_file(self, path: str, local_path: str) -> None:
        with self.sftp() as sftp:
            sftp.get(path, local_path)


def _sftp_makedirs(sftp: paramiko.SFTPClient, directory: str, mode: int = 0o755) -> None:
    """``mkdir -p`` over SFTP: each missing component is created (one made meanwhile by someone else is fine)."""
    parts = [p for p in directory.split("/") if p]
    for i in range(1, len(parts) + 1):
        sub = ("/" if directory.startswith("/") else "") + "/".join(parts[:i])
        try:
            if stat.S_ISDIR(sftp.stat(sub).st_mode or 0):
                continue
            raise NotADirectoryError(f"{sub} exists and is not a directory")
        except FileNotFoundError:
            pass
        try:
            sftp.mkdir(sub, mode)
        except OSError:
            if not stat.S_ISDIR(sftp.stat(sub).st_mode or 0):  # raced with another writer: fine if a directory
                raise


def _drain(chan: paramiko.Channel, timeout: float | None, host: str, command: str) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        progressed = False
        if chan.recv_ready():
            out += chan.recv(1 << 16)
            progressed = True
        if chan.recv_stderr_ready():
            err += chan.recv_stderr(1 << 16)
            progressed = True
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            # drain what arrived between the checks
            while chan.recv_ready():
                out += chan.recv(1 << 16)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(1 << 16)
            return bytes(out), bytes(err)
        if deadline is not None and time.monotonic() > deadline:
            raise CommandFailed(host, command, -1, f"timed out after {timeout}s")
        if not progressed:
            time.sleep(0.005)


_POOL: dict[tuple[str, int, str, str, str], SshConnection] = {}
_POOL_LOCK = threading.Lock()


def connect(params: SshParams) -> SshConnection:
    """A pooled, verified connection to ``params.host`` (re-opened if it died)."""
    key = params.pool_key()
    with _POOL_LOCK:
        conn = _POOL.get(key)
        if conn is not None and conn.alive:
            return conn
    conn = SshConnection(params)
    with _POOL_LOCK:
        _POOL[key] = conn
    return conn


def close_all() -> None:
    with _POOL_LOCK:
        for conn in _POOL.values():
            conn.close()
        _POOL.clear()
