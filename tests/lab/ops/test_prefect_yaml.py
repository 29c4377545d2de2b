"""prefect.yaml deploys as documented: `POWEROPS_REPO=$PWD prefect --no-prompt deploy --all`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]


def test_prefect_deploy_all_from_prefect_yaml(prefect_server: str) -> None:
    import yaml

    from deployments.apply import ensure_work_pool

    ensure_work_pool()
    env = dict(os.environ, PREFECT_API_URL=prefect_server, POWEROPS_REPO=str(REPO))
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    p = subprocess.run([prefect_bin, "--no-prompt", "deploy", "--all"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    want = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    r = httpx.post(f"{prefect_server}/deployments/filter", json={"limit": 200}, timeout=30)
    have = {d["name"]: d for d in r.json()}
    for d in want:
        got = have[d["name"]]
        assert got["entrypoint"] == d["entrypoint"]
        assert got["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]
        assert [s["active"] for s in got["schedules"]] == [s["active"] for s in d.get("schedules", [])]
        props = got["parameter_openapi_schema"]["properties"]
        assert set(props) == {"params", "ops"}, d["name"]
