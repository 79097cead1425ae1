"""``shiptrack trackings list|get|create|delete``: the tracking routes of docs/api.md."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from shiptrack_cli.commands import show_list
from shiptrack_cli.context import State, json_option, pass_state


def tracking_path(carrier: str, number: str) -> str:
    return f"/trackings/{quote(carrier, safe='')}/{quote(number, safe='')}"


@click.group()
def trackings() -> None:
    """Create, list, read and delete trackings."""


@trackings.command("list")
@click.option("--status", help="pending, notfound, transit, pickup, delivered, undelivered, exception or expired.")
@click.option("--carrier", "carrier_code", metavar="CODE", help="Only this carrier, e.g. usps.")
@click.option("--order-id", help="Only the trackings of this order.")
@click.option("--lifecycle", help="active, stopped or archived (default: all but archived).")
@click.option("--created-after", metavar="ISO8601", help="Created at or after (with an offset, e.g. …Z).")
@click.option("--created-before", metavar="ISO8601", help="Created before (with an offset).")
@click.option("--limit", type=click.IntRange(1, 100), default=25, show_default=True, help="Trackings per page.")
@click.option("--cursor", help="Continue from a previous page's next_cursor.")
@click.option("--all", "all_pages", is_flag=True, help="Follow next_cursor to the last page.")
@json_option
@pass_state
def list_trackings(
    state: State,
    *,
    status: str | None,
    carrier_code: str | None,
    order_id: str | None,
    lifecycle: str | None,
    created_after: str | None,
    created_before: str | None,
    limit: int,
    cursor: str | None,
    all_pages: bool,
    json_output: bool,
) -> None:
    """List trackings, newest first (one page, or every page with --all)."""
    from shiptrack_cli.render import trackings_table

    filters = {
        "status": status,
        "carrier_code": carrier_code,
        "order_id": order_id,
        "lifecycle": lifecycle,
        "created_after": created_after,
        "created_before": created_before,
        "limit": limit,
        "cursor": cursor,
    }
    show_list(
        state,
        "/trackings",
        filters,
        all_pages=all_pages,
        json_output=json_output,
        table=trackings_table,
        noun="tracking",
    )


@trackings.command("get")
@click.argument("carrier")
@click.argument("number")
@json_option
@pass_state
def get_tracking(state: State, carrier: str, number: str, json_output: bool) -> None:
    """Show one tracking with its checkpoints."""
    from shiptrack_cli.render import print_json, print_tracking

    tracking = state.client().get_json(tracking_path(carrier, number))
    if json_output:
        print_json(tracking)
    else:
        print_tracking(tracking, state.console())


@trackings.command("create")
@click.argument("number")
@click.option("--carrier", "carrier_code", metavar="CODE", help="Carrier code; detected from the number if left out.")
@click.option("--order-id")
@click.option("--order-created-at", metavar="ISO8601")
@click.option("--title")
@click.option("--comment")
@click.option("--logistics-channel")
@click.option("--destination-code", metavar="CODE")
@click.option("--customer-name")
@click.option("--customer-email")
@click.option("--customer-phone")
@click.option("--idempotency-key", metavar="KEY", help="Send this Idempotency-Key (default: a new one per run).")
@json_option
@pass_state
def create_tracking(
    state: State,
    *,
    number: str,
    carrier_code: str | None,
    order_id: str | None,
    order_created_at: str | None,
    title: str | None,
    comment: str | None,
    logistics_channel: str | None,
    destination_code: str | None,
    customer_name: str | None,
    customer_email: str | None,
    customer_phone: str | None,
    idempotency_key: str | None,
    json_output: bool,
) -> None:
    """Start tracking a parcel (201 created, or 200 when it is already tracked)."""
    from shiptrack_cli.client import new_idempotency_key
    from shiptrack_cli.render import print_json, print_tracking

    fields = {
        "carrier_code": carrier_code,
        "order_id": order_id,
        "order_created_at": order_created_at,
        "title": title,
        "comment": comment,
        "logistics_channel": logistics_channel,
        "destination_code": destination_code,
    }
    customer = {"name": customer_name, "email": customer_email, "phone": customer_phone}
    body: dict[str, Any] = {"tracking_number": number, **{k: v for k, v in fields.items() if v is not None}}
    if any(value is not None for value in customer.values()):
        body["customer"] = {key: value for key, value in customer.items() if value is not None}
    headers = {"idempotency-key": idempotency_key or new_idempotency_key()}
    response = state.client().request("POST", "/trackings", json_body=body, headers=headers)
    tracking = response.json()
    if json_output:
        print_json(tracking)
        return
    verb = "Created" if response.status_code == 201 else "Already tracked"
    state.messages().print(f"{verb}: {tracking.get('carrier_code')} {tracking.get('tracking_number')}", highlight=False)
    print_tracking(tracking, state.console())


@trackings.command("delete")
@click.argument("carrier")
@click.argument("number")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_tracking(state: State, carrier: str, number: str, yes: bool) -> None:
    """Stop tracking a parcel, at TrackingMore and here."""
    if not yes:
        click.confirm(f"Stop tracking {carrier} {number} and delete it?", abort=True, err=True)
    state.client().request("DELETE", tracking_path(carrier, number))
    click.echo(f"Deleted: {carrier} {number}", err=True)
