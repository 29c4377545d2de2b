"""nginx processes of the mirror lab: the loopback upstream and the mirror host's web server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from core.mirror.web import render_nginx
from lab import netns


def _pid(run_dir: Path) -> int | None:
    pidfile = run_dir / "nginx.pid"
    if not pidfile.exists():
        return None
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    return pid


def running(run_dir: Path) -> int | None:
    return _pid(run_dir)


def serve(root: Path, listen: str, run_dir: Path, published: bool = False, node: str | None = None,
          workers: int = 1, check_url: str | None = None, sites_dir: Path | None = None,
          slow_rate: str = "", tls_listen: str = "", tls_cert: Path | None = None, tls_key: Path | None = None) -> int:
    """Start nginx serving ``root`` on ``listen`` (inside the namespace of ``node`` if given); idempotent.

    A running nginx whose configuration differs from the wanted one is reloaded."""
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "nginx.conf"
    text = render_nginx(str(root), listen, str(run_dir), published=published,
                        purpose="lab upstream" if not published else "lab mirror host",
                        workers=workers, user="root root", sites_dir=str(sites_dir or ""), slow_rate=slow_rate,
                        tls_listen=tls_listen, tls_cert=str(tls_cert or ""), tls_key=str(tls_key or ""))
    pid = _pid(run_dir)
    if pid:
        if conf.read_text() != text:
            conf.write_text(text)
            argv = ["nginx", "-c", str(conf), "-p", str(run_dir), "-s", "reload"]
            subprocess.run(netns.exec_argv(node, argv) if node else argv, check=True, capture_output=True)
            time.sleep(0.3)
        return pid
    conf.write_text(text)
    argv = ["nginx", "-c", str(conf), "-e", str(run_dir / "error.log"), "-p", str(run_dir)]
    if node:
        argv = netns.exec_argv(node, argv)
    res = subprocess.run(argv, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"nginx failed to start: {res.stderr.decode(errors='replace')}")
    for _ in range(100):
        pid = _pid(run_dir)
        if pid and (check_url is None or _answers(check_url)):
            return pid
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not start; see {run_dir / 'error.log'}")


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
        return True
    except httpx.HTTPError:
        return False


def stop(run_dir: Path) -> bool:
    pid = _pid(run_dir)
    if not pid:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    for _ in range(100):
        if _pid(run_dir) is None:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    (run_dir / "nginx.pid").unlink(missing_ok=True)
    return True
