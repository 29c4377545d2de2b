"""Which database the lab's Prefect server gets (lab.prefect_server.database_choice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import prefect_server as ps


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("POWEROPS_PREFECT_DB", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", raising=False)
    return monkeypatch


@pytest.mark.parametrize(("want", "installed", "expected"), [
    (None, True, "postgres"),
    (None, False, "sqlite"),
    ("auto", True, "postgres"),
    ("sqlite", True, "sqlite"),
    ("postgres", True, "postgres"),
])
def test_choice(env, want, installed, expected):
    if want is not None:
        env.setenv("POWEROPS_PREFECT_DB", want)
    env.setattr(ps, "pg_bin", lambda: Path("/usr/lib/postgresql/15/bin") if installed else None)
    assert ps.database_choice() == expected


def test_a_connection_url_in_the_environment_is_used_as_it_is(env):
    env.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "postgresql+asyncpg://u@db.example/prefect")
    env.setattr(ps, "pg_bin", lambda: Path("/usr/lib/postgresql/15/bin"))
    assert ps.database_choice() == "external"


def test_postgres_asked_for_but_not_installed_is_a_clear_error(env):
    env.setenv("POWEROPS_PREFECT_DB", "postgres")
    env.setattr(ps, "pg_bin", lambda: None)
    with pytest.raises(RuntimeError, match="PostgreSQL is not installed"):
        ps.database_choice()


def test_a_misspelled_choice_is_named(env):
    env.setenv("POWEROPS_PREFECT_DB", "postgresql")
    with pytest.raises(ValueError, match="'postgresql'"):
        ps.database_choice()
