"""``shiptrack events tail``: the local stack's outbound events, as they arrive."""

from __future__ import annotations

import contextlib

import click

from shiptrack_cli.config import DEFAULT_LOCAL_AWS_URL, LOCAL_AWS_URL_ENV
from shiptrack_cli.context import State, json_option, pass_state


@click.group()
def events() -> None:
    """Watch the events shiptrack publishes (local stack only)."""


@events.command("tail")
@click.option(
    "--aws-url",
    envvar=LOCAL_AWS_URL_ENV,
    default=DEFAULT_LOCAL_AWS_URL,
    show_default=True,
    metavar="URL",
    help=f"The local stack's moto server (${LOCAL_AWS_URL_ENV}).",
)
@click.option("--keep", is_flag=True, help="Leave the events on the queue (they show again after its timeout).")
@click.option("--once", is_flag=True, help="Print what is queued now, then exit.")
@json_option
@pass_state
def tail(state: State, aws_url: str, keep: bool, once: bool, json_output: bool) -> None:
    """Print every event shiptrack publishes, as it arrives, until Ctrl-C.

    LOCAL ONLY: reads the local stack's local-event-tap queue (`make dev`), which receives a copy of everything
    put on the bus with source "shiptrack". On AWS, subscribe to the bus with a rule instead. Each line shows
    the time, the detail-type, the tracking and its status change; --json prints each event's raw JSON on one
    line. Events shown are taken off the queue unless --keep.
    """
    from shiptrack_cli.tail import tail_events

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a tail ends, not an error
        tail_events(aws_url, state.console(), keep=keep, once=once, json_output=json_output)
