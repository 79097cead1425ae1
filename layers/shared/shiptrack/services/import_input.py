"""Reading the body of ``POST /imports``: JSON (``{"items": [...], "context": {...}}``) or CSV, into raw items.

Only the import *as a whole* is judged here. A body that is not an import — not UTF-8, not JSON, no items, more
than :data:`~shiptrack.import_models.MAX_IMPORT_ITEMS`, a CSV without a ``tracking_number`` column, a column
twice or one we do not know — is a 4xx problem and creates nothing. Each item is judged later, alone
(``shiptrack.services.imports``): an invalid one fails in the results and never fails the import.

**CSV.** RFC 4180, comma-separated, a header row. Columns: ``tracking_number`` (required), ``carrier_code``,
``order_id``, ``order_created_at``, ``title``, ``logistics_channel``, ``comment``, ``customer_name``,
``customer_email``, ``customer_phone``, ``destination_code``, and ``customer`` (a JSON object, as the CLI writes
it back for failed JSON Lines rows). ``problem_code`` and ``problem_detail`` — the columns the CLI adds to its
failed-rows file — are ignored, so that file can be imported again once fixed. An empty cell is a value left
out. Blank lines are not rows.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Iterator
from typing import Any, Final, Literal, NamedTuple

from pydantic import ValidationError

from shiptrack.errors import (
    FieldError,
    InvalidEncodingError,
    InvalidImportError,
    InvalidJsonError,
    TooManyItemsError,
    UnreadableBodyError,
    UnsupportedMediaTypeError,
    field_errors,
)
from shiptrack.import_models import MAX_IMPORT_ITEMS, ImportRequest
from shiptrack.jsonbody import loads_bounded
from shiptrack.models import CreateContext

__all__ = ["CSV_COLUMNS", "IGNORED_COLUMNS", "ImportInput", "read_import"]

#: CSV columns and the request field each fills (customer_* fill ``customer``).
CSV_COLUMNS: Final = (
    "tracking_number",
    "carrier_code",
    "order_id",
    "order_created_at",
    "title",
    "logistics_channel",
    "comment",
    "customer_name",
    "customer_email",
    "customer_phone",
    "customer",
    "destination_code",
)
#: Columns the CLI's failed-rows file adds: read and left alone.
IGNORED_COLUMNS: Final = ("problem_code", "problem_detail")
_CUSTOMER_COLUMNS: Final = {"customer_name": "name", "customer_email": "email", "customer_phone": "phone"}


class ImportInput(NamedTuple):
    """The raw items of an import (each still to validate), the context that fills them, and the body's format."""

    items: list[Any]
    context: CreateContext | None
    source: Literal["json", "csv"]


def read_import(body: str | None, *, content_type: str | None, is_base64: bool) -> ImportInput:
    """The import in a request body (see the module docstring); raises the 4xx error that says why it is none."""
    text = _text(body, is_base64)
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media == "text/csv":
        return ImportInput(list(_csv_items(text)), None, "csv")
    if media != "application/json":
        raise UnsupportedMediaTypeError('Send the import as application/json ({"items": [...]}) or text/csv.')
    return _json_import(text)


def _text(body: str | None, is_base64: bool) -> str:
    if not body:
        raise InvalidImportError('The body is empty: send {"items": [...]} or a CSV with a tracking_number column.')
    if not is_base64:
        return body.removeprefix("\ufeff")
    # API Gateway hands a body over in base64 when it is not UTF-8 (or for binary media types).
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableBodyError("The request body could not be read.") from exc
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidEncodingError(
            f"The body is not UTF-8: byte 0x{raw[exc.start]:02x} on line {line}. Save the file as UTF-8 and retry."
        ) from exc


def _json_import(text: str) -> ImportInput:
    document = loads_bounded(text)  # deep nesting, repeated names, lone surrogates: 400 invalid_json
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        _check_count(len(document["items"]))
    try:
        request = ImportRequest.model_validate(document)
    except ValidationError as exc:
        errors = field_errors(exc.errors(include_url=False), prefix=("body",))
        raise InvalidImportError("The body is not an import; see errors.", errors=errors[:20]) from exc
    return ImportInput(request.items, request.context, "json")


def _check_count(count: int) -> None:
    if count > MAX_IMPORT_ITEMS:
        raise TooManyItemsError(
            f"This import has {count} items; an import takes at most {MAX_IMPORT_ITEMS}. Split it into several.",
            max_items=MAX_IMPORT_ITEMS,
        )


def _csv_items(text: str) -> Iterator[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        columns = _checked_header(header)
        count = 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # a blank line (or only separators) is not an item
            count += 1
            _check_count(count)
            yield _item(columns, row)
    except csv.Error as exc:
        raise InvalidImportError(f"Line {reader.line_num} of the CSV cannot be read: {exc}.") from exc
    if count == 0:
        raise InvalidImportError("The CSV has a header but no rows.")


def _checked_header(header: list[str] | None) -> list[str]:
    if not header:
        raise InvalidImportError("The CSV is empty: its first row must name the columns, tracking_number first.")
    columns = [name.strip().lower() for name in header]
    errors: list[FieldError] = []
    for position, name in enumerate(columns):
        if name in columns[:position]:
            errors.append(FieldError(loc=["body", "header", name[:100]], msg="column given twice", type="duplicate"))
        elif name not in CSV_COLUMNS and name not in IGNORED_COLUMNS:
            errors.append(FieldError(loc=["body", "header", name[:100]], msg="unknown column", type="unknown_column"))
    if "tracking_number" not in columns:
        errors.insert(0, FieldError(loc=["body", "header"], msg="no tracking_number column", type="missing"))
    if errors:
        known = ", ".join(CSV_COLUMNS)
        raise InvalidImportError(f"The CSV header is not valid; see errors. Columns: {known}.", errors=errors[:20])
    return columns


def _item(columns: list[str], row: list[str]) -> dict[str, Any]:
    """One CSV row as a request body: empty cells left out, customer columns gathered. A row longer than the
    header keeps its extra cells under ``""``, so the item fails validation alone."""
    item: dict[str, Any] = {}
    customer: dict[str, Any] = {}
    for position, cell in enumerate(row):
        name = columns[position] if position < len(columns) else ""
        value = cell.strip()
        if not value or name in IGNORED_COLUMNS:
            continue
        if name in _CUSTOMER_COLUMNS:
            customer[_CUSTOMER_COLUMNS[name]] = value
        elif name == "customer":
            item["customer"] = _json_cell(value)
        else:
            item[name] = value
    if customer:
        given = item.get("customer")
        item["customer"] = {**(given if isinstance(given, dict) else {}), **customer}
    return item


def _json_cell(value: str) -> Any:
    try:
        return loads_bounded(value)
    except InvalidJsonError:
        return value  # not JSON: validation says the customer is not an object, and only this item fails
