"""The largest response each API route can produce, against Lambda's 6 MB response limit.

Lambda fails an invocation whose result, as the runtime serialises it (`json.dumps` of the proxy result: the body
string escaped, non-ASCII as `\\uXXXX`), is over 6,291,556 bytes; API Gateway then answers 502 (the local stack
enforces both: tests/e2e/test_local_stack.py). The worst cases are built from the models' own limits: the most
checkpoints the store keeps, the longest text it keeps per field, every optional field at its maximum length.
"""

from __future__ import annotations

import pytest

from shiptrack.data.codec import item_from_tracking
from shiptrack.data.queries import fit_page
from shiptrack.errors import FieldError, Problem
from shiptrack.import_models import MAX_RESULTS_LIMIT, ImportItemResult, ImportResults
from shiptrack.models import (
    MAX_BATCH_ITEMS,
    MAX_LIST_LIMIT,
    BatchCreateResponse,
    BatchItemResult,
    BatchSummary,
    RealtimeResponse,
    TrackingSummary,
)
from shiptrack.services import imports as limits
from tests.payloads import LAMBDA_RESPONSE_LIMIT, NOW, TEXTS, lambda_payload_bytes, largest_tracking

pytestmark = pytest.mark.contract


def list_page(char: str) -> str:
    """The largest page GET /trackings answers: the list route's own page builder, over the 100 largest items."""
    items = [item_from_tracking(largest_tracking(char, i)) for i in range(MAX_LIST_LIMIT)]
    page = fit_page(items, "c" * 2048, lambda _: "c" * 2048)
    assert 0 < len(page.items) < MAX_LIST_LIMIT  # the byte budget, not the limit, ended it
    return page.model_dump_json()


def batch_of_existing(char: str) -> str:
    results = [
        BatchItemResult(
            index=i,
            outcome="existing",
            carrier_code="c" * 60,
            tracking_number=f"{i:0100d}",
            tracking=TrackingSummary.of(largest_tracking(char, i)),
        )
        for i in range(MAX_BATCH_ITEMS)
    ]
    return BatchCreateResponse(results=results, summary=BatchSummary(existing=MAX_BATCH_ITEMS)).model_dump_json()


def import_results_existing(char: str) -> str:
    results = [
        ImportItemResult(
            index=i,
            outcome="existing",
            carrier_code="c" * 60,
            tracking_number=f"{i:0100d}",
            tracking=TrackingSummary.of(largest_tracking(char, i)),
            duplicate_of=i,
        )
        for i in range(MAX_RESULTS_LIMIT)
    ]
    return ImportResults(items=results, next_cursor="c" * 2048).model_dump_json()


def import_results_failed(char: str) -> str:
    # An invalid item's result as bounded when it is stored (shiptrack.services.imports): every text at its longest.
    error = FieldError(
        loc=[char * limits.PROBLEM_LOC_CHARS] * limits.PROBLEM_LOC_PARTS,
        msg=char * limits.PROBLEM_MSG_CHARS,
        type=char * limits.PROBLEM_TYPE_CHARS,
    )
    detail = "This item is not valid; see errors (the first 5 of 99999)."
    problem = Problem.build(
        status=422,
        code="validation_failed",
        title="Request validation failed",
        detail=detail,
        errors=[error] * limits.PROBLEM_FIELD_ERRORS,
    )
    text = char * limits.ITEM_TEXT_CHARS
    results = [
        ImportItemResult(index=i, outcome="failed", carrier_code=text, tracking_number=text, problem=problem)
        for i in range(MAX_RESULTS_LIMIT)
    ]
    return ImportResults(items=results, next_cursor="c" * 2048).model_dump_json()


ONE_TRACKING = {
    "GET /trackings/{carrier_code}/{tracking_number}": lambda c: largest_tracking(c).model_dump_json(),
    "PATCH /trackings/{carrier_code}/{tracking_number}": lambda c: largest_tracking(c).model_dump_json(),
    "POST /trackings": lambda c: largest_tracking(c).model_dump_json(),
    "POST /trackings/realtime": lambda c: RealtimeResponse(
        source="cache", fetched_at=NOW, tracking=largest_tracking(c)
    ).model_dump_json(),
}
MANY_TRACKINGS = {
    "GET /trackings?limit=100": list_page,
    "POST /trackings/batch (all existing)": batch_of_existing,
    "GET /imports/{id}/results?limit=500 (all existing)": import_results_existing,
    "GET /imports/{id}/results?limit=500 (all failed)": import_results_failed,
}


@pytest.mark.parametrize("text", sorted(TEXTS))
@pytest.mark.parametrize("route", sorted(ONE_TRACKING))
def test_the_largest_single_tracking_response_fits_lambdas_limit(route: str, text: str) -> None:
    size = lambda_payload_bytes(ONE_TRACKING[route](TEXTS[text]))

    assert size < LAMBDA_RESPONSE_LIMIT // 4, f"{route}: {size} bytes"  # and with room to grow


@pytest.mark.parametrize("text", sorted(TEXTS))
@pytest.mark.parametrize("route", sorted(MANY_TRACKINGS))
def test_the_largest_page_of_trackings_fits_lambdas_limit(route: str, text: str) -> None:
    size = lambda_payload_bytes(MANY_TRACKINGS[route](TEXTS[text]))

    assert size <= LAMBDA_RESPONSE_LIMIT, f"{route}: {size} bytes"
