"""Client configuration and nginx rendering, compared with golden files."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.mirror.clients import apt_files, pip_files, under_root, yum_files
from core.mirror.web import render_nginx, render_nginx_site


def golden(fixtures, name: str) -> str:
    return (fixtures / "golden" / name).read_text()


def test_apt_list(fixtures):
    files = apt_files("ubuntu-ports", "http://10.250.77.100/ubuntu-ports", ["xenial", "xenial-security"],
                      ["main", "universe"], ["ppc64el"], b"KEY")
    assert [f.path for f in files] == ["/etc/apt/keyrings/powerops-ubuntu-ports.gpg",
                                       "/etc/apt/sources.list.d/powerops-ubuntu-ports.list"]
    assert files[0].content == b"KEY"
    assert files[1].content.decode() == golden(fixtures, "apt.list")


def test_apt_list_with_sources(fixtures):
    files = apt_files("debian", "http://10.250.77.100/debian", ["bookworm"], ["main"], ["ppc64el"], b"KEY",
                      sources=True)
    assert files[1].content.decode() == golden(fixtures, "apt-src.list")


def test_yum_repo_and_pip_conf(fixtures):
    files = yum_files("docker-ppc64le", "http://10.250.77.100/docker-ppc64le/", b"-----BEGIN PGP")
    assert files[1].path == "/etc/yum.repos.d/powerops-docker-ppc64le.repo"
    assert files[1].content.decode() == golden(fixtures, "docker.repo")
    unsigned = yum_files("x", "http://h/x", None)
    assert len(unsigned) == 1 and b"gpgcheck=0" in unsigned[0].content
    (conf,) = pip_files("wheels", "http://10.250.77.100/wheels/simple")
    assert conf.content.decode() == golden(fixtures, "pip.conf")
    (tls,) = pip_files("wheels", "https://mirror.example/wheels/simple/")
    assert b"trusted-host" not in tls.content


@pytest.mark.parametrize("call", [
    lambda: apt_files("x", "ftp://h/x", ["xenial"], ["main"], [], b"k"),
    lambda: apt_files("x", "http://h/x", ["xenial; rm"], ["main"], [], b"k"),
    lambda: apt_files("x", "http://h/x", ["xenial"], ["main"], [], None),
    lambda: apt_files("../x", "http://h/x", ["xenial"], ["main"], [], b"k"),
    lambda: yum_files("x", "http://h/x y", None),
    lambda: pip_files("x", "http://h/s", path="etc/pip.conf"),
])
def test_client_refusals(call):
    with pytest.raises(InvalidInput):
        call()


def test_under_root():
    files = pip_files("w", "http://h/w/simple")
    assert under_root(files, "/")[0].path == "/etc/pip.conf"
    assert under_root(files, "/srv/chroot/")[0].path == "/srv/chroot/etc/pip.conf"


def test_nginx(fixtures):
    text = render_nginx("/srv/mirror", "10.250.77.100:80", "/run/powerops-mirror")
    assert text == golden(fixtures, "nginx.conf")
    with pytest.raises(InvalidInput):
        render_nginx("/srv/mirror; evil", "80", "/run/x")
    with pytest.raises(InvalidInput):
        render_nginx("/srv/mirror", "80 default_server; x", "/run/x")


def test_nginx_site(fixtures):
    assert render_nginx_site("/srv/mirror", "80") == golden(fixtures, "nginx-site.conf")
    main = render_nginx("/srv/mirror", "80", "/run/x", sites_dir="/etc/powerops/sites")
    assert "include /etc/powerops/sites/*.conf;" in main and "server {" not in main
    with pytest.raises(InvalidInput):
        render_nginx("/srv/mirror", "80", "/run/x", sites_dir="/etc/x; evil")
