"""OpenSSH servers for lab hosts, with keys the lab generates (client key, per-host host keys)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from lab import netns
from lab.context import LabContext


def ensure_client_key(lab: LabContext) -> None:
    d = lab.state_dir / "ssh"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not lab.client_key_path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "powerops-lab",
                        "-f", str(lab.client_key_path)], check=True)
    auth = d / "authorized_keys"
    auth.write_text(lab.client_key_path.with_suffix(".pub").read_text())
    auth.chmod(0o600)


def ensure_host_key(lab: LabContext, node: str) -> Path:
    d = lab.node_dir(node)
    key = d / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node, "-f", str(key)], check=True)
    return key


def host_public_key(lab: LabContext, node: str) -> str:
    """'ssh-ed25519 AAAA...' of the node (what the SshTarget block expects)."""
    parts = (lab.node_dir(node) / "ssh_host_ed25519_key.pub").read_text().split()
    return f"{parts[0]} {parts[1]}"


def pid_alive(pidfile: Path) -> int | None:
    """The PID in ``pidfile`` if that process lives. The file may vanish under us (qemu's ``-pidfile``
    removes it as the process exits), so a missing file is "not alive", never an error."""
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def wait_for_pidfile(pidfile: Path, what: str, log: Path, attempts: int = 50) -> int:
    """The PID a freshly started daemon wrote, once it is alive; else a clear error naming its log."""
    for _ in range(attempts):
        pid = pid_alive(pidfile)
        if pid:
            return pid
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start; see {log}")


def private_mount_script(mounts: Mapping[str, Path]) -> str:
    """Shell lines that give a lab host its own copy of machine directories (run inside its mount namespace)."""
    lines = []
    for target, source in mounts.items():
        source.mkdir(parents=True, exist_ok=True)
        Path(target).mkdir(parents=True, exist_ok=True)  # the mount point on the machine
        lines.append(f"mount --bind {source} {target}")
    return "\n".join(lines)


def ensure_sshd(lab: LabContext, node: str, ip: str, env: Mapping[str, str] | None = None,
                private_dirs: Mapping[str, Path] | None = None) -> int:
    """Run sshd for ``node`` inside its namespace (idempotent: restarted if its configuration changed);
    ``private_dirs`` ({machine path: node's own directory}) are bind-mounted for it, so the host has its own
    files there, as a real host would. Returns its PID."""
    ensure_client_key(lab)
    key = ensure_host_key(lab, node)
    d = lab.node_dir(node)
    pidfile = d / "sshd.pid"
    Path("/run/sshd").mkdir(exist_ok=True)
    setenv = " ".join(f'{k}="{v}"' for k, v in (env or {}).items())
    config = [
        f"ListenAddress {ip}",
        "Port 22",
        f"HostKey {key}",
        f"PidFile {pidfile}",
        f"AuthorizedKeysFile {lab.state_dir / 'ssh' / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "Subsystem sftp internal-sftp",
        "MaxSessions 64",
        "MaxStartups 64:30:128",
        "LogLevel ERROR",
    ]
    if setenv:
        config.append(f"SetEnv {setenv}")
    if private_dirs:
        config.append("# private dirs: " + " ".join(f"{k}={v}" for k, v in sorted(private_dirs.items())))
    text = "\n".join(config) + "\n"
    pid = pid_alive(pidfile)
    cfg = d / "sshd_config"
    if pid and cfg.exists() and cfg.read_text() == text:
        return pid
    if pid:
        stop_sshd(lab, node)
        time.sleep(0.2)
    cfg.write_text(text)
    sshd_argv = ["/usr/sbin/sshd", "-f", str(cfg), "-E", str(d / "sshd.log")]
    if private_dirs:
        script = private_mount_script(private_dirs) + '\nexec "$@"\n'
        subprocess.run(netns.exec_argv(node, ["sh", "-c", script, "sh", *sshd_argv]), check=True)
    else:
        subprocess.run(netns.exec_argv(node, sshd_argv), check=True)
    return wait_for_pidfile(pidfile, f"sshd for lab node {node}", d / "sshd.log")


def stop_sshd(lab: LabContext, node: str) -> None:
    pidfile = lab.node_dir(node) / "sshd.pid"
    pid = pid_alive(pidfile)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    pidfile.unlink(missing_ok=True)
