"""Package tasks on a connected build host."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.ssh import SshTarget
from core.names import validate_package


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=3, task_run_name="download debs on {build.host}")
def download_debs(build: SshTarget, packages: list[str]) -> dict[str, bytes]:
    """``apt-get download`` on the build host (which reaches a mirror); returns {file name: bytes}."""
    for p in packages:
        validate_package(p)
    conn = build.connect()
    tmp = conn.run(["mktemp", "-d", "/tmp/powerops-debs.XXXXXX"]).stdout.strip()
    try:
        conn.run(["env", "-C", tmp, "apt-get", "download", "-q", *packages], timeout=600)
        names = conn.run(["find", tmp, "-maxdepth", "1", "-name", "*.deb", "-printf", "%f\n"]).stdout.split()
        out: dict[str, bytes] = {}
        for n in names:
            data = conn.read_file(f"{tmp}/{n}")
            if data is not None:
                out[n] = data
        return out
    finally:
        conn.run(["rm", "-rf", tmp], check=False)
