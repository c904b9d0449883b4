"""Spreadsheets: each sheet of an .xlsx (openpyxl, cached values, never formulas run) and a .csv file become
Markdown tables whose first row is the header, cut into passages that repeat it (`sheet` and `rows` metadata)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .archives import check_zip
from .base import NO_LIMITS, LoadError, Parsed, ReadLimits, TooManyPassages, Unit, decode_text, one_line
from .tables import clean_rows, table_units

MAX_CELLS = 2_000_000  # cells read of one file (a sheet can declare a million rows in a few bytes per row): past it,
# refused before the rows held in memory pass about 150 MB


def read_xlsx(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    import openpyxl

    check_zip(data, ".xlsx")
    units: list[Unit] = []
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (KeyError, ValueError, TypeError, OSError, EOFError, IndexError, AttributeError, SyntaxError) as exc:
        raise LoadError(f"not a readable Excel file ({type(exc).__name__}: {str(exc)[:120]})") from None
    try:
        title = one_line(book.properties.title or "") or path.stem
        counted = _Cells()
        for sheet in book.worksheets:
            rows = clean_rows(counted(sheet.iter_rows(values_only=True)))
            units += _bounded(table_units(rows, title, {"sheet": one_line(sheet.title)}), limits.max_units, len(units))
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, SyntaxError) as exc:
        raise LoadError(f"not a readable Excel file ({type(exc).__name__}: {str(exc)[:120]})") from None
    finally:
        book.close()
    return Parsed(units)


def read_csv(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:  # one column, or no clear delimiter: commas
        dialect = csv.excel
    try:
        rows = clean_rows(_Cells()(csv.reader(io.StringIO(text), dialect)))
    except csv.Error as exc:
        raise LoadError(f"not a readable CSV file ({str(exc)[:120]})") from None
    return Parsed(_bounded(table_units(rows, path.stem), limits.max_units, 0))


class _Cells:
    """Rows passed through with their cells counted across a file's tables; past `MAX_CELLS`, a `LoadError`."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, rows: Iterable[Sequence[object]]) -> Iterator[Sequence[object]]:
        for row in rows:
            self.count += len(row)
            if self.count > MAX_CELLS:
                raise LoadError(f"more than {MAX_CELLS:,} cells: split the file")
            yield row


def _bounded(units: list[Unit], max_units: int | None, before: int) -> list[Unit]:
    if max_units is not None and before + len(units) > max_units:
        raise TooManyPassages(max_units)
    return units
