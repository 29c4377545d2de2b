"""Parsers of the apt side on recorded files (tests/fixtures/mirror/apt: made by apt-ftparchive + gpg)."""

from __future__ import annotations

import hashlib

import pytest

from core.mirror.deb822 import parse_packages, parse_release, parse_sha256sums, parse_sources, parse_stanzas
from core.mirror.errors import MalformedIndex, SignatureInvalid
from core.mirror.signed import clearsigned_body, dearmor, is_clearsigned, parse_gpgv_status, require_valid

FPR = "687E7E7F7D58B924CF2B6DAE4564901542595D9E"


def status(fixtures, name: str) -> tuple[str, int]:
    text = (fixtures / "gpgv" / f"{name}.status").read_text()
    rc = int(text.strip().splitlines()[-1].split()[-1])
    return text, rc


def test_release_fields_and_sha256_list(fixtures):
    rel = parse_release((fixtures / "apt" / "Release").read_text())
    assert rel.suite == "bookworm" and rel.codename == "bookworm"
    assert rel.architectures == ["ppc64el", "amd64"] and rel.components == ["main"]
    assert rel.acquire_by_hash
    assert len(rel.files) == 8
    packages = (fixtures / "apt" / "Packages-ppc64el").read_bytes()
    entry = rel.files["main/binary-ppc64el/Packages"]
    assert entry.size == len(packages) and entry.sha256 == hashlib.sha256(packages).hexdigest()
    assert len(rel.sha512) == 8 and all(len(v) == 128 for v in rel.sha512.values())


def test_packages_index(fixtures):
    pkgs = parse_packages((fixtures / "apt" / "Packages-ppc64el").read_text())
    assert [p.name for p in pkgs] == ["pkg00000", "pkg00001", "pkg00002", "powerops-data", "powerops-hello"]
    hello = pkgs[-1]
    assert hello.filename == "pool/main/p/powerops-hello/powerops-hello_1.0_ppc64el.deb"
    assert hello.size == 764 and hello.architecture == "ppc64el" and len(hello.sha256) == 64


@pytest.mark.parametrize("text, match", [
    ("Package: x\nFilename: pool/x.deb\nSize: 1\n", "SHA256"),
    ("Package: x\nFilename: ../../etc/passwd\nSize: 1\nSHA256: " + "a" * 64 + "\n", "unsafe path"),
    ("Package: x\nFilename: /etc/passwd\nSize: 1\nSHA256: " + "a" * 64 + "\n", "unsafe path"),
    ("Package: x\nFilename: pool/x.deb\nSize: big\nSHA256: " + "a" * 64 + "\n", "Size"),
    ("Package: x\nFilename: pool/x.deb\nSize: 1\nSHA256: xyz\n", "not a SHA256"),
    ("Package: x\nSize: 1\nSHA256: " + "a" * 64 + "\n", "lacks Filename"),
])
def test_packages_refuses_malformed(text, match):
    with pytest.raises(MalformedIndex, match=match):
        parse_packages(text)


def test_release_without_sha256_is_refused():
    with pytest.raises(MalformedIndex, match="SHA256"):
        parse_release("Suite: old\nMD5Sum:\n 0123 10 main/binary-ppc64el/Packages\n")


@pytest.mark.parametrize("text, match", [(" continuation first\n", "continuation"), ("no colon\n", "Field: value")])
def test_stanzas_refuse_malformed(text, match):
    with pytest.raises(MalformedIndex, match=match):
        parse_stanzas(text)


def test_stanzas_multiline_and_sources():
    st = parse_stanzas("A: 1\nB: x\n y\n\n\nA: 2\n")
    assert st == [{"A": "1", "B": "x\ny"}, {"A": "2"}]
    src = parse_sources("Package: hello\nVersion: 1\nDirectory: pool/main/h/hello\nChecksums-Sha256:\n "
                        + "b" * 64 + " 12 hello_1.dsc\n " + "c" * 64 + " 99 hello_1.tar.xz\n")
    assert sorted(src[0].files) == ["pool/main/h/hello/hello_1.dsc", "pool/main/h/hello/hello_1.tar.xz"]
    assert src[0].files["pool/main/h/hello/hello_1.tar.xz"].size == 99


def test_sha256sums():
    out = parse_sha256sums("d" * 64 + "  ./netboot/netboot.tar.gz\n", "dists/x/main/installer-ppc64el/current/images")
    assert out == {"dists/x/main/installer-ppc64el/current/images/netboot/netboot.tar.gz": "d" * 64}


def test_clearsigned_body_is_the_release(fixtures):
    inrelease = (fixtures / "apt" / "InRelease").read_bytes()
    assert is_clearsigned(inrelease)
    assert clearsigned_body(inrelease.decode()) == (fixtures / "apt" / "Release").read_text()


def test_clearsigned_refuses_text_outside_the_armor(fixtures):
    text = (fixtures / "apt" / "InRelease").read_text()
    with pytest.raises(MalformedIndex, match="after the signature"):
        clearsigned_body(text + "SHA256:\n " + "e" * 64 + " 1 main/binary-ppc64el/Packages\n")
    with pytest.raises(MalformedIndex, match="not a clearsigned"):
        clearsigned_body("Suite: x\n" + text)
    with pytest.raises(MalformedIndex, match="no signature block"):
        clearsigned_body(text.split("-----BEGIN PGP SIGNATURE-----")[0])


def test_gpgv_good(fixtures):
    v = parse_gpgv_status(*status(fixtures, "good"))
    assert v.valid and v.fingerprints == (FPR,) and not v.problems
    assert require_valid(v, "x") == FPR
    assert require_valid(v, "x", [FPR.lower()]) == FPR
    with pytest.raises(SignatureInvalid, match="not one of the allowed keys"):
        require_valid(v, "x", ["A" * 40])


def test_gpgv_detached_good(fixtures):
    assert parse_gpgv_status(*status(fixtures, "detached_good")).valid


@pytest.mark.parametrize("name, reason", [
    ("bad", "bad signature"),
    ("no_pubkey", "not in the configured keyring"),
    ("nodata", "no signature data"),
])
def test_gpgv_refusals(fixtures, name, reason):
    v = parse_gpgv_status(*status(fixtures, name))
    assert not v.valid
    with pytest.raises(SignatureInvalid, match=reason):
        require_valid(v, "suite bookworm InRelease")


def test_gpgv_exit_code_alone_is_not_enough(fixtures):
    text, _ = status(fixtures, "good")
    assert not parse_gpgv_status(text, 2).valid
    assert not parse_gpgv_status("", 0).valid


def test_dearmor(fixtures):
    armored = (fixtures / "apt" / "upstream-key.asc").read_bytes()
    binary = dearmor(armored)
    assert binary[0] & 0x80 and binary[0] in (0x98, 0x99, 0xC6)  # a public-key packet
    assert dearmor(binary) == binary
    with pytest.raises(MalformedIndex):
        dearmor(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n")


def test_gpgv_two_signers_one_known(fixtures):
    """An archive signed by two keys, only one in the keyring: good (apt's rule); a BADSIG never is."""
    good, _ = status(fixtures, "good")
    other = ("[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 0123456789ABCDEF 22 10 01 1795559888 9 "
             + "B" * 40 + "\n[GNUPG:] NO_PUBKEY 0123456789ABCDEF\n")
    v = parse_gpgv_status(good + other, 2)
    assert v.valid and v.fingerprints == (FPR,)
    bad = good + "[GNUPG:] NEWSIG\n[GNUPG:] BADSIG 0123456789ABCDEF x\n"
    assert not parse_gpgv_status(bad, 1).valid
