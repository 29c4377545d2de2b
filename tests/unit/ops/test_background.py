"""tasks.background: side calls on threads (errors surface at the end of the block) and the progress artifact
that the reported work never waits for. Prefect's artifact functions are replaced by recording fakes."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID, uuid4

import pytest

import tasks.background as bgmod
from tasks.background import Background, BackgroundProgress


class FakeArtifacts:
    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail
        self.calls: list[tuple[str, float]] = []
        self.id = uuid4()

    def create(self, progress: float, key: str | None = None, description: str | None = None,
               _sync: bool = False) -> UUID:
        assert _sync is True  # the helper must force the sync variant (a coroutine would do nothing)
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("API down")
        self.calls.append(("create", progress))
        return self.id

    def update(self, artifact_id: UUID, progress: float, _sync: bool = False) -> None:
        assert artifact_id == self.id and _sync is True
        time.sleep(self.delay)
        self.calls.append(("update", progress))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeArtifacts:
    f = FakeArtifacts()
    monkeypatch.setattr(bgmod, "create_progress_artifact", f.create)
    monkeypatch.setattr(bgmod, "update_progress_artifact", f.update)
    return f


def test_progress_is_created_throttled_and_ends_at_100(fake):
    with BackgroundProgress("download", interval=0.2, after=0) as p:
        for i in range(1, 51):
            p.update(i)
            time.sleep(0.01)  # 0.5 s of work: at most ~3 updates at 0.2 s intervals
    assert fake.calls[0] == ("create", 0.0)
    updates = [v for kind, v in fake.calls if kind == "update"]
    assert updates[-1] == 100.0
    assert 1 <= len(updates) <= 5
    assert updates == sorted(updates)


def test_the_work_never_waits_for_a_slow_api(fake):
    fake.delay = 0.3
    t0 = time.monotonic()
    p = BackgroundProgress("slow", interval=0.0, after=0)
    for i in range(100):
        p.update(i)
    assert time.monotonic() - t0 < 0.2  # 100 updates against an API answering in 0.3 s each
    p.close()
    assert fake.calls[-1] == ("update", 100.0)
    assert len(fake.calls) < 10  # only the newest value is published, not every one


def test_failed_work_leaves_the_bar_where_it_stopped(fake):
    with pytest.raises(RuntimeError), BackgroundProgress("download", interval=0.0, after=0) as p:
        p.update(40)
        raise RuntimeError("connection lost")
    assert fake.calls[-1] == ("update", 40.0)
    assert not p._thread.is_alive()


def test_a_failing_api_is_logged_not_raised(monkeypatch, caplog):
    f = FakeArtifacts(fail=True)
    monkeypatch.setattr(bgmod, "create_progress_artifact", f.create)
    with BackgroundProgress("broken", after=0) as p:
        p.update(50)
    assert "progress artifact 'broken' not published: API down" in caplog.text


def test_work_done_before_the_delay_publishes_no_bar(fake):
    t0 = time.monotonic()
    with BackgroundProgress("quick", after=5.0) as p:
        p.update(50)
    assert time.monotonic() - t0 < 1.0  # closing cuts the delay short
    assert fake.calls == []
    assert not p._thread.is_alive()


def test_work_outlasting_the_delay_gets_a_bar_at_its_current_value(fake):
    with BackgroundProgress("long", interval=0.0, after=0.2) as p:
        p.update(30)
        time.sleep(0.4)
        assert fake.calls[:2] == [("create", 0.0), ("update", 30.0)]
    assert fake.calls[-1] == ("update", 100.0)


def test_the_delay_comes_from_the_environment(monkeypatch, fake):
    monkeypatch.setenv("POWEROPS_PROGRESS_AFTER_S", "0")
    with BackgroundProgress("env") as p:
        p.update(10)
    assert fake.calls[0] == ("create", 0.0) and fake.calls[-1] == ("update", 100.0)
    for bad in ("soon", "-1"):
        monkeypatch.setenv("POWEROPS_PROGRESS_AFTER_S", bad)
        with pytest.raises(ValueError, match="POWEROPS_PROGRESS_AFTER_S"):
            BackgroundProgress("env")


def test_background_returns_futures_and_reraises_the_first_error_at_the_end():
    seen: list[str] = []
    with pytest.raises(ValueError, match="boom"), Background() as bg:
        fut = bg.submit(lambda: seen.append(threading.current_thread().name) or 42)
        assert fut.result() == 42
        bg.submit(_raise, ValueError("boom"))
    assert seen and seen[0].startswith("powerops-bg")


def test_background_refuses_a_coroutine_instead_of_dropping_it():
    async def work() -> None:
        return None

    with pytest.raises(TypeError, match="_sync=True"), Background() as bg:
        bg.submit(work)


def _raise(exc: Exception) -> Any:
    raise exc
