"""An SSH server (paramiko server mode) that answers like an HMC, a VIOS or an AIX client LPAR.

Public-key authentication only (the lab client key), a host key the lab generates, exec requests only (the
way automation talks to an HMC). Each command line is split like the restricted shell does (``shlex``) and
executed against the shared model.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import signal
import socket
import threading
import time
from pathlib import Path

import paramiko

from lab.hmc_sim import model as M
from lab.hmc_sim.hmc_cli import Hmc, Result
from lab.hmc_sim.vios_cli import Vios

USERS = {"hmc": "hscroot", "vios": "padmin", "lpar": "root"}
log = logging.getLogger("hmc_sim")


def load_authorized(path: Path) -> list[paramiko.PKey]:
    keys = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("ssh-"):
            with contextlib.suppress(Exception):
                keys.append(paramiko.PKey.from_type_string(parts[0], __import__("base64").b64decode(parts[1])))
    return keys


class _Server(paramiko.ServerInterface):
    def __init__(self, role: str, authorized: list[paramiko.PKey], runner: Hmc | Vios) -> None:
        self.role = role
        self.authorized = authorized
        self.runner = runner

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == USERS[self.role] and any(k.asbytes() == key.asbytes() for k in self.authorized):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        threading.Thread(target=self._exec, args=(channel, command.decode(errors="replace")), daemon=True).start()
        return True

    def check_channel_env_request(self, channel: paramiko.Channel, name: bytes, value: bytes) -> bool:
        return False

    def _exec(self, chan: paramiko.Channel, command: str) -> None:
        # paramiko sends the exec reply after check_channel_exec_request returns: never close the channel
        # before that reply is out (the client would see "Channel closed").
        time.sleep(0.03)
        try:
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                res = Result(1, "", f"rbash: syntax error: {exc}\n")
            else:
                stdin = b""
                if argv and argv[0] == "oem_setup_env":
                    chunks = []
                    while True:
                        data = chan.recv(65536)
                        if not data:
                            break
                        chunks.append(data)
                    stdin = b"".join(chunks)
                res = self.runner.run(argv, stdin)
            if res.out:
                chan.sendall(res.out.encode())
            if res.err:
                chan.sendall_stderr(res.err.encode())
            chan.send_exit_status(res.rc)
        except Exception:  # a broken client must not kill the server
            log.exception("command %r failed", command)
            with contextlib.suppress(Exception):
                chan.send_exit_status(255)
        finally:
            with contextlib.suppress(Exception):
                chan.shutdown_write()
                chan.close()


def serve(role: str, node: str, ip: str, port: int, state_dir: Path, host_key: Path, authorized: Path) -> None:
    store = M.Store(state_dir)
    runner: Hmc | Vios = Hmc(store, state_dir) if role == "hmc" else Vios(store, node, role)
    key = paramiko.Ed25519Key.from_private_key_file(str(host_key))
    keys = load_authorized(authorized)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # netboot backends are detached; never leave zombies
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, port))
    sock.listen(64)
    log.warning("simulated %s %s listening on %s:%d", role, node, ip, port)
    while True:
        client, _ = sock.accept()
        threading.Thread(target=_handle, args=(client, role, key, keys, runner), daemon=True).start()


def _handle(client: socket.socket, role: str, key: paramiko.PKey, keys: list[paramiko.PKey],
            runner: Hmc | Vios) -> None:
    t = paramiko.Transport(client)
    t.add_server_key(key)
    try:
        t.start_server(server=_Server(role, keys, runner))
        while t.is_active():
            chan = t.accept(timeout=1)
            if chan is None:
                continue
    except (paramiko.SSHException, EOFError, OSError):
        pass
    finally:
        t.close()
