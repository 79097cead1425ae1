"""How ``events tail`` shows one event."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from shiptrack_cli.render import make_console
from shiptrack_cli.tail import describe_event, show_event

pytestmark = pytest.mark.unit

TRACKING = {"carrier_code": "china-post", "tracking_number": "RR123456785CN", "order_id": "ord-1", "status": "transit"}


def event(detail_type: str, **detail: Any) -> dict[str, Any]:
    return {
        "source": "shiptrack",
        "detail-type": detail_type,
        "time": "2026-12-06T16:29:53Z",
        "detail": {"tracking": TRACKING, **detail},
    }


@pytest.mark.parametrize(
    ("shown", "line"),
    [
        (
            event("Tracking Created", status="pending", lifecycle="active"),
            "16:29:53  Tracking Created          china-post RR123456785CN  pending  order ord-1",
        ),
        (
            event("Tracking Status Changed", status="transit", previous_status="pending", substatus="transit007"),
            "16:29:53  Tracking Status Changed   china-post RR123456785CN  pending → transit (transit007)  order ord-1",
        ),
        (
            event("Tracking Archived", status="delivered", lifecycle="archived", previous_lifecycle="active"),
            "16:29:53  Tracking Archived         china-post RR123456785CN  delivered  lifecycle active → archived"
            "  order ord-1",
        ),
        (
            {"detail-type": "Import Completed", "time": "2026-12-06T16:30:00Z", "detail": {"id": "imp-1"}},
            '16:30:00  Import Completed          {"id":"imp-1"}',
        ),
    ],
)
def test_an_event_reads_as_one_line(shown: dict[str, Any], line: str) -> None:
    assert describe_event(shown).plain == line


def test_json_prints_the_event_on_one_line_as_it_came() -> None:
    stream = io.StringIO()
    body = json.dumps(event("Tracking Created", status="pending"), indent=2)

    show_event(body, make_console(file=stream), json_output=True)

    assert stream.getvalue().count("\n") == 1
    assert json.loads(stream.getvalue()) == json.loads(body)


def test_a_body_that_is_not_json_is_shown_as_it_is() -> None:
    stream = io.StringIO()

    show_event("not json", make_console(file=stream))

    assert stream.getvalue() == "not json\n"
