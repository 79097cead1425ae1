"""The ``shiptrack`` command: root options, the one place errors are printed, and the command tree.

Only ``click`` is imported up front; every command imports what it needs (``requests``, ``rich``, ``boto3``) when it
runs, so ``shiptrack --help`` and ``shiptrack trackings --help`` start in about the time Python itself takes.
"""

from __future__ import annotations

from typing import Any

import click

from shiptrack_cli import __version__
from shiptrack_cli.commands.events import events
from shiptrack_cli.commands.imports import import_command, imports
from shiptrack_cli.commands.trackings import trackings
from shiptrack_cli.config import API_KEY_ENV, API_URL_ENV, DEFAULT_API_KEY, DEFAULT_API_URL
from shiptrack_cli.context import State
from shiptrack_cli.errors import CliError, ExitCode


class ShiptrackGroup(click.Group):
    """Prints a :class:`CliError` (problem+json rendered, or raw with ``--json``) and exits with its code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            from shiptrack_cli.render import make_console, print_error

            state = ctx.find_object(State)
            print_error(error, make_console(stderr=True), json_output=bool(state and state.json_output))
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(ExitCode.INTERRUPTED)


@click.group(
    cls=ShiptrackGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="Exit codes: 0 ok, 1 the API answered an error, 2 usage or input file, 3 API unreachable, "
    "4 import completed with failed rows, 5 import failed, 130 interrupted. See docs/cli.md.",
)
@click.option(
    "--api-url",
    envvar=API_URL_ENV,
    default=DEFAULT_API_URL,
    show_default=True,
    metavar="URL",
    help=f"The shiptrack API (${API_URL_ENV}); on AWS the stack's ApiUrl output, e.g. https://…/v1.",
)
@click.option(
    "--api-key",
    envvar=API_KEY_ENV,
    default=DEFAULT_API_KEY,
    metavar="KEY",
    help=f"The x-api-key to send (${API_KEY_ENV}; default: the local stack's {DEFAULT_API_KEY}).",
)
@click.version_option(__version__, prog_name="shiptrack")
@click.pass_context
def cli(ctx: click.Context, api_url: str, api_key: str) -> None:
    """shiptrack from the command line: trackings, bulk imports with progress, and local events.

    A client of the HTTP API (docs/api.md). By default it talks to `make dev`'s stack on this machine.
    """
    ctx.obj = State(api_url=api_url, api_key=api_key)


cli.add_command(trackings)
cli.add_command(import_command)
cli.add_command(imports)
cli.add_command(events)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="shiptrack")
