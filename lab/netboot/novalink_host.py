"""The lab's "installed NovaLink host" and the pvm/rsct mirror on the install server (post-install lab).

What a real site has after the network install: a NovaLink partition (Ubuntu userland, root login over SSH
allowed for the post-install) and, on the install server, clones of IBM's ``pvm`` and ``rsct`` apt repositories
(``.../novalink/nova/debian novalink_1.0.0 non-free`` and ``.../rsct/ubuntu xenial main``), signed by IBM.

What the lab has instead (stand-ins, said plainly):

* ``nlhost`` (namespace ``pwl-nlhost``, 10.250.77.81): an OpenSSH server whose sessions run in a chroot
  (``ChrootDirectory``) on an extracted Debian 12 minbase rootfs with ``cron`` (the foundation's debootstrap
  recipe and cache, see ``rootfs.py``). apt-get, dpkg, maintainer scripts and crontab really run there, on
  the chroot's own package database: the machine's packages are never touched. It is amd64 Debian, not
  ppc64el Ubuntu, and no NovaLink software runs in it.
* The mirror: ``<srv>/export/mirror/{nova/debian,rsct/ubuntu}`` served by the install server's nginx. Its
  packages are **lab-built stand-ins** (``dpkg-deb``, Architecture ``all``): ``pvm-novalink`` (meta) ->
  ``pvm-core`` (a ``/usr/sbin/pvm-backup`` that only records its call, and a postinst that installs the four
  hourly/daily pvm-backup lines in root's crontab, as NovaLink does), ``rsct.core``, ``rsct.basic``
  (placeholders). The repositories are signed (``InRelease`` + ``Release.gpg``) with a lab GPG key generated
  once; its public key is published at the repository root like IBM's ``novalink-gpg-pub.key``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import textwrap
from pathlib import Path

from lab import netns
from lab.context import LabContext
from lab.netboot import rootfs
from lab.sshd import ensure_client_key, ensure_host_key, pid_alive, stop_sshd, wait_for_pidfile

HOST_NODE = "nlhost"
HOST_IP = f"{netns.PREFIX}.81"
BLOCK_HOST_SSH = "lab-novalink-host-ssh"
MIRROR_DIR = "export/mirror"
PVM_SUITE = "novalink_1.0.0"
RSCT_SUITE = "xenial"
PVM_KEY = "novalink-gpg-pub.key"
RSCT_KEY = "rsct-gpg-pub.key"
ARCHES = ("amd64", "ppc64el")
REPO_VERSION = "1"  # bump when the stand-in packages change

# (package, version, depends, description)
PACKAGES = {
    "pvm": [
        ("pvm-core", "1.0.0.3-lab1", "cron", "PVM core runtime package (powerops lab stand-in)"),
        ("pvm-novalink", "1.0.0.3-lab1", "pvm-core (>= 1.0.0.3), rsct.core",
         "Meta package for all PowerVM NovaLink packages (powerops lab stand-in)"),
    ],
    "rsct": [
        ("rsct.core", "3.2.2.0-lab1", "", "Reliable Scalable Cluster Technology - Core (powerops lab stand-in)"),
        ("rsct.basic", "3.2.2.0-lab1", "rsct.core (>= 3.2.2.0)",
         "Reliable Scalable Cluster Technology - Basic (powerops lab stand-in)"),
    ],
}

PVM_BACKUP = """#!/bin/sh
# powerops lab stand-in for NovaLink's pvm-backup: records the call, backs nothing up.
mkdir -p /var/backups/pvm
echo "$(date -u +%FT%TZ) pvm-backup $*" >> /var/backups/pvm/lab-calls.log
"""

CRON_LINES = """# VIOS hourly backups - at 15 past every hour except for midnight
15 1-23 * * * /usr/sbin/pvm-backup --type vios --frequency hourly
# Hypervisor hourly backups - at 15 past every hour except for midnight
15 1-23 * * * /usr/sbin/pvm-backup --type system --frequency hourly
# VIOS daily backups - at 15 past midnight
15 0    * * * /usr/sbin/pvm-backup --type vios --frequency daily
# Hypervisor daily backups - at 15 past midnight
15 0    * * * /usr/sbin/pvm-backup --type system --frequency daily
"""

PVM_CORE_POSTINST = """#!/bin/sh
set -e
if [ "$1" = configure ]; then
    current=$(crontab -l 2>/dev/null || true)
    if ! printf '%s\\n' "$current" | grep -q 'pvm-backup --type'; then
        { [ -n "$current" ] && printf '%s\\n' "$current"; cat /usr/share/pvm-core/pvm-backup.crontab; } | crontab -
    fi
