"""Base images from scratch: the spec, its cache key, the build commands, the apt mirror of a build host.

Pure: the commands are argument lists for the build host; the I/O happens in tasks/image.py.
Debian/Ubuntu use debootstrap (``--foreign`` + emulated second stage for a foreign architecture, through
qemu-user-static and binfmt_misc); the RHEL family uses ``dnf --installroot`` (or yum) with a repo file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from core.errors import InvalidInput
from core.names import validate_package, validate_suite

BUILDER_VERSION = "1"  # bump when the build recipe changes: a new key, a new rootfs

Family = Literal["debian", "ubuntu", "rhel", "centos", "fedora", "almalinux", "rocky"]
DEB_FAMILIES = ("debian", "ubuntu")
RPM_FAMILIES = ("rhel", "centos", "fedora", "almalinux", "rocky")

# Debian architecture -> (OCI platform, qemu-user-static name, RPM basearch)
ARCHES: dict[str, tuple[str, str, str]] = {
    "amd64": ("linux/amd64", "x86_64", "x86_64"),
    "ppc64el": ("linux/ppc64le", "ppc64le", "ppc64le"),
    "arm64": ("linux/arm64", "aarch64", "aarch64"),
    "s390x": ("linux/s390x", "s390x", "s390x"),
}
_URL = re.compile(r"^(https?|file)://[^\s'\"]+$")


class Variant(StrEnum):
    minbase = "minbase"
    buildd = "buildd"
    default = "default"


@dataclass(frozen=True)
class BaseImageSpec:
    family: str
    suite: str
    arch: str
    variant: str = "minbase"
    packages: tuple[str, ...] = ()
    mirror: str = ""  # resolved before the key is computed (never empty by then)

    def __post_init__(self) -> None:
        if self.family not in DEB_FAMILIES + RPM_FAMILIES:
            raise InvalidInput(f"unknown distribution family {self.family!r}; "
                               f"expected one of {', '.join(DEB_FAMILIES + RPM_FAMILIES)}")
        validate_suite(self.suite)
        if self.arch not in ARCHES:
            raise InvalidInput(f"unsupported architecture {self.arch!r}; expected one of {', '.join(ARCHES)}")
        if self.variant not in {v.value for v in Variant}:
            raise InvalidInput(f"unknown variant {self.variant!r}")
        for p in self.packages:
            validate_package(p)
        if self.mirror and not _URL.match(self.mirror):
            raise InvalidInput(f"mirror {self.mirror!r} is not an http(s):// or file:// URL")

    @property
    def platform(self) -> str:
        return ARCHES[self.arch][0]

    @property
    def is_deb(self) -> bool:
        return self.family in DEB_FAMILIES

    def cache_key(self) -> str:
        """Key on the inputs (not the run): same inputs, same key, same image."""
        doc = {
            "builder": BUILDER_VERSION, "family": self.family, "suite": self.suite, "arch": self.arch,
            "variant": self.variant, "packages": sorted(set(self.packages)), "mirror": self.mirror.rstrip("/"),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class BuildPlan:
    key: str
    workdir: str
    rootfs: str
    tarball: str
    steps: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    needs_emulation: bool = False
    qemu_name: str = ""


def plan_rootfs_build(spec: BaseImageSpec, cache_dir: str, host_arch: str) -> BuildPlan:
    """Commands that build ``<cache_dir>/<key>.tar`` on the build host (argv lists, run in order)."""
    if not spec.mirror:
        raise InvalidInput("no mirror given and none could be read from the build host's apt sources")
    key = spec.cache_key()
    work = f"{cache_dir.rstrip('/')}/work-{key}"
    rootfs = f"{work}/rootfs"
    tarball = f"{cache_dir.rstrip('/')}/{key}.tar"
    foreign = spec.arch != host_arch
    qemu = ARCHES[spec.arch][1]
    steps: list[tuple[str, ...]] = [("rm", "-rf", work), ("mkdir", "-p", work)]
    if spec.is_deb:
        cmd = ["debootstrap", f"--arch={spec.arch}"]
        if spec.variant != "default":
            cmd.append(f"--variant={spec.variant}")
        if spec.packages:
            cmd.append("--include=" + ",".join(sorted(set(spec.packages))))
        if foreign:
            cmd.append("--foreign")
        cmd += [spec.suite, rootfs, spec.mirror]
        steps.append(tuple(cmd))
        if foreign:
            steps.append(("chroot", rootfs, "/debootstrap/debootstrap", "--second-stage"))
        steps += [
            ("chroot", rootfs, "apt-get", "clean"),
            ("find", f"{rootfs}/var/lib/apt/lists", "-mindepth", "1", "-delete"),
        ]
    else:
        basearch = ARCHES[spec.arch][2]
        repo = f"{work}/powerops.repo"
        steps += [
            ("mkdir", "-p", f"{rootfs}/etc/yum.repos.d"),
            ("cp", repo, f"{rootfs}/etc/yum.repos.d/powerops.repo"),
            ("dnf", "-y", f"--installroot={rootfs}", f"--releasever={spec.suite}", f"--forcearch={basearch}",
             "--setopt=install_weak_deps=False", "--setopt=tsflags=nodocs", "--nogpgcheck",
             "--disablerepo=*", "--enablerepo=powerops-base", "install",
             *sorted({"bash", "coreutils-single", "dnf", *spec.packages})),
            ("dnf", "-y", f"--installroot={rootfs}", "clean", "all"),
        ]
    steps += [
        ("tar", "--numeric-owner", "--xattrs", "-c", "-f", f"{tarball}.partial", "-C", rootfs, "."),
        ("mv", f"{tarball}.partial", tarball),
        ("rm", "-rf", work),
    ]
    return BuildPlan(key=key, workdir=work, rootfs=rootfs, tarball=tarball, steps=tuple(steps),
                     needs_emulation=foreign, qemu_name=qemu)


def render_yum_repo(spec: BaseImageSpec) -> str:
    """The .repo file the RHEL-family build uses (a mirror the build host reaches, e.g. our yum mirror)."""
    return (
        "[powerops-base]\n"
        f"name=powerops base mirror for {spec.family} {spec.suite}\n"
        f"baseurl={spec.mirror.rstrip('/')}\n"
        "enabled=1\n"
        "gpgcheck=0\n"
    )


def dockerfile_for_rootfs(spec: BaseImageSpec) -> str:
    from core.render import render

    return render("images/rootfs.Dockerfile.j2", key=spec.cache_key(), family=spec.family,
                  suite=spec.suite, arch=spec.arch)


# -- facts ------------------------------------------------------------------------------------------------

def parse_apt_mirror(sources_list: str, deb822: str, family: str = "debian") -> str | None:
    """The first ``deb`` URI of the build host's apt sources (one-line and deb822 formats), skipping
    security/updates-only archives. None if there is none."""
    candidates: list[str] = []
    for line in sources_list.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 3 and parts[0] == "deb":
            uri = next((p for p in parts[1:] if "://" in p), None)
            if uri:
                candidates.append(uri)
    for stanza in re.split(r"\n\s*\n", deb822):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
            candidates += fields.get("uris", "").split()
    for uri in candidates:
        if "security" not in uri:
            return uri
    return candidates[0] if candidates else None


def parse_dpkg_arch(output: str) -> str:
    arch = output.strip()
    if not re.match(r"^[a-z0-9]+$", arch):
        raise InvalidInput(f"unexpected dpkg architecture output {output!r}")
    return arch
