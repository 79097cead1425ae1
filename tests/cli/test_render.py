"""How problems and errors read on the terminal, and as JSON."""

from __future__ import annotations

import io
import json

import pytest

from shiptrack_cli.errors import ApiError, InputFileError
from shiptrack_cli.render import make_console, print_error, problem_lines, trackings_table

pytestmark = pytest.mark.unit

INVALID = {
    "type": "https://shiptrack.dev/problems/validation-error",
    "title": "Invalid input",
    "status": 422,
    "detail": "The request has 2 invalid fields.",
    "code": "validation_error",
    "errors": [
        {
            "loc": ["body", "tracking_number"],
            "msg": "String should have at least 5 characters",
            "type": "string_too_short",
        },
        {"loc": ["body", "customer", "email"], "msg": "value is not a valid email address", "type": "value_error"},
    ],
    "retryable": False,
}


def rendered(error: ApiError | InputFileError, *, json_output: bool = False) -> str:
    stream = io.StringIO()
    print_error(error, make_console(file=stream), json_output=json_output)
    return stream.getvalue()


def test_a_problem_shows_title_detail_field_errors_and_code() -> None:
    error = ApiError(422, INVALID, method="POST", path="/trackings")

    assert rendered(error).splitlines() == [
        "Error: 422 Invalid input",
        "  The request has 2 invalid fields.",
        "  - body.tracking_number: String should have at least 5 characters (string_too_short)",
        "  - body.customer.email: value is not a valid email address (value_error)",
        "  code: validation_error",
    ]


def test_a_retryable_problem_says_when() -> None:
    problem = {"title": "Too many requests", "status": 429, "detail": "TrackingMore's limit", "code": "rate_limited"}

    lines = problem_lines({**problem, "retryable": True}, retry_after=120)

    assert lines == [
        "TrackingMore's limit",
        "code: rate_limited · retryable: the same request may succeed later · retry after 120 s",
    ]


def test_with_json_the_problem_is_printed_as_the_api_sent_it() -> None:
    error = ApiError(422, INVALID, method="POST", path="/trackings")

    assert json.loads(rendered(error, json_output=True)) == INVALID


def test_other_errors_show_their_message_and_hint_unwrapped() -> None:
    hint = "give its encoding with --encoding, e.g. --encoding cp1252 (Excel on Windows) or latin-1 " * 2
    error = InputFileError("parcels.csv is not UTF-8: byte 0xe9 on line 3 cannot be decoded", hint=hint.strip())

    assert rendered(error).splitlines() == [
        "Error: parcels.csv is not UTF-8: byte 0xe9 on line 3 cannot be decoded",
        "  hint: " + hint.strip(),
    ]


def test_text_from_the_api_is_not_taken_as_markup() -> None:
    error = ApiError(400, {"title": "Bad [bold]request[/bold]", "detail": "[red]x[/red]"}, method="GET", path="/")

    assert rendered(error).splitlines()[:2] == ["Error: 400 Bad [bold]request[/bold]", "  [red]x[/red]"]


def test_a_table_in_a_pipe_keeps_whole_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    title = "A very long title for a parcel that goes on and on, well past eighty columns of text"
    tracking = {"carrier_code": "usps", "tracking_number": "9400111899223197428490", "status": "delivered",
                "lifecycle": "archived", "title": title, "updated_at": "2026-12-06T16:29:48.752Z"}  # fmt: skip
    stream = io.StringIO()

    make_console(file=stream).print(trackings_table([tracking]))

    header, row = (line.split("  ") for line in stream.getvalue().splitlines())
    assert [cell.strip() for cell in row if cell.strip()] == [
        "usps",
        "9400111899223197428490",
        "delivered · archived",
        title,
        "2026-12-06 16:29",
    ]
    assert header[0] == "Carrier"
