from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())
