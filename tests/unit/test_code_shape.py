"""The shape the layer and the handlers keep: modules a reader can hold, functions a screen long, one data package.

Limits (the house rules): no module over 600 lines and no function over 80 lines in ``layers/shared`` and
``functions/``; DynamoDB is spoken only in ``shiptrack/data/``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (ROOT / "layers" / "shared", ROOT / "functions")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
DATA_PACKAGE = "layers/shared/shiptrack/data/"
# The DynamoDB operations of boto3's Table resource and client, called as methods.
DYNAMODB_CALL = re.compile(
    r"\.(get_item|put_item|update_item|delete_item|query|scan|batch_get_item|batch_write_item|"
    r"transact_write_items|transact_get_items|execute_statement)\("
)


def python_files() -> Iterator[Path]:
    for source in SOURCES:
        yield from sorted(source.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_module_is_over_600_lines() -> None:
    oversized = {
        relative(path): lines
        for path in python_files()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }

    assert oversized == {}


def test_no_function_is_over_80_lines() -> None:
    long_functions = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{relative(path)}:{node.lineno} {node.name} ({length} lines)")

    assert long_functions == []


def test_only_the_data_package_calls_dynamodb() -> None:
    callers = [
        f"{relative(path)}:{number}: {line.strip()}"
        for path in python_files()
        if not relative(path).startswith(DATA_PACKAGE)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if DYNAMODB_CALL.search(line)
    ]

    assert callers == []
