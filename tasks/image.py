"""Tasks that build and import images: rootfs on a build host, import and smoke test on a Docker host."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from blocks.docker_host import DockerHost
from blocks.ssh import SshTarget
from core.errors import CommandFailed, DockerError
from core.image import BaseImageSpec, BuildPlan, parse_apt_mirror, parse_dpkg_arch
from seams.docker import call
from seams.ssh import SshConnection
from tasks.docker import consume_build


@dataclass(frozen=True)
class BuildHostFacts:
    arch: str
    mirror: str | None
    has_debootstrap: bool
    has_dnf: bool


@task(cache_policy=NO_CACHE, retries=1, task_run_name="read build host facts of {build.host}")
def read_build_host_facts(build: SshTarget) -> BuildHostFacts:
    conn = build.connect()
    arch = parse_dpkg_arch(conn.run(["dpkg", "--print-architecture"]).stdout)
    one_line = (conn.read_file("/etc/apt/sources.list") or b"").decode(errors="replace")
    listing = conn.run(["find", "/etc/apt/sources.list.d", "-maxdepth", "1", "-name", "*.sources"],
                       check=False).stdout.split()
    deb822 = "\n\n".join((conn.read_file(p) or b"").decode(errors="replace") for p in sorted(listing))
    tools = conn.run(["sh", "-c", "command -v debootstrap; command -v dnf || command -v yum"], check=False)
    return BuildHostFacts(arch=arch, mirror=parse_apt_mirror(one_line, deb822),
                          has_debootstrap="debootstrap" in tools.stdout,
                          has_dnf=("dnf" in tools.stdout or "yum" in tools.stdout))


@task(cache_policy=NO_CACHE, task_run_name="check rootfs {plan.key} on {build.host}")
def rootfs_present(build: SshTarget, plan: BuildPlan) -> bool:
    return build.connect().run(["test", "-s", plan.tarball], check=False).ok


@task(cache_policy=NO_CACHE, task_run_name="enable {qemu_name} emulation on {build.host}")
def ensure_binfmt(build: SshTarget, qemu_name: str) -> None:
    """binfmt_misc mounted and qemu-<arch> registered (qemu-user-static), for a foreign architecture."""
    conn = build.connect()
    if not conn.run(["test", "-e", "/proc/sys/fs/binfmt_misc/register"], check=False).ok:
        conn.run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"])
    entry = f"/proc/sys/fs/binfmt_misc/qemu-{qemu_name}"
    if not conn.run(["test", "-e", entry], check=False).ok:
        conn.run(["update-binfmts", "--enable", f"qemu-{qemu_name}"])
    if not conn.run(["test", "-e", entry], check=False).ok:
        raise CommandFailed(build.host, f"binfmt qemu-{qemu_name}", 1,
                            f"qemu-{qemu_name} is not registered: install qemu-user-static and binfmt-support")


def _rootfs_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    plan: BuildPlan = parameters["plan"]
    build: SshTarget = parameters["build"]
    return f"rootfs-{build.host}-{build.port}-{plan.key}"


@task(cache_key_fn=_rootfs_cache_key, persist_result=True, task_run_name="build rootfs {plan.key}")
def build_rootfs(build: SshTarget, plan: BuildPlan, repo_file: str | None = None) -> str:
    """Run the build plan on the build host (minutes). Cached on the inputs' key; the tarball on the build
    host is the cache itself, so an existing one is not rebuilt."""
    logger = get_run_logger()
    conn = build.connect()
    if conn.run(["test", "-s", plan.tarball], check=False).ok:
        logger.info("rootfs %s already on %s: not rebuilt", plan.key, build.host)
        return plan.tarball
    total = len(plan.steps)
    progress = create_progress_artifact(0.0, key=f"rootfs-{plan.key[:12]}",
                                        description=f"rootfs {plan.key} on {build.host}")
    for i, step in enumerate(plan.steps, 1):
        if repo_file is not None and step[:1] == ("cp",) and step[1].endswith("powerops.repo"):
            conn.write_file(step[1], repo_file.encode())
        t0 = time.monotonic()
        logger.info("rootfs %s: step %d/%d: %s", plan.key, i, total, " ".join(step[:4]))
        conn.run(list(step), timeout=3600)
        update_progress_artifact(progress, 100.0 * i / total)
        logger.info("rootfs %s: step %d/%d done in %.1fs", plan.key, i, total, time.monotonic() - t0)
    return plan.tarball


def _context_stream(conn: SshConnection, tarball: str, dockerfile: str) -> Iterator[bytes]:
    """A docker build context (Dockerfile + rootfs.tar) generated on the fly from the build host's tarball."""
    size = int(conn.run(["stat", "-c", "%s", tarball]).stdout.strip())
    buf = io.BytesIO()
    df = dockerfile.encode()
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(df)
    buf.write(info.tobuf(format=tarfile.GNU_FORMAT))
    buf.write(df + b"\0" * ((512 - len(df) % 512) % 512))
    info = tarfile.TarInfo("rootfs.tar")
    info.size = size
    buf.write(info.tobuf(format=tarfile.GNU_FORMAT))
    yield buf.getvalue()
    sent = 0
    for chunk in conn.stream(["cat", tarball]):
        sent += len(chunk)
        yield chunk
    if sent != size:
        raise DockerError(conn.host, f"rootfs tarball {tarball} changed while streaming ({sent} != {size} bytes)")
    yield b"\0" * ((512 - size % 512) % 512) + b"\0" * 1024


@task(cache_policy=NO_CACHE, task_run_name="import {tag} on {host.name}")
def import_rootfs(build: SshTarget, host: DockerHost, spec: BaseImageSpec, tarball: str,
                  dockerfile: str, tag: str) -> str:
    """Build ``FROM scratch`` + ``ADD rootfs.tar`` on the target host with the right platform; returns the id."""
    logger = get_run_logger()
    conn = build.connect()
    with host.client() as client:
        stream = call(host.name, f"import {tag}", lambda: client.api.build(
            fileobj=_context_stream(conn, tarball, dockerfile), custom_context=True, tag=tag,
            platform=spec.platform, rm=True, forcerm=True, decode=True, pull=False))
        return consume_build(host.name, f"import of {tag}", stream, logger, lambda: client.images.get(tag))


@task(cache_policy=NO_CACHE, task_run_name="inspect {tag} on {host.name}")
def find_image(host: DockerHost, tag: str) -> dict[str, Any] | None:
    """The image's id, labels and architecture, or None if the host does not have it."""
    import docker.errors

    with host.client() as client:
        try:
            img = client.images.get(tag)
        except docker.errors.ImageNotFound:
            return None
        attrs = img.attrs
        return {"id": img.id, "labels": (attrs.get("Config") or {}).get("Labels") or {},
                "architecture": attrs.get("Architecture"), "size": attrs.get("Size")}


@task(cache_policy=NO_CACHE, retries=1, task_run_name="smoke test {tag} on {host.name}")
def smoke_test_image(host: DockerHost, tag: str) -> str:
    """``docker run --rm IMAGE sh -c 'echo success'`` - the seed's check."""
    with host.client() as client:
        out = call(host.name, f"run {tag}", lambda: client.containers.run(
            tag, ["/bin/sh", "-c", "echo success"], remove=True, network_mode="none"))
    text = out.decode().strip() if isinstance(out, bytes) else str(out).strip()
    if text != "success":
        raise DockerError(host.name, f"smoke test of {tag} printed {text!r} instead of 'success'")
    return text
