"""The command groups of ``shiptrack``; each imports its heavy modules only when it runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from shiptrack_cli.context import State


def show_list(
    state: State,
    path: str,
    params: Mapping[str, Any],
    *,
    all_pages: bool,
    json_output: bool,
    table: Callable[[Sequence[Mapping[str, Any]]], Table],
    noun: str,
) -> None:
    """A list route (``{items, next_cursor}``): one page, or all of them; as a table, or the API's JSON."""
    from shiptrack_cli.render import print_json

    client = state.client()
    if all_pages:
        page: dict[str, Any] = {"items": [item for page in client.iter_pages(path, params) for item in page["items"]]}
    else:
        page = client.get_json(path, params)
    if json_output:
        print_json(page)
        return
    items = page.get("items") or []
    if items:
        state.console().print(table(items))
    messages = state.messages()
    messages.print(f"{len(items)} {noun}{'' if len(items) == 1 else 's'}.", highlight=False)
    if page.get("next_cursor"):
        messages.print(f"More: --cursor {page['next_cursor']} (or --all).", highlight=False, soft_wrap=True)
