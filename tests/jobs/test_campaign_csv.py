"""Reading the segments CSV: UTF-8 with a header; every problem one sentence naming row and column."""

from __future__ import annotations

import pytest

from desktop.jobs import campaign_csv
from desktop.jobs.campaign_csv import SegmentsError, parse_segments, read_segments


def error_of(raw: bytes) -> str:
    with pytest.raises(SegmentsError) as error:
        parse_segments(raw, "segments.csv")
    return str(error.value)


def test_utf8_with_a_byte_order_mark_quotes_and_short_rows():
    raw = '\ufeffsegment,person,place\n"Bjørn, 42",a man,"a ""quiet"" lake"\nZoë,a teenager\n\n'.encode()
    segments = parse_segments(raw)
    assert segments.columns == ("segment", "person", "place")
    assert segments.rows == (
        {"segment": "Bjørn, 42", "person": "a man", "place": 'a "quiet" lake'},
        {"segment": "Zoë", "person": "a teenager", "place": ""},  # a spreadsheet drops trailing empty cells
    )


def test_empty_files_and_headers_are_named():
    assert error_of(b"") == "segments.csv is empty: it needs a header row of column names and a row per segment."
    assert error_of(b"\n \n") == error_of(b"")
    assert error_of(b"person,place\n") == "segments.csv has a header but no rows: add a row per segment."
    assert error_of(b"person,,place\na,b,c\n") == (
        "column 2 of segments.csv's header has no name: name it (or delete the column)."
    )
    assert error_of(b"person,place,person\na,b,c\n") == (
        "column 'person' appears twice in segments.csv's header (columns 1 and 3): rename one."
    )
    # Empty cells after the last named column are a spreadsheet's habit, not a column.
    assert parse_segments(b"person,place,,\na,b,,\n").columns == ("person", "place")


def test_extra_values_non_utf8_and_bounds():
    assert error_of(b"person,place\na,b,c\n") == (
        "row 1 has 3 values but the header names 2 columns: name the extra column or remove the extra values."
    )
    assert error_of("person\nBjørn\n".encode("latin-1")) == (
        "segments.csv is not UTF-8 text (byte 0xf8 on line 2): save it as CSV UTF-8."
    )
    many = b"person\n" + b"x\n" * (campaign_csv.MAX_ROWS + 1)
    assert error_of(many) == "segments.csv has 10,001 rows; at most 10,000: split it into several campaigns."


def test_files_too_large_missing_or_spreadsheets_are_refused(tmp_path, monkeypatch):
    with pytest.raises(SegmentsError, match="does not exist"):
        read_segments(tmp_path / "missing.csv")
    xlsx = tmp_path / "segments.xlsx"
    xlsx.write_bytes(b"PK")
    with pytest.raises(SegmentsError, match=r"segments.xlsx is not an Excel workbook: save it again"):
        read_segments(xlsx)
    ods = tmp_path / "segments.ods"
    ods.write_bytes(b"PK")
    with pytest.raises(SegmentsError, match=r"not a CSV or .xlsx file; save it as CSV UTF-8"):
        read_segments(ods)
    monkeypatch.setattr(campaign_csv, "MAX_CSV_BYTES", 10)
    big = tmp_path / "big.csv"
    big.write_text("person\n" + "x\n" * 10)
    with pytest.raises(SegmentsError, match=r"MB: split it"):
        read_segments(big)


def test_an_excel_workbook_is_read_as_excel_shows_it(tmp_path, monkeypatch):
    import datetime

    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["segment", "person", "seed", "launch"])
    sheet.append(["Bjørn", "a retired man hiking", 7, datetime.datetime(2027, 3, 1)])
    sheet.append([None, None, None, None])  # an empty row between is not a segment
    sheet.append(["Zoë", "a teenager at a skate park", 12.5, None])
    workbook.create_sheet("notes").append(["ignored: only the first sheet is read"])
    path = tmp_path / "segments.xlsx"
    workbook.save(path)

    segments = read_segments(path)
    assert segments.columns == ("segment", "person", "seed", "launch")
    assert segments.rows == (
        {"segment": "Bjørn", "person": "a retired man hiking", "seed": "7", "launch": "2027-03-01"},
        {"segment": "Zoë", "person": "a teenager at a skate park", "seed": "12.5", "launch": ""},
    )

    # A workbook is a zip: what it unpacks to is bounded before it is read.
    monkeypatch.setattr(campaign_csv, "MAX_XLSX_UNPACKED_BYTES", 1000)
    with pytest.raises(SegmentsError, match=r"segments.xlsx unpacks to .* save it as CSV UTF-8"):
        read_segments(path)
