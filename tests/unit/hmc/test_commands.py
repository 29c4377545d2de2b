from __future__ import annotations

import shlex

import pytest

from core.errors import InvalidInput
from core.hmc import attrs
from core.hmc import commands as C


@pytest.mark.parametrize("bad", ["lpar 1", "lpar;rm -rf /", "a'b", 'a"b', "$(id)", "", "-m", "x" * 64, "lpar\n1", "lpar\n"])
def test_names_are_validated(bad):
    with pytest.raises(InvalidInput):
        C.validate_name(bad)
    with pytest.raises(InvalidInput):
        C.partition_start("sys", bad)


def test_vnic_add_is_the_source_material_command():
    argv = C.vnic_add("reptilian-9119-MME-65BA46F", "lizard", None, 3455, True,
                      [C.BackingSpec("vios1", 1, 1, "2.0", 10), C.BackingSpec("vios1", 3, 1, "2.0", 20)])
    assert argv[:11] == ["chhwres", "-r", "virtualio", "--rsubtype", "vnic", "-m", "reptilian-9119-MME-65BA46F",
                         "-o", "a", "-p", "lizard"]
    # what the HMC's shell hands to chhwres after our quoting at the SSH edge
    again = shlex.split(shlex.join(argv))
    assert again == argv
    assigns = attrs.parse_attr_input(argv[-1])
    assert assigns[-1] == ("backing_devices", "=", "sriov/vios1//1/1/2.0/10,sriov/vios1//3/1/2.0/20")


def test_bkdev_commands():
    assert C.bkdev_set_priority("s", "lizard", 6, "2700400B", 11)[-4:] == [
        "--logport", "2700400b", "-a", "failover_priority=11"]
    assert C.bkdev_activate("s", "lizard", 6, "27008005")[-2:] == ["--logport", "27008005"]
    with pytest.raises(InvalidInput):
        C.bkdev_set_priority("s", "lizard", 6, "2700400b", 0)
    with pytest.raises(InvalidInput):
        C.bkdev_set_priority("s", "lizard", 6, "2700400b", 101)
    with pytest.raises(InvalidInput):
        C.bkdev_activate("s", "lizard", 6, "27008005; reboot")


def test_backing_spec_rules():
    with pytest.raises(InvalidInput):
        C.BackingSpec("vios1", 1, 1, "2.0", 0)
    with pytest.raises(InvalidInput):
        C.BackingSpec("vios1", 1, 1, "250", 10)
    assert C.BackingSpec("vios2", 4, 1, "2.0", 40).text() == "sriov/vios2//4/1/2.0/40"


def test_lpar_netboot_argv():
    argv = C.lpar_netboot("sys1", "nl1", "default", "52:54:00:aa:bb:cc", "10.0.0.1", "10.0.0.254", "10.0.0.5")
    assert argv == ["lpar_netboot", "-t", "ent", "-m", "525400aabbcc", "-s", "auto", "-d", "auto", "-S", "10.0.0.1",
                    "-G", "10.0.0.254", "-C", "10.0.0.5", "nl1", "default", "sys1"]
    with pytest.raises(InvalidInput):
        C.lpar_netboot("sys1", "nl1", "default", "zz", "10.0.0.1", "10.0.0.254", "10.0.0.5")


def test_root_script_quotes_values():
    assert C.root_script(C.vnicstat("vnicserver1")) == b"vnicstat vnicserver1\n"
    with pytest.raises(InvalidInput):
        C.vnicstat("vnicserver1; reboot")
