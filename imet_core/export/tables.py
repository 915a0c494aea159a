"""Tables as CSV and XLSX, with the export footer and spreadsheet formulas neutralised.

Registry text is data: a centre code such as ``=HYPERLINK(...)`` or a file named ``@cmd.csv``
loads unchanged (contract, section 1), but a spreadsheet that opens an export must not execute
it. Following OWASP's advice on CSV injection
(https://owasp.org/www-community/attacks/CSV_Injection), every text cell that begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a leading single quote, so
spreadsheet programs show it as text. Numbers stay numbers; the frame passed in is never changed.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from imet_core.export.footer import Footer

__all__ = ["FORMULA_TRIGGERS", "neutralise_cell", "neutralise_frame", "footer_rows", "table_csv",
           "table_xlsx"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)."""
QUOTE = "'"


def neutralise_cell(value: object) -> object:
    """``value`` with a leading ``'`` if it is text beginning with a formula trigger; else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return QUOTE + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are neutralised.

    Returns
    -------
    DataFrame
        Same shape, index and dtypes for non-text columns; text (object/string) columns hold
        :func:`neutralise_cell` of each value; column names are neutralised too.
    """
    out = frame.copy()
    for position, column in enumerate(out.columns):
        series = out.iloc[:, position]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out.isetitem(position, series.map(neutralise_cell).astype(object))
    out.columns = [neutralise_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def footer_rows(footer: Footer | None, notes: Sequence[str] = ()) -> list[list[str]]:
    """Rows appended under a table: a blank row, then (field, text) pairs and any notes."""
    if footer is None and not notes:
        return []
    rows: list[list[str]] = [[]]
    if footer is not None:
        rows += [[name, text] for name, text in footer.items()]
    rows += [["Note", note] for note in notes]
    return [[neutralise_cell(cell) for cell in row] for row in rows]


def _plain(value: object) -> object:
    """A cell value csv/openpyxl can write: NaN/NA/NaT -> empty, numpy scalars -> Python."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)) and math.isnan(float(value)):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _header_and_rows(frame: pd.DataFrame, index: bool) -> tuple[list[object], list[list[object]]]:
    table = frame.reset_index() if index else frame
    safe = neutralise_frame(table)
    header = [str(c) for c in safe.columns]
    rows = [[_plain(v) for v in row] for row in safe.itertuples(index=False, name=None)]
    return header, rows


def table_csv(frame: pd.DataFrame, footer: Footer | None = None, *, index: bool = False,
              notes: Sequence[str] = ()) -> bytes:
    """The table as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read "≥" and "−").

    Parameters
    ----------
    frame : DataFrame
        The table (not changed).
    footer : Footer, optional
        Appended under the table after a blank row, one (field, text) pair per row.
    index : bool
        Write the index as the first column(s).
    notes : sequence of str
        Extra "Note" rows after the footer.

    Returns
    -------
    bytes
    """
    header, rows = _header_and_rows(frame, index)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    for row in footer_rows(footer, notes):
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8-sig")


def table_xlsx(frame: pd.DataFrame, footer: Footer | None = None, *, index: bool = False,
               sheet_name: str = "Table", title: str | None = None, notes: Sequence[str] = ()) -> bytes:
    """The table as an Excel workbook: optional title row, bold header, the footer underneath.

    Numbers are written as numbers (unrounded), text as text (never as a formula: openpyxl treats
    a string beginning with ``=`` as a formula, which neutralisation prevents).

    Returns
    -------
    bytes
        The .xlsx file.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    header, rows = _header_and_rows(frame, index)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _sheet_title(sheet_name)
    start = 1
    if title:
        sheet.cell(row=1, column=1, value=neutralise_cell(title)).font = Font(bold=True, size=13)
        start = 3
    for j, name in enumerate(header, start=1):
        cell = sheet.cell(row=start, column=j, value=name)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, row in enumerate(rows, start=start + 1):
        for j, value in enumerate(row, start=1):
            cell = sheet.cell(row=i, column=j)
            _set_cell(cell, value)
    sheet.freeze_panes = sheet.cell(row=start + 1, column=1)
    footer_start = start + len(rows) + 1
    for i, row in enumerate(footer_rows(footer, notes), start=footer_start):
        for j, value in enumerate(row, start=1):
            cell = sheet.cell(row=i, column=j)
            _set_cell(cell, value)
            cell.font = Font(italic=True, color="4B5563", bold=(j == 1))
    for j, name in enumerate(header, start=1):
        values = [name, *(row[j - 1] for row in rows[:500])]
        width = max(len(_display(v)) for v in values)
        sheet.column_dimensions[get_column_letter(j)].width = min(max(10, width + 2), 60)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _set_cell(cell, value: object) -> None:
    """Write a value; text is forced to the string type so it is never parsed as a formula."""
    if isinstance(value, str):
        cell.value = value
        cell.data_type = "s"
    elif isinstance(value, (_dt.datetime, _dt.date)):
        cell.value = value
        cell.number_format = "yyyy-mm-dd"
    else:
        cell.value = value


def _display(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _sheet_title(name: str) -> str:
    """Excel sheet names: at most 31 characters, none of : \\ / ? * [ ]."""
    cleaned = "".join("_" if ch in ':\\/?*[]' else ch for ch in str(name)).strip() or "Table"
    return cleaned[:31]
