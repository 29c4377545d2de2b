"""Flow build-base-image: a Docker base image from scratch (debootstrap / dnf --installroot, tar, import).

Seed: mkimage-yum / debootstrap, ``tar --numeric-owner | docker import``, ``docker run ... echo success``.
Cached on the inputs: the same spec gives the same image (label ``org.powerops.rootfs-key``) without rebuilding.
"""

from __future__ import annotations

import time
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from blocks.ssh import SshTarget
from core.errors import InvalidInput
from core.image import BaseImageSpec, dockerfile_for_rootfs, plan_rootfs_build, render_yum_repo
from core.names import parse_image_ref
from tasks.image import (
    build_rootfs,
    ensure_binfmt,
    find_image,
    import_rootfs,
    read_build_host_facts,
    rootfs_present,
    smoke_test_image,
)
from tasks.registry import push_image


class BaseImageParams(BaseModel):
    """What base image to build, where, and where to put it."""

    family: Literal["debian", "ubuntu", "rhel", "centos", "fedora", "almalinux", "rocky"] = Field(
        default="debian", description="Distribution family: debian/ubuntu use debootstrap, the RHEL family dnf.")
    suite: str = Field(default="bookworm", description="Suite or release (bookworm, jammy, 9, ...).")
    arch: Literal["amd64", "ppc64el", "arm64", "s390x"] = Field(
        default="amd64", description="Debian architecture name; a foreign one is built through qemu-user-static.")
    variant: Literal["minbase", "buildd", "default"] = Field(default="minbase", description="debootstrap variant.")
    packages: list[str] = Field(default_factory=list, description="Extra packages to include.")
    mirror: str | None = Field(default=None, description="Package mirror URL; default: the one the build "
                               "host's own apt sources use.")
    build_host: str = Field(description="Name of the SSH target block of the build host (root, debootstrap).")
    target_host: str = Field(description="Name of the Docker host block the image is imported on.")
    tag: str | None = Field(default=None, description="Image tag; default powerops/<family>:<suite>-<arch>.")
    cache_dir: str = Field(default="/var/cache/powerops/rootfs", description="Rootfs cache on the build host.")
    push_to: str | None = Field(default=None, description="Registry block name to push the image to (optional).")


@flow(name="build-base-image", log_prints=False)
def build_base_image(params: BaseImageParams) -> dict[str, object]:
    logger = get_run_logger()
    t0 = time.monotonic()
    tag = params.tag or f"powerops/{params.family}:{params.suite}-{params.arch}"
    parse_image_ref(tag)
    build = SshTarget.load(params.build_host)
    host = DockerHost.load(params.target_host)

    facts_f = read_build_host_facts.submit(build)
    existing_f = find_image.submit(host, tag)
    facts = facts_f.result()
    mirror = params.mirror or facts.mirror
    if not mirror:
        raise InvalidInput(f"{build.host}: no mirror given and none found in its apt sources")
    spec = BaseImageSpec(family=params.family, suite=params.suite, arch=params.arch, variant=params.variant,
                         packages=tuple(params.packages), mirror=mirror)
    key = spec.cache_key()
    if spec.is_deb and not facts.has_debootstrap:
        raise InvalidInput(f"{build.host}: debootstrap is not installed on the build host")
    if not spec.is_deb and not facts.has_dnf:
        raise InvalidInput(f"{build.host}: neither dnf nor yum is installed on the build host")

    existing = existing_f.result()
    if existing and existing["labels"].get("org.powerops.rootfs-key") == key:
        logger.info("%s on %s already built from the same inputs (key %s): nothing to build", tag, host.name, key)
        action = "unchanged (cached)"
        image_id = str(existing["id"])
        smoke = "success (at build time; cached)"
    else:
        plan = plan_rootfs_build(spec, params.cache_dir, facts.arch)
        if plan.needs_emulation:
            ensure_binfmt(build, plan.qemu_name)
        builder = build_rootfs if rootfs_present(build, plan) else build_rootfs.with_options(refresh_cache=True)
        tarball = builder(build, plan, None if spec.is_deb else render_yum_repo(spec))
        image_id = import_rootfs(build, host, spec, tarball, dockerfile_for_rootfs(spec), tag)
        action = "built" if existing is None else "rebuilt (inputs changed)"
        smoke = smoke_test_image(host, tag)
    pushed = None
    if params.push_to:
        registry = RegistryTarget.load(params.push_to)
        pushed = push_image(host, tag, registry)
    seconds = time.monotonic() - t0
    summary = {"tag": tag, "image_id": image_id, "key": key, "action": action, "smoke_test": smoke,
               "pushed": pushed, "seconds": round(seconds, 1), "host": host.name, "mirror": mirror}
    create_markdown_artifact(
        key="build-base-image",
        markdown="\n".join([
            f"## Base image `{tag}` on {host.name}", "",
            "| what | value |", "|---|---|",
            *[f"| {k} | {v} |" for k, v in summary.items()],
        ]),
        description=f"build-base-image {tag}: {action}",
    )
    return summary
