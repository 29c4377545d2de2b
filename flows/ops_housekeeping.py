"""housekeeping: the run history of the last hours per deployment, and stale lock-holder records released.

Changes nothing but powerops' own lock-holder records (Prefect Variables ``powerops_lock_*``) whose run has
ended (a crashed run can leave one behind; the concurrency slot itself is freed by its lease expiry).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field

from tasks.ops import read_lock_records, read_recent_runs, remove_lock_record


class HousekeepingParams(BaseModel):
    """How far back the history goes, and whether stale lock records are released."""

    hours: int = Field(default=24, ge=1, le=24 * 31, description="History window in hours.")
    release_stale_locks: bool = Field(default=True, description="Remove lock-holder records of ended runs.")


@flow(name="housekeeping", log_prints=False)
def ops_housekeeping(params: HousekeepingParams) -> dict[str, Any]:
    logger = get_run_logger()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=params.hours)
    runs = read_recent_runs(since)
    per: Counter[tuple[str, str]] = Counter((r["deployment"], r["state"]) for r in runs)
    rows = [{"deployment": d, "state": s, "runs": n} for (d, s), n in sorted(per.items())]
    create_table_artifact(key="run-history", table=rows or [{"deployment": "-", "state": "-", "runs": 0}],
                          description=f"flow runs of the last {params.hours} h by deployment and state")
    stale = [r for r in read_lock_records() if r["run_state"] in ("ended", "missing")]
    released: list[str] = []
    if params.release_stale_locks:
        for r in stale:
            remove_lock_record(r["variable"])
            released.append(f"{r['key']} (held by {r['flow_run_name']}, {r['run_state']})")
    logger.info("%d run(s) in %d h; %d stale lock record(s) released", len(runs), params.hours, len(released))
    return {"verified": [f"{d}: {n} {s}" for (d, s), n in sorted(per.items())], "changed": released,
            "runs": len(runs), "failed": sum(n for (_, s), n in per.items() if s in ("Failed", "Crashed"))}
