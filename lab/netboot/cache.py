"""Build once, cache forever: the patched GRUB for powerpc-ieee1275 and the d-i netboot kernel/initrd.

Everything lands under ``<state_dir>/netboot/cache`` so a fresh CI machine does it once (~4 minutes of
cross-compilation on 2 cores) and later runs only copy files.

Why a rebuild: Debian 12's ``grub-ieee1275-bin`` (2.06-13+deb12u2) cannot netboot. A security backport
dropped ``ofdata->path = grub_malloc (sz);`` in ``search_net_devices()`` of
``grub-core/net/drivers/ieee1275/ofnet.c``, so ``net_bootp`` finds no network card. We fetch Debian's
grub2 source (the same version as the amd64 ``grub-common`` whose ``grub-mkimage`` we use), restore the line
and build only ``grub-core`` for powerpc-ieee1275 with ``gcc-powerpc-linux-gnu``.

Apt is used with its own source list and list directory (``-o Dir::...``): the machine's apt configuration
is never changed (enabling deb-src or ppc64el globally can break later ``apt-get update`` runs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

GRUB_SOURCE_PACKAGE = "grub2"
DI_DIR = Path("/usr/lib/debian-installer/images/12/ppc64el/text/debian-installer/ppc64el")
BROKEN_LINE = "  if (!ofdata->path)\n"
FIX_LINE = "  ofdata->path = grub_malloc (sz);\n"
# Modules of the network-boot core image (grub.cfg is read over TFTP, kernel/initrd over HTTP).
CORE_MODULES = [
    "net", "ofnet", "tftp", "http", "linux", "normal", "echo", "regexp", "configfile", "test", "sleep",
    "boot", "elf", "gzio", "ls", "cat", "true", "minicmd",
]
APT_SOURCES = (
    "deb-src http://deb.debian.org/debian bookworm main\n"
    "deb-src http://deb.debian.org/debian-security bookworm-security main\n"
)


def cache_dir(state_dir: Path) -> Path:
    d = state_dir / "netboot" / "cache"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _run(argv: list[str], cwd: Path | None = None, log: Path | None = None, env: dict[str, str] | None = None) -> None:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise RuntimeError(f"netboot cache: `{' '.join(argv)}` exited {proc.returncode}" + (f"; see {log}" if log else ""))


def grub_common_version() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "grub-common"], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout:
        raise RuntimeError("grub-common is not installed (needed for grub-mkimage)")
    return out.stdout.strip()


def fetch_grub_source(cache: Path, version: str, log: Path) -> Path:
    """Debian's grub2 source at ``version``, unpacked with Debian's patches applied."""
    tree = cache / "src" / f"grub2-{version}"
    if (tree / "grub-core" / "net" / "drivers" / "ieee1275" / "ofnet.c").exists():
        return tree
    apt = cache / "apt"
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(APT_SOURCES)
    opts = ["-o", f"Dir::Etc::SourceList={apt / 'sources.list'}", "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={apt / 'lists'}"]
    src = cache / "src"
    src.mkdir(exist_ok=True)
    _run(["apt-get", "-q", *opts, "update"], log=log)
    _run(["apt-get", "-q", *opts, "source", "--download-only", f"{GRUB_SOURCE_PACKAGE}={version}"], cwd=src, log=log)
    dsc = next(src.glob(f"grub2_{version.split(':')[-1]}.dsc"))
    shutil.rmtree(tree, ignore_errors=True)
    _run(["dpkg-source", "-x", dsc.name, tree.name], cwd=src, log=log)
    return tree


def patch_ofnet(tree: Path) -> bool:
    """Restore the dropped allocation; True if the file was changed (idempotent)."""
    path = tree / "grub-core" / "net" / "drivers" / "ieee1275" / "ofnet.c"
    text = path.read_text()
    if FIX_LINE + BROKEN_LINE in text:
        return False
    if BROKEN_LINE not in text:
        raise RuntimeError(f"{path}: the line {BROKEN_LINE.strip()!r} is not there; grub2 source changed")
    path.write_text(text.replace(BROKEN_LINE, FIX_LINE + BROKEN_LINE, 1))
    return True


def ensure_grub_modules(state_dir: Path) -> Path:
    """Directory of powerpc-ieee1275 GRUB modules built from the patched source (cached)."""
    cache = cache_dir(state_dir)
    version = grub_common_version()
    moddir = cache / f"grub-powerpc-ieee1275-{version}"
    if (moddir / "moddep.lst").exists() and (moddir / "ofnet.mod").exists():
        return moddir
    log = cache / "grub-build.log"
    tree = fetch_grub_source(cache, version, log)
    patch_ofnet(tree)
    build = tree / "build-ieee1275"
    build.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.pop("CFLAGS", None)
    env["PYTHON"] = "/usr/bin/python3"
    if not (tree / ".powerops-autogen").exists():
        # Debian's patches touch Makefile.core.def and configure.ac: regenerate like debian/rules does.
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir()
        _run(["./autogen.sh"], cwd=tree, log=log, env=env)
        (tree / ".powerops-autogen").touch()
    if not (build / "Makefile").exists():
        _run(["../configure", "--target=powerpc-linux-gnu", "--with-platform=ieee1275", "--disable-werror",
              "--disable-nls", "--disable-grub-mkfont", "--disable-grub-themes"], cwd=build, log=log, env=env)
    _run(["make", f"-j{os.cpu_count() or 2}", "-C", "grub-core"], cwd=build, log=log, env=env)
    tmp = moddir.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    core = build / "grub-core"
    for f in core.iterdir():
        if f.suffix in (".mod", ".lst", ".o") and f.is_file() or f.name in ("kernel.img", "modinfo.sh"):
            shutil.copy2(f, tmp / f.name)
    shutil.rmtree(moddir, ignore_errors=True)
    tmp.rename(moddir)
    return moddir


EARLY_CFG = """\
# Embedded in core.elf: read the per-client grub.cfg over TFTP from the boot server (the default path
# GRUB takes after a network boot: grub.cfg-01-<mac>, hex IP prefixes, then grub.cfg).
set root=(tftp,$net_default_server)
set prefix=($root)/boot/grub
"""


def ensure_core_elf(state_dir: Path) -> Path:
    """The network-boot GRUB image (``core.elf``) for powerpc-ieee1275, built with the patched modules."""
    moddir = ensure_grub_modules(state_dir)
    cache = cache_dir(state_dir)
    early = cache / "early.cfg"
    early.write_text(EARLY_CFG)
    key = hashlib.sha256((EARLY_CFG + " ".join(CORE_MODULES) + moddir.name).encode()).hexdigest()[:12]
    out = cache / f"core-{key}.elf"
    if out.exists():
        return out
    tmp = out.with_suffix(".tmp")
    _run(["grub-mkimage", "-O", "powerpc-ieee1275", "-d", str(moddir), "-p", "/boot/grub", "-c", str(early),
          "-o", str(tmp), *CORE_MODULES], log=cache / "grub-build.log")
    tmp.rename(out)
    return out


def di_files() -> tuple[Path, Path]:
    """vmlinux and initrd.gz of Debian's ``debian-installer-12-netboot-ppc64el`` package."""
    kernel, initrd = DI_DIR / "vmlinux", DI_DIR / "initrd.gz"
    if not kernel.exists() or not initrd.exists():
        raise RuntimeError(f"{DI_DIR} lacks vmlinux/initrd.gz: apt-get install debian-installer-12-netboot-ppc64el")
    return kernel, initrd


if __name__ == "__main__":  # pragma: no cover - manual use: python -m lab.netboot.cache
    print(ensure_core_elf(Path(os.environ.get("POWEROPS_LAB_DIR", "/var/lib/powerops-lab"))))
