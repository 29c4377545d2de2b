"""Demo of the mirror area: the same flows the tests run, against the lab (and optionally a real Debian slice).

    python -m lab.mirror.demo            (needs PREFECT_API_URL and root; brings the mirror lab up)

0. serve-mirrors: the mirror host's nginx site (written over SSH, nginx -t, reload).
1. mirror-apt: the lab's signed ppc64el upstream -> the mirror host over SSH; configure-mirror-clients
   writes the client's sources entry + keyring; a real ``apt-get install`` in the client chroot.
2. build-wheelhouse: pip download for manylinux ppc64le -> PEP 503 index on the mirror host.
3. mirror-yum: a createrepo_c repository with a signed repomd.xml -> the mirror host.
4. (POWEROPS_DEMO_REAL_MIRROR=1) a handful of real ppc64el packages from the machine's Debian mirror,
   verified with Debian's archive keyring: a partial mirror of bookworm main.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import lab.mirror as mirror_lab
from lab import netns
from lab.context import LabContext
from lab.mirror.upstream import build_wheel, build_yum_upstream

DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


def _say(msg: str) -> None:
    print(f"[mirror demo] {msg}", flush=True)


def run(lab: LabContext, real_slice: bool | None = None) -> list[str]:
    from flows._sync import call_flow
    from flows.build_wheelhouse import BuildWheelhouseParams, build_wheelhouse
    from flows.configure_mirror_clients import (
        AptClient,
        ConfigureMirrorClientsParams,
        configure_mirror_clients,
    )
    from flows.mirror_apt import MirrorAptParams, mirror_apt
    from flows.mirror_common import Destination
    from flows.mirror_yum import MirrorYumParams, mirror_yum
    from flows.serve_mirrors import ServeMirrorsParams, serve_mirrors

    mirror_lab.up(lab)
    mirror_lab.register_blocks(lab)
    _say(f"serve-mirrors: {serve_mirrors(ServeMirrorsParams(mirror_host_block='lab-mirror-host'))}")
    urls = []
    r = call_flow(mirror_apt, MirrorAptParams(
        upstream_url=f"{mirror_lab.UPSTREAM_URL}/apt", suites=["bookworm"], architectures=["ppc64el"],
        destination=Destination(name="debian-lab", mirror_host_block="lab-mirror-host"),
        keyring_block="lab-mirror-upstream"))
    _say(f"mirror-apt: {r}")
    root = mirror_lab.client_root(lab)
    configure_mirror_clients(ConfigureMirrorClientsParams(
        targets=["lab-mirror-client-ssh"], mirror_host_block="lab-mirror-host", root=str(root),
        apt=[AptClient(name="debian-lab", suites=["bookworm"], keyring_block="lab-mirror-upstream")]))
    chroot = netns.exec_argv(mirror_lab.CLIENT_NODE, ["chroot", str(root)])
    subprocess.run([*chroot, "dpkg", "--add-architecture", "ppc64el"], check=True)
    subprocess.run([*chroot, "apt-get", "-q", "update"], check=True)
    subprocess.run([*chroot, "apt-get", "-q", "install", "-y", "powerops-hello:ppc64el"], check=True)
    _say("apt-get install powerops-hello:ppc64el from the mirror host succeeded in the client chroot")
    urls.append(f"apt: http://{mirror_lab.MIRROR_IP}/debian-lab/")

    wheels = mirror_lab.upstream_dir(lab) / "wheels"
    build_wheel(wheels, "powerops-compose", "1.29.2", ["powerops-yaml>=5"])
    build_wheel(wheels, "powerops-yaml", "5.4")
    r = build_wheelhouse(BuildWheelhouseParams(
        requirements=["powerops-compose"], no_index=True, find_links=[f"{mirror_lab.UPSTREAM_URL}/wheels/"],
        destination=Destination(name="wheels", mirror_host_block="lab-mirror-host")))
    _say(f"build-wheelhouse: {r}")
    urls.append(f"pip: {r.get('index_url') or f'http://{mirror_lab.MIRROR_IP}/wheels/simple/'}")

    yum_root = mirror_lab.upstream_dir(lab) / "yum"
    if not (yum_root / "repodata").exists():
        build_yum_upstream(yum_root, mirror_lab.key_dir(lab), packages=3)
    r = call_flow(mirror_yum, MirrorYumParams(upstream_url=f"{mirror_lab.UPSTREAM_URL}/yum", keyring_block="lab-mirror-upstream",
                                   destination=Destination(name="docker-el", mirror_host_block="lab-mirror-host")))
    _say(f"mirror-yum: {r}")
    urls.append(f"yum: http://{mirror_lab.MIRROR_IP}/docker-el/")

    if real_slice is None:
        real_slice = os.environ.get("POWEROPS_DEMO_REAL_MIRROR") == "1"
    if real_slice and DEBIAN_KEYRING.exists():
        from blocks.mirror import MirrorKeyring

        armored = subprocess.run(["gpg", "--no-default-keyring", "--keyring", str(DEBIAN_KEYRING), "--export",
                                  "--armor"], check=True, capture_output=True).stdout.decode()
        MirrorKeyring(armored_keys=armored).save("debian-archive", overwrite=True)
        r = call_flow(mirror_apt, MirrorAptParams(
            upstream_url=mirror_lab.DEBIAN_MIRROR, suites=["bookworm"], architectures=["ppc64el"],
            translations=False, include_packages=["hello", "docker.io", "runc", "containerd", "tini"],
            destination=Destination(name="debian-real", mirror_host_block="lab-mirror-host"),
            keyring_block="debian-archive"))
        _say(f"mirror-apt (real Debian slice): {r}")
        urls.append(f"apt (real Debian slice): http://{mirror_lab.MIRROR_IP}/debian-real/")
    for u in urls:
        _say(u)
    return urls


if __name__ == "__main__":
    run(LabContext())
