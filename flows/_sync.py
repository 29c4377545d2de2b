"""Call any flow, sync or async, and get what a sync flow call gives.

Some flows are ``async def``: Prefect 3.9 joins a sync flow run's heartbeat thread when the run ends, which
costs up to 1 s per run (the thread sleeps in 1-s steps), while an async run does not wait for it. Called from
sync code outside an event loop (a test, the demo, a sync parent flow with ``return_state=True``) such a flow
returns a coroutine; :func:`call_flow` runs it to completion, so callers need not know which kind it is.
"""

from __future__ import annotations

import inspect
from typing import Any

from prefect.utilities.asyncutils import run_coro_as_sync


def call_flow(flow_obj: Any, *args: Any, **kwargs: Any) -> Any:
    """``flow_obj(*args, **kwargs)``, awaited if the flow is async (the sub-run keeps its parent link)."""
    out = flow_obj(*args, **kwargs)
    if inspect.isawaitable(out):
        return run_coro_as_sync(out)
    return out
