"""The storefront-webhooks benchmark runs (small sizes) and renders; no time is asserted."""

from __future__ import annotations

import pytest

from bench import report, webhooks

pytestmark = pytest.mark.contract


def test_the_delivery_throughput_benchmark_delivers_every_message() -> None:
    ours, floor = webhooks.measure_throughput(rounds=1, block=10)  # raises if a delivery failed
    assert len(ours) == len(floor) == 1
    assert ours[0] > 0
    assert floor[0] > 0


def test_the_webhooks_section_renders() -> None:
    result = webhooks.WebhooksResult(
        latency_ms=[250.0, 300.0], latency_p50_ms=250.0, latency_p99_ms=300.0, deliveries_per_s=[30.0],
        floor_per_s=[100.0], median_deliveries_per_s=30.0, median_floor_per_s=100.0, ratio=0.3, rounds=1,
    )  # fmt: skip
    text = report.render({"webhooks": report.envelope("webhooks", result.to_dict(), report.now(), {})})
    assert "## Storefront webhooks" in text
    assert "| stored change → receiver | 250 ms | 300 ms | 2 |" in text
