"""Spread statistics (chi-square p-value against known table values), the PNG writer, the drill timeline."""

from __future__ import annotations

import struct
import zlib

import pytest

from core.swarm.chart import bar_chart_png, data_uri
from core.swarm.drill import Event, Sample, timeline
from core.swarm.spread import chi2_sf, gammaincc, spread, spread_from_counts


@pytest.mark.parametrize(("x", "dof", "p"), [
    (3.841459, 1, 0.05), (6.634897, 1, 0.01), (16.918978, 9, 0.05), (21.665994, 9, 0.01), (2.087901, 9, 0.99),
    (9.0, 9, 0.437274), (100.0, 9, 0.0), (1.0, 2, 0.606531),
])
def test_chi2_survival_matches_tables(x, dof, p):
    assert chi2_sf(x, dof) == pytest.approx(p, abs=2e-6)


def test_gammaincc_edges():
    assert gammaincc(3.0, 0.0) == 1.0
    assert chi2_sf(0.0, 5) == 1.0
    with pytest.raises(ValueError):
        gammaincc(0.0, 1.0)


def test_spread_seed_example():
    # the seed's `sort | uniq -c` of 10,000 curl calls over 10 containers
    seed = {"01bc": 999, "07c3": 1003, "438c": 993, "4b74": 998, "7172": 1006, "757b": 996, "a254": 1004,
            "e88a": 1004, "f015": 995, "f73a": 1002}
    s = spread_from_counts(seed)
    assert (s.total, s.mean, s.dof) == (10_000, 1000.0, 9)
    assert s.max_deviation_pct == pytest.approx(0.7)
    assert s.chi_square == pytest.approx(0.176)  # (1+9+49+4+36+16+16+16+25+4) / 1000
    assert s.p_value > 0.99  # a perfectly plausible uniform spread


def test_spread_of_answers_counts_failures_and_detects_skew():
    s = spread(["a"] * 700 + ["b"] * 300 + [None] * 5)
    assert (s.counts, s.failed, s.total) == ({"a": 700, "b": 300}, 5, 1000)
    assert s.max_deviation_pct == pytest.approx(40.0)
    assert s.p_value < 1e-20
    assert s.rows()[0] == {"container": "a", "responses": 700, "deviation_pct": 40.0}
    empty = spread([None, None])
    assert empty.counts == {} and empty.failed == 2


def test_png_is_a_valid_image_with_the_bars():
    png = bar_chart_png([10, 5, 0], width=60, height=50, reference=5)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert (w, h) == (60, 50)
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41:41 + idat_len])
    assert len(raw) == h * (1 + 3 * w)
    row = raw[(h - 12) * (1 + 3 * w) + 1:(h - 11) * (1 + 3 * w)]
    px = [tuple(row[i:i + 3]) for i in range(0, len(row), 3)]
    assert (31, 119, 180) in px and (255, 127, 14) in px  # first and second bar reach this low row
    top = raw[12 * (1 + 3 * w) + 1:13 * (1 + 3 * w)]
    top_px = [tuple(top[i:i + 3]) for i in range(0, len(top), 3)]
    assert (31, 119, 180) in top_px and (255, 127, 14) not in top_px  # only the tallest bar reaches up here
    assert data_uri(png).startswith("data:image/png;base64,iVBOR")


def test_timeline_detection_recovery_failures():
    samples = [Sample(t / 10, True, "c1") for t in range(0, 100)]
    samples += [Sample(2.5, False, "HTTP 503"), Sample(30.0, False, "ReadTimeout")]
    lb = [(1.0, False), (2.0, False), (3.4, True), (3.6, True)]
    rep = [(1.0, False), (2.0, False), (12.0, True)]
    ready = [(14.0, False), (16.5, True)]
    tl = timeline(samples, [Event(2.0, "down command")], 2.0, lb, rep, 15.0, ready)
    assert tl.detected_s == pytest.approx(1.4) and tl.recovered_s == pytest.approx(10.0)
    assert tl.node_back_s == pytest.approx(1.5)
    assert (tl.requests, tl.failed, tl.failed_in_window) == (102, 2, 1)
    assert [r["event"] for r in tl.rows()][0] == "down command"
    assert tl.rows()[1] == {"t_s": 1.4, "event": "haproxy marks the lost node's servers DOWN"}


def test_timeline_never_detected():
    tl = timeline([], [], 1.0, [(2.0, False)], [(2.0, False)], None, [])
    assert tl.detected_s is None and tl.recovered_s is None and tl.node_back_s is None and tl.failed_pct == 0.0
