import pytest

from core.errors import InvalidInput
from core.image import BaseImageSpec, parse_apt_mirror, plan_rootfs_build, render_yum_repo
from core.names import parse_image_ref, split_host_port, validate_host

DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


@pytest.mark.parametrize("ref,expected", [
    ("powerops/debian:bookworm", ("powerops/debian", "bookworm")),
    ("busybox", ("busybox", "latest")),
    ("10.0.0.1:5000/powerops/whoami:1", ("10.0.0.1:5000/powerops/whoami", "1")),
    ("registry.example:5000/a/b", ("registry.example:5000/a/b", "latest")),
])
def test_parse_image_ref(ref, expected):
    assert parse_image_ref(ref) == expected


@pytest.mark.parametrize("bad", ["Powerops/Debian:x", "a b:c", "repo:-bad", "repo:tag;rm", "x@sha256:abc", ""])
def test_malformed_tags_are_refused(bad):
    with pytest.raises(InvalidInput):
        parse_image_ref(bad)


@pytest.mark.parametrize("bad", ["host;rm -rf /", "", "a..b", "-x", "$(id)"])
def test_bad_hosts_are_refused(bad):
    with pytest.raises(InvalidInput):
        validate_host(bad)


def test_split_host_port():
    assert split_host_port("reg.example:5000") == ("reg.example", 5000)
    assert split_host_port("[::1]:5000") == ("::1", 5000)
    with pytest.raises(InvalidInput, match="no port"):
        split_host_port("reg.example")
    with pytest.raises(InvalidInput, match="invalid port"):
        split_host_port("reg.example:99999")


def test_mirror_is_read_from_deb822_and_skips_security():
    assert parse_apt_mirror("", DEB822) == "http://deb.debian.org/debian"
    assert parse_apt_mirror("deb [arch=amd64] http://ftp.fr.debian.org/debian bookworm main\n", "") == \
        "http://ftp.fr.debian.org/debian"
    assert parse_apt_mirror("# nothing\n", "") is None


def spec(**kw):
    base = {"family": "debian", "suite": "bookworm", "arch": "amd64", "mirror": "http://deb.example/debian"}
    base.update(kw)
    return BaseImageSpec(**base)


def test_cache_key_depends_on_inputs_not_order():
    a = spec(packages=("busybox", "curl"))
    b = spec(packages=("curl", "busybox"))
    assert a.cache_key() == b.cache_key()
    assert a.cache_key() != spec(packages=("curl",)).cache_key()
    assert a.cache_key() != spec(arch="ppc64el").cache_key()
    assert spec().cache_key() != spec(mirror="http://other/debian").cache_key()


def test_native_debootstrap_plan():
    p = plan_rootfs_build(spec(packages=("busybox",)), "/var/cache/x", host_arch="amd64")
    cmds = [" ".join(s) for s in p.steps]
    assert not p.needs_emulation
    assert any(c.startswith("debootstrap --arch=amd64 --variant=minbase --include=busybox bookworm") for c in cmds)
    assert not any("--second-stage" in c for c in cmds)
    assert cmds[-3].startswith("tar --numeric-owner")
    assert cmds[-2] == f"mv {p.tarball}.partial {p.tarball}"


def test_foreign_arch_plan_uses_two_stages():
    p = plan_rootfs_build(spec(arch="ppc64el"), "/c", host_arch="amd64")
    cmds = [" ".join(s) for s in p.steps]
    assert p.needs_emulation and p.qemu_name == "ppc64le"
    assert any("--foreign" in c for c in cmds)
    assert any(c.endswith("/debootstrap/debootstrap --second-stage") for c in cmds)
    assert spec(arch="ppc64el").platform == "linux/ppc64le"


def test_rhel_family_plan_uses_dnf_installroot():
    s = spec(family="almalinux", suite="9", arch="ppc64el", mirror="http://mirror.example/alma/9/BaseOS/ppc64le/os")
    p = plan_rootfs_build(s, "/c", host_arch="ppc64el")
    dnf = next(st for st in p.steps if st[0] == "dnf" and "install" in st)
    assert f"--installroot={p.rootfs}" in dnf and "--releasever=9" in dnf and "--forcearch=ppc64le" in dnf
    assert "baseurl=http://mirror.example/alma/9/BaseOS/ppc64le/os" in render_yum_repo(s)


def test_bad_specs_are_refused():
    with pytest.raises(InvalidInput, match="family"):
        spec(family="gentoo")
    with pytest.raises(InvalidInput, match="architecture"):
        spec(arch="sparc")
    with pytest.raises(InvalidInput, match="package"):
        spec(packages=("curl; rm -rf /",))
    with pytest.raises(InvalidInput, match="mirror"):
        spec(mirror="ftp://x")
    with pytest.raises(InvalidInput, match="no mirror"):
        plan_rootfs_build(spec(mirror=""), "/c", "amd64")
