"""novalink-post-install for real: apt-get, dpkg and crontab run on the lab's installed-NovaLink stand-in
(a chrooted Debian userland behind sshd) against the signed pvm/rsct mirror of the lab install server."""

from __future__ import annotations

from pathlib import Path

import pytest

from seams.ssh import CommandResult
from tests.lab.novalink.conftest import partition

pytestmark = pytest.mark.lab

PACKAGES = ["pvm-novalink", "rsct.core", "rsct.basic"]


@pytest.fixture(scope="module")
def host(netboot_lab) -> Path:
    from lab.context import LabContext
    from lab.netboot import novalink_host

    lab = LabContext()
    root = novalink_host.reset_host_root(lab)  # as just after the network install
    novalink_host.ensure_host(lab)
    return root


def _params(**over: object):
    import lab.netboot as nb
    from flows.novalink_post_install import NovaLinkPostInstallParams, PostInstallParams
    from lab.netboot import novalink_host

    dry_run = bool(over.pop("dry_run", False))
    values: dict[str, object] = {"novalink_ssh": {nb.LPAR_NAME: novalink_host.BLOCK_HOST_SSH},
                                 "mirror_url": novalink_host.mirror_url(nb.INST_IP),
                                 "rsct_key": novalink_host.RSCT_KEY, **over}
    pp = PostInstallParams(**values)  # type: ignore[arg-type]
    return NovaLinkPostInstallParams(partitions=[partition(ip=novalink_host.HOST_IP)], post_install=pp,
                                     dry_run=dry_run)


def _dpkg_installed(root: Path) -> dict[str, str]:
    """Read the chroot's own dpkg database from the outside (not through the flow's code)."""
    out: dict[str, str] = {}
    for para in (root / "var/lib/dpkg/status").read_text().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in para.splitlines() if ": " in line and not line[0].isspace())
        if fields.get("Status") == "install ok installed":
            out[fields["Package"]] = fields["Version"]
    return out


def _ssh(argv: list[str]) -> CommandResult:
    """A command on the installed-host stand-in through the project's SSH seam (host key verified)."""
    from lab.context import LabContext
    from lab.netboot import novalink_host

    lab = LabContext()
    return lab.ssh_target(novalink_host.HOST_NODE, novalink_host.HOST_IP).connect().run(argv, check=False,
                                                                                      timeout=120)


def test_unsigned_mirror_is_refused(host):
    """Without the repositories' keys apt refuses the mirror: the flow fails, nothing gets installed."""
    from core.errors import PowerOpsError
    from flows.novalink_post_install import novalink_post_install

    with pytest.raises(PowerOpsError) as err:
        novalink_post_install(_params(pvm_key="", rsct_key=""))
    assert "NO_PUBKEY" in str(err.value) or "not signed" in str(err.value)
    assert not set(PACKAGES) & set(_dpkg_installed(host))


def test_post_install_installs_configures_and_is_idempotent(host):
    import lab.netboot as nb
    from flows.novalink_post_install import novalink_post_install
    from lab.context import LabContext
    from lab.netboot import novalink_host

    novalink_host.reset_host_root(LabContext())  # undo what the refused run wrote (its apt sources)
    before = _dpkg_installed(host)
    assert "cron" in before and not set(PACKAGES) & set(before)

    first = novalink_post_install(_params())[nb.LPAR_NAME]
    assert first["installed"] == PACKAGES
    assert set(first["changed"]) >= {  # type: ignore[arg-type]
        "/etc/apt/trusted.gpg.d/powerops-pvm.gpg", "/etc/apt/trusted.gpg.d/powerops-rsct.gpg",
        "/etc/apt/sources.list.d/pvm.list", "/etc/apt/sources.list.d/rsct.list",
        "/etc/systemd/timesyncd.conf.d/powerops.conf", "/etc/resolv.conf"}
    assert first["missing_backup_entries"] == []

    after = _dpkg_installed(host)
    assert after["pvm-novalink"] == after["pvm-core"] == "1.0.0.3-lab1"
    assert after["rsct.core"] == after["rsct.basic"] == "3.2.2.0-lab1"
    mirror = novalink_host.mirror_url(nb.INST_IP)
    assert (host / "etc/apt/sources.list.d/pvm.list").read_text() == \
        f"deb {mirror}/nova/debian novalink_1.0.0 non-free\n"
    assert (host / "etc/resolv.conf").read_text() == f"search powerops.test\nnameserver {nb.INST_IP}\n"
    assert f"NTP={nb.INST_IP}" in (host / "etc/systemd/timesyncd.conf.d/powerops.conf").read_text()
    crontab = _ssh(["crontab", "-l"]).stdout  # what the stand-in pvm-core postinst put there
    assert crontab.count("/usr/sbin/pvm-backup --type") == 4

    dpkg_log = (host / "var/log/dpkg.log").stat().st_mtime
    again = novalink_post_install(_params())[nb.LPAR_NAME]
    assert again == {"changed": [], "installed": [], "missing_backup_entries": [], "powervc": "not requested",
                     "dry_run": False}
    assert (host / "var/log/dpkg.log").stat().st_mtime == dpkg_log  # dpkg did not run

    dry = novalink_post_install(_params(dry_run=True))[nb.LPAR_NAME]
    assert dry["changed"] == [] and dry["installed"] == []


def test_missing_backup_entries_fail_the_flow(host):
    from core.novalink.errors import VerificationFailed
    from flows.novalink_post_install import novalink_post_install

    assert _ssh(["crontab", "-r"]).ok
    try:
        with pytest.raises(VerificationFailed) as err:
            novalink_post_install(_params())
        assert str(err.value).count("pvm-backup --type") == 4
    finally:  # put back what pvm-core installed (later tests use this host)
        assert _ssh(["crontab", "/usr/share/pvm-core/pvm-backup.crontab"]).ok
