"""The layer ships exactly what pyproject.toml pins, as a complete hashed lock that agrees with the dev lock."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from local.runtime import RUNTIME_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
LAYER_IN = ROOT / "layers/shared/requirements.in"
LAYER_LOCK = ROOT / "layers/shared/requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.lock"
# The layer is built for Lambda's arm64 Linux with Python 3.11 (template.yaml: SharedLayer's BuildArchitecture).
LAMBDA_ENVIRONMENT: dict[str, str] = {
    **{key: str(value) for key, value in default_environment().items()},
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "extra": "",
}

pytestmark = pytest.mark.contract


def _requirement_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")}


def _pins(text: str) -> dict[str, str]:
    """name → version of every `name==version` line of a pip-compile style file."""
    return {
        canonicalize_name(match.group(1)): match.group(2)
        for match in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", text, re.MULTILINE)
    }


def _lock_entries(text: str) -> dict[str, list[str]]:
    """name → its hashes, from a `--generate-hashes` lock (a requirement and its continuation lines)."""
    entries: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line.startswith((" ", "\t")):
            current = canonicalize_name(stripped.split("==", 1)[0])
            entries[current] = []
        entries[current] += re.findall(r"--hash=sha256:([0-9a-f]{64})", stripped)
    return entries


def _runtime_provided() -> set[str]:
    """What the Lambda runtime ships besides the standard library: boto3, botocore and everything under them."""
    provided: set[str] = set()
    pending = list(RUNTIME_PACKAGES)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in provided:
            continue
        provided.add(name)
        pending += [r.name for r in _requires(name)]
    return provided


def _requires(name: str) -> list[Requirement]:
    """A package's unconditional dependencies on Lambda (its metadata from the dev venv: the locks agree)."""
    found = []
    for raw in metadata.requires(name) or []:
        requirement = Requirement(raw)
        if requirement.marker is None or requirement.marker.evaluate(LAMBDA_ENVIRONMENT):
            found.append(requirement)
    return found


def test_layer_inputs_match_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert _requirement_lines(LAYER_IN.read_text()) == set(pyproject["project"]["dependencies"])


def test_every_dependency_is_pinned() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    pins = [*pyproject["project"]["dependencies"], *(pin for group in extras.values() for pin in group)]
    pins += pyproject["build-system"]["requires"]

    unpinned = [pin for pin in pins if "==" not in pin]
    assert unpinned == []


def test_every_package_of_the_layer_lock_is_pinned_with_hashes() -> None:
    text = LAYER_LOCK.read_text()
    entries = _lock_entries(text)

    assert set(entries) == set(_pins(text))  # every requirement line is `name==version`
    assert [name for name, hashes in entries.items() if not hashes] == []
    # pydantic-core is compiled: one wheel per platform. Lambda's arm64 and this machine's x86_64 both need theirs.
    assert len(entries["pydantic-core"]) >= 2


def test_the_layer_lock_ships_no_runtime_sdk() -> None:
    shipped = set(_pins(LAYER_LOCK.read_text()))

    assert shipped & {"boto3", "botocore", "s3transfer"} == set()


def test_the_layer_lock_agrees_with_the_dev_lock() -> None:
    layer = _pins(LAYER_LOCK.read_text())
    dev = _pins(DEV_LOCK.read_text())

    assert {name: version for name, version in layer.items() if dev.get(name) != version} == {}


def test_the_layer_lock_is_complete() -> None:
    # Every dependency of every locked package is locked too, or comes with the Lambda runtime.
    locked = set(_pins(LAYER_LOCK.read_text()))
    inputs = {canonicalize_name(Requirement(line).name) for line in _requirement_lines(LAYER_IN.read_text())}
    available = locked | _runtime_provided()

    assert inputs <= locked
    missing = {
        (name, req.name) for name in locked for req in _requires(name) if canonicalize_name(req.name) not in available
    }
    assert missing == set()
