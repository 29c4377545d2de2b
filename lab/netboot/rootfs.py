"""The Debian userland of the lab's "installed NovaLink host": a debootstrap rootfs tarball, built once with
the foundation's recipe (``core.image.plan_rootfs_build``) into the foundation's cache
(``/var/cache/powerops/rootfs/<key>.tar``), so the image flows and this lab share one cache.

minbase + ``cron`` (NovaLink's pvm-backup entries live in root's crontab, ``crontab -l`` must work).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.image import BaseImageSpec, parse_apt_mirror, plan_rootfs_build

ROOTFS_CACHE = Path("/var/cache/powerops/rootfs")
SUITE = "bookworm"
PACKAGES = ("cron",)


def machine_mirror() -> str:
    one = Path("/etc/apt/sources.list")
    one_line = one.read_text() if one.exists() else ""
    deb822 = "\n\n".join(p.read_text() for p in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")))
    return parse_apt_mirror(one_line, deb822) or "http://deb.debian.org/debian"


def spec() -> BaseImageSpec:
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    return BaseImageSpec(family="debian", suite=SUITE, arch=arch, variant="minbase", packages=PACKAGES,
                         mirror=machine_mirror())


def ensure_rootfs_tarball(log: Path) -> Path:
    """The cached tarball (built on first use: debootstrap from the machine's mirror, ~1-3 minutes)."""
    s = spec()
    plan = plan_rootfs_build(s, str(ROOTFS_CACHE), s.arch)
    tarball = Path(plan.tarball)
    if tarball.exists():
        return tarball
    ROOTFS_CACHE.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        for step in plan.steps:
            proc = subprocess.run(list(step), stdout=out, stderr=subprocess.STDOUT)
            if proc.returncode != 0:
                raise RuntimeError(f"rootfs build step `{' '.join(step[:4])}` exited {proc.returncode}; see {log}")
    return tarball
