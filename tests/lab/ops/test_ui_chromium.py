"""The Prefect UI as a person sees it, in headless Chromium (Debian's chromium): the runs page lists the
ticket's run, and the run's summary artifact shows what was planned / changed / verified and the related runs."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from .conftest import Stack

pytestmark = pytest.mark.lab

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return str(shutil.which(name))
    pytest.fail("chromium is not installed (scripts/packages/ops.txt; run scripts/bootstrap.sh)")


def page_text(url: str, screenshot: Path | None = None) -> str:
    """The page's visible text after its JavaScript ran (the UI is a single-page app)."""
    argv = [chromium(), *CHROMIUM_FLAGS, "--virtual-time-budget=40000", "--run-all-compositor-stages-before-draw", "--window-size=1400,1100"]
    if screenshot:
        subprocess.run([*argv, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=False)
    dom = subprocess.run([*argv, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", dom, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


def test_runs_page_and_summary_artifact(ops_stack: Stack, tmp_path: Path) -> None:
    t = f"CHG-UI-{uuid.uuid4().hex[:6]}"
    r = ops_stack.post("/tickets", {"ticket_id": t, "procedure": "selftest", "requester": "alice",
                                    "parameters": {"target": t}})
    assert r.status_code == 201, r.text
    run = ops_stack.wait_state(t, {"COMPLETED", "FAILED", "CRASHED"})
    assert run["state"] == "Completed"
    ui = ops_stack.api.removesuffix("/api")

    runs = page_text(f"{ui}/runs", tmp_path / "runs.png")
    assert "Runs" in runs and run["flow_run_name"] in runs, runs[:2000]

    detail = page_text(run["ui_url"])
    assert run["flow_run_name"] in detail and "Completed" in detail
    assert f"ticket:{t}" in detail and "requester:alice" in detail          # the run's tags
    assert "ops-selftest" in detail and "Subflow Runs" in detail

    arts = ops_stack.api_post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["flow_run_id"]]},
                                                                  "key": {"any_": ["run-summary"]}}})
    assert arts, "the run published no run-summary artifact"
    art = page_text(f"{ui}/artifacts/artifact/{arts[0]['id']}", tmp_path / "artifact.png")
    for expected in ("selftest: Completed", f"ticket: {t}", "Planned (0)", "Changed (0)", "Verified (1)",
                     "Related runs", run["flow_run_name"], "sub-run"):
        assert expected in art, f"{expected!r} not on the artifact page: {art[:1500]}"
