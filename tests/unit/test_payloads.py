"""The byte budget of a page: what Lambda counts of a JSON body, and how many parts fit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from shiptrack.payloads import escaped_size, fitting

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text", ['{"a":"b"}', '{"t":"運運"}', '{"q":"say \\"hi\\""}', '{"x":"\\\\"}'])
def test_the_escaped_size_is_what_the_runtime_writes(text: str) -> None:
    result = json.dumps({"body": text})

    assert escaped_size(text) == len(result) - len('{"body": ""}')


def test_non_ascii_text_costs_six_bytes_a_character() -> None:
    assert escaped_size('"運"') == 2 * 2 + 6


def test_parts_fit_until_the_budget_with_their_commas() -> None:
    parts = ["x" * 10] * 5

    assert fitting(parts, budget=10) == 1
    assert fitting(parts, budget=21) == 2  # 10 + ',' + 10
    assert fitting(parts, budget=20) == 1
    assert fitting(parts, budget=1000) == 5


def test_the_first_part_always_fits_so_a_page_moves_on() -> None:
    assert fitting(["x" * 100], budget=10) == 1
    assert fitting([], budget=10) == 0


def test_parts_are_read_lazily_only_as_far_as_needed() -> None:
    read: list[int] = []

    def parts() -> Iterator[str]:
        for index in range(100):
            read.append(index)
            yield "x" * 10

    assert fitting(parts(), budget=32) == 3
    assert read == [0, 1, 2, 3]
