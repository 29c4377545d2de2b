"""Thin Docker tasks: build an app image from a Dockerfile, tag, inspect containers."""

from __future__ import annotations

import io
import tarfile
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.docker_host import DockerHost
from core.errors import DockerError
from seams.docker import call


def make_context(files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    """An in-memory build context tar (deterministic: fixed mtimes and owners)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = (modes or {}).get(name, 0o644)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@task(cache_policy=NO_CACHE, task_run_name="build {tag} on {host.name}")
def build_app_image(host: DockerHost, tag: str, dockerfile: str, files: dict[str, bytes],
                    modes: dict[str, int] | None = None, labels: dict[str, str] | None = None) -> str:
    """``docker build`` of ``dockerfile`` + ``files`` on the host (layer cache of the host applies)."""
    logger = get_run_logger()
    context = make_context({"Dockerfile": dockerfile.encode(), **files}, modes)
    with host.client() as client:
        stream = call(host.name, f"build {tag}", lambda: client.api.build(
            fileobj=io.BytesIO(context), custom_context=True, tag=tag, rm=True, forcerm=True, decode=True,
            pull=False, labels=labels or {}))
        return consume_build(host.name, f"build of {tag}", stream, logger, lambda: client.images.get(tag))


def consume_build(host: str, what: str, stream: Any, logger: Any, image: Any) -> str:
    """Read a docker build's JSON stream: fail on its first error (naming the host), return the image id."""
    for item in stream:
        if "error" in item:
            raise DockerError(host, f"{what} failed: {item['error'].strip()}")
        if item.get("stream", "").strip():
            logger.debug("%s", item["stream"].strip())
    return str(call(host, f"{what}: inspect", image).id)
