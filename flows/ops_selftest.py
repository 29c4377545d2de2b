"""selftest: proves the operations machinery on an installation (and in the lab tests).

Holds the lock of ``target`` for ``hold_seconds``; with ``disruptive=True`` the deployment asks for approval
first; with ``secret_block`` it loads that Secret block and then tries every way a careless flow leaks a
secret (a log line, an f-string in a warning, an exception text in a task, an artifact): redaction must mask
every one. Changes nothing outside Prefect.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field


class SelftestParams(BaseModel):
    """What to exercise."""

    target: str = Field(default="selftest", description="Lock target name (runs with the same target queue).")
    target_block: str | None = Field(default=None, description="SSH target block naming the endpoint to lock: "
                                     "two blocks for the same host:port share one lock.")
    hold_seconds: float = Field(default=0.0, ge=0, le=3600, description="How long the target is held.")
    disruptive: bool = Field(default=False, description="Pretend to be disruptive: the deployment asks for "
                             "approval first.")
    secret_block: str | None = Field(default=None, description="Secret block to load and try to leak "
                                     "(redaction test).")
    fail: bool = Field(default=False, description="End in Failed (tests the outcome callback of a failure).")


@task(cache_policy=NO_CACHE)
def leak_in_task(secret: str) -> None:
    raise RuntimeError(f"task failed while using credential {secret}")


@flow(name="selftest", log_prints=True)
def ops_selftest(params: SelftestParams) -> dict[str, object]:
    logger = get_run_logger()
    t0 = time.monotonic()
    leaks = 0
    if params.secret_block:
        secret = str(Secret.load(params.secret_block).get())
        logger.info("loaded secret %s", secret)
        logger.warning(f"password in an f-string: {secret}")
        print(f"printed: {secret}")
        state = leak_in_task(secret, return_state=True)
        logger.info("task state: %s", state.message)
        create_markdown_artifact(key="selftest-leak", markdown=f"# careless artifact\n\nsecret: `{secret}`",
                                 description=f"artifact description with {secret}")
        create_table_artifact(key="selftest-leak-table", table=[{"name": "pw", "value": secret}])
        leaks = 6
    if params.hold_seconds:
        logger.info("holding %s for %.1f s", params.target, params.hold_seconds)
        time.sleep(params.hold_seconds)
    if params.fail:
        raise RuntimeError("selftest asked to fail")
    return {"verified": [f"held {params.target} for {params.hold_seconds:g} s"], "leak_attempts": leaks,
            "seconds": round(time.monotonic() - t0, 2)}
