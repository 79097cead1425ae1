"""Benchmarks of shiptrack (not tests): ``python -m bench [name ...]``; results in docs/benchmarks.md."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYER = REPO_ROOT / "layers" / "shared"

# `python -m bench` from the repository root works without the Makefile's PYTHONPATH too.
for _path in (str(LAYER), str(REPO_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
