"""Async flows with sync bodies: call any flow and get what a sync flow call gives; the context for the body.

Some flows are ``async def`` only for this reason: Prefect 3.9 joins a sync flow run's heartbeat thread when the run ends, which
costs up to 1 s per run (the thread sleeps in 1-s steps), while an async run does not wait for it. Called from
sync code outside an event loop (a test, the demo, a sync parent flow with ``return_state=True``) such a flow
returns a coroutine; :func:`call_flow` runs it to completion, so callers need not know which kind it is.

Such a flow keeps a sync body, run inside :func:`async_body`. In it, Prefect's dual sync/async helpers
(``Block.load``, ``create_*_artifact``, also in threads that copy the flow's context) must be called with
``_sync=True``: in an async flow's context they return a coroutine and do nothing.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

from prefect.context import SyncClientContext
from prefect.utilities.asyncutils import run_coro_as_sync

from tasks.background import Background


def call_flow(flow_obj: Any, *args: Any, **kwargs: Any) -> Any:
    """``flow_obj(*args, **kwargs)``, awaited if the flow is async (the sub-run keeps its parent link)."""
    out = flow_obj(*args, **kwargs)
    if inspect.isawaitable(out):
        return run_coro_as_sync(out)
    return out


@contextlib.contextmanager
def async_body() -> Iterator[Background]:
    """Run the sync body of an async flow with one sync API client, as a sync flow run has: an async run has
    none, and every block load, artifact and sync task would open its own client and connection (~0.8 s more
    per swarm bring-up, measured). Yields a :class:`~tasks.background.Background` for side calls that need not
    hold the flow up (artifacts, block loads); leaving the block waits for them."""
    with SyncClientContext.get_or_create(), Background() as bg:
        yield bg
