"""nova.conf / cinder.conf checks and minimal edits on recorded files."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.powervc import novaconf
from core.powervc.novaconf import MULTI_TENANCY_FILTER, check_osapi_max_limit, scheduler_filters

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "powervc"


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=False) if a != b]


def test_lab_conf_has_the_filter_in_filter_scheduler() -> None:
    text = (FIX / "nova.conf.lab").read_text()
    f = scheduler_filters(text)
    assert f.section == "filter_scheduler" and f.multi_tenancy
    assert novaconf.with_filter(text) == text


def test_removing_then_adding_changes_one_line_only() -> None:
    text = (FIX / "nova.conf.lab").read_text()
    removed = novaconf.without_filter(text)
    assert not scheduler_filters(removed).multi_tenancy
    assert len(changed_lines(text, removed)) == 1
    assert novaconf.with_filter(removed) == text


def test_powervc_seed_conf_uses_scheduler_default_filters() -> None:
    text = (FIX / "nova.conf.powervc-seed").read_text()
    f = scheduler_filters(text)
    assert (f.section, f.key) == ("DEFAULT", "scheduler_default_filters")
    assert not f.multi_tenancy and "PowerVCHostAggregateFilter" in f.filters
    new = novaconf.with_filter(text)
    assert len(new.splitlines()) == len(text.splitlines())
    [(old, line)] = changed_lines(text, new)
    assert line == old + "," + MULTI_TENANCY_FILTER
    assert "# PowerVC 1.3.x" in new and "[conductor]" in new


def test_absent_option_uses_nova_default_and_adds_a_section() -> None:
    text = "[DEFAULT]\ndebug = False\n"
    assert scheduler_filters(text).filters == novaconf.NOVA_DEFAULT_FILTERS
    new = novaconf.with_filter(text)
    assert new.startswith(text)
    assert scheduler_filters(new).filters == (*novaconf.NOVA_DEFAULT_FILTERS, MULTI_TENANCY_FILTER)
    assert "[filter_scheduler]\nenabled_filters = " in new


def test_option_added_to_an_existing_section_stays_in_it() -> None:
    text = "[filter_scheduler]\nhost_subset_size = 1\n\n[other]\nx = 1\n"
    new = novaconf.set_option(text, "filter_scheduler", "enabled_filters", "A,B")
    assert new == "[filter_scheduler]\nhost_subset_size = 1\nenabled_filters = A,B\n\n[other]\nx = 1\n"
    assert novaconf.options(new)[("other", "x")] == "1"


def test_set_option_refuses_multiline_values() -> None:
    with pytest.raises(InvalidInput):
        novaconf.set_option("", "DEFAULT", "k", "a\nb")


def test_osapi_max_limit_reports_disagreeing_files() -> None:
    files = {str(FIX / n): (FIX / n).read_text() for n in ("cinder.conf.global", "cinder.conf.svc2",
                                                            "cinder.conf.svc3-unset")}
    files["/etc/cinder/missing.conf"] = None
    findings = check_osapi_max_limit(files, 15000)
    assert [f.agrees for f in findings] == [True, False, False, False]
    assert findings[1].value == 10000
    assert findings[2].value is None and findings[2].effective == novaconf.CINDER_DEFAULT_OSAPI_MAX_LIMIT
    assert "DISAGREES (expected 15000)" in findings[1].describe()
    assert "not set (default 1000)" in findings[2].describe()
    assert "missing" in findings[3].describe()


def test_osapi_max_limit_not_a_number() -> None:
    with pytest.raises(InvalidInput, match="not a number"):
        check_osapi_max_limit({"x": "[DEFAULT]\nosapi_max_limit = lots\n"}, 1)
