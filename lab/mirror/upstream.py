"""Test upstreams built with real tools, shared by the lab tests, the demo and the benchmark.

* ``AptUpstream``: .deb files (real ar/tar archives that dpkg accepts), indexes by ``apt-ftparchive``,
  InRelease/Release.gpg signed by ``gpg`` with a throw-away key.
* ``build_wheel``: a pure-Python wheel (PEP 427) written with the stdlib, for the wheelhouse tests.

Nothing here reaches the network; ``serve`` (lab.mirror.web) puts a tree on loopback with nginx.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import lzma
import os
import shutil
import subprocess
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

_MTIME = 1_700_000_000


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
         stdout: int | None = None) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=stdout is None, stdout=stdout,
                         stderr=subprocess.PIPE if stdout is not None else None)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.decode(errors='replace')}")
    return res


# -- OpenPGP test keys -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TestKey:
    homedir: Path
    fingerprint: str

    def public_armored(self) -> bytes:
        return _run(["gpg", "--homedir", str(self.homedir), "--batch", "--export", "--armor",
                     self.fingerprint]).stdout

    def clearsign(self, src: Path, dst: Path) -> None:
        _run(["gpg", "--homedir", str(self.homedir), "--batch", "--yes", "--pinentry-mode", "loopback",
              "--passphrase", "", "--digest-algo", "SHA512", "--local-user", self.fingerprint,
              "--clearsign", "-o", str(dst), str(src)])

    def detach_sign(self, src: Path, dst: Path) -> None:
        _run(["gpg", "--homedir", str(self.homedir), "--batch", "--yes", "--pinentry-mode", "loopback",
              "--passphrase", "", "--digest-algo", "SHA512", "--local-user", self.fingerprint,
              "--armor", "--detach-sign", "-o", str(dst), str(src)])

    def stop_agent(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.homedir), "--kill", "all"], capture_output=True)


def ensure_key(homedir: Path, name: str) -> TestKey:
    """A passphrase-less ed25519 signing key in ``homedir`` (created once)."""
    homedir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(homedir, 0o700)
    fpr_file = homedir / "fingerprint"
    if not fpr_file.exists():
        _run(["gpg", "--homedir", str(homedir), "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
              "--quick-gen-key", f"{name} <{name.replace(' ', '-')}@powerops.test>", "ed25519", "sign",
              "never"])
        out = _run(["gpg", "--homedir", str(homedir), "--batch", "--with-colons", "--list-keys"]).stdout.decode()
        fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
        fpr_file.write_text(fpr)
    return TestKey(homedir, fpr_file.read_text().strip())


# -- .deb building ------------------------------------------------------------------------------------------

def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{_MTIME:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def _tar(entries: list[tuple[str, bytes, int]], compress: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        dirs: set[str] = set()
        for path, data, mode in entries:
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs and d != ".":
                    dirs.add(d)
                    ti = tarfile.TarInfo(d + "/")
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, _MTIME
                    tf.addfile(ti)
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(data), mode, _MTIME
            tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw


def build_deb(name: str, version: str, arch: str, payload_size: int = 0, depends: str = "",
              seed: str = "", multi_arch: str = "") -> bytes:
    """A real binary package: ar(debian-binary, control.tar.gz, data.tar[.gz]) as dpkg-deb builds it."""
    control = (
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
        f"Maintainer: powerops lab <lab@powerops.test>\nInstalled-Size: {max(1, payload_size // 1024)}\n"
        + (f"Depends: {depends}\n" if depends else "")
        + (f"Multi-Arch: {multi_arch}\n" if multi_arch else "")
        + "Section: misc\nPriority: optional\n"
        f"Description: powerops mirror test package {name}\n test payload {seed}\n"
    ).encode()
    readme = f"{name} {version} {seed}\n".encode()
    entries: list[tuple[str, bytes, int]] = [(f"./usr/share/doc/{name}/README", readme, 0o644)]
    big = payload_size > 1 << 20
    if payload_size:
        # incompressible but deterministic payload
        chunk = hashlib.sha256(f"{name}{version}{seed}".encode()).digest() * 2048  # 64 KiB
        block = bytes(b ^ i for i, b in zip(range(256), chunk, strict=False)) + chunk[256:]
        data = (block * (payload_size // len(block) + 1))[:payload_size]
        entries.append((f"./usr/share/{name}/payload.bin", data, 0o644))
    ctrl = _tar([("./control", control, 0o644)], compress=True)
    data_tar = _tar(entries, compress=not big)
    return (b"!<arch>\n" + _ar_member("debian-binary", b"2.0\n") + _ar_member("control.tar.gz", ctrl)
            + _ar_member("data.tar" if big else "data.tar.gz", data_tar))


@dataclass
class AptUpstream:
    """A signed apt repository on disk: ``root`` is what the web server serves."""

    root: Path
    key: TestKey
    suite: str = "bookworm"
    components: tuple[str, ...] = ("main",)
    architectures: tuple[str, ...] = ("ppc64el", "amd64")

    def deb_path(self, name: str, version: str, arch: str, component: str = "main") -> Path:
        return self.root / "pool" / component / name[0] / name / f"{name}_{version}_{arch}.deb"

    def add_package(self, name: str, version: str = "1.0", arch: str = "ppc64el", payload_size: int = 0,
                    depends: str = "", component: str = "main", multi_arch: str = "") -> Path:
        path = self.deb_path(name, version, arch, component)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(build_deb(name, version, arch, payload_size, depends, seed=self.suite,
                                   multi_arch=multi_arch or ("foreign" if arch == "all" else "")))
        return path

    def remove_package(self, name: str) -> list[Path]:
        gone = []
        for comp in self.components:
            d = self.root / "pool" / comp / name[0] / name
            if d.is_dir():
                gone.extend(d.iterdir())
                shutil.rmtree(d)
        return gone

    def packages(self) -> list[Path]:
        return sorted((self.root / "pool").rglob("*.deb"))

    def add_source(self, name: str, version: str = "1.0-1", component: str = "main") -> list[Path]:
        """A real source package built by ``dpkg-source -b`` (format 3.0 (quilt)): .dsc, .orig.tar.gz and
        .debian.tar.xz in the pool directory of ``name`` (call publish after). Returns the three files."""
        import tempfile

        upstream_version = version.rsplit("-", 1)[0]
        dest = self.root / "pool" / component / name[0] / name
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="powerops-src-") as tmp:
            src = Path(tmp) / f"{name}-{upstream_version}"
            (src / "debian" / "source").mkdir(parents=True)
            (src / "README").write_text(f"{name} {upstream_version} {self.suite}\n")
            orig = Path(tmp) / f"{name}_{upstream_version}.orig.tar.gz"
            with tarfile.open(orig, "w:gz") as tf:
                ti = tf.gettarinfo(str(src / "README"), arcname=f"{name}-{upstream_version}/README")
                ti.mtime = _MTIME
                with (src / "README").open("rb") as fh:
                    tf.addfile(ti, fh)
            (src / "debian" / "source" / "format").write_text("3.0 (quilt)\n")
            (src / "debian" / "control").write_text(
                f"Source: {name}\nSection: misc\nPriority: optional\nMaintainer: powerops lab <lab@powerops.test>\n"
                f"Standards-Version: 4.6.2\n\nPackage: {name}\nArchitecture: any\n"
                f"Description: powerops mirror test package {name}\n test source package\n")
            (src / "debian" / "changelog").write_text(
                f"{name} ({version}) {self.suite}; urgency=medium\n\n  * powerops lab source package.\n\n"
                f" -- powerops lab <lab@powerops.test>  Tue, 14 Nov 2023 22:13:20 +0000\n")
            (src / "debian" / "rules").write_text("#!/usr/bin/make -f\n%:\n\tdh $@\n")
            os.chmod(src / "debian" / "rules", 0o755)  # noqa: S103 - debian/rules is executable
            _run(["dpkg-source", "-b", src.name], cwd=Path(tmp))
            made = []
            for f in sorted(Path(tmp).iterdir()):
                if f.is_file() and f.name.startswith(f"{name}_"):
                    shutil.copyfile(f, dest / f.name)
                    made.append(dest / f.name)
        return made

    def sources(self) -> list[Path]:
        return sorted((self.root / "pool").rglob("*.dsc"))

    def add_installer(self, arch: str = "ppc64el", component: str = "main") -> dict[str, bytes]:
        """Installer images with a SHA256SUMS file, as debian-installer publishes them (call publish after)."""
        images = self.root / "dists" / self.suite / component / f"installer-{arch}" / "current" / "images"
        files = {"netboot/vmlinux": b"kernel " * 1000, "netboot/initrd.gz": gzip.compress(b"initrd " * 1000, mtime=0)}
        lines = []
        for rel, data in files.items():
            (images / rel).parent.mkdir(parents=True, exist_ok=True)
            (images / rel).write_bytes(data)
            lines.append(f"{hashlib.sha256(data).hexdigest()}  ./{rel}")
        (images / "SHA256SUMS").write_text("\n".join(lines) + "\n")
        return files

    def publish(self, sign: bool = True, signer: TestKey | None = None, detached: bool = True) -> None:
        """Regenerate Packages (apt-ftparchive), Release, and sign InRelease/Release.gpg."""
        dists = self.root / "dists" / self.suite
        dists.mkdir(parents=True, exist_ok=True)
        for comp in self.components:
            for arch in self.architectures:
                d = dists / comp / f"binary-{arch}"
                d.mkdir(parents=True, exist_ok=True)
                pool = f"pool/{comp}"
                (self.root / pool).mkdir(parents=True, exist_ok=True)
                out = _run(["apt-ftparchive", "--arch", arch, "packages", pool], cwd=self.root).stdout
                (d / "Packages").write_bytes(out)
                (d / "Packages.gz").write_bytes(gzip.compress(out, mtime=0))
                (d / "Packages.xz").write_bytes(lzma.compress(out))
                (d / "Release").write_text(
                    f"Archive: {self.suite}\nComponent: {comp}\nOrigin: powerops-lab\nArchitecture: {arch}\n")
            if any((self.root / "pool" / comp).rglob("*.dsc")):  # a Sources index, as the archive publishes it
                d = dists / comp / "source"
                d.mkdir(parents=True, exist_ok=True)
                out = _run(["apt-ftparchive", "sources", f"pool/{comp}"], cwd=self.root).stdout
                (d / "Sources").write_bytes(out)
                (d / "Sources.gz").write_bytes(gzip.compress(out, mtime=0))
                (d / "Sources.xz").write_bytes(lzma.compress(out))
                (d / "Release").write_text(
                    f"Archive: {self.suite}\nComponent: {comp}\nOrigin: powerops-lab\nArchitecture: source\n")
        release = _run([
            "apt-ftparchive",
            "-o", "APT::FTPArchive::Release::Origin=powerops-lab",
            "-o", "APT::FTPArchive::Release::Label=powerops-lab",
            "-o", f"APT::FTPArchive::Release::Suite={self.suite}",
            "-o", f"APT::FTPArchive::Release::Codename={self.suite}",
            "-o", f"APT::FTPArchive::Release::Architectures={' '.join(self.architectures)}",
            "-o", f"APT::FTPArchive::Release::Components={' '.join(self.components)}",
            "-o", "APT::FTPArchive::Release::Acquire-By-Hash=yes",
            # the default patterns, plus the installer's SHA256SUMS as the Debian archive lists them
            *[arg for pat in ("Packages", "Packages.*", "Sources", "Sources.*", "Release", "Contents-*",
                              "Translation-*", "Index", "SHA256SUMS")
              for arg in ("-o", f"APT::FTPArchive::Release::Patterns::={pat}")],
            "release", ".",
        ], cwd=dists).stdout
        for name in ("InRelease", "Release.gpg"):
            (dists / name).unlink(missing_ok=True)
        (dists / "Release").write_bytes(release)
        # by-hash copies, as a real archive has them
        for line in release.decode().split("\nSHA256:", 1)[1].splitlines()[1:]:
            if not line.startswith(" "):
                break
            parts = line.split()
            if len(parts) == 3 and (dists / parts[2]).is_file():
                bh = (dists / parts[2]).parent / "by-hash" / "SHA256"
                bh.mkdir(parents=True, exist_ok=True)
                target = bh / parts[0]
                if not target.exists():
                    shutil.copyfile(dists / parts[2], target)
        if sign:
            k = signer or self.key
            k.clearsign(dists / "Release", dists / "InRelease")
            if detached:
                k.detach_sign(dists / "Release", dists / "Release.gpg")

    def resign(self, signer: TestKey | None = None) -> None:
        """Re-sign the unchanged Release (a new signature: new InRelease bytes, same content)."""
        time.sleep(1.1)  # signature timestamps have a one-second resolution
        dists = self.root / "dists" / self.suite
        k = signer or self.key
        k.clearsign(dists / "Release", dists / "InRelease")
        k.detach_sign(dists / "Release", dists / "Release.gpg")

    def tamper_release(self) -> None:
        """Change one byte of the signed text of InRelease (the signature no longer matches)."""
        p = self.root / "dists" / self.suite / "InRelease"
        text = p.read_text()
        p.write_text(text.replace("Label: powerops-lab", "Label: powerops-lAb", 1))

    def corrupt(self, path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))


def build_bulk_upstream(root: Path, keydir: Path, count: int, payload_size: int, prefix: str = "bulk") -> AptUpstream:
    """A large signed repository for benchmarks (``count`` ppc64el packages of ``payload_size`` bytes)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    up = AptUpstream(root, ensure_key(keydir, "powerops upstream"), architectures=("ppc64el",))
    for i in range(count):
        up.add_package(f"{prefix}{i:05d}", "1.0", "ppc64el", payload_size=payload_size)
    up.publish()
    return up


