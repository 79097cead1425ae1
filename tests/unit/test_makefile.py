"""`make help` lists every target a developer can run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit


def test_every_phony_target_has_a_help_line_that_make_help_prints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE).group(1).split())  # type: ignore[union-attr]

    helped = set(re.findall(r"^([A-Za-z0-9_-]+):[^\n]*## ", makefile, re.MULTILINE))
    output = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    printed = re.sub(r"\x1b\[[0-9;]*m", " ", output)  # without the colours

    assert phony - helped == set()
    assert {target for target in phony if re.search(rf"\b{re.escape(target)}\b", printed) is None} == set()
