"""Pure rendering of everything a NovaLink network install needs on the install server.

* ``grub.cfg-01-<mac>`` per partition (GRUB tries it before the generic ``grub.cfg``),
* ``pvm-install.cfg`` (the NovaLink installer configuration, password as a SHA-512 crypt hash),
* a d-i ``preseed.cfg`` when the media is the lab's debian-installer stand-in,
* the boot service entry: a dnsmasq ``dhcp-hostsdir`` file or a ``/etc/bootptab`` line.

Rendering takes the password HASH, never the password: the clear text cannot end up in a file.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from core.errors import InvalidInput
from core.novalink.model import ClientRef, InstallMedia, NovaLinkPartition, ServerLayout
from core.novalink.sha512crypt import is_sha512_crypt

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "novalink"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - configuration files, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
)


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def grub_cfg_name(mac: str) -> str:
    """GRUB's per-client config name: ``grub.cfg-01-aa-bb-cc-dd-ee-ff`` (01 = Ethernet)."""
    return "grub.cfg-01-" + mac.lower().replace(":", "-")


NPIV_INITRD = "initrd-bootdev.gz"


@dataclass(frozen=True)
class Paths:
    """Where every file of one partition's install lives on the install server."""

    media_dir: str
    repo_dir: str
    client_dir: str
    grub_cfg: str
    pvm_install_cfg: str
    preseed_cfg: str | None
    boot_file: str
    boot_entry: str  # dnsmasq hosts file or the bootptab
    kernel: str
    initrd: str  # what the partition boots: the media's, or its NPIV-patched copy
    media_initrd: str
    squashfs: str
    vios_dir: str


def paths_for(p: NovaLinkPartition | ClientRef, media: InstallMedia, server: ServerLayout) -> Paths:
    media_dir = posixpath.join(server.base_dir, "novalink", media.name)
    client_dir = posixpath.join(server.base_dir, "novalink-clients", p.host)
    if server.boot_service == "dnsmasq":
        entry = posixpath.join(server.dnsmasq_hosts_dir, f"powerops-{p.host}")
    else:
        entry = server.bootptab
    return Paths(
        media_dir=media_dir,
        repo_dir=posixpath.join(server.base_dir, "novalink-repo", media.name),
        client_dir=client_dir,
        grub_cfg=posixpath.normpath(posixpath.join(server.tftp_root, server.grub_dir, grub_cfg_name(p.mac))),
        pvm_install_cfg=posixpath.join(client_dir, "pvm-install.cfg"),
        preseed_cfg=posixpath.join(client_dir, "preseed.cfg") if media.installer == "debian-installer" else None,
        boot_file=posixpath.normpath(posixpath.join(server.tftp_root, server.boot_file)),
        boot_entry=entry,
        kernel=posixpath.join(media_dir, media.kernel),
        initrd=posixpath.join(client_dir, NPIV_INITRD) if getattr(p, "pvmdisk", "")
        else posixpath.join(media_dir, media.initrd),
        media_initrd=posixpath.join(media_dir, media.initrd),
        squashfs=posixpath.join(media_dir, media.squashfs),
        vios_dir=posixpath.join(server.base_dir, "novalink-vios"),
    )


def _check_hash(password_hash: str) -> str:
    if not is_sha512_crypt(password_hash):
        raise InvalidInput("the admin password must be given as a SHA-512 crypt hash ($6$...), not in clear")
    return password_hash


def render_grub_cfg(p: NovaLinkPartition, media: InstallMedia, server: ServerLayout, timeout: int = 5) -> str:
    paths = paths_for(p, media, server)
    return _ENV.get_template("grub.cfg.j2").render(
        p=p, timeout=timeout, server=server.http_authority,
        kernel=server.url_path(paths.kernel), initrd=server.url_path(paths.initrd),
        squashfs=server.url_path(paths.squashfs), repo=server.url_path(paths.repo_dir),
        config=server.url_path(paths.pvm_install_cfg), viosdir=server.url_path(paths.vios_dir),
        preseed=server.url_path(paths.preseed_cfg) if paths.preseed_cfg else "",
    )


def render_pvm_install_cfg(p: NovaLinkPartition, media: InstallMedia, server: ServerLayout,
                           password_hash: str) -> str:
    paths = paths_for(p, media, server)
    return _ENV.get_template("pvm-install.cfg.j2").render(
        p=p, password_hash=_check_hash(password_hash), mirror_host=server.server_ip,
        mirror_dir=server.url_path(paths.repo_dir),
    )


