"""``shiptrack import`` and ``shiptrack imports`` against the local stack's real ``/imports`` routes (issue 12):
progress while the workers create the chunks, the summary, the failed-rows file, the exit codes, and importing the
failed rows again once TrackingMore is back.

The stack runs with a small upstream latency (the import takes a few polls) and a 1 s first retry delay (a chunk
TrackingMore keeps refusing fails after its attempts within seconds, not minutes).
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.stack import StackProcess
from local.template import DEFAULT_TEMPLATE
from shiptrack_cli.errors import ExitCode
from tests.cli.conftest import run_cli
from tests.plugins.stack import StackFactory

pytestmark = pytest.mark.e2e

BATCH = "POST /trackings/batch"


@pytest.fixture(scope="module")
def stack(local_stack_factory: StackFactory) -> Iterator[StackProcess]:
    with local_stack_factory.running(
        DEFAULT_TEMPLATE,
        name="cli-imports",
        env={"LOCAL_PARAMETER_OVERRIDES": "ImportRetrySeconds=1", "LOCAL_UPSTREAM_LATENCY": "flat:0.3"},
    ) as stack:
        yield stack


def cli(stack: StackProcess, *args: str) -> Any:
    return run_cli(args, env={"SHIPTRACK_API_URL": stack.api_url, "SHIPTRACK_API_KEY": stack.api_key})


def sandbox(stack: StackProcess, path: str, body: Any = None) -> Any:
    url = f"{stack.sandbox_control_url}/_sandbox/{path}"
    return requests.request("POST" if body is not None else "GET", url, json=body, timeout=30).json()


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_csv_import_shows_progress_the_summary_and_writes_the_failed_rows(
    stack: StackProcess, tmp_path: Path
) -> None:
    prefix = f"CL{secrets.randbelow(10**6):06d}"
    lines = ["tracking_number,carrier_code,order_id,title"]
    lines += [f"{prefix}{i:05d}CN,china-post,o-{i},Mug {i}" for i in range(90)]
    lines += ["x,ups,o-bad,Too short", f"{prefix}00000CN,china-post,o-0,Mug again"]
    parcels = tmp_path / "parcels.csv"
    parcels.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = cli(stack, "import", str(parcels), "--poll-interval", "0.2")

    assert result.exit_code == ExitCode.IMPORT_ROWS_FAILED, result.output
    out = result.stdout.splitlines()
    import_id = out[0].split()[1]
    assert out[0] == f"Import {import_id} accepted: 92 items. Ctrl-C stops waiting; the import goes on."
    progress = [line for line in out if line.startswith(f"import {import_id}: ")]
    assert progress[-1] == f"import {import_id}: completed 92/92 (created 90, existing 1, failed 1)"
    assert len(progress) >= 2  # it was followed while the workers ran, not only at the end
    assert f"Import {import_id} completed: 92 items, 90 created, 1 existing, 1 failed." in out
    failed_file = parcels.with_name("parcels.failed.csv")
    assert rows_of(failed_file) == [
        {
            "tracking_number": "x",
            "carrier_code": "ups",
            "order_id": "o-bad",
            "title": "Too short",
            "problem_code": "validation_failed",
            "problem_detail": "This item is not valid; see errors.",
        }
    ]

    shown = cli(stack, "imports", "show", import_id, "--failed")
    listed = cli(stack, "imports", "list", "--json")
    assert shown.exit_code == 0
    assert "validation_failed" in shown.stdout
    assert import_id in listed.stdout


def test_rows_trackingmore_refused_fail_retryably_and_importing_them_again_completes(
    stack: StackProcess, tmp_path: Path
) -> None:
    # Given TrackingMore refusing every batch create (rate limited) while the first import runs
    prefix = f"RT{secrets.randbelow(10**6):06d}"
    parcels = tmp_path / "refused.csv"
    parcels.write_text(
        "tracking_number,carrier_code\n" + "".join(f"{prefix}{i:05d}CN,china-post\n" for i in range(5)),
        encoding="utf-8",
    )
    sandbox(stack, "faults", {"error_rate": 1.0, "kinds": ["meta_429"], "endpoints": [BATCH]})
    try:
        first = cli(stack, "import", str(parcels), "--poll-interval", "0.5")
    finally:
        sandbox(stack, "faults", {"error_rate": 0})

    # Then the import ends failed, with every row in the failed-rows file and a retryable problem
    assert first.exit_code == ExitCode.IMPORT_FAILED, first.output
    failed_file = parcels.with_name("refused.failed.csv")
    failed_rows = rows_of(failed_file)
    assert [row["tracking_number"] for row in failed_rows] == [f"{prefix}{i:05d}CN" for i in range(5)]
    assert {row["problem_code"] for row in failed_rows} == {"upstream_rate_limited"}

    # When the failed-rows file is imported as it is, once TrackingMore is back
    again = cli(stack, "import", str(failed_file), "--poll-interval", "0.2")

    # Then every row is created (the problem columns are ignored) and nothing is left failed
    assert again.exit_code == ExitCode.OK, again.output
    assert "5 created, 0 existing, 0 failed" in again.stdout
    held = sandbox(stack, "trackings")["trackings"]
    trackings = {t["tracking_number"] for t in held if t["tracking_number"].startswith(prefix)}
    assert len(trackings) == 5
