"""yum metadata (createrepo_c recordings) and the PEP 503 index renderer."""

from __future__ import annotations

import pytest

from core.mirror.deb822 import FileEntry
from core.mirror.errors import MalformedIndex
from core.mirror.pep503 import normalize, parse_filename, simple_index
from core.mirror.yum import decompress, parse_primary, parse_repomd


def test_repomd(fixtures):
    data = parse_repomd((fixtures / "yum" / "repomd.xml").read_bytes())
    assert [d.type for d in data] == ["primary", "filelists", "other", "primary_db", "filelists_db", "other_db"]
    primary = data[0]
    assert primary.href.startswith("repodata/") and primary.href.endswith("-primary.xml.gz")
    assert primary.entry.size == 573 and primary.href.split("/")[1].startswith(primary.entry.sha256)


def test_primary(fixtures):
    (pkg,) = parse_primary((fixtures / "yum" / "primary.xml").read_bytes())
    assert pkg.nevra == "powerops-hello-1.0-1.ppc64le"
    assert pkg.href == "Packages/powerops-hello-1.0-1.ppc64le.rpm" and pkg.entry.size == 6138


@pytest.mark.parametrize("old, new, match", [
    ('type="sha256" pkgid="YES"', 'type="sha1" pkgid="YES"', "only sha256"),
    ('href="Packages/', 'href="../../', "unsafe location"),
    ('<location href=', '<location xml:base="http://evil/" href=', "xml:base"),
    ('package="6138"', 'package="many"', "invalid package size"),
])
def test_primary_refusals(fixtures, old, new, match):
    text = (fixtures / "yum" / "primary.xml").read_text().replace(old, new)
    with pytest.raises(MalformedIndex, match=match):
        parse_primary(text.encode())


def test_repomd_refusals(fixtures):
    with pytest.raises(MalformedIndex):
        parse_repomd(b"<not-xml")
    with pytest.raises(MalformedIndex, match="no primary"):
        parse_repomd(b'<repomd xmlns="http://linux.duke.edu/metadata/repo"></repomd>')
    with pytest.raises(MalformedIndex, match="zstd"):
        decompress("x-primary.xml.zst", b"")


def test_pep503_names():
    assert normalize("Foo__Bar.baz") == "foo-bar-baz"
    d = parse_filename("PyYAML-6.0.1-cp311-cp311-manylinux_2_17_ppc64le.manylinux2014_ppc64le.whl")
    assert (d.project, d.version) == ("pyyaml", "6.0.1") and "ppc64le" in d.platform
    assert parse_filename("docker-compose-1.29.2.tar.gz").project == "docker-compose"
    with pytest.raises(MalformedIndex):
        parse_filename("../evil.whl")


def test_pep503_golden(fixtures):
    pages = simple_index({
        "docker_compose-1.29.2-py2.py3-none-any.whl": FileEntry(10, "a" * 64),
        "PyYAML-5.4.1-cp311-cp311-manylinux2014_ppc64le.whl": FileEntry(20, "b" * 64),
    })
    assert sorted(pages) == ["simple/docker-compose/index.html", "simple/index.html", "simple/pyyaml/index.html"]
    golden = fixtures / "golden"
    assert pages["simple/index.html"].decode() == (golden / "simple-index.html").read_text()
    assert pages["simple/pyyaml/index.html"].decode() == (golden / "simple-pyyaml.html").read_text()
