"""flows.mirror_common.keyring_loader: the key is fetched early only when the run is sure to need it."""

from __future__ import annotations

import threading

import pytest

import flows.mirror_common as common
from tasks.background import Background


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    def fake_load(block: str) -> tuple[bytes | None, list[str]]:
        seen.append(f"{block}@{threading.current_thread().name}")
        return b"KEYS", ["FPR"]

    monkeypatch.setattr(common, "load_keyring", fake_load)
    return seen


def test_needed_key_is_loaded_in_the_background_at_once(loads: list[str]) -> None:
    with Background() as bg:
        get = common.keyring_loader(bg, "upstream-keys", needed=True)
        bg._pool.shutdown(wait=True)  # the load ran without being asked for
        assert len(loads) == 1 and loads[0].startswith("upstream-keys@powerops-bg")
        assert get() == (b"KEYS", ["FPR"])
    assert len(loads) == 1


def test_a_run_that_may_not_need_the_key_loads_it_only_when_asked(loads: list[str]) -> None:
    with Background() as bg:
        get = common.keyring_loader(bg, "upstream-keys", needed=False)
        assert loads == []  # a no-change run ends here without any block load
        assert get() == (b"KEYS", ["FPR"])
        assert loads == [f"upstream-keys@{threading.current_thread().name}"]
