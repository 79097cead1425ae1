"""The largest page GET /trackings can produce, through the local stack, which enforces Lambda's 6 MB result limit.

tests/contract/test_payload_limits.py computes the worst cases from the models; this one stores the largest page the
list route can serve (100 trackings, each with every checkpoint the store keeps at the longest text it keeps) and
asks for it through the gateway, as a storefront would.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
import requests

from local.stack import StackProcess
from local.template import DEFAULT_TEMPLATE
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import MAX_LIST_LIMIT
from tests.payloads import LAMBDA_RESPONSE_LIMIT, TEXTS, lambda_payload_bytes, largest_tracking
from tests.plugins.stack import StackFactory

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(local_stack_factory: StackFactory) -> Iterator[StackProcess]:
    with local_stack_factory.running(DEFAULT_TEMPLATE, name="largest-responses") as stack:
        yield stack


def test_the_largest_page_of_trackings_is_served(stack: StackProcess) -> None:
    table = boto3.resource(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=stack.aws_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table("shiptrack-local-TrackingsTable")
    store = TrackingsRepository(table)
    trackings = [largest_tracking(TEXTS["ascii"], i) for i in range(MAX_LIST_LIMIT)]
    for tracking in trackings:
        assert store.put_new(tracking).created

    # A route may answer fewer items than asked with a cursor (a byte budget); it must answer, and lose none.
    served: list[str] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(MAX_LIST_LIMIT):
        params = {"limit": MAX_LIST_LIMIT, **({"cursor": cursor} if cursor else {})}
        response = requests.get(
            f"{stack.api_url}/v1/trackings", params=params, headers={"x-api-key": stack.api_key}, timeout=120
        )
        assert response.status_code == 200, response.text[:300]
        assert lambda_payload_bytes(response.text) <= LAMBDA_RESPONSE_LIMIT
        page = response.json()
        served += [item["tracking_number"] for item in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page.get("next_cursor")
        if not cursor:
            break

    assert sorted(served) == sorted(t.tracking_number for t in trackings)
    assert len(served) == len(set(served))  # none twice
    assert max(sizes) < MAX_LIST_LIMIT  # the byte budget ended the pages, not the limit
