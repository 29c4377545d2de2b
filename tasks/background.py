"""Side work that need not hold up a flow or task: Prefect artifacts (one API round-trip each, 15-35 ms
measured against the lab server) and block loads, on threads.

Each call runs in a copy of the caller's context, so an artifact belongs to the caller's flow or task run.
Prefect's dual sync/async helpers (``create_*_artifact``, ``Block.load``) need ``_sync=True`` here when the
caller is an async flow (the copied context says "async": they would return a coroutine and do nothing); a
coroutine returned to a background thread is refused with an error instead of being silently dropped.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

log = logging.getLogger("powerops.background")


def _no_coroutine(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    out = fn(*args, **kwargs)
    if inspect.iscoroutine(out):  # nothing would ever run it: the work would be silently skipped
        out.close()
        raise TypeError(f"{getattr(fn, '__name__', fn)} returned a coroutine in a background thread: call it with "
                        "_sync=True (Prefect's dual sync/async helpers go async in an async flow's context)")
    return out


class Background:
    """Calls on threads while the caller goes on. Leaving the ``with`` block waits for all of them and re-raises
    the first error (unless the block itself raised)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="powerops-bg")
        self._futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut = self._pool.submit(contextvars.copy_context().run, _no_coroutine, fn, *args, **kwargs)
        self._futures.append(fut)
        return fut

    def __enter__(self) -> Background:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._pool.shutdown(wait=True)
        if exc_type is None:
            for f in self._futures:
                f.result()


def progress_after_s() -> float:
    """Seconds of work before a progress bar is shown: ``POWEROPS_PROGRESS_AFTER_S`` (default 1)."""
    raw = os.environ.get("POWEROPS_PROGRESS_AFTER_S", "1")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"POWEROPS_PROGRESS_AFTER_S={raw!r}: expected a number of seconds") from None
    if value < 0:
        raise ValueError(f"POWEROPS_PROGRESS_AFTER_S={raw!r}: expected a number of seconds >= 0")
    return value


class BackgroundProgress:
    """A Prefect progress artifact kept up to date by a thread: created once the work has lasted ``after``
    seconds, then updated at most every ``interval`` seconds with the latest value given to :meth:`update`
    (which never waits for the API), and set to 100 % by :meth:`close`. Work done within ``after`` seconds
    publishes nothing: a bar for it would only be seen at 100 %, and creating and completing it costs two API
    round-trips that the work's end would wait for (35-65 ms measured, more than a small download).
    ``after`` defaults to :func:`progress_after_s`. The work being reported never waits for the API; a
    failing API is logged, not raised (the progress bar is not worth failing the work for)."""

    def __init__(self, description: str, key: str | None = None, interval: float = 1.0,
                 after: float | None = None) -> None:
        self._description, self._key, self._interval = description, key, interval
        self._after = progress_after_s() if after is None else after
        self._cond = threading.Condition()
        self._value = 0.0
        self._published = -1.0
        self._closed = False
        ctx = contextvars.copy_context()
        self._thread = threading.Thread(target=ctx.run, args=(self._run,), name="powerops-progress", daemon=True)
        self._thread.start()

    def update(self, percent: float) -> None:
        with self._cond:
            self._value = max(0.0, min(100.0, percent))
            self._cond.notify()

    def close(self, complete: bool = True, timeout: float = 30.0) -> None:
        """Publish 100 % (``complete``; else the last value given: the work failed) and wait at most ``timeout``
        seconds for the thread to finish."""
        with self._cond:
            if complete:
                self._value = 100.0
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundProgress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(complete=exc_type is None)

    def _run(self) -> None:
        try:
            if self._after > 0:
                with self._cond:
                    if self._cond.wait_for(lambda: self._closed, timeout=self._after):
                        return  # done before a bar was worth showing
            artifact_id: UUID = _no_coroutine(create_progress_artifact, 0.0, key=self._key,
                                              description=self._description, _sync=True)
            self._published = 0.0
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._value != self._published or self._closed)
                    value, closed = self._value, self._closed
                if value != self._published:  # the newest value only, never a backlog
                    _no_coroutine(update_progress_artifact, artifact_id, value, _sync=True)
                    self._published = value
                if closed:
                    return
                with self._cond:  # at most one update per interval; close() cuts the wait short
                    self._cond.wait_for(lambda: self._closed, timeout=self._interval)
        except Exception as exc:  # noqa: BLE001 - reporting progress must not fail the work
            log.warning("progress artifact %r not published: %s", self._description, exc)
