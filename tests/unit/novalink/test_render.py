"""Golden files of everything rendered; grub.cfg validated with grub-script-check where installed.

Regenerate the golden files after an intended template change: POWEROPS_REGEN_GOLDEN=1 pytest ..."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.novalink.render import (
    grub_cfg_name,
    is_ours,
    merge_bootptab,
    paths_for,
    remove_bootptab,
    render_bootptab_entry,
    render_client_files,
    render_dnsmasq_host,
    render_grub_cfg,
    render_preseed_cfg,
    render_pvm_install_cfg,
)
from core.novalink.sha512crypt import sha512_crypt
from tests.unit.novalink.conftest import PASSWORD, SALT

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "novalink" / "golden"


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("POWEROPS_REGEN_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from its golden file"


def grub_check(text: str, tmp_path: Path) -> None:
    if not shutil.which("grub-script-check"):
        return
    f = tmp_path / "grub.cfg"
    f.write_text(text)
    res = subprocess.run(["grub-script-check", str(f)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture
def pwhash() -> str:
    return sha512_crypt(PASSWORD, SALT)


def test_grub_cfg_nim_novalink(part, media, nim, tmp_path):
    text = render_grub_cfg(part, media, nim)
    golden("grub.cfg-nim-novalink", text)
    grub_check(text, tmp_path)
    assert "pvmdisk" not in text and "url=" not in text


def test_grub_cfg_npiv_has_pvmdisk(npiv, media, nim, tmp_path):
    text = render_grub_cfg(npiv, media, nim)
    golden("grub.cfg-nim-npiv", text)
    grub_check(text, tmp_path)
    assert " pvmdisk=/dev/mapper/mpatha \\\n" in text


def test_grub_cfg_lab_debian_installer(part, di_media, dnsmasq, tmp_path):
    text = render_grub_cfg(part, di_media, dnsmasq)
    golden("grub.cfg-lab-di", text)
    grub_check(text, tmp_path)
    assert "url=http://${serveraddress}/export/novalink-clients/nova0696010/preseed.cfg" in text


def test_pvm_install_cfg(part, media, nim, pwhash):
    text = render_pvm_install_cfg(part, media, nim, pwhash)
    golden("pvm-install.cfg", text)
    assert "serialnumber = 0696010\n" in text  # derived from the name, as custnovainstall.ksh does
    assert PASSWORD not in text


def test_preseed_cfg(npiv, di_media, dnsmasq, pwhash):
    text = render_preseed_cfg(npiv, di_media, dnsmasq, pwhash)
    golden("preseed.cfg", text)
    assert "d-i grub-installer/bootdev string /dev/mapper/mpatha" in text
    assert PASSWORD not in text


def test_bootptab_line_carries_ha(part, nim):
    line = render_bootptab_entry(part, nim)
    golden("bootptab-line", line)
    assert ":ha=FA163E0096A1:" in line


def test_dnsmasq_host(part):
    assert render_dnsmasq_host(part) == "fa:16:3e:00:96:a1,10.10.20.31,nova0696010\n"


def test_clear_password_is_refused_by_rendering(part, media, nim):
    with pytest.raises(InvalidInput):
        render_pvm_install_cfg(part, media, nim, PASSWORD)


def test_no_rendered_file_contains_the_password(part, npiv, di_media, dnsmasq, nim, pwhash):
    for p, layout in ((part, dnsmasq), (npiv, nim)):
        for f in render_client_files(p, di_media, layout, pwhash, "old:ip=1.2.3.4:\n"):
            assert PASSWORD not in f.content, f.path


def test_per_client_grub_cfg_names_never_collide(part, media, dnsmasq):
    other = part.model_copy(update={"mac": "fa:16:3e:00:96:a2"})
    assert grub_cfg_name(part.mac) == "grub.cfg-01-fa-16-3e-00-96-a1"
    assert paths_for(part, media, dnsmasq).grub_cfg != paths_for(other, media, dnsmasq).grub_cfg


def test_bootptab_merge_replace_and_remove(part, nim):
    entry = render_bootptab_entry(part, nim)
    existing = "# bootptab\nnova1009425:bf=/var/lib/tftpboot/core.elf:ip=10.10.20.40:\nnova0696010:ip=9.9.9.9:\n"
    merged = merge_bootptab(existing, entry, part.host)
    assert merged.count("nova0696010:") == 1 and entry.strip() in merged
    assert "nova1009425:" in merged and merged.startswith("# bootptab\n")
    assert merge_bootptab(merged, entry, part.host) == merged
    removed = remove_bootptab(merged, part.host)
    assert "nova0696010" not in removed and "nova1009425:" in removed


def test_rendered_files_carry_the_marker(part, di_media, dnsmasq, pwhash):
    files = {f.what: f for f in render_client_files(part, di_media, dnsmasq, pwhash)}
    assert is_ours(files["grub.cfg"].content) and is_ours(files["pvm-install.cfg"].content)
    assert not is_ours("set default=0\n")


def test_dnsmasq_host_file_recognised_whatever_its_mac(part):
    from core.novalink.render import is_our_dnsmasq_host

    assert is_our_dnsmasq_host(render_dnsmasq_host(part), "nova0696010")
    assert is_our_dnsmasq_host("52:54:00:4e:4c:99,10.250.77.80,nova0696010\n", "nova0696010")
    assert not is_our_dnsmasq_host("dhcp-host=aa:bb:cc:dd:ee:ff,1.2.3.4,x\nother\n", "nova0696010")
