#!/usr/bin/env bash
# The test command: install what is needed, lint (ruff), type-check (mypy, strict on core/), then both tiers
# of tests (unit, and lab tests that run the real flows against the real lab).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "[test] ruff"; .venv/bin/ruff check .
echo "[test] mypy"; .venv/bin/mypy
echo "[test] pytest"; .venv/bin/pytest tests "$@"