fi
exit 0
"""


def base(lab: LabContext) -> Path:
    return lab.state_dir / "netboot"


def host_root(lab: LabContext) -> Path:
    return base(lab) / "nlhost-root"


def mirror_root(lab: LabContext) -> Path:
    return base(lab) / "srv" / MIRROR_DIR


def mirror_url(server_ip: str) -> str:
    return f"http://{server_ip}/{MIRROR_DIR}"


# -- the signed mirror ---------------------------------------------------------------------------------------


def _gnupg(lab: LabContext) -> Path:
    home = base(lab) / "cache" / "gnupg"
    if not (home / "pubring.kbx").exists() or not list((home / "private-keys-v1.d").glob("*.key")):
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True, mode=0o700)
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "", "--quick-gen-key",
                        "powerops lab repository signing key <repo@powerops.test>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
    return home


def _build_deb(work: Path, out: Path, name: str, version: str, depends: str, description: str) -> Path:
    root = work / f"{name}_{version}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "DEBIAN").mkdir(parents=True)
    doc = root / "usr/share/doc" / name
    doc.mkdir(parents=True)
    (doc / "README.powerops-lab").write_text(
        f"{name} {version}: a stand-in built by the powerops lab (lab/netboot/novalink_host.py).\n"
        "It is not IBM software and contains none.\n")
    control = [f"Package: {name}", f"Version: {version}", "Architecture: all", "Maintainer: powerops lab "
               "<lab@powerops.test>", "Section: non-free/admin", "Priority: optional"]
    if depends:
        control.append(f"Depends: {depends}")
    control.append(f"Description: {description}")
    (root / "DEBIAN/control").write_text("\n".join(control) + "\n")
    if name == "pvm-core":
        (root / "usr/sbin").mkdir(parents=True)
        (root / "usr/sbin/pvm-backup").write_text(PVM_BACKUP)
        (root / "usr/sbin/pvm-backup").chmod(0o755)
        (root / "usr/share/pvm-core").mkdir(parents=True)
        (root / "usr/share/pvm-core/pvm-backup.crontab").write_text(CRON_LINES)
        (root / "DEBIAN/postinst").write_text(PVM_CORE_POSTINST)
        (root / "DEBIAN/postinst").chmod(0o755)
    deb = out / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


def _release(repo: Path, suite: str, component: str, label: str, gnupg: Path) -> None:
    dist = repo / "dists" / suite
    for arch in ARCHES:
        bdir = dist / component / f"binary-{arch}"
        bdir.mkdir(parents=True, exist_ok=True)
        packages = subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=repo, check=True,
                                  capture_output=True).stdout
        (bdir / "Packages").write_bytes(packages)
        subprocess.run(["gzip", "-9nkf", str(bdir / "Packages")], check=True)
    release = subprocess.run(
        ["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Origin={label}",
         "-o", f"APT::FTPArchive::Release::Label={label}", "-o", f"APT::FTPArchive::Release::Suite={suite}",
         "-o", f"APT::FTPArchive::Release::Codename={suite}",
         "-o", f"APT::FTPArchive::Release::Architectures={' '.join(ARCHES)}",
         "-o", f"APT::FTPArchive::Release::Components={component}", "release", "."],
        cwd=dist, check=True, capture_output=True).stdout
    (dist / "Release").write_bytes(release)
    for target in ("InRelease", "Release.gpg"):
        (dist / target).unlink(missing_ok=True)
    gpg = ["gpg", "--homedir", str(gnupg), "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run([*gpg, "--clearsign", "-o", str(dist / "InRelease"), str(dist / "Release")], check=True,
                   capture_output=True)
    subprocess.run([*gpg, "-abs", "-o", str(dist / "Release.gpg"), str(dist / "Release")], check=True,
                   capture_output=True)


def ensure_mirror(lab: LabContext) -> Path:
    """The signed pvm and rsct repositories on the install server (rebuilt only when REPO_VERSION changes)."""
    root = mirror_root(lab)
    marker = root / ".powerops-mirror"
    if marker.exists() and marker.read_text() == REPO_VERSION:
        return root
    gnupg = _gnupg(lab)
    shutil.rmtree(root, ignore_errors=True)
    work = base(lab) / "cache" / "debs-work"
    layout = {"pvm": (root / "nova/debian", PVM_SUITE, "non-free", "PowerVM NovaLink (powerops lab)", PVM_KEY),
              "rsct": (root / "rsct/ubuntu", RSCT_SUITE, "main", "RSCT (powerops lab)", RSCT_KEY)}
    pubkey = subprocess.run(["gpg", "--homedir", str(gnupg), "--armor", "--export"], check=True,
                            capture_output=True).stdout
    try:
        for repo_name, (repo, suite, component, label, keyfile) in layout.items():
            pool = repo / "pool" / component
            pool.mkdir(parents=True)
            for name, version, depends, description in PACKAGES[repo_name]:
                _build_deb(work, pool, name, version, depends, description)
            _release(repo, suite, component, label, gnupg)
            (repo / keyfile).write_bytes(pubkey)
    finally:
        _stop_gpg_agent(lab)
    shutil.rmtree(work, ignore_errors=True)
    marker.write_text(REPO_VERSION)
    return root


# -- the installed NovaLink host ---------------------------------------------------------------------------


def reset_host_root(lab: LabContext) -> Path:
    """A fresh userland, as just after the network install (the post-install has not run yet)."""
    root = host_root(lab)
    tarball = rootfs.ensure_rootfs_tarball(base(lab) / "logs" / "rootfs-build.log")
    # empty the directory but keep it: running sshd sessions (pooled SFTP channels) are chrooted to its inode
    root.mkdir(parents=True, exist_ok=True)
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    with tarfile.open(tarball) as tar:
        tar.extractall(root, numeric_owner=True, filter="fully_trusted")  # noqa: S202 (our own rootfs build)
    # what the installer leaves: no internet sources (the post-install points apt at the install server),
    # the host name, the installer's resolv.conf
    (root / "etc/apt/sources.list").write_text("")
    for f in (root / "etc/apt/sources.list.d").glob("*"):
        f.unlink()
    (root / "etc/hostname").write_text("nova0696010\n")
    (root / "etc/resolv.conf").write_text("# written by the installer\n")
    (root / ".powerops-installed-host").write_text("lab stand-in of an installed NovaLink partition\n")
    os.chmod(root, 0o755)  # noqa: S103 (sshd ChrootDirectory: root-owned, not group-writable)
    return root


def _sshd_config(lab: LabContext) -> str:
    d = lab.node_dir(HOST_NODE)
    key = ensure_host_key(lab, HOST_NODE)
    return textwrap.dedent(f"""\
        ListenAddress {HOST_IP}
        Port 22
        HostKey {key}
        PidFile {d / 'sshd.pid'}
        AuthorizedKeysFile {lab.state_dir / 'ssh' / 'authorized_keys'}
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        ChrootDirectory {host_root(lab)}
        Subsystem sftp internal-sftp
        MaxSessions 64
        MaxStartups 64:30:128
        LogLevel ERROR
        SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
        """)


def ensure_host(lab: LabContext) -> int:
    """Namespace + chrooted sshd of the installed NovaLink stand-in (the userland is made on first use)."""
    netns.ensure_node(HOST_NODE, HOST_IP, {HOST_NODE: HOST_IP})
    if not (host_root(lab) / ".powerops-installed-host").exists():
        reset_host_root(lab)
    ensure_client_key(lab)
    d = lab.node_dir(HOST_NODE)
    pidfile = d / "sshd.pid"
    cfg = d / "sshd_config"
    text = _sshd_config(lab)
    pid = pid_alive(pidfile)
    if pid and cfg.exists() and cfg.read_text() == text:
        return pid
    stop_sshd(lab, HOST_NODE)
    cfg.write_text(text)
    Path("/run/sshd").mkdir(exist_ok=True)
    subprocess.run(netns.exec_argv(HOST_NODE, ["/usr/sbin/sshd", "-f", str(cfg), "-E", str(d / "sshd.log")]),
                   check=True)
    return wait_for_pidfile(pidfile, f"sshd of {HOST_NODE}", d / "sshd.log")


def up(lab: LabContext) -> None:
    ensure_mirror(lab)
    ensure_host(lab)


def _stop_gpg_agent(lab: LabContext) -> None:
    """Signing starts a gpg-agent daemon for the lab's GnuPG home; the lab stops what it started."""
    gnupg = base(lab) / "cache" / "gnupg"
    if gnupg.is_dir():
        subprocess.run(["gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent"], check=False,
                       capture_output=True)


def down(lab: LabContext) -> None:
    _stop_gpg_agent(lab)
    stop_sshd(lab, HOST_NODE)
    netns.remove_node(HOST_NODE)
    shutil.rmtree(host_root(lab), ignore_errors=True)
    shutil.rmtree(mirror_root(lab), ignore_errors=True)


def status(lab: LabContext) -> list[str]:
    pid = pid_alive(lab.node_dir(HOST_NODE) / "sshd.pid")
    return [
        f"netboot installed-NovaLink stand-in pwl-{HOST_NODE} ({HOST_IP}): "
        + (f"sshd running (pid {pid}), chroot {host_root(lab)}" if pid else "stopped"),
        "netboot pvm/rsct mirror (signed, lab stand-in packages): "
        + ("built" if (mirror_root(lab) / ".powerops-mirror").exists() else "absent"),
    ]


def register_blocks(lab: LabContext) -> list[str]:
    lab.ssh_target(HOST_NODE, HOST_IP).save(BLOCK_HOST_SSH, overwrite=True)
    return [BLOCK_HOST_SSH]
