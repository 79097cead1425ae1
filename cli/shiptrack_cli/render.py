"""How the CLI shows things to people: problems, trackings, imports. Scripts use ``--json`` instead.

Everything renders through a rich :class:`~rich.console.Console` passed in, so tests render to a string at a fixed
width. Text from the API is printed as text, never interpreted as rich markup.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shiptrack_cli.errors import ApiError, CliError

STATUS_STYLES = {
    "delivered": "green",
    "transit": "cyan",
    "pickup": "cyan",
    "pending": "dim",
    "notfound": "yellow",
    "undelivered": "yellow",
    "exception": "red",
    "expired": "red",
}
IMPORT_STATUS_STYLES = {"completed": "green", "failed": "red", "running": "cyan", "queued": "dim"}


#: Width for output that is not a terminal (a pipe, a file) when COLUMNS is unset: wide enough that tables keep
#: whole values for grep and friends, instead of rich's default of 80 columns.
PIPE_WIDTH = 400


def make_console(*, stderr: bool = False, file: TextIO | None = None) -> Console:
    """The console commands print to (stdout, or stderr for messages and errors)."""
    console = Console(file=file, stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def print_json(value: Any, *, file: TextIO | None = None) -> None:
    """``value`` as JSON for scripts: indented, UTF-8 kept as is."""
    stream = file or sys.stdout
    stream.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    stream.flush()


def print_error(error: CliError, console: Console, *, json_output: bool = False) -> None:
    """One error on ``console`` (stderr): the problem's title, detail, field errors and code; or the message."""
    if json_output and isinstance(error, ApiError):
        console.file.write(json.dumps(error.problem, ensure_ascii=False) + "\n")
        console.file.flush()
        return
    console.print(Text.assemble(("Error: ", "bold red"), error.message), soft_wrap=True)
    if isinstance(error, ApiError):
        for line in problem_lines(error.problem, retry_after=error.retry_after):
            console.print(Text("  " + line), soft_wrap=True)
    if error.hint:
        console.print(Text("  hint: " + error.hint, style="dim"), soft_wrap=True)


def problem_lines(problem: Mapping[str, Any], *, retry_after: float | None = None) -> list[str]:
    """The problem's detail, field errors and code, as lines (the title is the error's message)."""
    lines: list[str] = []
    detail = problem.get("detail") or (problem.get("message") if problem.get("title") else None)
    if detail and detail != problem.get("title"):  # API Gateway's own answers repeat the title
        lines.append(str(detail))
    for field_error in problem.get("errors") or ():
        lines.append("- " + field_error_text(field_error))
    tags = []
    if problem.get("code"):
        tags.append(f"code: {problem['code']}")
    if problem.get("retryable"):
        tags.append("retryable: the same request may succeed later")
    if retry_after is not None:
        tags.append(f"retry after {retry_after:g} s")
    if tags:
        lines.append(" · ".join(tags))
    return lines


def field_error_text(field_error: Any) -> str:
    """``body.tracking_number: String should have at least 5 characters (string_too_short)``."""
    if not isinstance(field_error, Mapping):
        return str(field_error)
    loc = field_error.get("loc") or ()
    where = ".".join(str(part) for part in loc) if isinstance(loc, list | tuple) else str(loc)
    kind = f" ({field_error['type']})" if field_error.get("type") else ""
    return f"{where or '(body)'}: {field_error.get('msg', 'invalid')}{kind}"


def status_text(status: str | None) -> Text:
    return Text(status or "", style=STATUS_STYLES.get(status or "", ""))


