"""The benchmarks run, at tiny sizes: structure and the call-count equalities only, never a time.

Times on shared machines are noise; the benchmark reports them, tests never assert them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import cold_start, economy, report, throughput

pytestmark = pytest.mark.contract


def test_economy_makes_the_minimum_of_upstream_calls_and_writes() -> None:
    # When 1 and 41 trackings are created and 100 are refreshed with 10 changed and 4 stale
    result = economy.run(sizes=(1, 41), refresh_total=100, changed_share=0.10, stale_share=0.04)

    # Then every create used ⌈n/40⌉ batch calls and wrote each new tracking once
    one, forty_one = result.creates
    assert (one.upstream_calls, one.tracking_writes) == ({"POST /trackings/batch": 1}, 1)
    assert (forty_one.upstream_calls, forty_one.tracking_writes) == ({"POST /trackings/batch": 2}, 41)
    assert one.outcomes == {"created": 1}
    assert forty_one.outcomes == {"created": 41}
    # and the naive way made one call and one write per parcel
    assert (forty_one.naive_calls, forty_one.naive_writes) == (41, 41)

    # And the refresh made one delta page + one sweep call, and wrote only what changed or was swept
    refresh = result.refresh
    assert refresh is not None
    assert (refresh.changed, refresh.stale) == (10, 4)
    assert refresh.upstream_calls == {"GET /trackings/get": 2}
    assert (refresh.list_calls_pull, refresh.list_calls_sweep) == (1, 1)
    assert refresh.minimum_calls == 2
    assert refresh.tracking_writes == {"PutItem": 10, "UpdateItem": 4}
    assert refresh.report["completed"] is True
    assert refresh.naive_calls == 100
    assert result.met()


def test_cold_start_measures_a_function_against_boto3_without_importing_xray() -> None:
    result = cold_start.run(runs=1, only=["TrackingsFunction", "RefreshFunction"], layouts=("source",))

    assert result.runs == 1
    assert set(result.baseline_ms) == {"source"}
    assert {row.function for row in result.rows} == {"TrackingsFunction", "RefreshFunction"}
    for row in result.rows:
        assert row.layout == "source"
        assert len(row.samples_ms) == 1
        assert row.ratio > 0
        # SHIPTRACK_TRACING is "false" in the template: the X-Ray SDK must not be imported at all
        assert "aws_xray_sdk" not in row.loaded
    assert set(result.import_costs) == {"TrackingsFunction", "RefreshFunction"}
    assert all(costs for costs in result.import_costs.values())


def test_throughput_drives_both_handlers_against_the_same_moto_server() -> None:
    result = throughput.run(rounds=1, raw_block=5, create_block=2, batch_requests=1, webhook_block=2)

    rates = {rate.kind: rate for rate in result.rates}
    assert len(result.rates) == 9
    assert all(rate.median_per_s > 0 for rate in result.rates)
    new, applied = "raw put_item (a new tracking)", "raw put_item (a tracking with its carrier events)"
    assert rates[new].ratio is None
    assert rates[applied].ratio is None
    # Each row is divided by the raw put of the item it writes
    baselines = {rate.kind: rate.baseline for rate in result.rates if rate.ratio is not None}
    assert {kind for kind, baseline in baselines.items() if baseline == applied} == {
        "raw get_item + conditional put_item (the DynamoDB work of one apply)",
        "raw one-write update_item (an apply without a read: not used)",
        "raw push work (get, replay put, lease update, upstream get, conditional put, lease update)",
        "webhook apply (POST /webhooks/trackingmore/{token})",
    }
    assert all(baseline in (new, applied) for baseline in baselines.values())
    # Every push was applied (run() raises otherwise): one read of the tracking, the replay record, the fetch lease
    # taken and released (the push is a notification: TrackingMore's copy is read), and one conditional write
    webhook = rates["webhook apply (POST /webhooks/trackingmore/{token})"]
    assert webhook.dynamodb_calls_per_op == {"GetItem": 1.0, "PutItem": 2.0, "UpdateItem": 2.0}
    # ... the calls its floor row makes (a receiver that changes its calls needs a new floor)
    floor = rates["raw push work (get, replay put, lease update, upstream get, conditional put, lease update)"]
    assert floor.dynamodb_calls_per_op == webhook.dynamodb_calls_per_op
    # A new single create: the stored-copy read, the claim and the tracking; no re-read, no claim delete
    assert rates["create (POST /trackings)"].dynamodb_calls_per_op == {"GetItem": 1.0, "PutItem": 2.0}
    # A batch: one put per tracking, and one per 40 for the account-wide batch-create limit (RATE# in CacheTable)
    assert rates["create (POST /trackings/batch, 40/request)"].dynamodb_calls_per_op["PutItem"] == pytest.approx(
        1 + 1 / 40, abs=0.005
    )


def test_report_renders_and_keeps_the_results_of_benchmarks_not_rerun(tmp_path: Path) -> None:
    entry = report.envelope(
        "local_stack",
        {"runs": 1, "ready_s": [1.5], "median_ready_s": 1.5, "stop_s": [0.2], "median_stop_s": 0.2},
        report.now(),
        {"runs": 1},
    )
    doc = tmp_path / "benchmarks.md"

    report.write({"local_stack": entry}, doc)

    text = doc.read_text()
    assert "## Local stack" in text
    assert "Not measured yet: run `python -m bench cold_start`." in text
    assert "compileall" in text
    assert report.load_previous(doc) == {"local_stack": entry}


def test_latency_times_every_route_through_the_local_stack_and_the_gate_costs_one_write() -> None:
    from bench import latency

    result = latency.run(rounds=1, scale=0.02, gate_reservations=5)

    assert result.profile == "realistic:0.02"
    assert len(result.routes) == 13
    assert all(len(route.samples_ms) == 1 and route.p50_ms > 0 for route in result.routes)
    assert result.gate is not None
    assert result.gate.requests_per_reservation == 1.0  # one conditional PutItem, no read
    assert "Route latency" in "\n".join(latency.render(report.envelope("latency", result.to_dict(), "now", {}), ""))
