"""Parsers on recorded outputs (tests/fixtures/hmc), and the meta-test: every parser has a sample."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.hmc import parsers as P
from tests.unit.hmc.fixtures import ROOT, cases, parse_case, read_raw


@pytest.mark.parametrize(("parser", "raw"), cases(), ids=[f"{p}/{r.stem}" for p, r in cases()])
def test_fixture(parser, raw):
    actual, expected = parse_case(parser, raw)
    assert actual == expected


def test_every_parser_has_a_recorded_sample():
    dirs = {p.name for p in ROOT.iterdir() if p.is_dir()}
    with_samples = {p for p, _ in cases()}
    assert set(P.PARSERS) <= with_samples, f"parsers without samples: {set(P.PARSERS) - with_samples}"
    assert dirs <= set(P.PARSERS), f"fixture folders without parser: {dirs - set(P.PARSERS)}"


def test_every_fixture_names_its_source():
    for _, raw in cases():
        source, _ = read_raw(raw)
        assert len(source) > 20, raw


def test_vnic_active_and_preferred_devices():
    _, text = read_raw(ROOT / "lshwres_vnic" / "default_quoted.raw")
    lizard, gecko = P.parse_lshwres_vnic(text)
    assert lizard.active_device is not None and lizard.active_device.logical_port_id == "2700400b"
    assert lizard.preferred_device is not None and lizard.preferred_device.failover_priority == 10
    assert [d.failover_priority for d in lizard.backing_devices] == [10, 20, 30, 40]
    assert not lizard.operational(lizard.backing_devices[3])
    assert gecko.auto_priority_failover is False and len(gecko.backing_devices) == 1


def test_malformed_outputs_are_refused():
    with pytest.raises(InvalidInput):
        P.parse_lshmc_v("nothing here")
    with pytest.raises(InvalidInput):
        P.parse_ioslevel("ioslevel: not found")
    with pytest.raises(InvalidInput):
        P.parse_backing_devices("sriov/vios1/1")
    with pytest.raises(InvalidInput):
        P.parse_lshwres_vnic('lpar_name="unterminated')
