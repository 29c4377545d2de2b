"""SHA-512 crypt against the specification's vectors, the plan (idempotency as data), TFTP packets,
lpar_netboot argv, post-install content and parameter validation."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.novalink import tftp
from core.novalink.errors import NetbootRefused
from core.novalink.hmc import check_lpar_netboot, lpar_netboot_argv
from core.novalink.model import NovaLinkPartition, check_batch, normalize_mac, serial_from_name
from core.novalink.plan import (
    choose_password_hash,
    existing_password_hash,
    media_identity,
    parse_sha256sum,
    plan_prepare,
    stage_media_commands,
)
from core.novalink.postinstall import apt_sources, missing_backup_entries
from core.novalink.render import paths_for, render_client_files
from core.novalink.sha512crypt import is_sha512_crypt, sha512_crypt, verify_password
from tests.unit.novalink.conftest import PASSWORD, SALT

# Test vectors of Drepper's "Unix crypt using SHA-256 and SHA-512" specification.
VECTORS = [
    ("Hello world!", "saltstring", None,
     "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
    ("Hello world!", "saltstringsaltstring", 10000,
     "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/"
     "y3RnOaw5v."),
    ("This is just a test", "toolongsaltstring", 5000,
     "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8"
     "audkUEm0"),
    ("a very much longer text to encrypt.  This one even stretches over morethan one line.", "anotherlongsaltstring",
     1400, "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJ"
     "EiDwGqd8p4ur1"),
    ("we have a short salt string but not a short password", "short", 77777,
     "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"),
    ("a short string", "asaltof16chars..", 123456,
     "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJ"
     "AstJeonj1"),
    ("the minimum number is still observed", "roundstoolow", 10,
     "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHH"
     "rsX."),
]


@pytest.mark.parametrize(("pw", "salt", "rounds", "want"), VECTORS)
def test_sha512_crypt_vectors(pw, salt, rounds, want):
    assert sha512_crypt(pw, salt, rounds) == want
    assert verify_password(pw, want)
    assert not verify_password(pw + "x", want)


def test_hash_reused_when_password_unchanged():
    h = sha512_crypt(PASSWORD, SALT)
    assert is_sha512_crypt(h)
    assert choose_password_hash(PASSWORD, h) == h
    new = choose_password_hash("another", h)
    assert new != h and verify_password("another", new)
    assert existing_password_hash(f"[NovaLinkAdminCredential]\npassword = {h}\n") == h
    assert existing_password_hash(None) is None


def _plan(part, media, layout, remote, current_identity):
    files = render_client_files(part, media, layout, sha512_crypt(PASSWORD, SALT))
    paths = paths_for(part, media, layout)
    ident = media_identity("/iso/novalink.iso", (100, 200))
    return files, plan_prepare({part.partition_name: files}, remote, paths, media, ident, current_identity)


def test_plan_fresh_server_creates_everything(part, media, dnsmasq):
    files, plan = _plan(part, media, dnsmasq, {}, None)
    assert plan.stage_media and plan.copy_boot_file and plan.reload_boot_service
    assert {c.action for c in plan.partitions[0].files} == {"create"}


def test_plan_converged_server_plans_nothing(part, media, dnsmasq):
    files, _ = _plan(part, media, dnsmasq, {}, None)
    paths = paths_for(part, media, dnsmasq)
    remote = {f.path: f.sha256 for f in files}
    remote[paths.boot_file] = remote[f"{paths.media_dir}/{media.core_elf}"] = "ab" * 32
    ident = media_identity("/iso/novalink.iso", (100, 200))
    _, plan = _plan(part, media, dnsmasq, remote, ident)
    assert plan.empty and not plan.reload_boot_service
    assert {r["action"] for r in plan.rows()} == {"none"}


def test_plan_changed_source_restages(part, media, dnsmasq):
    _, plan = _plan(part, media, dnsmasq, {}, "source=/iso/old.iso size=1 mtime=2\n")
    assert plan.stage_media and "changed" in plan.media_reason


def test_parse_sha256sum():
    out = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  /a b/c\n" \
          "sha256sum: /missing: No such file or directory\n"
    assert parse_sha256sum(out) == {"/a b/c": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}


def test_stage_commands_preserve_symlinks():
    cp = stage_media_commands("/export/iso-content", "/srv/m")
    assert ["cp", "-a", "--", "/export/iso-content/.", "/srv/m.powerops-tmp"] in cp
    assert ["tar", "-xpf", "/x/novalink.tar", "-C", "/srv/m.powerops-tmp"] in stage_media_commands("/x/novalink.tar",
                                                                                                   "/srv/m")
    assert stage_media_commands("/x/n.iso", "/srv/m")[2][0] == "bsdtar"
    assert stage_media_commands("/x/n.iso", "/srv/m")[-1] == ["mv", "--", "/srv/m.powerops-tmp", "/srv/m"]


def test_tftp_packets():
    assert tftp.rrq("boot/core.elf") == b"\x00\x01boot/core.elf\x00octet\x00"
    assert tftp.ack(7) == b"\x00\x04\x00\x07"
    d = tftp.parse(b"\x00\x03\x00\x02abc")
    assert (d.opcode, d.block, d.data) == (tftp.DATA, 2, b"abc")
    e = tftp.parse(b"\x00\x05\x00\x01File not found\x00")
    assert (e.opcode, e.error_code, e.message) == (tftp.ERROR, 1, "File not found")
    with pytest.raises(InvalidInput):
        tftp.rrq("a\x00b")


def test_lpar_netboot_argv_real_syntax(part):
    assert lpar_netboot_argv(part, "10.10.20.5") == [
        "lpar_netboot", "-t", "ent", "-m", "FA163E0096A1", "-s", "auto", "-d", "auto", "-S", "10.10.20.5",
        "-G", "10.10.20.1", "-C", "10.10.20.31", "nova0696010", "default_profile", "Server-9119-MME-SN0696010"]


def test_lpar_netboot_outcome():
    check_lpar_netboot("hmc", "lpar_netboot ...", 0, "# Network boot proceeding, lpar_netboot is exiting.\n"
                       "# Finished.\n", "")
    with pytest.raises(NetbootRefused, match="can not find mac address"):
        check_lpar_netboot("hmc", "lpar_netboot ...", 1, "", "lpar_netboot: can not find mac address FA16.\n")
    with pytest.raises(NetbootRefused, match="HSCL8012"):
        check_lpar_netboot("hmc", "lpar_netboot ...", 1, "", "HSCL8012 The partition named x was not found.\n")


def test_apt_sources_and_crontab_check():
    src = apt_sources("http://nimserver/export/nim/lpp_source/powervc/novalink/")
    assert src["/etc/apt/sources.list.d/pvm.list"] == (
        "deb http://nimserver/export/nim/lpp_source/powervc/novalink/nova/debian novalink_1.0.0 non-free\n")
    assert src["/etc/apt/sources.list.d/rsct.list"].endswith("/rsct/ubuntu xenial main\n")
    crontab = """# VIOS hourly backups - at 15 past every hour except for midnight
