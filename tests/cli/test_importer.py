"""Following an import through an API that drops out now and then (the client on a scripted transport)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import requests
from rich.console import Console

from shiptrack_cli.client import ApiClient
from shiptrack_cli.errors import ApiError, ApiUnreachableError, ExitCode, Interrupted
from shiptrack_cli.importer import MAX_POLL_FAILURES, ImportRun
from shiptrack_cli.importfile import read_import_file
from tests.unit.trackingmore.fakes import FakeClock, FakeUpstream, Script, json_reply

pytestmark = pytest.mark.unit

BASE = "http://api.test"
DOWN = requests.ConnectionError("[Errno 111] Connection refused")


def record(status: str, done: int) -> dict[str, Any]:
    summary = {"total": 2, "created": done, "existing": 0, "failed": 0, "pending": 2 - done}
    return {"id": "imp-1", "status": status, "summary": summary, "created_at": "2026-12-06T10:00:00Z"}


def run_import(
    tmp_path: Path, *polls: Script, accept: Script | None = None
) -> tuple[ImportRun, FakeUpstream, FakeClock]:
    api, clock = FakeUpstream(BASE), FakeClock()
    api.queue("POST", "/imports", accept or json_reply(record("queued", 0), 202))
    api.queue("GET", "/imports/imp-1", *polls)
    path = tmp_path / "p.csv"
    path.write_text("tracking_number\nRR123456785CN\nLX123456785CN\n", encoding="utf-8")
    console = Console(file=io.StringIO(), width=120)
    client = ApiClient(BASE, "k", session=api.session(), sleep=clock.sleep)
    return ImportRun(client, read_import_file(path), console, sleep=clock.sleep), api, clock


def test_a_few_polls_without_an_answer_do_not_stop_the_follow(tmp_path: Path) -> None:
    run, api, clock = run_import(
        tmp_path, DOWN, json_reply(record("running", 1)), DOWN, DOWN, json_reply(record("completed", 2))
    )

    assert run.run() == ExitCode.OK
    assert len(api.calls("GET", "/imports/imp-1")) == 5
    assert clock.sleeps == [1.0] * 5


def test_an_api_gone_for_good_stops_following_and_says_the_import_goes_on(tmp_path: Path) -> None:
    run, api, _ = run_import(tmp_path, *[DOWN] * MAX_POLL_FAILURES)

    with pytest.raises(ApiUnreachableError) as caught:
        run.run()

    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert caught.value.hint == "the import goes on; check it with: shiptrack imports show imp-1"
    assert len(api.calls("GET", "/imports/imp-1")) == MAX_POLL_FAILURES


def test_a_4xx_while_following_stops_at_once(tmp_path: Path) -> None:
    gone = {"title": "Not found", "status": 404, "detail": "No such import", "code": "import_not_found"}
    run, api, _ = run_import(tmp_path, json_reply(gone, 404))

    with pytest.raises(ApiError) as caught:
        run.run()

    assert caught.value.code == "import_not_found"
    assert len(api.calls("GET", "/imports/imp-1")) == 1


def test_ctrl_c_before_the_api_answers_offers_the_idempotency_key(tmp_path: Path) -> None:
    run, api, _ = run_import(tmp_path, accept=KeyboardInterrupt())
    run.idempotency_key = "shiptrack-cli-fixed"

    with pytest.raises(Interrupted) as caught:
        run.run()

    assert caught.value.exit_code == ExitCode.INTERRUPTED
    assert caught.value.message == "interrupted before the API answered: the import may have been started"
    assert caught.value.hint is not None
    assert "--idempotency-key shiptrack-cli-fixed" in caught.value.hint
    assert api.calls("GET") == []
