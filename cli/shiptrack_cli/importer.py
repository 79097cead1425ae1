"""``shiptrack import``: start an import, follow it with a live progress bar, then write its failed rows.

The ``/imports`` contract (issue 12): ``POST /imports`` → ``202`` ``{id, status: "queued", summary, created_at}``;
``GET /imports/{id}`` → ``{id, status: queued|running|completed|failed, summary: {total, created, existing,
failed, pending}, created_at, started_at, completed_at}``; ``GET /imports/{id}/results?outcome=failed`` → pages
of per-item results in input order.

Waiting never changes the import: Ctrl-C (or an API that stays unreachable) only stops this process from
following it, and the message says how to pick it up again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from shiptrack_cli.client import ApiClient, Sleep, new_idempotency_key
from shiptrack_cli.errors import ApiError, ApiUnreachableError, CliError, ExitCode, Interrupted
from shiptrack_cli.importfile import ImportFile, failed_rows_path, write_failed_rows
from shiptrack_cli.render import print_json, summary_counts

TERMINAL_STATUSES: Final = frozenset({"completed", "failed"})
DEFAULT_POLL_SECONDS: Final = 1.0
MAX_POLL_FAILURES: Final = 5  # consecutive polls without an answer before this process gives up following


@dataclass
class ImportRun:
    """What ``shiptrack import FILE`` does, with its seams: consoles, the poll interval and the sleep."""

    client: ApiClient
    source: ImportFile
    console: Console  # progress and summary (stderr with --json, so stdout stays one JSON document)
    idempotency_key: str = field(default_factory=new_idempotency_key)
    wait: bool = True
    json_output: bool = False
    poll_seconds: float = DEFAULT_POLL_SECONDS
    failed_out: Path | None = None
    sleep: Sleep = time.sleep

    def run(self) -> ExitCode:
        """Start, follow, report; the exit code says how the import ended (docs/cli.md)."""
        record = self.start()
        import_id = str(record["id"])
        if not self.wait:
            self._report_queued(record)
            return ExitCode.OK
        try:
            record = self.follow(record)
        except KeyboardInterrupt as interrupt:
            raise Interrupted(
                f"stopped waiting for import {import_id}; the import was not cancelled and goes on",
                hint=f"follow it with: shiptrack imports show {import_id}",
            ) from interrupt
        except (ApiError, ApiUnreachableError) as exc:
            exc.hint = f"the import goes on; check it with: shiptrack imports show {import_id}"
            raise
        written = self.collect_failed_rows(record)
        self._report_done(record, written)
        if record.get("status") == "failed":
            return ExitCode.IMPORT_FAILED
        return ExitCode.IMPORT_ROWS_FAILED if summary_counts(record.get("summary") or {})["failed"] else ExitCode.OK

    def start(self) -> dict[str, Any]:
        """``POST /imports`` with the file, keyed; the accepted import."""
        headers = {"content-type": self.source.content_type, "idempotency-key": self.idempotency_key}
        try:
            response = self.client.request("POST", "/imports", body=self.source.body, headers=headers)
        except KeyboardInterrupt as interrupt:
            raise Interrupted(
                "interrupted before the API answered: the import may have been started",
                hint=f"run the same command with --idempotency-key {self.idempotency_key} to get that import "
                "instead of starting a second one",
            ) from interrupt
        record = response.json()
        if not isinstance(record, dict) or not record.get("id"):
            raise CliError(f"POST /imports answered {response.status_code} without an import id")
        return record

    def follow(self, record: dict[str, Any]) -> dict[str, Any]:
        """Poll ``GET /imports/{id}`` until the import is completed or failed, showing its progress."""
        path = f"/imports/{quote(str(record['id']), safe='')}"
        failures = 0
        total = summary_counts(record.get("summary") or {})["total"]
        self.console.print(
            Text(f"Import {record['id']} accepted: {total} items. Ctrl-C stops waiting; the import goes on."),
            soft_wrap=True,
        )
        with progress_view(self.console, record, self.source.path.name) as view:
            while record.get("status") not in TERMINAL_STATUSES:
                self.sleep(self.poll_seconds)
                try:
                    record = self.client.get_json(path)
                except (ApiUnreachableError, ApiError) as exc:
                    failures += 1
                    if failures >= MAX_POLL_FAILURES or (isinstance(exc, ApiError) and exc.status < 500):
                        raise
                    continue
                failures = 0
                view.update(record)
        return record

    def collect_failed_rows(self, record: Mapping[str, Any]) -> int | None:
        """Write the failed rows next to the input (or ``failed_out``); None when nothing failed."""
        if not summary_counts(record.get("summary") or {})["failed"]:
            return None
        import_id = str(record["id"])
        try:
            failed = list(failed_results(self.client, import_id))
        except KeyboardInterrupt as interrupt:
            raise Interrupted(
                f"import {import_id} is over; stopped before its failed rows were written",
                hint=f"list them with: shiptrack imports show {import_id} --failed",
            ) from interrupt
        return write_failed_rows(self.source, failed, self.failed_rows_file)

    @property
    def failed_rows_file(self) -> Path:
        return self.failed_out or failed_rows_path(self.source.path)

    def _report_queued(self, record: Mapping[str, Any]) -> None:
        if self.json_output:
            print_json(record)
        total = summary_counts(record.get("summary") or {})["total"]
        self.console.print(
            Text(f"Import {record['id']} {record.get('status', 'queued')}: {total} items."), soft_wrap=True
        )
        self.console.print(Text(f"Follow it with: shiptrack imports show {record['id']}"), soft_wrap=True)

    def _report_done(self, record: Mapping[str, Any], written: int | None) -> None:
        if self.json_output:
            print_json(record)
        counts = summary_counts(record.get("summary") or {})
        status = str(record.get("status"))
        self.console.print(
            Text.assemble(
                (f"Import {record['id']} {status}", "bold green" if status == "completed" else "bold red"),
                f": {counts['total']} items, {counts['created']} created, {counts['existing']} existing, "
                f"{counts['failed']} failed"
                + (f", {counts['pending']} not processed" if counts["pending"] else "")
                + ".",
            ),
            soft_wrap=True,
        )
        if written is not None:
            self.console.print(
                Text(
                    f"{written} failed rows written to {self.failed_rows_file} "
                    "(the input's columns, plus problem_code and problem_detail)."
                ),
                soft_wrap=True,
            )


def failed_results(client: ApiClient, import_id: str) -> Iterator[dict[str, Any]]:
    """Every failed item of an import, in input order, following ``next_cursor``."""
    path = f"/imports/{quote(import_id, safe='')}/results"
    for page in client.iter_pages(path, {"outcome": "failed"}):
        for result in page.get("items") or []:
            if result.get("outcome", "failed") == "failed":
                yield result


class ProgressView(Protocol):
    def update(self, record: Mapping[str, Any]) -> None: ...


@contextlib.contextmanager
def progress_view(console: Console, record: Mapping[str, Any], name: str) -> Iterator[ProgressView]:
    """A live bar on a terminal; elsewhere (a pipe, a CI log) one line per change."""
    view: LiveProgress | LineProgress
    view = LiveProgress(console, name) if console.is_terminal else LineProgress(console)
    view.update(record)  # before the first frame, so that it shows the import as it is
    with view.shown():
        yield view


class LiveProgress:
    """rich's progress bar: ``created + existing + failed`` of ``total``, refreshed on every poll (no timer)."""

    def __init__(self, console: Console, name: str) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            TextColumn("{task.fields[status]:<9}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn(
                "created {task.fields[created]} · existing {task.fields[existing]} · failed {task.fields[failed]}"
            ),
            TimeElapsedColumn(),
            console=console,
            auto_refresh=False,
        )
        self.task: TaskID = self.progress.add_task(
            f"Importing {name}", total=None, status="", created=0, existing=0, failed=0
        )

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        with self.progress:
            yield

    def update(self, record: Mapping[str, Any]) -> None:
        counts = summary_counts(record.get("summary") or {})
        self.progress.update(
            self.task,
            total=counts["total"] or None,
            completed=counts["created"] + counts["existing"] + counts["failed"],
            status=str(record.get("status", "")),
            created=counts["created"],
            existing=counts["existing"],
            failed=counts["failed"],
        )
        self.progress.refresh()


class LineProgress:
    """Progress for logs: a line whenever the status or a count changes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.last: tuple[Any, ...] | None = None

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        yield

    def update(self, record: Mapping[str, Any]) -> None:
        counts = summary_counts(record.get("summary") or {})
        done = counts["created"] + counts["existing"] + counts["failed"]
        state = (record.get("status"), *counts.values())
        if state == self.last:
            return
        self.last = state
        self.console.print(
            Text(
                f"import {record.get('id')}: {record.get('status')} {done}/{counts['total']} "
                f"(created {counts['created']}, existing {counts['existing']}, failed {counts['failed']})"
            ),
            soft_wrap=True,
        )