def render_preseed_cfg(p: NovaLinkPartition, media: InstallMedia, server: ServerLayout, password_hash: str) -> str:
    paths = paths_for(p, media, server)
    return _ENV.get_template("preseed.cfg.j2").render(
        p=p, password_hash=_check_hash(password_hash), mirror_host=server.server_ip,
        mirror_dir=server.url_path(paths.repo_dir), disk=p.pvmdisk or p.install_disk,
    )


MARKER = "Rendered by powerops"


def is_ours(content: str | None) -> bool:
    """Files powerops renders carry a marker; removal refuses to delete anything else."""
    return content is not None and MARKER in content[:600]


def render_bootptab_entry(p: NovaLinkPartition, server: ServerLayout) -> str:
    """One ``/etc/bootptab`` line; ``ha=`` is required by firmware whose BOOTP request has no client IP."""
    return _ENV.get_template("bootptab.j2").render(
        p=p, boot_file=posixpath.join(server.tftp_root, server.boot_file), server=server.server_ip,
        mac_hex=p.mac.replace(":", "").upper(),
    )


def render_dnsmasq_host(p: NovaLinkPartition) -> str:
    """One ``dhcp-hostsdir`` file: ``mac,ip,hostname`` (dnsmasq reads new files without a restart)."""
    return f"{p.mac},{p.ip},{p.host}\n"


def is_our_dnsmasq_host(content: str, host: str) -> bool:
    """A dhcp-hostsdir file as render_dnsmasq_host writes it, for ``host`` (whatever MAC it was given)."""
    lines = content.strip().splitlines()
    return len(lines) == 1 and len(fields := lines[0].split(",")) == 3 and fields[2] == host


_BOOTPTAB_NAME = re.compile(r"^([A-Za-z0-9_.-]+):")


def merge_bootptab(text: str, entry: str, host: str) -> str:
    """``text`` with the line of ``host`` replaced by ``entry`` (appended if absent); other lines untouched."""
    out, done = [], False
    for line in text.splitlines():
        m = _BOOTPTAB_NAME.match(line)
        if m and m.group(1) == host:
            if not done:
                out.append(entry.rstrip("\n"))
                done = True
            continue
        out.append(line)
    if not done:
        out.append(entry.rstrip("\n"))
    return "\n".join(out) + "\n"


def remove_bootptab(text: str, host: str) -> str:
    kept = [line for line in text.splitlines()
            if not ((m := _BOOTPTAB_NAME.match(line)) and m.group(1) == host)]
    return "\n".join(kept) + ("\n" if kept else "")


def patch_preseed_bootdev(text: str, disk: str) -> str:
    """The author's NPIV fix for the installer's preseed (grub-install on the multipath device)."""
    line = f"d-i grub-installer/bootdev string {disk}"
    kept = [x for x in text.splitlines() if not x.startswith("d-i grub-installer/bootdev ")]
    return "\n".join([*kept, line]) + "\n"


@dataclass(frozen=True)
class RenderedFile:
    path: str
    content: str
    mode: int
    what: str

    @property
    def sha256(self) -> str:
        return sha256_hex(self.content)


def render_client_files(p: NovaLinkPartition, media: InstallMedia, server: ServerLayout,
                        password_hash: str, current_bootptab: str | None = None) -> list[RenderedFile]:
    """Every per-partition file, with its path and mode (the boot entry last)."""
    paths = paths_for(p, media, server)
    files = [
        RenderedFile(paths.grub_cfg, render_grub_cfg(p, media, server), 0o644, "grub.cfg"),
        RenderedFile(paths.pvm_install_cfg, render_pvm_install_cfg(p, media, server, password_hash), 0o644,
                     "pvm-install.cfg"),
    ]
    if paths.preseed_cfg:
        files.append(RenderedFile(paths.preseed_cfg, render_preseed_cfg(p, media, server, password_hash), 0o644,
                                  "preseed.cfg"))
    if server.boot_service == "dnsmasq":
        files.append(RenderedFile(paths.boot_entry, render_dnsmasq_host(p), 0o644, "dnsmasq host"))
    else:
        files.append(RenderedFile(paths.boot_entry, merge_bootptab(current_bootptab or "",
                                                                   render_bootptab_entry(p, server), p.host),
                                  0o644, "bootptab"))
    return files
