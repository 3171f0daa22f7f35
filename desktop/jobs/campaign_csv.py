"""Reading a campaign's segments: a UTF-8 CSV, or an Excel workbook's first sheet (.xlsx), with a
header row and one audience segment per row.

The file is data from outside: it is bounded in size and rows (a workbook also in what it unpacks
to), read whole before anything runs, and every problem is one sentence naming the row (1 = the
first row after the header) and column.
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_CSV_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000
MAX_COLUMNS = 200
MAX_CELL_CHARS = 2_000
# An .xlsx is a zip: what it unpacks to is bounded too (a small file can unpack to gigabytes).
MAX_XLSX_UNPACKED_BYTES = 100 * 1024 * 1024


class SegmentsError(ValueError):
    """One sentence saying what is wrong with the segments file and where."""


@dataclass(frozen=True)
class Segments:
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]  # values by column, in the file's column order


def read_segments(path: Path) -> Segments:
    path = Path(path)
    name = path.name
    if path.suffix.lower() in (".xls", ".ods", ".numbers"):
        raise SegmentsError(f"{name} is not a CSV or .xlsx file; save it as CSV UTF-8 (File > Save as) and give that.")
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise SegmentsError(f"{path} is not a file: give the segments CSV.")
        if size > MAX_CSV_BYTES:
            raise SegmentsError(f"{name} is {size / 2**20:.1f} MB; at most {MAX_CSV_BYTES / 2**20:g} MB: split it.")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SegmentsError(f"{path} does not exist: give the path of the segments CSV.") from None
    except OSError as exc:
        raise SegmentsError(f"{path} cannot be read ({exc.strerror or exc}).") from None
    if path.suffix.lower() == ".xlsx":
        return parse_workbook(raw, name)
    return parse_segments(raw, name)


def parse_workbook(raw: bytes, name: str = "the workbook") -> Segments:
    """The first sheet of an .xlsx workbook, its cells as the text Excel shows (7, not 7.0)."""
    import openpyxl  # only a workbook needs it

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise SegmentsError(f"{name} is not an Excel workbook: save it again as .xlsx, or as CSV UTF-8.") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise SegmentsError(f"{name} unpacks to {unpacked / 2**20:.0f} MB; at most 100 MB: save it as CSV UTF-8.")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise SegmentsError(f"{name} cannot be read as a workbook ({type(exc).__name__}): save it again.") from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise SegmentsError(f"{name} has no sheet: it needs a header row and a row per segment.")
        records = []
        # Bounded while reading: one row past the limit is enough to say the sheet is too long.
        for row in sheet.iter_rows(max_col=MAX_COLUMNS + 1, values_only=True):
            records.append([_cell_text(value) for value in row])
            if len(records) > MAX_ROWS + 1:
                break
    finally:
        workbook.close()
    return _segments(records, name)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel keeps every number as a float: a seed of 7 is 7.0
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def parse_segments(raw: bytes, name: str = "the CSV") -> Segments:
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which is not part of the header.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SegmentsError(
            f"{name} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}): save it as CSV UTF-8."
        ) from None
    if "\x00" in text:
        raise SegmentsError(f"{name} holds NUL characters: it is not a CSV file.")
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise SegmentsError(f"{name} is not a valid CSV file ({exc}).") from None
    return _segments(records, name)


def _segments(records: list[list[str]], name: str) -> Segments:
    # Lines with no value at all (a trailing blank line, a spreadsheet's empty rows) are not segments.
    records = [r for r in records if any(cell.strip() for cell in r)]
    if not records:
        raise SegmentsError(f"{name} is empty: it needs a header row of column names and a row per segment.")
    header = [cell.strip() for cell in records[0]]
    while header and not header[-1]:
        header.pop()  # spreadsheets may export empty cells after the last named column
    columns = _check_header(header, name)
    body = records[1:]
    if not body:
        raise SegmentsError(f"{name} has a header but no rows: add a row per segment.")
    if len(body) > MAX_ROWS:
        raise SegmentsError(f"{name} has {len(body):,} rows; at most {MAX_ROWS:,}: split it into several campaigns.")
    rows = []
    for number, record in enumerate(body, start=1):
        if len(record) > len(columns) and any(cell.strip() for cell in record[len(columns) :]):
            raise SegmentsError(
                f"row {number} has {len(record)} values but the header names {len(columns)} columns: "
                "name the extra column or remove the extra values."
            )
        values = {}
        for index, column in enumerate(columns):
            # A short row (a spreadsheet drops trailing empty cells) leaves those columns empty.
            cell = record[index].strip() if index < len(record) else ""
            if len(cell) > MAX_CELL_CHARS:
                raise SegmentsError(
                    f"row {number}, column {column}: the value is longer than {MAX_CELL_CHARS} characters."
                )
            values[column] = cell
        rows.append(values)
    return Segments(tuple(columns), tuple(rows))


def _check_header(header: list[str], name: str) -> list[str]:
    if len(header) > MAX_COLUMNS:
        raise SegmentsError(f"{name} has {len(header)} columns; at most {MAX_COLUMNS}.")
    seen: dict[str, int] = {}
    for index, column in enumerate(header, start=1):
        if not column:
            raise SegmentsError(f"column {index} of {name}'s header has no name: name it (or delete the column).")
        if column in seen:
            raise SegmentsError(
                f"column '{column}' appears twice in {name}'s header (columns {seen[column]} and {index}): rename one."
            )
        seen[column] = index
    return header
