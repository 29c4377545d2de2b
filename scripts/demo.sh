#!/usr/bin/env bash
# The main job: install, lab up, Prefect server up, the demo flows run against the lab, the UI address printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/powerops demo "$@"
