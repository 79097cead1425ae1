"""What every command shares: the :class:`State` built by the root command, and the ``--json`` option."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from shiptrack_cli.client import ApiClient

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """The root options, and whether the running command prints JSON (errors then print as JSON too)."""

    api_url: str
    api_key: str
    json_output: bool = False

    def client(self) -> ApiClient:
        """An API client that says on stderr when it waits for a ``Retry-After``."""
        from shiptrack_cli.client import ApiClient

        def notice(status: int, seconds: float) -> None:
            click.echo(f"the API answered {status}: retrying in {seconds:g} s", err=True)

        return ApiClient(self.api_url, self.api_key, on_retry=notice)

    def console(self) -> Console:
        """Where results go (stdout)."""
        from shiptrack_cli.render import make_console

        return make_console()

    def messages(self) -> Console:
        """Where notes for people go (stderr), so that stdout holds only the result."""
        from shiptrack_cli.render import make_console

        return make_console(stderr=True)


pass_state = click.make_pass_decorator(State)


def json_option(command: F) -> F:
    """``--json``: print the API's JSON for scripts instead of tables."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        state = ctx.find_object(State)
        if value and state is not None:
            state.json_output = True
        return value

    option = click.option(
        "--json", "json_output", is_flag=True, callback=remember, help="Print the API's JSON (for scripts)."
    )
    return option(command)
