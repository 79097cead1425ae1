"""``shiptrack import FILE`` and ``shiptrack imports list|show``: bulk imports (issue 12's ``/imports`` routes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import click

from shiptrack_cli.commands import show_list
from shiptrack_cli.context import State, json_option, pass_state


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Follow the import with a progress bar until it ends."
)
@click.option("--format", "file_format", type=click.Choice(["csv", "jsonl"]), help="Default: from the file name.")
@click.option("--encoding", help="The file's text encoding (default: UTF-8, or UTF-16 with a BOM).")
@click.option(
    "--failed-out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where the failed rows go (default: FILE's name with .failed.csv, beside it).",
)
@click.option(
    "--idempotency-key", metavar="KEY", help="Send this Idempotency-Key: the same key gets the same import back."
)
@click.option("--poll-interval", type=click.FloatRange(min=0.0), default=1.0, show_default=True, metavar="SECONDS")
@json_option
@pass_state
def import_command(
    state: State,
    *,
    file: Path,
    wait: bool,
    file_format: Literal["csv", "jsonl"] | None,
    encoding: str | None,
    failed_out: Path | None,
    idempotency_key: str | None,
    poll_interval: float,
    json_output: bool,
) -> None:
    """Import the parcels of a CSV or JSON Lines file, with a live progress bar.

    A CSV (header row with a tracking_number column; carrier_code, order_id, title, … optional) is sent as it is;
    a JSON Lines file (one CreateTrackingRequest object per line) is sent as {"items": [...]}. When the import
    ends, the failed rows are written to FILE.failed.csv: the input's columns plus problem_code and
    problem_detail, ready to fix and import again. Ctrl-C stops waiting; it does not cancel the import.
    """
    from shiptrack_cli.client import new_idempotency_key
    from shiptrack_cli.importer import ImportRun
    from shiptrack_cli.importfile import read_import_file

    source = read_import_file(file, file_format=file_format, encoding=encoding)
    run = ImportRun(
        client=state.client(),
        source=source,
        console=state.messages() if json_output else state.console(),
        idempotency_key=idempotency_key or new_idempotency_key(),
        wait=wait,
        json_output=json_output,
        poll_seconds=poll_interval,
        failed_out=failed_out,
    )
    code = run.run()
    if code:
        click.get_current_context().exit(code)


@click.group()
def imports() -> None:
    """List bulk imports and show one."""


@imports.command("list")
@click.option("--limit", type=click.IntRange(1, 100), help="Imports per page (default: the API's).")
@click.option("--cursor", help="Continue from a previous page's next_cursor.")
@click.option("--all", "all_pages", is_flag=True, help="Follow next_cursor to the last page.")
@json_option
@pass_state
def list_imports(state: State, limit: int | None, cursor: str | None, all_pages: bool, json_output: bool) -> None:
    """List recent imports, newest first."""
    from shiptrack_cli.render import imports_table

    params = {"limit": limit, "cursor": cursor}
    show_list(
        state, "/imports", params, all_pages=all_pages, json_output=json_output, table=imports_table, noun="import"
    )


@imports.command("show")
@click.argument("import_id", metavar="ID")
@click.option("--failed", "show_failed", is_flag=True, help="Also list the failed items and their problems.")
@json_option
@pass_state
def show_import(state: State, import_id: str, show_failed: bool, json_output: bool) -> None:
    """Show an import's status and counts (and, with --failed, its failed items)."""
    from shiptrack_cli.importer import failed_results
    from shiptrack_cli.render import failed_results_table, print_import, print_json

    client = state.client()
    record: dict[str, Any] = client.get_json(f"/imports/{quote(import_id, safe='')}")
    failed = list(failed_results(client, import_id)) if show_failed else None
    if json_output:
        print_json(record if failed is None else {**record, "failed_results": failed})
        return
    console = state.console()
    print_import(record, console)
    if failed:
        console.print(failed_results_table(failed))