def trackings_table(trackings: Iterable[Mapping[str, Any]]) -> Table:
    """One row per tracking: carrier, number, status (and lifecycle unless active), order, title, last event,
    updated. Identities never shrink; on a narrow terminal the free text is cut with an ellipsis."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("Carrier", "Number", "Status", "Order", "Title", "Last event", "Updated"):
        table.add_column(column, no_wrap=column in ("Carrier", "Number", "Status", "Updated"))
    for tracking in trackings:
        status = status_text(tracking.get("status"))
        if tracking.get("lifecycle") not in (None, "active"):
            status.append(f" · {tracking['lifecycle']}", "dim")
        table.add_row(
            Text(str(tracking.get("carrier_code", ""))),
            Text(str(tracking.get("tracking_number", ""))),
            status,
            *(
                Text(str(tracking.get(key) or ""), overflow="ellipsis", no_wrap=True)
                for key in ("order_id", "title", "last_event")
            ),
            Text(short_time(tracking.get("updated_at"))),
        )
    return table


def short_time(value: Any) -> str:
    """``2026-12-06T16:29:48.752Z`` → ``2026-12-06 16:29`` (UTC, as stored): enough to tell rows apart."""
    text = str(value or "")
    return f"{text[:10]} {text[11:16]}" if len(text) >= 16 and text[10] == "T" else text


def print_tracking(tracking: Mapping[str, Any], console: Console) -> None:
    """One tracking in full: its fields, then its checkpoints (newest first)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    customer = tracking.get("customer") or {}
    fields: Sequence[tuple[str, Any]] = (
        ("Tracking", f"{tracking.get('carrier_code')} {tracking.get('tracking_number')}"),
        ("Status", status_text(tracking.get("status"))),
        ("Substatus", tracking.get("substatus")),
        ("Lifecycle", tracking.get("lifecycle")),
        ("Order", tracking.get("order_id")),
        ("Title", tracking.get("title")),
        ("Customer", ", ".join(str(v) for v in (customer.get("name"), customer.get("email")) if v)),
        (
            "Route",
            " → ".join(str(v) for v in (tracking.get("origin_country"), tracking.get("destination_country")) if v),
        ),
        ("Transit days", tracking.get("transit_days")),
        ("Last event", tracking.get("last_event")),
        ("Created", tracking.get("created_at")),
        ("Updated", tracking.get("updated_at")),
        ("Last checked", tracking.get("last_checked_at")),
    )
    for name, value in fields:
        if value not in (None, ""):
            grid.add_row(name, value if isinstance(value, Text) else Text(str(value)))
    console.print(grid)
    checkpoints = tracking.get("checkpoints") or []
    if checkpoints:
        table = Table(box=None, pad_edge=False, header_style="bold", title="Checkpoints", title_justify="left")
        for column in ("Time", "Status", "Location", "Description"):
            table.add_column(column)
        for checkpoint in checkpoints:
            table.add_row(
                Text(str(checkpoint.get("time") or "")),
                status_text(checkpoint.get("status")),
                Text(str(checkpoint.get("location") or "")),
                Text(str(checkpoint.get("description") or "")),
            )
        console.print(table)


def summary_counts(summary: Mapping[str, Any]) -> dict[str, int]:
    """An import's summary as ints: total, created, existing, failed, pending (absent counts are 0)."""
    return {key: int(summary.get(key) or 0) for key in ("total", "created", "existing", "failed", "pending")}


def imports_table(imports: Iterable[Mapping[str, Any]]) -> Table:
    """One row per import: id, status, counts, created."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("Id", "Status", "Total", "Created", "Existing", "Failed", "Pending", "Created at"):
        table.add_column(
            column, justify="right" if column in ("Total", "Created", "Existing", "Failed", "Pending") else "left"
        )
    for record in imports:
        counts = summary_counts(record.get("summary") or {})
        table.add_row(
            Text(str(record.get("id", ""))),
            Text(str(record.get("status", "")), style=IMPORT_STATUS_STYLES.get(str(record.get("status")), "")),
            *(str(counts[key]) for key in ("total", "created", "existing", "failed", "pending")),
            Text(str(record.get("created_at") or "")),
        )
    return table


def print_import(record: Mapping[str, Any], console: Console) -> None:
    """An import's status, counts and times."""
    counts = summary_counts(record.get("summary") or {})
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    status = str(record.get("status", ""))
    grid.add_row("Import", Text(str(record.get("id", ""))))
    grid.add_row("Status", Text(status, style=IMPORT_STATUS_STYLES.get(status, "")))
    for key in ("total", "created", "existing", "failed", "pending"):
        grid.add_row(key.capitalize(), str(counts[key]))
    for key, name in (("created_at", "Created at"), ("started_at", "Started at"), ("completed_at", "Completed at")):
        if record.get(key):
            grid.add_row(name, Text(str(record[key])))
    console.print(grid)


def failed_results_table(results: Iterable[Mapping[str, Any]]) -> Table:
    """The failed items of an import: index, number, carrier, problem code and detail."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("Index", "Number", "Carrier", "Code", "Detail"):
        table.add_column(column, justify="right" if column == "Index" else "left")
    for result in results:
        problem = result.get("problem") or {}
        table.add_row(
            str(result.get("index", "")),
            Text(str(result.get("tracking_number") or "")),
            Text(str(result.get("carrier_code") or "")),
            Text(str(problem.get("code") or "")),
            Text(str(problem.get("detail") or problem.get("title") or "")),
        )
    return table