15 1-23 * * * /usr/sbin/pvm-backup --type vios --frequency hourly
15 1-23 * * * /usr/sbin/pvm-backup --type system --frequency hourly
15 0    * * * /usr/sbin/pvm-backup --type vios --frequency daily
15 0    * * * /usr/sbin/pvm-backup --type system --frequency daily
"""
    assert missing_backup_entries(crontab) == []
    assert missing_backup_entries(crontab.replace("--type system --frequency daily", "")) == [
        "pvm-backup --type system --frequency daily (hours 0)"]


def test_partition_validation(part):
    assert normalize_mac("FA:16:3E:00:96:A1") == normalize_mac("fa16.3e00.96a1") == "fa:16:3e:00:96:a1"
    assert serial_from_name("nova0696010") == "0696010"
    assert part.serial == "0696010" and part.host == "nova0696010"
    for bad in ({"mac": "01:00:5e:00:00:01"}, {"gateway": "10.99.0.1"}, {"netmask": "255.0.255.0"},
                {"partition_name": "a;rm -rf"}, {"timezone": "Europe/Paris; x"}, {"pvmdisk": "mpatha"}):
        with pytest.raises(ValueError):
            NovaLinkPartition(**{**part.model_dump(), **bad})
    with pytest.raises(InvalidInput, match="same mac"):
        check_batch([part, part.model_copy(update={"partition_name": "nova0696011", "ip": "10.10.20.32"})])


def test_npiv_initrd_patch_argv_and_plan():
    from core.novalink.initrd import PVM_PRESEED, patch_identity, patch_initrd_argv
    from core.novalink.plan import plan_npiv_initrd

    argv = patch_initrd_argv("/m/install/netboot_initrd.gz", "/c/initrd-bootdev.gz", "/dev/mapper/mpatha")
    assert argv[:2] == ["sh", "-c"] and argv[3:] == [
        "powerops-initrd-patch", "/m/install/netboot_initrd.gz", "/c/initrd-bootdev.gz", PVM_PRESEED,
        "/dev/mapper/mpatha"]
    assert "/dev/mapper" not in argv[2]  # values are arguments, never part of the script
    with pytest.raises(InvalidInput):
        patch_initrd_argv("/m/i.gz", "/c/o.gz", "/dev/x; reboot")
    ident = patch_identity("ab" * 32, "/dev/mapper/mpatha", PVM_PRESEED)
    assert plan_npiv_initrd("/c/o.gz", False, ident, ident).action == "none"
    assert plan_npiv_initrd("/c/o.gz", False, ident, None).action == "create"
    assert plan_npiv_initrd("/c/o.gz", True, ident, ident).action == "update"
    assert plan_npiv_initrd("/c/o.gz", False, ident, ident.replace("mpatha", "mpathb")).action == "update"
