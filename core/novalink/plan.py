"""Facts -> plan for preparing NovaLink network installs on an install server (pure).

Facts are read with one ``sha256sum``/``stat`` call; the plan says, per file, create / update / nothing and
why, whether the media must be staged again, and whether the boot service must re-read its entries.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Literal

from core.errors import InvalidInput
from core.novalink.model import InstallMedia, NovaLinkPartition, ServerLayout
from core.novalink.render import Paths, RenderedFile, paths_for
from core.novalink.sha512crypt import hash_password, verify_password

STAGED_MARKER = ".powerops-staged"
Action = Literal["create", "update", "none", "remove"]
MediaKind = Literal["directory", "tar", "iso"]


def media_kind(source: str) -> MediaKind:
    s = source.lower()
    if s.endswith(".iso"):
        return "iso"
    if s.endswith((".tar", ".tgz", ".tar.gz", ".tar.xz")):
        return "tar"
    return "directory"


def parse_sha256sum(text: str) -> dict[str, str]:
    """``sha256sum`` output -> {path: hex}; files that could not be read are simply absent."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^([0-9a-f]{64}) [ *](.+)$", line)
        if m:
            out[m.group(2)] = m.group(1)
    return out


def parse_stat(text: str) -> dict[str, tuple[int, int]]:
    """Output of ``stat -c '%s %Y %n'`` -> {path: (size, mtime)}."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            out[parts[2]] = (int(parts[0]), int(parts[1]))
    return out


def media_identity(source: str, size_mtime: tuple[int, int] | None) -> str:
    if size_mtime is None:
        raise InvalidInput(f"install media {source!r} does not exist on the install server")
    return f"source={source} size={size_mtime[0]} mtime={size_mtime[1]}\n"


def existing_password_hash(pvm_install_cfg: str | None) -> str | None:
    if not pvm_install_cfg:
        return None
    m = re.search(r"^password = (\$6\$\S+)$", pvm_install_cfg, re.M)
    return m.group(1) if m else None


def choose_password_hash(password: str, current_hash: str | None, salt: str | None = None) -> str:
    """Keep the hash already on the server when it matches the password (re-run = no change)."""
    if current_hash and verify_password(password, current_hash):
        return current_hash
    return hash_password(password, salt)


@dataclass(frozen=True)
class FileChange:
    path: str
    what: str
    action: Action
    reason: str


@dataclass
class PartitionPlan:
    partition: str
    files: list[FileChange]

    @property
    def changes(self) -> list[FileChange]:
        return [f for f in self.files if f.action != "none"]


@dataclass
class Plan:
    stage_media: bool
    media_reason: str
    copy_boot_file: bool
    boot_file_reason: str
    partitions: list[PartitionPlan] = field(default_factory=list)

    @property
    def reload_boot_service(self) -> bool:
        return any(f.what in ("dnsmasq host", "bootptab") for p in self.partitions for f in p.changes)

    @property
    def empty(self) -> bool:
        return not self.stage_media and not self.copy_boot_file and not any(p.changes for p in self.partitions)

    def rows(self) -> list[dict[str, str]]:
        rows = [
            {"partition": "(media)", "item": "install media", "action": "stage" if self.stage_media else "none",
             "reason": self.media_reason},
            {"partition": "(media)", "item": "boot file", "action": "copy" if self.copy_boot_file else "none",
             "reason": self.boot_file_reason},
        ]
        for p in self.partitions:
            rows += [{"partition": p.partition, "item": f"{f.what} {f.path}", "action": f.action,
                      "reason": f.reason} for f in p.files]
        return rows


def fact_paths(partitions: list[NovaLinkPartition], media: InstallMedia, server: ServerLayout) -> list[str]:
    """Every file whose checksum the plan needs."""
    paths: list[str] = []
    for p in partitions:
        ps = paths_for(p, media, server)
        paths += [ps.grub_cfg, ps.pvm_install_cfg, ps.boot_entry]
        if ps.preseed_cfg:
            paths.append(ps.preseed_cfg)
    first = paths_for(partitions[0], media, server) if partitions else None
    if first:
        paths += [first.boot_file, posixpath.join(first.media_dir, media.core_elf)]
    return sorted(set(paths))


def plan_prepare(
    rendered: dict[str, list[RenderedFile]],
    remote_sha: dict[str, str],
    media_paths: Paths,
    media: InstallMedia,
    wanted_identity: str,
    current_identity: str | None,
) -> Plan:
    """Compare rendered files and the media identity with what the install server has."""
    if current_identity is None:
        stage, why = True, "media not staged yet"
    elif current_identity != wanted_identity:
        stage, why = True, "the media source changed since it was staged"
    else:
        stage, why = False, "media already staged from the same source"
    media_core = posixpath.join(media_paths.media_dir, media.core_elf)
    boot_sha = remote_sha.get(media_paths.boot_file)
    if stage:
        copy, bwhy = True, "media is (re)staged"
    elif boot_sha is None:
        copy, bwhy = True, "boot file missing from the TFTP root"
    elif boot_sha != remote_sha.get(media_core):
        copy, bwhy = True, "boot file differs from the media's core.elf"
    else:
        copy, bwhy = False, "boot file identical to the media's core.elf"
    plan = Plan(stage_media=stage, media_reason=why, copy_boot_file=copy, boot_file_reason=bwhy)
    for name, files in rendered.items():
        changes = []
        for f in files:
            have = remote_sha.get(f.path)
            if have is None:
                changes.append(FileChange(f.path, f.what, "create", "absent"))
            elif have != f.sha256:
                changes.append(FileChange(f.path, f.what, "update", "content differs"))
            else:
                changes.append(FileChange(f.path, f.what, "none", "identical"))
        plan.partitions.append(PartitionPlan(name, changes))
    return plan


def stage_media_commands(source: str, media_dir: str) -> list[list[str]]:
    """Extract an ISO, a tar or copy a directory tree into ``media_dir``, symlinks preserved, atomically."""
    tmp = media_dir.rstrip("/") + ".powerops-tmp"
    kind = media_kind(source)
    if kind == "directory":
        extract = ["cp", "-a", "--", source.rstrip("/") + "/.", tmp]
    elif kind == "tar":
        extract = ["tar", "-xpf", source, "-C", tmp]
    else:
        extract = ["bsdtar", "-xpf", source, "-C", tmp]
    return [
        ["rm", "-rf", "--", tmp],
        ["mkdir", "-p", "--", tmp],
        extract,
        ["chmod", "-R", "u+w", "--", tmp],  # ISO content is read-only: allow the next re-stage to replace it
        ["rm", "-rf", "--", media_dir],
        ["mv", "--", tmp, media_dir],
    ]


def extract_repo_commands(archive: str, repo_dir: str) -> list[list[str]]:
    tmp = repo_dir.rstrip("/") + ".powerops-tmp"
    return [
        ["rm", "-rf", "--", tmp],
        ["mkdir", "-p", "--", tmp],
        ["tar", "-xzpf", archive, "-C", tmp],
        ["rm", "-rf", "--", repo_dir],
        ["mv", "--", tmp, repo_dir],
    ]


def copy_boot_file_commands(core_elf: str, boot_file: str) -> list[list[str]]:
    return [["mkdir", "-p", "--", posixpath.dirname(boot_file)], ["cp", "--", core_elf, boot_file]]


def plan_npiv_initrd(path: str, restaging: bool, wanted: str | None, current: str | None) -> FileChange:
    """The per-partition NPIV initrd: rebuilt when the media is restaged or its identity changed."""
    if restaging or wanted is None:
        return FileChange(path, "npiv initrd", "update" if current else "create", "built from the (re)staged media")
    if current is None:
        return FileChange(path, "npiv initrd", "create", "absent")
    if current != wanted:
        return FileChange(path, "npiv initrd", "update", "media initrd or pvmdisk changed")
    return FileChange(path, "npiv initrd", "none", "built from the same initrd and pvmdisk")
