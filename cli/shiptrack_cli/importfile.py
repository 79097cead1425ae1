"""Import files: reading a CSV or JSON Lines file for ``POST /imports``, and writing the failed rows back out.

* A CSV is sent as it is, as ``text/csv`` (UTF-8, without a byte-order mark); its header row must name a
  ``tracking_number`` column. The other columns are the API's business (docs/api.md).
* A JSON Lines file has one JSON object per line; blank lines are skipped. The objects are sent as
  ``{"items": [...]}``, each with the shape of ``CreateTrackingRequest``.

Everything that makes a file unsendable (not decodable, no ``tracking_number`` column, a line that is not JSON,
no rows) is an :class:`~shiptrack_cli.errors.InputFileError` raised before any request.

Item ``i`` of the import is the ``i``-th data row (blank CSV lines are not rows, as for Python's ``csv``), or the
``i``-th non-blank line: :meth:`ImportFile.row_for` finds the row behind an API result by that index.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from shiptrack_cli.errors import InputFileError

Format = Literal["csv", "jsonl"]

CSV_KEY_COLUMN: Final = "tracking_number"
PROBLEM_COLUMNS: Final = ("problem_code", "problem_detail")
FORMAT_BY_SUFFIX: Final[dict[str, Format]] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
ENCODING_HINT: Final = "give its encoding with --encoding, e.g. --encoding cp1252 (Excel on Windows) or latin-1"


@dataclass(frozen=True)
class ImportFile:
    """A file ready to send: the request body, and its rows as text for the failed-rows file."""

    path: Path
    format: Format
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    content_type: str
    body: bytes

    def row_for(self, result: Mapping[str, Any]) -> dict[str, str]:
        """The input row behind one API result (``index``, checked against its ``tracking_number``)."""
        number = result.get("tracking_number")
        index = result.get("index")
        if isinstance(index, int) and 0 <= index < len(self.rows):
            row = self.rows[index]
            if number is None or _same_number(row.get(CSV_KEY_COLUMN), number):
                return dict(row)
        for row in self.rows:  # the API counted rows differently: fall back to the number
            if number is not None and _same_number(row.get(CSV_KEY_COLUMN), number):
                return dict(row)
        return {CSV_KEY_COLUMN: str(number or ""), "carrier_code": str(result.get("carrier_code") or "")}


def read_import_file(path: Path, *, file_format: Format | None = None, encoding: str | None = None) -> ImportFile:
    """Read and check ``path`` (format from its suffix unless given); raise :class:`InputFileError` if unusable."""
    fmt = file_format or FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            f"{path}: cannot tell the format from the name", hint="name it .csv or .jsonl, or pass --format csv|jsonl"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = decode_text(data, path, encoding)
    return _read_csv(path, text) if fmt == "csv" else _read_jsonl(path, text)


def decode_text(data: bytes, path: Path, encoding: str | None = None) -> str:
    """``data`` as text: UTF-8 (a BOM is dropped), UTF-16 with a BOM, or ``encoding`` when given."""
    try:
        if encoding:
            return data.decode(encoding).removeprefix("\ufeff")
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")  # Excel's "Unicode text"; the codec reads and drops the BOM
        return data.decode("utf-8-sig")
    except LookupError as exc:
        raise InputFileError(f"unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        what = f"is not {encoding}" if encoding else "is not UTF-8"
        raise InputFileError(
            f"{path} {what}: byte 0x{data[exc.start]:02x} on line {line} cannot be decoded", hint=ENCODING_HINT
        ) from exc


def _read_csv(path: Path, text: str) -> ImportFile:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames
        if not header:
            raise InputFileError(f"{path} is empty", hint="the first row must name the columns, e.g. tracking_number")
        if CSV_KEY_COLUMN not in header:
            separator = next((sep for sep in ";\t|" if sep in header[0]), None)
            raise InputFileError(
                f"{path} has no {CSV_KEY_COLUMN} column (its header is: {', '.join(header)})",
                hint=(
                    f"the columns look separated by {separator!r}: the API reads comma-separated values"
                    if separator
                    else "the first row must name the columns: tracking_number, and optionally carrier_code, "
                    "order_id, title, …"
                ),
            )
        rows = tuple({key: value or "" for key, value in row.items() if key is not None} for row in reader)
    except csv.Error as exc:
        raise InputFileError(f"{path}, line {reader.line_num}: not a readable CSV ({exc})") from exc
    if not rows:
        raise InputFileError(f"{path} has a header but no rows")
    return ImportFile(path, "csv", tuple(header), rows, "text/csv", text.encode("utf-8"))


def _read_jsonl(path: Path, text: str) -> ImportFile:
    items: list[dict[str, Any]] = []
    # Not str.splitlines(): JSON strings may hold U+2028 and friends unescaped, and they are not line ends here.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path}, line {number}: not JSON ({exc.msg}, column {exc.colno})") from exc
        if not isinstance(item, dict):
            raise InputFileError(f"{path}, line {number}: each line must be a JSON object, not {type(item).__name__}")
        items.append(item)
    if not items:
        raise InputFileError(f"{path} has no items (one JSON object per line)")
    columns = tuple(dict.fromkeys(key for item in items for key in item))
    rows = tuple({key: _cell(item.get(key)) for key in columns} for item in items)
    body = json.dumps({"items": items}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return ImportFile(path, "jsonl", columns, rows, "application/json", body)


def failed_rows_path(path: Path) -> Path:
    """Where the failed rows of ``parcels.csv`` (or ``.jsonl``) go: ``parcels.failed.csv`` beside it."""
    return path.with_name(f"{path.stem}.failed.csv")


def write_failed_rows(source: ImportFile, failed_results: Iterable[Mapping[str, Any]], out: Path) -> int:
    """Write the input rows behind ``failed_results`` (in input order) plus their problem; return how many.

    The columns are the input's (a previous run's problem columns are replaced, not repeated) followed by
    ``problem_code`` and ``problem_detail``. The file is replaced atomically.
    """
    columns = [column for column in source.columns if column not in PROBLEM_COLUMNS] + list(PROBLEM_COLUMNS)
    results = sorted(failed_results, key=lambda result: _index_key(result.get("index")))
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for result in results:
                problem = result.get("problem") or {}
                row = source.row_for(result)
                row["problem_code"] = str(problem.get("code") or "")
                row["problem_detail"] = str(problem.get("detail") or problem.get("title") or "")
                writer.writerow(row)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(results)


def _index_key(index: Any) -> int:
    return index if isinstance(index, int) else 1 << 62


def _same_number(ours: str | None, theirs: Any) -> bool:
    def normal(value: Any) -> str:
        return "".join(str(value or "").split()).upper()

    return normal(ours) == normal(theirs)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
