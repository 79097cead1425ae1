"""Reading import files (encodings, BOM, blank lines, bad headers) and writing the failed rows back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from shiptrack_cli.errors import ExitCode, InputFileError
from shiptrack_cli.importfile import failed_rows_path, read_import_file, write_failed_rows

pytestmark = pytest.mark.unit

CSV = (
    "tracking_number,carrier_code,order_id,title\n"
    "RR123456785CN,china-post,o-1,Blue mug\n"
    "9400111899223197428490,usps,o-2,Plate\n"
)


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_utf8_csv_is_sent_byte_for_byte_as_text_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "parcels.csv", CSV)

    source = read_import_file(path)

    assert (source.format, source.content_type) == ("csv", "text/csv")
    assert source.body == path.read_bytes()
    assert source.columns == ("tracking_number", "carrier_code", "order_id", "title")
    assert [row["tracking_number"] for row in source.rows] == ["RR123456785CN", "9400111899223197428490"]


def test_a_byte_order_mark_is_not_sent_and_does_not_hide_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, "excel.csv", b"\xef\xbb\xbf" + CSV.encode())

    source = read_import_file(path)

    assert source.body == CSV.encode()
    assert source.columns[0] == "tracking_number"


def test_utf16_with_a_bom_is_read_and_sent_as_utf8(tmp_path: Path) -> None:
    text = CSV.replace("Blue mug", "Tasse bleue à café")
    path = write(tmp_path, "unicode.csv", text.encode("utf-16"))  # Python writes the BOM

    source = read_import_file(path)

    assert source.body == text.encode("utf-8")
    assert source.rows[0]["title"] == "Tasse bleue à café"


def test_a_file_that_is_not_utf8_is_refused_with_where_and_how_to_fix_it(tmp_path: Path) -> None:
    text = CSV.replace("Plate", "Assiette décorée")
    path = write(tmp_path, "windows.csv", text.encode("cp1252"))

    with pytest.raises(InputFileError) as caught:
        read_import_file(path)

    assert caught.value.message == f"{path} is not UTF-8: byte 0xe9 on line 3 cannot be decoded"
    assert caught.value.hint is not None
    assert "--encoding cp1252" in caught.value.hint
    assert caught.value.exit_code == ExitCode.USAGE


def test_an_encoding_can_be_given(tmp_path: Path) -> None:
    text = CSV.replace("Plate", "Assiette décorée")
    path = write(tmp_path, "windows.csv", text.encode("cp1252"))

    source = read_import_file(path, encoding="cp1252")

    assert source.body == text.encode("utf-8")
    assert source.rows[1]["title"] == "Assiette décorée"
    with pytest.raises(InputFileError, match="unknown encoding 'klingon'"):
        read_import_file(path, encoding="klingon")


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "gaps.csv", "tracking_number\r\nRR123456785CN\r\n\r\n\r\nLX123456785CN\r\n\r\n")

    source = read_import_file(path)

    assert [row["tracking_number"] for row in source.rows] == ["RR123456785CN", "LX123456785CN"]
    assert source.body == path.read_bytes()  # sent as it is


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        (
            "number,carrier\nRR123456785CN,china-post\n",
            "has no tracking_number column (its header is: number, carrier)",
            "first row",
        ),
        (
            "tracking_number;carrier_code\nRR123456785CN;china-post\n",
            "has no tracking_number column",
            "separated by ';'",
        ),
        ("", "is empty", "first row"),
        ("tracking_number,carrier_code\n", "has a header but no rows", None),
    ],
)
def test_a_csv_that_cannot_be_an_import_is_refused(
    tmp_path: Path, content: str, message: str, hint: str | None
) -> None:
    path = write(tmp_path, "bad.csv", content)

    with pytest.raises(InputFileError) as caught:
        read_import_file(path)

    assert message in caught.value.message
    if hint:
        assert caught.value.hint is not None
        assert hint in caught.value.hint


def test_jsonl_lines_become_items(tmp_path: Path) -> None:
    lines = [
        {"tracking_number": "RR123456785CN", "carrier_code": "china-post", "customer": {"name": "Ann"}},
        {"tracking_number": "9400111899223197428490", "title": "Plate\u2028with a line separator"},
    ]
    text = "\ufeff" + json.dumps(lines[0]) + "\r\n\r\n   \n" + json.dumps(lines[1], ensure_ascii=False) + "\n"
    path = write(tmp_path, "parcels.jsonl", text)

    source = read_import_file(path)

    assert (source.format, source.content_type) == ("jsonl", "application/json")
    assert json.loads(source.body) == {"items": lines}
    assert source.columns == ("tracking_number", "carrier_code", "customer", "title")
    assert source.rows[0] == {
        "tracking_number": "RR123456785CN",
        "carrier_code": "china-post",
        "customer": '{"name":"Ann"}',
        "title": "",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"tracking_number": "RR123456785CN"}\n{"tracking_number": \n',
            "line 2: not JSON (Expecting value, column 21)",
        ),
        (
            '{"tracking_number": "RR123456785CN"}\n\n["RR123456785CN"]\n',
            "line 3: each line must be a JSON object, not list",
        ),
        ("\n \n", "has no items"),
    ],
)
def test_jsonl_that_cannot_be_an_import_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, "bad.jsonl", content)

    with pytest.raises(InputFileError) as caught:
        read_import_file(path)

    assert message in caught.value.message


def test_the_format_comes_from_the_name_or_the_option(tmp_path: Path) -> None:
    path = write(tmp_path, "parcels.txt", CSV)

    with pytest.raises(InputFileError, match="cannot tell the format"):
        read_import_file(path)
    assert read_import_file(path, file_format="csv").format == "csv"
    assert read_import_file(write(tmp_path, "p.NDJSON", '{"tracking_number": "RR123456785CN"}')).format == "jsonl"


def test_failed_rows_keep_the_input_columns_and_add_the_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "parcels.csv",
        "tracking_number,carrier_code,title\nRR123456785CN,china-post,Mug\n\nx,,Bad\nFAIL12345,ups,Plate\n",
    )
    source = read_import_file(path)
    failed = [  # out of order on purpose: the file is in input order
        {"index": 2, "tracking_number": "FAIL12345", "problem": {"code": "upstream_rejected", "detail": "refused"}},
        {"index": 1, "tracking_number": "x", "problem": {"code": "validation_error", "title": "Invalid input"}},
    ]

    written = write_failed_rows(source, failed, failed_rows_path(path))

    assert failed_rows_path(path) == tmp_path / "parcels.failed.csv"
    assert written == 2
    assert read_csv(tmp_path / "parcels.failed.csv") == [
        {
            "tracking_number": "x",
            "carrier_code": "",
            "title": "Bad",
            "problem_code": "validation_error",
            "problem_detail": "Invalid input",
        },
        {
            "tracking_number": "FAIL12345",
            "carrier_code": "ups",
            "title": "Plate",
            "problem_code": "upstream_rejected",
            "problem_detail": "refused",
        },
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parcels.csv", "parcels.failed.csv"]  # no temporary left


def test_a_failed_file_imported_again_gets_fresh_problem_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path, "parcels.failed.csv", "tracking_number,problem_code,problem_detail\nFAIL12345,old,old detail\n"
    )
    source = read_import_file(path)

    write_failed_rows(
        source, [{"index": 0, "tracking_number": "FAIL12345", "problem": {"code": "new"}}], tmp_path / "out.csv"
    )

    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == [
        "tracking_number,problem_code,problem_detail",
        "FAIL12345,new,",
    ]


def test_a_result_is_matched_by_number_when_the_index_does_not_fit(tmp_path: Path) -> None:
    source = read_import_file(
        write(tmp_path, "p.csv", "tracking_number,title\nRR123456785CN,Mug\nLX123456785CN,Plate\n")
    )

    assert source.row_for({"index": 0, "tracking_number": "lx 123456785 cn"})["title"] == "Plate"
    assert source.row_for({"index": 7, "tracking_number": "RR123456785CN"})["title"] == "Mug"
    assert source.row_for({"index": 1})["title"] == "Plate"  # an item without a number: trust the index
    assert source.row_for({"index": 9, "tracking_number": "ZZ1", "carrier_code": "ups"}) == {
        "tracking_number": "ZZ1",
        "carrier_code": "ups",
    }
