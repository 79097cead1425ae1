"""The layer ships exactly the runtime dependencies pyproject.toml pins."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.contract


def _requirement_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")}


def test_layer_requirements_match_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layer = _requirement_lines((ROOT / "layers/shared/requirements.txt").read_text())

    assert layer == set(pyproject["project"]["dependencies"])


def test_every_dependency_is_pinned() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    pins = [*pyproject["project"]["dependencies"], *(pin for group in extras.values() for pin in group)]
    pins += pyproject["build-system"]["requires"]

    unpinned = [pin for pin in pins if "==" not in pin]
    assert unpinned == []