def build_apt_upstream(root: Path, keydir: Path, packages: int = 5, payload_size: int = 0,
                       suite: str = "bookworm") -> AptUpstream:
    """A fresh signed repository with ``packages`` ppc64el packages, one arch:all and one amd64 package."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    up = AptUpstream(root, ensure_key(keydir, "powerops upstream"), suite=suite)
    up.add_package("powerops-hello", "1.0", "ppc64el", depends="powerops-data")
    up.add_package("powerops-data", "1.0", "all")
    up.add_package("powerops-tool", "2.1", "amd64")
    for i in range(max(0, packages - 3)):
        up.add_package(f"pkg{i:05d}", "1.0", "ppc64el", payload_size=payload_size)
    up.publish()
    return up


# -- yum ----------------------------------------------------------------------------------------------------

_SPEC = """Name: {name}
Version: {version}
Release: {release}
Summary: powerops mirror test package {name}
License: Apache-2.0
%description
powerops mirror test package {name}
%install
mkdir -p %{{buildroot}}/usr/share/doc/{name}
echo "{name} {version}-{release}" > %{{buildroot}}/usr/share/doc/{name}/README
%files
/usr/share/doc/{name}/README
"""


def build_rpm(dest: Path, name: str, version: str, release: str = "1", arch: str = "ppc64le") -> Path:
    """A real RPM built by rpmbuild (no compiled code, so any target architecture builds on x86)."""
    import tempfile

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="powerops-rpm-") as tmp:
        spec = Path(tmp) / f"{name}.spec"
        spec.write_text(_SPEC.format(name=name, version=version, release=release))
        _run(["rpmbuild", "--quiet", "--define", f"_topdir {tmp}/top", "--define", "_build_id_links none",
              "--target", f"{arch}-linux", "-bb", str(spec)])
        built = next(Path(tmp, "top", "RPMS").rglob("*.rpm"))
        target = dest / built.name
        shutil.copyfile(built, target)
    return target


@dataclass
class YumUpstream:
    """A yum repository on disk indexed by createrepo_c, repomd.xml signed (repomd.xml.asc)."""

    root: Path
    key: TestKey

    def add_package(self, name: str, version: str = "1.0", release: str = "1", arch: str = "ppc64le",
                    sign: bool = True) -> Path:
        path = build_rpm(self.root / "Packages", name, version, release, arch)
        if sign:  # RPM header signature by the upstream key, as vendors ship them (checked by dnf/yum)
            _run(["rpmsign", "--addsign", "--define", "__gpg /usr/bin/gpg", "--define",
                  f"_gpg_name {self.key.fingerprint}", "--define", f"_gpg_path {self.key.homedir}", str(path)])
        return path

    def remove_package(self, name: str) -> list[Path]:
        gone = [p for p in (self.root / "Packages").glob(f"{name}-*.rpm")]
        for p in gone:
            p.unlink()
        return gone

    def packages(self) -> list[Path]:
        return sorted((self.root / "Packages").glob("*.rpm"))

    def publish(self, sign: bool = True, signer: TestKey | None = None) -> None:
        (self.root / "Packages").mkdir(parents=True, exist_ok=True)
        _run(["createrepo_c", "--quiet", "--general-compress-type", "gz", "--update", str(self.root)])
        repomd = self.root / "repodata" / "repomd.xml"
        asc = repomd.with_name("repomd.xml.asc")
        asc.unlink(missing_ok=True)
        if sign:
            (signer or self.key).detach_sign(repomd, asc)


def build_yum_upstream(root: Path, keydir: Path, packages: int = 3) -> YumUpstream:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    up = YumUpstream(root, ensure_key(keydir, "powerops upstream"))
    up.add_package("powerops-engine", "1.12.6")
    for i in range(max(0, packages - 1)):
        up.add_package(f"powerops-rpm{i:03d}", "1.0")
    up.publish()
    return up


# -- wheels -------------------------------------------------------------------------------------------------

def build_wheel(dest: Path, name: str, version: str, requires: list[str] | None = None) -> Path:
    """A pure-Python wheel (py3-none-any) with one module; ``requires`` become Requires-Dist."""
    dist = name.replace("-", "_")
    fname = dest / f"{dist}-{version}-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        f"{dist}/__init__.py": f'__version__ = "{version}"\nNAME = "{name}"\n'.encode(),
        f"{dist}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: powerops test wheel\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires or [])
        ).encode(),
        f"{dist}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: powerops-lab\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record_name = f"{dist}-{version}.dist-info/RECORD"
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{record_name},,")
    files[record_name] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(fname, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zi = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, data)
    return fname


def cleanup_keys(*keys: TestKey) -> None:
    for k in keys:
        with contextlib.suppress(Exception):
            k.stop_agent()
