"""The author's fix for NovaLink on NPIV: grub-install fails on the multipath disk unless the installer's
preseed inside the initrd says ``d-i grub-installer/bootdev string /dev/mapper/mpatha``. The initrd is
unpacked, the line set (replaced if present), and repacked (cpio newc + gzip) next to the client's files.

The script is fixed text; every value reaches it as a positional argument (never interpolated into a shell
string), and the result is written atomically.
"""

from __future__ import annotations

from core.novalink.model import validate_abspath, validate_relpath

PVM_PRESEED = "opt/ibm/pvm-install/data/pvm-install-preseed.cfg"

SCRIPT = r"""set -eu
src=$1; out=$2; rel=$3; disk=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
gzip -dc "$src" | cpio -idm --quiet
mkdir -p "$(dirname "$rel")"
touch "$rel"
grep -v '^d-i grub-installer/bootdev ' "$rel" > "$rel.powerops" || true
printf 'd-i grub-installer/bootdev string %s\n' "$disk" >> "$rel.powerops"
mv "$rel.powerops" "$rel"
mkdir -p "$(dirname "$out")"
find . | LC_ALL=C sort | cpio -H newc -o --quiet | gzip -9n > "$out.powerops-tmp"
mv "$out.powerops-tmp" "$out"
"""


def patch_initrd_argv(src: str, out: str, disk: str, preseed: str = PVM_PRESEED) -> list[str]:
    """argv that writes ``out``: the initrd ``src`` with the bootdev line in ``preseed``."""
    return ["sh", "-c", SCRIPT, "powerops-initrd-patch", validate_abspath(src, "initrd"),
            validate_abspath(out, "patched initrd"), validate_relpath(preseed, "preseed path in the initrd"),
            validate_abspath(disk, "boot device")]


def patch_identity(initrd_sha256: str, disk: str, preseed: str) -> str:
    """What the patched initrd was made from (kept next to it: same identity = nothing to do)."""
    return f"initrd-sha256={initrd_sha256} bootdev={disk} preseed={preseed}\n"
