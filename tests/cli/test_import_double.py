"""``shiptrack import`` and ``shiptrack imports`` against a stand-in of the ``/imports`` API (issue 12).

Marked ``imports_double``: these run against ``tests/cli/imports_double.py``, a scripted server, because they need
answers the local stack cannot give on demand (exact progress frames, a 503 poll, a failing import, Ctrl-C at a
chosen moment). The real routes are covered by ``tests/cli/test_cli_imports_e2e.py``.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from shiptrack_cli.client import ApiClient
from shiptrack_cli.errors import ExitCode, Interrupted
from shiptrack_cli.importer import ImportRun
from shiptrack_cli.importfile import read_import_file
from tests.cli.conftest import cli_process, plain, run_cli
from tests.cli.imports_double import API_KEY, ImportsDouble, running_double

pytestmark = [pytest.mark.integration, pytest.mark.imports_double]

# 7 rows: 3 created, 1 existing, 3 failed (one invalid, two refused upstream).
PARCELS = (
    "tracking_number,carrier_code,order_id,title\n"
    "RR123456785CN,china-post,o-1,Blue mug\n"
    "OLD23456785CN,china-post,o-1,Red mug\n"
    "x,,o-2,Too short\n"
    "\n"
    "FAIL1234567,ups,o-2,Plate\n"
    "LX123456785CN,china-post,o-3,Bowl\n"
    "FAIL7654321,ups,o-3,Cup\n"
    "9400111899223197428490,usps,o-4,Spoon\n"
)
EXPECTED_FAILED = [
    ["tracking_number", "carrier_code", "order_id", "title", "problem_code", "problem_detail"],
    ["x", "", "o-2", "Too short", "validation_error", "tracking_number: String should have at least 5 characters"],
    ["FAIL1234567", "ups", "o-2", "Plate", "upstream_rejected", "TrackingMore refused FAIL1234567"],
    ["FAIL7654321", "ups", "o-3", "Cup", "upstream_rejected", "TrackingMore refused FAIL7654321"],
]


@pytest.fixture
def double() -> Iterator[ImportsDouble]:
    yield from running_double()


@pytest.fixture
def parcels(tmp_path: Path) -> Path:
    path = tmp_path / "parcels.csv"
    path.write_text(PARCELS, encoding="utf-8")
    return path


def cli_env(double: ImportsDouble) -> dict[str, str | None]:
    return {"SHIPTRACK_API_URL": double.url, "SHIPTRACK_API_KEY": API_KEY}


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.reader(stream))


def terminal(width: int = 160) -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    return Console(file=stream, width=width, force_terminal=True, color_system=None, highlight=False), stream


def test_a_csv_import_shows_live_progress_then_the_summary_and_the_failed_rows(
    double: ImportsDouble, parcels: Path
) -> None:
    console, screen = terminal()
    sleeps: list[float] = []
    client = ApiClient(double.url, API_KEY, sleep=sleeps.append)
    run = ImportRun(client, read_import_file(parcels), console, poll_seconds=0.5, sleep=sleeps.append)

    code = run.run()

    output = plain(screen.getvalue())
    # A frame per poll: 3 of 7, 6 of 7, 7 of 7 (the double processes ⌈7/3⌉ items per poll).
    frames = [output.index(f"{done}/7") for done in (0, 3, 6, 7)]
    assert frames == sorted(frames)
    assert "Importing parcels.csv" in output
    assert "created 3 · existing 1 · failed 3" in output
    assert "100%" in output
    assert "Import imp-0001 completed: 7 items, 3 created, 1 existing, 3 failed." in output
    assert f"3 failed rows written to {parcels.with_name('parcels.failed.csv')}" in output
    assert code == ExitCode.IMPORT_ROWS_FAILED
    assert sleeps == [0.5, 0.5, 0.5]
    assert csv_rows(parcels.with_name("parcels.failed.csv")) == EXPECTED_FAILED
    # The request: the file as it is, as text/csv, keyed; then polls; then the failed results, 2 per page.
    (post,) = double.calls("POST")
    assert post.body == parcels.read_bytes()
    assert post.headers["content-type"] == "text/csv"
    assert post.headers["idempotency-key"].startswith("shiptrack-cli-")
    assert len(double.calls("GET", "/imports/imp-0001")) == 3 + 2
    assert [r.query for r in double.calls("GET", "/imports/imp-0001/results")] == [
        {"outcome": ["failed"]},
        {"outcome": ["failed"], "cursor": ["Mg=="]},
    ]


def test_the_command_in_a_pipe_prints_a_line_per_change_and_exits_4(double: ImportsDouble, parcels: Path) -> None:
    result = run_cli(["import", str(parcels), "--poll-interval", "0"], env=cli_env(double))

    assert result.exit_code == ExitCode.IMPORT_ROWS_FAILED
    assert result.stdout.splitlines() == [
        "Import imp-0001 accepted: 7 items. Ctrl-C stops waiting; the import goes on.",
        "import imp-0001: queued 0/7 (created 0, existing 0, failed 0)",
        "import imp-0001: running 3/7 (created 1, existing 1, failed 1)",
        "import imp-0001: running 6/7 (created 2, existing 1, failed 3)",
        "import imp-0001: completed 7/7 (created 3, existing 1, failed 3)",
        "Import imp-0001 completed: 7 items, 3 created, 1 existing, 3 failed.",
        f"3 failed rows written to {parcels.with_name('parcels.failed.csv')} (the input's columns, plus problem_code "
        "and problem_detail).",
    ]
    assert csv_rows(parcels.with_name("parcels.failed.csv")) == EXPECTED_FAILED


def test_a_jsonl_import_sends_items_and_writes_its_failed_rows(double: ImportsDouble, tmp_path: Path) -> None:
    items = [
        {"tracking_number": "RR123456785CN", "carrier_code": "china-post", "customer": {"name": "Ann"}},
        {"tracking_number": "FAIL1234567", "carrier_code": "ups", "customer": {"name": "Bo"}},
    ]
    path = tmp_path / "parcels.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items) + "\n\n", encoding="utf-8")
    out = tmp_path / "out" / "failed.csv"
    out.parent.mkdir()

    result = run_cli(["import", str(path), "--poll-interval", "0", "--failed-out", str(out)], env=cli_env(double))

    assert result.exit_code == ExitCode.IMPORT_ROWS_FAILED
    (post,) = double.calls("POST")
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.body) == {"items": items}
    assert csv_rows(out) == [
        ["tracking_number", "carrier_code", "customer", "problem_code", "problem_detail"],
        ["FAIL1234567", "ups", '{"name":"Bo"}', "upstream_rejected", "TrackingMore refused FAIL1234567"],
    ]
    assert not path.with_name("parcels.failed.csv").exists()


def test_an_import_without_failures_exits_0_and_writes_no_file(double: ImportsDouble, tmp_path: Path) -> None:
    path = tmp_path / "good.csv"
    path.write_text("tracking_number\nRR123456785CN\nLX123456785CN\n", encoding="utf-8")

    result = run_cli(["import", str(path), "--poll-interval", "0"], env=cli_env(double))

    assert result.exit_code == 0
    assert "Import imp-0001 completed: 2 items, 2 created, 0 existing, 0 failed." in result.stdout
    assert not (tmp_path / "good.failed.csv").exists()
    assert double.calls("GET", "/imports/imp-0001/results") == []


def test_an_import_that_fails_exits_5(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("tracking_number\nRR123456785CN\n", encoding="utf-8")

    for double in running_double(end_status="failed"):
        result = run_cli(["import", str(path), "--poll-interval", "0"], env=cli_env(double))

    assert result.exit_code == ExitCode.IMPORT_FAILED
    assert "Import imp-0001 failed: 1 items" in result.stdout


def test_with_json_stdout_is_the_final_import_and_progress_goes_to_stderr(double: ImportsDouble, parcels: Path) -> None:
    result = run_cli(["import", str(parcels), "--poll-interval", "0", "--json"], env=cli_env(double))

    final = json.loads(result.stdout)
    assert final["status"] == "completed"
    assert final["summary"] == {"total": 7, "created": 3, "existing": 1, "failed": 3, "pending": 0}
    assert "import imp-0001: running 3/7" in result.stderr
    assert "3 failed rows written to" in result.stderr


def test_no_wait_starts_the_import_and_says_how_to_follow_it(double: ImportsDouble, parcels: Path) -> None:
    text = run_cli(["import", str(parcels), "--no-wait"], env=cli_env(double))
    raw = run_cli(["import", str(parcels), "--no-wait", "--json"], env=cli_env(double))

    assert text.exit_code == raw.exit_code == 0
    assert text.stdout.splitlines() == [
        "Import imp-0001 queued: 7 items.",
        "Follow it with: shiptrack imports show imp-0001",
    ]
    assert json.loads(raw.stdout)["id"] == "imp-0002"
    assert json.loads(raw.stdout)["status"] == "queued"
    assert double.calls("GET") == []


def test_the_same_idempotency_key_gets_the_same_import_back(double: ImportsDouble, parcels: Path) -> None:
    args = ["import", str(parcels), "--no-wait", "--json", "--idempotency-key", "retry-me"]

    first, second = run_cli(args, env=cli_env(double)), run_cli(args, env=cli_env(double))

    assert json.loads(first.stdout)["id"] == json.loads(second.stdout)["id"] == "imp-0001"
    assert len(double.imports) == 1


def test_a_file_the_api_refuses_is_a_problem_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("tracking_number\n" + "".join(f"RR{n:09d}CN\n" for n in range(5)), encoding="utf-8")

    for double in running_double(max_items=3):
        result = run_cli(["import", str(path)], env=cli_env(double))
        imports = dict(double.imports)

    assert result.exit_code == ExitCode.API_ERROR
    assert result.stderr.splitlines() == [
        "Error: 413 Too many items",
        "  5 items; at most 3",
        "  code: import_too_large",
        "  hint: the request is too large for the API: split the input into smaller files",
    ]
    assert imports == {}


def test_a_csv_the_api_finds_bad_shows_the_problem_and_its_field_errors(double: ImportsDouble, tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("tracking_number,title,title\nRR123456785CN,Mug,Cup\n", encoding="utf-8")

    result = run_cli(["import", str(path)], env=cli_env(double))

    assert result.exit_code == ExitCode.API_ERROR
    assert result.stderr.splitlines() == [
        "Error: 422 Not an import",
        "  The CSV header is not valid; see errors.",
        "  - body.header.title: duplicate column (duplicate)",
        "  code: invalid_import",
    ]
    assert double.imports == {}
    assert len(double.requests) == 1


def test_a_csv_without_tracking_number_is_refused_before_any_request(double: ImportsDouble, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("number,carrier\nRR123456785CN,china-post\n", encoding="utf-8")

    result = run_cli(["import", str(path)], env=cli_env(double))

    assert result.exit_code == ExitCode.USAGE
    assert f"Error: {path} has no tracking_number column (its header is: number, carrier)" in result.stderr
    assert double.requests == []


def test_a_poll_answered_503_with_retry_after_is_retried(parcels: Path) -> None:
    for double in running_double(unavailable_polls=2):
        result = run_cli(["import", str(parcels), "--poll-interval", "0"], env=cli_env(double))

    assert result.exit_code == ExitCode.IMPORT_ROWS_FAILED
    assert result.stderr.count("the API answered 503: retrying in 0 s") == 2
    assert "completed 7/7" in result.stdout


def test_ctrl_c_while_waiting_stops_following_without_cancelling(double: ImportsDouble, parcels: Path) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    console, screen = terminal()
    run = ImportRun(ApiClient(double.url, API_KEY), read_import_file(parcels), console, sleep=sleep)

    with pytest.raises(Interrupted) as caught:
        run.run()

    assert caught.value.exit_code == ExitCode.INTERRUPTED
    assert caught.value.message == "stopped waiting for import imp-0001; the import was not cancelled and goes on"
    assert caught.value.hint == "follow it with: shiptrack imports show imp-0001"
    assert "3/7" in plain(screen.getvalue())
    assert {r.method for r in double.requests} == {"POST", "GET"}  # nothing that would cancel it
    assert double.imports["imp-0001"].status == "running"
    assert not parcels.with_name("parcels.failed.csv").exists()


def test_ctrl_c_on_the_running_command_exits_130_and_says_the_import_goes_on(parcels: Path) -> None:
    for double in running_double(hold=True):
        process = cli_process(["import", str(parcels), "--poll-interval", "0.05"], env=cli_env(double))
        assert process.stdout is not None
        seen = [process.stdout.readline() for _ in range(3)]  # accepted, queued, running: it is being followed
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        record = double.imports["imp-0001"]

    assert seen == [
        "Import imp-0001 accepted: 7 items. Ctrl-C stops waiting; the import goes on.\n",
        "import imp-0001: queued 0/7 (created 0, existing 0, failed 0)\n",
        "import imp-0001: running 3/7 (created 1, existing 1, failed 1)\n",
    ]
    assert process.returncode == ExitCode.INTERRUPTED
    assert "Error: stopped waiting for import imp-0001; the import was not cancelled and goes on" in stderr
    assert "hint: follow it with: shiptrack imports show imp-0001" in stderr
    assert {r.method for r in double.requests} == {"POST", "GET"}
    assert record.status == "running"


def test_imports_list_and_show(double: ImportsDouble, parcels: Path) -> None:
    run_cli(["import", str(parcels), "--poll-interval", "0"], env=cli_env(double))
    run_cli(["import", str(parcels), "--no-wait"], env=cli_env(double))

    listed = run_cli(["imports", "list"], env=cli_env(double))
    listed_json = run_cli(["imports", "list", "--json", "--limit", "5"], env=cli_env(double))
    shown = run_cli(["imports", "show", "imp-0001", "--failed"], env=cli_env(double))
    shown_json = run_cli(["imports", "show", "imp-0001", "--json", "--failed"], env=cli_env(double))
    unknown = run_cli(["imports", "show", "imp-9999"], env=cli_env(double))

    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0] == ["Id", "Status", "Total", "Created", "Existing", "Failed", "Pending", "Created", "at"]
    assert rows[1][:7] == ["imp-0002", "queued", "7", "0", "0", "0", "7"]
    assert rows[2][:7] == ["imp-0001", "completed", "7", "3", "1", "3", "0"]
    assert listed.stderr == "2 imports.\n"
    assert [i["id"] for i in json.loads(listed_json.stdout)["items"]] == ["imp-0002", "imp-0001"]
    assert [r.query for r in double.requests if (r.method, r.path) == ("GET", "/imports")] == [{}, {"limit": ["5"]}]
    assert "Completed at  2026-12-06T10:00:09Z" in shown.stdout
    assert ["3", "FAIL1234567", "ups", "upstream_rejected", "TrackingMore", "refused", "FAIL1234567"] in [
        line.split() for line in shown.stdout.splitlines()
    ]
    assert [r["index"] for r in json.loads(shown_json.stdout)["failed_results"]] == [2, 3, 5]
    assert unknown.exit_code == ExitCode.API_ERROR
    assert "code: import_not_found" in unknown.stderr
