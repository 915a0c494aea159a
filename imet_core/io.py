"""Load a registry file, check every rule of the contract, and add the derived columns.

:func:`load_registry` reads CSV (comma or semicolon, detected; UTF-8 with or without BOM, or
UTF-16 with BOM; any line ending), TSV, XLSX (first sheet) and Parquet, from a path or a
file-like object such as a Streamlit upload. It reads every cell as text first, so nothing is
coerced silently, then checks every rule of ``../shared/docs/contract.md`` section 1 with column
operations (no Python loop over rows) and collects **all** problems before raising
:class:`RegistryError`. A file that passes is returned as the loaded registry frame:

* one row per patient in file order, ``RangeIndex`` 0..n-1; spreadsheet row = index + 2;
* every contract column under its canonical name (:data:`imet_core.schema.FRAME_COLUMNS`),
  optional columns absent from the file added as all-missing; categories as object dtype
  holding the contract's spelling (NaN = missing); dates as ``datetime64[ns]`` (NaT = missing);
  yes/no columns as bool;
* derived columns: ``mdfi_months``, ``os_months``, ``pdrs_months``, ``entry_months``,
  ``pfs_months``, ``progressed``, ``intervention_months`` (months of 30.4375 days,
  :data:`imet_core.MONTH_DAYS`), ``age_lt_55``, ``hr_positive``, ``her2_positive``,
  ``mdfi_gt_24`` and ``site``;
* ``frame.attrs``: ``form`` ("dates" or "intervals"), ``source_name`` (file name or None),
  ``ignored_columns`` (headers as written that are not registry columns), ``notices``
  (plain sentences about what the loader did, e.g. which sheet it read).

Uploads are read in memory only: this module never writes them to disk and never logs them.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as _dt
import hashlib
import io as _io
import os
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, NamedTuple, Sequence, Union

import numpy as np
import pandas as pd

from imet_core import MONTH_DAYS
from imet_core import schema
from imet_core.schema import Kind, Requirement

__all__ = [
    "PROBLEM_LIMIT",
    "READ_BYTES_LIMIT",
    "Problem",
    "RegistryError",
    "frame_fingerprint",
    "load_registry",
    "problems_frame",
    "summarise_problems",
]

READ_BYTES_LIMIT: int = 200 * 1024 * 1024
"""Largest file :func:`load_registry` reads, in bytes (the app's upload limit, 200 MB)."""

PROBLEM_LIMIT: int = 100_000
"""At most this many problems are kept with their details; the rest are only counted."""

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Any]

_HEADER_ROW = 1
_FIRST_DATA_ROW = 2  # spreadsheet row of frame index 0 (header = row 1)
_STRING = pd.StringDtype("pyarrow")

_REQUIRED_DATES = ("date_diagnosis", "date_surgery", "date_metastasis", "date_last_followup")
_REQUIRED_INTERVALS = ("mdfi_months", "os_months", "pdrs_months")
_FILE_COLUMNS = frozenset(c.name for c in schema.CONTRACT_COLUMNS + schema.INTERVAL_COLUMNS)
_DERIVED_ONLY = frozenset(c.name for c in schema.DERIVED_ONLY_COLUMNS)
_COLUMN_ORDER = {name: i for i, name in enumerate(schema.FRAME_COLUMNS)}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------


class Problem(NamedTuple):
    """One thing wrong with a registry file.

    Attributes
    ----------
    row : int or None
        Spreadsheet row number (header = 1, first patient = 2); None for a problem with the
        whole file.
    column : str or None
        Canonical column name, or the header as written when it is not a registry column;
        None for a problem with a whole row or the whole file.
    value : str or None
        The cell as written ("" for an empty cell); None when there is no single cell.
    message : str
        A plain sentence saying what is wrong and, where possible, how to fix it.
    """

    row: int | None
    column: str | None
    value: str | None
    message: str


class RegistryError(ValueError):
    """A registry file that cannot be loaded, with every problem found in it.

    Attributes
    ----------
    problems : list of Problem
        Every problem (file-level first, then by row and column), at most
        :data:`PROBLEM_LIMIT` of them.
    total : int
        How many problems were found (may exceed ``len(problems)``).
    notices : list of str
        What the loader noticed on the way that is not an error (e.g. sheets not read).
    source_name : str or None
        The file's name when known.
    """

    def __init__(self, problems: Sequence[Problem], *, total: int | None = None,
                 notices: Sequence[str] = (), source_name: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        self.total: int = len(self.problems) if total is None else int(total)
        self.notices: list[str] = list(notices)
        self.source_name = source_name
        super().__init__(self._summary())

    def _summary(self) -> str:
        what = f"'{self.source_name}'" if self.source_name else "The registry file"
        head = (f"{what} could not be loaded: {self.total} "
                f"problem{'s' if self.total != 1 else ''} found.")
        body = summarise_problems(self.problems, limit=10, total=self.total)
        notes = "".join(f"\nNote: {notice}" for notice in self.notices)
        return f"{head}\n{body}{notes}"


def problems_frame(problems: Iterable[Problem]) -> pd.DataFrame:
    """Problems as a table, for the app's downloadable report.

    Parameters
    ----------
    problems : iterable of Problem
        Usually ``RegistryError.problems``.

    Returns
    -------
    pandas.DataFrame
        One row per problem, columns ``row`` (nullable integer ``Int64``; missing for a
        file-level problem), ``column`` (object), ``value`` (object), ``message`` (object).
    """
    items = list(problems)
    return pd.DataFrame({
        "row": pd.array([p.row for p in items], dtype="Int64"),
        "column": pd.Series([p.column for p in items], dtype=object),
        "value": pd.Series([p.value for p in items], dtype=object),
        "message": pd.Series([p.message for p in items], dtype=object),
    })


def format_problem(problem: Problem) -> str:
    """One line for a problem: ``"Row 5, age: Age 130 is outside 18-100 years."``."""
    where = []
    if problem.row is not None:
        where.append(f"Row {problem.row}")
    if problem.column is not None:
        where.append(problem.column)
    return f"{', '.join(where)}: {problem.message}" if where else problem.message


def summarise_problems(problems: Sequence[Problem], *, limit: int = 10,
                       total: int | None = None) -> str:
    """The first ``limit`` problems, one per line, then "... and N more problems.".

    Parameters
    ----------
    problems : sequence of Problem
    limit : int
        How many problems to spell out.
    total : int, optional
        The true number of problems when ``problems`` was capped.

    Returns
    -------
    str
        Lines joined by newlines (empty string when there are no problems).
    """
    total = len(problems) if total is None else total
    lines = [format_problem(p) for p in problems[:limit]]
    hidden = total - len(lines)
    if hidden > 0:
        lines.append(f"... and {hidden:,} more problem{'s' if hidden != 1 else ''}.")
    return "\n".join(lines)


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """A stable hash of a frame's content, for caching analyses of one registry.

    Hashes the column names, dtypes and every value row by row with
    :func:`pandas.util.hash_pandas_object` (index included), so equal content gives equal
    fingerprints across sessions and processes.

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    str
        Hexadecimal SHA-256 digest (64 characters).
    """
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode("utf-8"))
    digest.update(str(len(frame)).encode("ascii"))
    if len(frame.columns):
        hashed = pd.util.hash_pandas_object(frame, index=True, categorize=True)
        digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def load_registry(source: Source, *, name: str | None = None) -> pd.DataFrame:
    """Load a registry file, check it completely, and add the derived columns.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file-like object
        A path, the file's bytes, or an object with ``read()`` (e.g. ``io.BytesIO`` or a
        Streamlit ``UploadedFile``; its ``name`` is used when it has one).
    name : str, optional
        The file name to report and to use for the format hint; overrides ``source.name``.

    Returns
    -------
    pandas.DataFrame
        The loaded registry frame, columns :data:`imet_core.schema.FRAME_COLUMNS` in that
        order (see the module docstring for dtypes and ``attrs``).

    Raises
    ------
    RegistryError
        When anything is wrong; ``.problems`` lists every problem found.
    TypeError
        When ``source`` is neither a path, bytes nor a readable object (a programming error).
    """
    data, source_name = _read_source(source, name)
    table = _parse_table(data, source_name)
    return _Validator(table, source_name).run()


# --------------------------------------------------------------------------------------------
# Reading the bytes
# --------------------------------------------------------------------------------------------


class _FileUnreadable(Exception):
    """Internal: the file cannot be turned into a table; carries the file-level message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _file_error(message: str, source_name: str | None,
                notices: Sequence[str] = ()) -> RegistryError:
    return RegistryError([Problem(None, None, None, message)], notices=notices,
                         source_name=source_name)


def _too_large_message(size: int) -> str:
    return (f"The file is {size / 1024 / 1024:.1f} MB; files larger than "
            f"{READ_BYTES_LIMIT / 1024 / 1024:.0f} MB are not read.")


def _read_source(source: Source, name: str | None) -> tuple[bytes, str | None]:
    """The file's bytes and display name, refusing files over :data:`READ_BYTES_LIMIT`."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        source_name = name or path.name
        if not path.is_file():
            raise _file_error(f"There is no file at '{path.name}'.", source_name)
        size = path.stat().st_size
        if size > READ_BYTES_LIMIT:
            raise _file_error(_too_large_message(size), source_name)
        return path.read_bytes(), source_name
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > READ_BYTES_LIMIT:
            raise _file_error(_too_large_message(len(data)), name)
        return data, name
    if hasattr(source, "read"):
        own_name = getattr(source, "name", None)
        source_name = name or (Path(str(own_name)).name if own_name else None)
        return _read_file_like(source, source_name), source_name
    raise TypeError(f"load_registry needs a path, bytes or a file-like object, "
                    f"not {type(source).__name__}")


def _read_file_like(handle: Any, source_name: str | None) -> bytes:
    if hasattr(handle, "getbuffer"):  # io.BytesIO and Streamlit's UploadedFile
        size = handle.getbuffer().nbytes
        if size > READ_BYTES_LIMIT:
            raise _file_error(_too_large_message(size), source_name)
        return bytes(handle.getvalue())
    position = handle.tell() if _seekable(handle) else None
    if position is not None:
        handle.seek(0)
    try:
        data = handle.read(READ_BYTES_LIMIT + 1)
    finally:
        if position is not None:
            handle.seek(position)
    if isinstance(data, str):  # a text stream: the text is the file
        data = data.encode("utf-8")
    if len(data) > READ_BYTES_LIMIT:
        raise _file_error(_too_large_message(len(data)), source_name)
    return bytes(data)


def _seekable(handle: Any) -> bool:
    try:
        return bool(handle.seekable())
    except Exception:  # objects without a working seekable()
        return False


# --------------------------------------------------------------------------------------------
# Bytes -> a table of text cells
# --------------------------------------------------------------------------------------------


@dataclass
class _RawTable:
    """Every cell of the file as text ("" when empty); header row kept apart."""

    headers: list[str]
    cells: pd.DataFrame  # columns 0..k-1, string dtype, no missing values
    notices: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    decimal_comma_allowed: bool = True


def _parse_table(data: bytes, source_name: str | None) -> _RawTable:
    try:
        return _parse_by_content(data, source_name)
    except _FileUnreadable as unreadable:
        raise _file_error(unreadable.message, source_name) from None


def _parse_by_content(data: bytes, source_name: str | None) -> _RawTable:
    """Pick the reader from the file's first bytes (its extension is only a tie-breaker)."""
    if not data.strip(b" \t\r\n\x00" + codecs.BOM_UTF8):
        raise _FileUnreadable("The file is empty.")
    if data.startswith(b"%PDF"):
        raise _FileUnreadable("This is a PDF document, not a table. Export the registry as "
                              "CSV, TSV, Excel (.xlsx) or Parquet.")
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _FileUnreadable("This is an old-style Office file (.xls); open it in Excel and "
                              "save it as .xlsx or as CSV UTF-8.")
    if data.startswith(b"PAR1"):
        return _read_parquet(data)
    return _read_delimited(data, source_name)


# --- CSV / TSV --------------------------------------------------------------------------------


def _decode_text(data: bytes) -> tuple[bytes, str]:
    """UTF-8 bytes without BOM and their text; refuse binary and non-UTF-8 files."""
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise _FileUnreadable("The file says it is UTF-16 text but is not readable as "
                                  "such; save it as CSV UTF-8.") from None
        return text.encode("utf-8"), text
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if _looks_binary(data):
            raise _FileUnreadable(_BINARY_MESSAGE) from None
        line = data[: error.start].count(b"\n") + 1
        raise _FileUnreadable(
            f"The file is not UTF-8 text (the first character that is not UTF-8 is on line "
            f"{line}); it is probably Latin-1 or Windows-1252. Save it as 'CSV UTF-8' and "
            f"load it again.") from None
    if "\x00" in text:
        if data[1::2].count(0) > 0.9 * (len(data) // 2) or data[0::2].count(0) > 0.9 * (len(data) // 2):
            raise _FileUnreadable("The file looks like UTF-16 text without a byte-order mark; "
                                  "save it as 'CSV UTF-8' and load it again.")
        raise _FileUnreadable(_BINARY_MESSAGE)
    return data, text


_BINARY_MESSAGE = ("The file is not a table: it holds binary data. Load a CSV, TSV, Excel "
                   "(.xlsx) or Parquet file.")


def _looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return b"\x00" in sample or control > 0.05 * len(sample)


def _detect_delimiter(text: str, source_name: str | None) -> str:
    """Comma, semicolon or tab: whichever occurs most in the header line."""
    header_line = text.split("\n", 1)[0]
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts.values())
    suffix = Path(source_name).suffix.lower() if source_name else ""
    if suffix in (".tsv", ".tab") and counts["\t"] == best:
        return "\t"
    for sep in (",", ";", "\t"):
        if counts[sep] == best:
            return sep
    return ","  # unreachable: the loop always returns


def _read_delimited(data: bytes, source_name: str | None) -> _RawTable:
    utf8, text = _decode_text(data)
    sep = _detect_delimiter(text, source_name)
    cells, problems = _parse_delimited(utf8, text, sep)
    if cells.shape[1] == 0:
        raise _FileUnreadable("The file is empty.")
    headers = list(cells.iloc[0].astype(object))
    body = cells.iloc[1:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    table = _RawTable(headers, body, problems=problems, decimal_comma_allowed=(sep != ","))
    if len(headers) == 1 and not any(h in _FILE_COLUMNS for h in map(schema.canonical_header, headers)):
        table.notices.append("The file has a single column: its values are not separated by "
                             "commas, semicolons or tabs.")
    return table


def _parse_delimited(utf8: bytes, text: str, sep: str) -> tuple[pd.DataFrame, list[Problem]]:
    """All cells as text, header row included; fast path first, then tolerant readers."""
    try:
        return _parse_with_arrow(utf8, text, sep), []
    except Exception:  # pyarrow refuses short rows, long rows and unclosed quotes
        pass
    try:
        frame = pd.read_csv(_io.StringIO(text), sep=sep, header=None, dtype=str,
                            na_filter=False, skip_blank_lines=False, engine="c")
        return frame.astype(_STRING), []
    except pd.errors.ParserError:  # rows longer than the header, or an unclosed quote
        return _parse_with_csv_module(text, sep)


def _parse_with_arrow(utf8: bytes, text: str, sep: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    first_record = next(csv.reader(_io.StringIO(text), delimiter=sep), [])
    width = max(len(first_record), 1)
    table = pa_csv.read_csv(
        pa.BufferReader(utf8),
        read_options=pa_csv.ReadOptions(autogenerate_column_names=True),
        parse_options=pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True,
                                          ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(
            column_types={f"f{i}": pa.string() for i in range(width)},
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    frame = table.to_pandas(types_mapper={pa.string(): _STRING}.get)
    frame.columns = range(frame.shape[1])
    return frame.astype(_STRING)


def _parse_with_csv_module(text: str, sep: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Slow, tolerant reader for the error path: reports rows wider than the header."""
    try:
        records = list(csv.reader(_io.StringIO(text), delimiter=sep, strict=True))
    except csv.Error:
        raise _FileUnreadable("A quotation mark (\") opens a cell that is never closed, so the "
                              "file cannot be split into rows and columns. Check the quotes in "
                              "the file.") from None
    width = len(records[0]) if records else 0
    problems = []
    for index, record in enumerate(records[1:], start=_FIRST_DATA_ROW):
        extra = [cell for cell in record[width:] if cell.strip()]
        if extra:
            problems.append(Problem(index, None, sep.join(extra),
                                    f"Row {index} has {len(record)} cells but the header row "
                                    f"names only {width} columns."))
    rows = [record[:width] + [""] * (width - len(record)) for record in records]
    frame = pd.DataFrame(rows, columns=range(width), dtype=object)
    return frame.astype(_STRING), problems


# --- Excel ------------------------------------------------------------------------------------


def _read_xlsx(data: bytes) -> _RawTable:
    try:
        rows, formulas, title, sheet_names = _xlsx_first_sheet(data)
        if formulas:
            _fill_formula_results(data, rows, formulas)
    except _FileUnreadable:
        raise
    except Exception as error:  # zipfile, XML and openpyxl errors of a damaged workbook
        raise _FileUnreadable("The file is a ZIP archive but not a readable Excel workbook "
                              f"(.xlsx) ({type(error).__name__}).") from None
    notices = []
    if len(sheet_names) > 1:
        notices.append(f"The workbook has {len(sheet_names)} sheets; only the first, "
                       f"'{title}', was read.")
    if not rows:
        raise _FileUnreadable(f"The first sheet ('{title}') of the workbook is empty.")
    width = max(len(row) for row in rows)
    texts = [[_cell_text(v) for v in row] + [""] * (width - len(row)) for row in rows]
    body = pd.DataFrame(texts[1:], columns=range(width), dtype=object)
    body = body.astype(_STRING) if len(body) else pd.DataFrame(
        {i: pd.Series([], dtype=_STRING) for i in range(width)})
    return _RawTable(texts[0], body, notices=notices)


def _xlsx_first_sheet(data: bytes) -> tuple[list[list[Any]], list[tuple[int, int]], str, list[str]]:
    import openpyxl

    with _quiet_openpyxl():
        workbook = openpyxl.load_workbook(_io.BytesIO(data), read_only=True, data_only=False)
    try:
        if not workbook.worksheets:
            raise _FileUnreadable("The workbook has no worksheet.")
        sheet = workbook.worksheets[0]
        rows, formulas = _xlsx_rows(sheet)
        return rows, formulas, sheet.title, list(workbook.sheetnames)
    finally:
        workbook.close()


@contextlib.contextmanager
def _quiet_openpyxl() -> Iterator[None]:
    """Silence openpyxl's warnings about workbook features it does not read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _xlsx_rows(sheet) -> tuple[list[list[Any]], list[tuple[int, int]]]:
    """Cell values of a read-only sheet, and the (row, column) positions holding formulas."""
    rows: list[list[Any]] = []
    formulas: list[tuple[int, int]] = []
    with _quiet_openpyxl():
        for r, row in enumerate(sheet.iter_rows()):
            values = []
            for c, cell in enumerate(row):
                value = getattr(cell, "value", None)
                if getattr(cell, "data_type", None) == "f":
                    formulas.append((r, c))
                values.append(value)
            rows.append(values)
    while rows and all(_cell_text(v) == "" for v in rows[-1]):
        rows.pop()  # trailing empty rows an editor left behind
    return rows, formulas


def _fill_formula_results(data: bytes, rows: list[list[Any]],
                          formulas: list[tuple[int, int]]) -> None:
    """Replace formulas by the results Excel saved; a formula never calculated is refused."""
    import openpyxl

    with _quiet_openpyxl():
        workbook = openpyxl.load_workbook(_io.BytesIO(data), read_only=True, data_only=True)
        try:
            cached = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
        finally:
            workbook.close()
    missing = []
    for r, c in formulas:
        if r >= len(rows):
            continue
        value = cached[r][c] if r < len(cached) and c < len(cached[r]) else None
        if value is None:
            missing.append(f"{_column_letter(c)}{r + 1}")
        rows[r][c] = value
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise _FileUnreadable(f"Cells {shown} hold formulas whose results were never calculated "
                              "and saved; open the workbook in Excel, save it, and load it again.")


def _cell_text(value: Any) -> str:
    """A typed cell (Excel) as the text a user would see; "" when empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, _dt.datetime):
        if value.time() == _dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


# --- Parquet ----------------------------------------------------------------------------------


def _read_parquet(data: bytes) -> _RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for bad files
        raise _FileUnreadable(f"The file is not a readable Parquet file "
                              f"({type(error).__name__}).") from None
    headers = [str(h) for h in table.column_names]
    columns = {}
    for i, header in enumerate(headers):
        try:
            columns[i] = _arrow_column_text(table.column(i))
        except _FileUnreadable as unreadable:
            raise _FileUnreadable(f"Column '{header}': {unreadable.message}") from None
    body = pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))
    if not columns:
        body = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    return _RawTable(headers, body)


def _arrow_column_text(column) -> pd.Series:
    """A typed Parquet column as text ("" when null), dates as YYYY-MM-DD."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_nested(kind):
        raise _FileUnreadable("it holds lists or records, not single values.")
    if pa.types.is_timestamp(kind):
        values = column.to_pandas()
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        midnight = values.dt.normalize() == values
        text = values.dt.strftime("%Y-%m-%d").where(midnight, values.astype(str))
        return text.where(values.notna(), "").astype(_STRING)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        try:
            column = pc.cast(column, pa.string())
        except Exception:
            raise _FileUnreadable("it holds binary data, not text.") from None
    try:
        text = pc.cast(column, pa.string())
    except Exception:
        raise _FileUnreadable(f"its values ({kind}) cannot be read as text.") from None
    text = pc.fill_null(text, "")
    return pd.Series(text.to_pandas(types_mapper={pa.string(): _STRING}.get)).astype(_STRING)


def _column_letter(index: int) -> str:
    """Spreadsheet column letter of a 0-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


class _Problems:
    """Collects problems; formats messages only for flagged rows, up to PROBLEM_LIMIT."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.total = 0
        self.live: np.ndarray | None = None  # rows that take part in cell checks

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.items) < PROBLEM_LIMIT:
            self.items.append(problem)

    def cells(self, mask: np.ndarray, column: str, values: pd.Series, template: str,
              **fields: pd.Series) -> None:
        """One problem per flagged row; ``template`` is formatted with ``value`` and ``fields``.

        ``values`` are the cells of ``column`` as written (the problem's value).
        """
        if self.live is not None:
            mask = mask & self.live
        index = np.flatnonzero(mask)
        self.total += len(index)
        room = PROBLEM_LIMIT - len(self.items)
        if room <= 0 or len(index) == 0:
            return
        index = index[:room]
        shown = values.iloc[index].to_numpy(dtype=object)
        extra = {key: series.iloc[index].to_numpy(dtype=object) for key, series in fields.items()}
        for i, (position, value) in enumerate(zip(index, shown)):
            message = template.format(value=value, **{k: v[i] for k, v in extra.items()})
            self.items.append(Problem(int(position) + _FIRST_DATA_ROW, column, value, message))

    def sorted(self) -> list[Problem]:
        def key(problem: Problem) -> tuple:
            return (problem.row is not None, problem.row or 0,
                    _COLUMN_ORDER.get(problem.column or "", len(_COLUMN_ORDER)))
        return sorted(self.items, key=key)


def _months(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    """Months between two date columns; a month is 30.4375 days (contract section 1)."""
    days = (later - earlier).dt.total_seconds().to_numpy(dtype=float) / 86400.0
    return days / MONTH_DAYS


def _flag(series: pd.Series) -> np.ndarray:
    """A boolean Series (possibly nullable) as a plain numpy mask, missing = False."""
    return series.to_numpy(dtype=bool, na_value=False)


class _Validator:
    """Checks a raw table against the schema and builds the loaded frame."""

    def __init__(self, table: _RawTable, source_name: str | None) -> None:
        self.table = table
        self.source_name = source_name
        self.problems = _Problems()
        for problem in table.problems:
            self.problems.add(problem)
        self.notices = list(table.notices)
        self.raw: dict[str, pd.Series] = {}       # canonical name -> cells as written
        self.blank: dict[str, np.ndarray] = {}    # canonical name -> empty-cell mask
        self.parsed: dict[str, pd.Series] = {}    # canonical name -> typed values
        self.ok: dict[str, np.ndarray] = {}       # canonical name -> parsed and not empty
        self.ignored: list[str] = []
        self.form: str | None = None
        self.n = 0
        self.decimal_comma_used = False

    # --- driver ---------------------------------------------------------------------------

    def run(self) -> pd.DataFrame:
        self._drop_trailing_blank_rows()
        columns = self._match_headers()
        if columns is None:  # not a registry table at all: one clear problem is enough
            raise self._error()
        if self.n == 0:
            self.problems.add(Problem(None, None, None,
                                      "The file has a header row but no patient rows."))
        self._flag_interior_blank_rows()
        self._take_columns(columns)
        self.form = self._decide_form()
        self._check_cells()
        self._check_rows()
        if self.problems.total:
            raise self._error()
        return self._build_frame()

    def _error(self) -> RegistryError:
        return RegistryError(self.problems.sorted(), total=self.problems.total,
                             notices=self.notices, source_name=self.source_name)

    # --- rows and headers -----------------------------------------------------------------

    def _nonblank_rows(self) -> np.ndarray:
        cells = self.table.cells
        filled = np.zeros(len(cells), dtype=bool)
        for position in range(cells.shape[1]):
            filled |= _flag(cells[position].str.strip() != "")
        return filled

    def _drop_trailing_blank_rows(self) -> None:
        filled = self._nonblank_rows()
        last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
        dropped = len(filled) - last
        if dropped:
            self.table.cells = self.table.cells.iloc[:last]
            self.notices.append(f"{dropped:,} empty row{'s' if dropped != 1 else ''} after the "
                                f"last patient {'were' if dropped != 1 else 'was'} skipped.")
        self.filled = filled[:last]
        self.n = last

    def _flag_interior_blank_rows(self) -> None:
        empty = ~self.filled
        for position in np.flatnonzero(empty)[:PROBLEM_LIMIT]:
            row = int(position) + _FIRST_DATA_ROW
            self.problems.add(Problem(row, None, "", f"Row {row} is empty; remove empty rows "
                                                    "between patients."))
        self.problems.total += max(0, int(empty.sum()) - PROBLEM_LIMIT)
        self.problems.live = self.filled

    def _match_headers(self) -> dict[str, int] | None:
        """Canonical name -> column position; reports duplicates and ignored columns."""
        positions: dict[str, list[int]] = {}
        for position, header in enumerate(self.table.headers):
            positions.setdefault(schema.canonical_header(header), []).append(position)
        known = {name: found for name, found in positions.items() if name in _FILE_COLUMNS}
        if not known:
            self.problems.add(Problem(None, None, None, (
                "This does not look like a registry table: none of the registry's column names "
                "(patient_id, center, age, ...) were found in the first row. The first row must "
                "hold the column names; see the data dictionary.")))
            return None
        for name, found in known.items():
            if len(found) > 1:
                letters = ", ".join(_column_letter(p) for p in found)
                written = " | ".join(str(self.table.headers[p]) for p in found)
                self.problems.add(Problem(_HEADER_ROW, name, written, (
                    f"Column '{name}' appears {len(found)} times (columns {letters}); keep only "
                    "one.")))
        self._note_ignored_columns(positions)
        return {name: found[0] for name, found in known.items()}

    def _note_ignored_columns(self, positions: dict[str, list[int]]) -> None:
        cells = self.table.cells
        for name, found in positions.items():
            if name in _FILE_COLUMNS:
                continue
            for position in found:
                header = str(self.table.headers[position])
                if name == "":
                    if not _flag(cells[position].str.strip() != "").any():
                        continue  # an empty column an editor left behind
                    header = f"(unnamed column {_column_letter(position)})"
                self.ignored.append(header)
        if self.ignored:
            derived = [h for h in self.ignored if schema.canonical_header(h) in _DERIVED_ONLY]
            self.notices.append("Columns that are not part of the registry format were ignored: "
                                + ", ".join(self.ignored) + ".")
            if derived:
                self.notices.append("Derived columns are always recomputed from the registry "
                                    "columns: " + ", ".join(derived) + ".")

    def _take_columns(self, columns: dict[str, int]) -> None:
        for name, position in columns.items():
            raw = self.table.cells[position].reset_index(drop=True)
            self.raw[name] = raw
            self.blank[name] = _flag(raw.str.strip().str.lower().isin(schema.MISSING_SPELLINGS))

    def _decide_form(self) -> str | None:
        """"dates" when the four dates are given, "intervals" when the three intervals are."""
        has_dates = all(name in self.raw for name in _REQUIRED_DATES)
        has_intervals = all(name in self.raw for name in _REQUIRED_INTERVALS)
        dates_all_blank = has_dates and all(self.blank[n].all() for n in _REQUIRED_DATES)
        if has_dates and not (has_intervals and dates_all_blank):
            return "dates"
        if has_intervals:
            return "intervals"
        dates_found = sum(name in self.raw for name in _REQUIRED_DATES)
        intervals_found = sum(name in self.raw for name in _REQUIRED_INTERVALS)
        wanted = _REQUIRED_INTERVALS if intervals_found > dates_found else _REQUIRED_DATES
        for name in wanted:
            if name not in self.raw:
                self.problems.add(Problem(_HEADER_ROW, name, None, (
                    f"Required column '{name}' ({schema.LABELS[name]}) is missing. Give the four "
                    f"dates ({', '.join(_REQUIRED_DATES)}) or the three intervals "
                    f"({', '.join(_REQUIRED_INTERVALS)}).")))
        return None

    # --- single cells ---------------------------------------------------------------------

    def _required_everywhere(self, column: schema.Column) -> str | None:
        """Why an empty cell of this column is a problem, or None when it may be empty."""
        if column.required is Requirement.ALWAYS:
            return "it is required for every patient"
        if column.required is Requirement.DATES_FORM and self.form == "dates":
            return "it is required for every patient when the file gives dates"
        if column.required is Requirement.INTERVALS_FORM and self.form == "intervals":
            return "it is required for every patient when the file gives intervals, not dates"
        return None

    def _check_cells(self) -> None:
        for column in schema.CONTRACT_COLUMNS + schema.INTERVAL_COLUMNS:
            if column.name not in self.raw:
                if column.required is Requirement.ALWAYS or column.required is Requirement.IT_ROWS:
                    self.problems.add(Problem(_HEADER_ROW, column.name, None, (
                        f"Required column '{column.name}' ({column.label}) is missing.")))
                continue
            self._check_column(column)

    def _check_column(self, column: schema.Column) -> None:
        name = column.name
        raw, blank = self.raw[name], self.blank[name]
        why = self._required_everywhere(column)
        if why:
            self.problems.cells(blank, name, raw, f"{column.label} is empty; {why}.")
        parse = {Kind.TEXT: self._parse_text, Kind.NUMBER: self._parse_number,
                 Kind.CATEGORY: self._parse_category, Kind.YES_NO: self._parse_yes_no,
                 Kind.DATE: self._parse_date}[column.kind]
        parsed, valid = parse(column, raw, blank)
        self.parsed[name] = parsed
        self.ok[name] = valid & ~blank

    def _parse_text(self, column, raw, blank):
        values = raw.astype(object).where(~blank, np.nan)
        if column.name == "patient_id":
            self._check_unique_ids(raw, blank)
        return values, np.ones(self.n, dtype=bool)

    def _check_unique_ids(self, raw: pd.Series, blank: np.ndarray) -> None:
        ids = raw.str.strip()
        repeated = _flag(ids.duplicated(keep=False)) & ~blank
        if not repeated.any():
            return
        positions = np.flatnonzero(repeated)
        rows = pd.Series(positions + _FIRST_DATA_ROW, index=ids.to_numpy(dtype=object)[positions])
        grouped = rows.groupby(level=0, sort=False)
        listing = grouped.agg(lambda r: _row_list(r.to_numpy()))
        where = pd.Series(listing.reindex(ids.to_numpy(dtype=object)).to_numpy(), dtype=object)
        self.problems.cells(repeated, "patient_id", raw,
                            "Patient ID '{value}' appears on {rows}; each patient must have "
                            "exactly one row.", rows=where)

    def _parse_number(self, column, raw, blank):
        text = raw.str.strip()
        plain = _flag(text.str.fullmatch(_NUMBER.pattern))
        comma = _flag(text.str.fullmatch(_DECIMAL_COMMA.pattern)) & self.table.decimal_comma_allowed
        if comma.any():
            self.decimal_comma_used = True
            text = text.where(~comma, text.str.replace(",", ".", regex=False))
        valid = plain | comma
        values = pd.to_numeric(text.where(valid, None).astype(object), errors="coerce")
        values = pd.Series(values.to_numpy(dtype=float), index=raw.index)
        valid &= np.isfinite(values.to_numpy())
        self.problems.cells(~valid & ~blank, column.name, raw,
                            f"{column.label} '{{value}}' is not a number.")
        values = values.where(valid & ~blank)
        self._check_range(column, raw, values)
        return values, valid

    def _check_range(self, column: schema.Column, raw: pd.Series, values: pd.Series) -> None:
        v = values.to_numpy()
        with np.errstate(invalid="ignore"):
            if column.maximum is not None and column.minimum is not None:
                outside = (v < column.minimum) | (v > column.maximum)
                self.problems.cells(outside, column.name, raw, (
                    f"{column.label} {{value}} is outside {column.minimum:g}-{column.maximum:g} "
                    f"{column.unit}."))
            elif column.minimum == 0.0 and self.form == "intervals":
                # Negative intervals: in the dates form the dates decide (agreement check).
                self.problems.cells(v < 0, column.name, raw, (
                    f"{column.label} is {{value}}, which is negative; a time interval cannot be "
                    "negative."))

    def _parse_category(self, column, raw, blank):
        lookup = {level.lower(): level for level in column.levels}
        values = raw.str.strip().str.lower().astype(object).map(lookup)
        valid = values.notna().to_numpy()
        self.problems.cells(~valid & ~blank, column.name, raw, (
            f"{column.label} '{{value}}' is not one of the allowed values: "
            f"{', '.join(column.levels)}."))
        return values.where(~blank, np.nan).astype(object), valid

    def _parse_yes_no(self, column, raw, blank):
        lower = raw.str.strip().str.lower()
        yes = _flag(lower.isin(schema.TRUE_SPELLINGS))
        no = _flag(lower.isin(schema.FALSE_SPELLINGS))
        valid = yes | no
        self.problems.cells(~valid & ~blank, column.name, raw, (
            f"{column.label} '{{value}}' is not yes or no (also accepted: true/false, 1/0)."))
        return pd.Series(yes, index=raw.index), valid

    def _parse_date(self, column, raw, blank):
        text = raw.str.strip()
        iso = _flag(text.str.fullmatch(_ISO_DATE.pattern))
        dates = pd.to_datetime(text.where(iso, None).astype(object), format="%Y-%m-%d",
                               errors="coerce")
        dates = pd.Series(dates.to_numpy(dtype="datetime64[ns]"), index=raw.index)
        real = dates.notna().to_numpy()
        self.problems.cells(~iso & ~blank, column.name, raw, (
            f"{column.label} '{{value}}' is not an ISO date; dates must be written YYYY-MM-DD "
            "(for example 2019-07-25), so that day and month cannot be confused."))
        self.problems.cells(iso & ~real & ~blank, column.name, raw, (
            f"{column.label} '{{value}}' is not a real calendar date; dates must be real ISO "
            "dates (YYYY-MM-DD)."))
        return dates.where(real), real

    # --- rules across columns -------------------------------------------------------------

    def _both(self, *names: str) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        for name in names:
            mask &= self.ok.get(name, np.zeros(self.n, dtype=bool))
        return mask

    def _check_rows(self) -> None:
        self._check_inclusion()
        self._check_group_and_intervention()
        if self.form == "dates":
            self._check_chronology()
            self._check_intervals_agree_with_dates()
        elif self.form == "intervals":
            self._check_interval_order()
            self._check_pfs_pairs()

    def _check_inclusion(self) -> None:
        both = self._both("mets_lung", "mets_liver")
        if not both.any():
            return
        neither = both & ~self.parsed["mets_lung"].to_numpy() & ~self.parsed["mets_liver"].to_numpy()
        self.problems.cells(neither, "mets_lung", self.raw["mets_lung"], (
            "The patient has neither lung nor liver metastases (mets_lung and mets_liver are "
            "both no); the registry includes only patients with lung and/or liver metastases."))

    def _check_group_and_intervention(self) -> None:
        if "group" not in self.ok:
            return
        group = self.parsed["group"].to_numpy(dtype=object)
        it = self.ok["group"] & (group == "IT")
        st = self.ok["group"] & (group == "ST")
        if "intervention" in self.raw:
            raw, blank = self.raw["intervention"], self.blank["intervention"]
            self.problems.cells(it & blank, "intervention", raw, (
                "Intervention is empty; patients in the IT group (intervention for metastases) "
                "need the type of intervention."))
            self.problems.cells(st & ~blank, "intervention", raw, (
                "Intervention '{value}' is given for a patient in the ST group (systemic therapy "
                "only); leave it empty or change the group to IT."))
            self._check_intervention_organ()
        for name, what in (("date_intervention", "A date of intervention"),
                           ("intervention_months", "A time to intervention")):
            if name in self.raw:
                self.problems.cells(st & ~self.blank[name], name, self.raw[name], (
                    f"{what} ('{{value}}') is given for a patient in the ST group (systemic "
                    "therapy only); leave it empty or change the group to IT."))

    def _check_intervention_organ(self) -> None:
        intervention = self.parsed["intervention"].to_numpy(dtype=object)
        for organ in ("lung", "liver"):
            flag = f"mets_{organ}"
            if flag not in self.ok:
                continue
            treats = np.array([schema.INTERVENTION_ORGAN.get(v) == organ for v in
                               schema.INTERVENTION_LEVELS])
            codes = [lvl for lvl, t in zip(schema.INTERVENTION_LEVELS, treats) if t]
            on_organ = self.ok["intervention"] & np.isin(intervention, codes)
            mismatch = on_organ & self.ok[flag] & ~self.parsed[flag].to_numpy()
            self.problems.cells(mismatch, "intervention", self.raw["intervention"], (
                f"Intervention '{{value}}' treats the {organ}, but the patient has no {organ} "
                f"metastases ({flag} is no)."))

    _CHRONOLOGY: tuple[tuple[str, str, str, str], ...] = (
        # (column reported, other column, direction, message)
        ("date_surgery", "date_diagnosis", "before",
         "Breast surgery ({value}) is dated before the breast cancer diagnosis ({other})."),
        ("date_metastasis", "date_surgery", "before",
         "Metastasis ({value}) is dated before the breast surgery ({other})."),
        ("date_last_followup", "date_metastasis", "before",
         "Last follow-up ({value}) is dated before the metastasis diagnosis ({other})."),
        ("date_intervention", "date_metastasis", "before",
         "Intervention ({value}) is dated before the metastasis diagnosis ({other})."),
        ("date_intervention", "date_last_followup", "after",
         "Intervention ({value}) is dated after the last follow-up ({other})."),
        ("date_progression", "date_metastasis", "before",
         "Progression ({value}) is dated before the metastasis diagnosis ({other})."),
        ("date_progression", "date_last_followup", "after",
         "Progression ({value}) is dated after the last follow-up ({other})."),
    )

    def _check_chronology(self) -> None:
        for name, other, direction, message in self._CHRONOLOGY:
            both = self._both(name, other)
            if not both.any():
                continue
            a = self.parsed[name].to_numpy()
            b = self.parsed[other].to_numpy()
            wrong = both & ((a < b) if direction == "before" else (a > b))
            self.problems.cells(wrong, name, self.raw[name], message,
                                other=self.raw[other].str.strip())

    def _dates_months(self) -> dict[str, np.ndarray]:
        """Intervals computed from the dates (NaN where a date is missing or invalid)."""
        p = self.parsed
        nat = pd.Series(pd.NaT, index=pd.RangeIndex(self.n), dtype="datetime64[ns]")
        get = lambda name: p.get(name, nat)  # noqa: E731 - a short local accessor
        progression = get("date_progression")
        pfs_end = progression.where(progression.notna(), get("date_last_followup"))
        return {
            "mdfi_months": _months(get("date_metastasis"), get("date_surgery")),
            "os_months": _months(get("date_last_followup"), get("date_diagnosis")),
            "pdrs_months": _months(get("date_last_followup"), get("date_metastasis")),
            "pfs_months": _months(pfs_end, get("date_metastasis")),
            "intervention_months": _months(get("date_intervention"), get("date_metastasis")),
        }

    def _blank_or_absent(self, name: str) -> np.ndarray:
        return self.blank[name] if name in self.blank else np.ones(self.n, dtype=bool)

    def _check_intervals_agree_with_dates(self) -> None:
        """Dates win; a given interval may differ from the dates by 0.5 month at most."""
        computed = self._dates_months()
        tolerance = schema.DATE_AGREEMENT_MONTHS
        for name, months in computed.items():
            if name not in self.ok:
                continue
            given = self.parsed[name].to_numpy()
            with np.errstate(invalid="ignore"):
                differs = self.ok[name] & (np.abs(given - months) > tolerance)
            self.problems.cells(differs, name, self.raw[name], (
                f"{schema.LABELS[name]} is {{value}} but the dates give {{computed}} months; "
                f"with dates in the file, a given interval may differ from them by at most "
                f"{tolerance:g} month."), computed=pd.Series(np.round(months, 1)))
        if "intervention_months" in self.ok:
            no_date = self._blank_or_absent("date_intervention")
            self.problems.cells(self.ok["intervention_months"] & no_date, "intervention_months",
                                self.raw["intervention_months"], (
                "Time to intervention is given but the date of intervention is empty; in a file "
                "with dates, give the date of intervention."))
        if "progressed" in self.ok:
            has_date = ~self._blank_or_absent("date_progression")
            said = self.parsed["progressed"].to_numpy()
            self.problems.cells(self.ok["progressed"] & said & ~has_date, "progressed",
                                self.raw["progressed"], (
                "Progressed is '{value}' but no date of progression is given."))
            self.problems.cells(self.ok["progressed"] & ~said & has_date, "progressed",
                                self.raw["progressed"], (
                "Progressed is '{value}' but a date of progression is given."))

    def _check_interval_order(self) -> None:
        """Intervals form: OS covers PDRS; PFS and the intervention fall within PDRS."""
        checks = (
            ("os_months", "<", "Overall survival ({value} months) is shorter than survival after "
             "metastasis ({other} months); overall survival starts earlier, at diagnosis."),
            ("pfs_months", ">", "PFS ({value} months) is longer than survival after metastasis "
             "({other} months); progression cannot come after the last follow-up."),
            ("intervention_months", ">", "Time to intervention ({value} months) is longer than "
             "survival after metastasis ({other} months); the intervention cannot come after "
             "the last follow-up."),
        )
        for name, op, message in checks:
            both = self._both(name, "pdrs_months")
            if not both.any():
                continue
            a, b = self.parsed[name].to_numpy(), self.parsed["pdrs_months"].to_numpy()
            wrong = both & ((a < b) if op == "<" else (a > b))
            self.problems.cells(wrong, name, self.raw[name], message,
                                other=self.raw["pdrs_months"].str.strip())

    def _check_pfs_pairs(self) -> None:
        """Intervals form: pfs_months and progressed go together (column and cell)."""
        present = [name for name in ("pfs_months", "progressed") if name in self.raw]
        if len(present) == 1:
            missing = "progressed" if present[0] == "pfs_months" else "pfs_months"
            self.problems.add(Problem(_HEADER_ROW, missing, None, (
                f"Column '{missing}' is missing; it is required when the file has "
                f"'{present[0]}' (progression needs both its time and whether it happened).")))
            return
        if len(present) < 2:
            return
        pfs_blank, prog_blank = self.blank["pfs_months"], self.blank["progressed"]
        self.problems.cells(pfs_blank & ~prog_blank, "pfs_months", self.raw["pfs_months"], (
            "PFS is empty but Progressed is given; give both or neither."))
        self.problems.cells(prog_blank & ~pfs_blank, "progressed", self.raw["progressed"], (
            "Progressed is empty but PFS is given; give both or neither."))

    # --- the loaded frame -----------------------------------------------------------------

    def _build_frame(self) -> pd.DataFrame:
        index = pd.RangeIndex(self.n)
        out: dict[str, Any] = {}
        for column in schema.CONTRACT_COLUMNS:
            out[column.name] = self._output_column(column, index)
        out.update(self._derived_intervals(index))
        frame = pd.DataFrame(out, index=index)
        frame["age_lt_55"] = frame["age"].to_numpy() < schema.AGE_LT_CUTOFF
        frame["hr_positive"] = ((frame["er"] == "positive") | (frame["pr"] == "positive")).to_numpy()
        frame["her2_positive"] = (frame["her2"] == "positive").to_numpy()
        with np.errstate(invalid="ignore"):
            frame["mdfi_gt_24"] = frame["mdfi_months"].to_numpy() > schema.MDFI_GT_CUTOFF_MONTHS
        frame["site"] = _site(frame["mets_lung"].to_numpy(), frame["mets_liver"].to_numpy(),
                              frame["mets_bone"].to_numpy())
        frame = frame[list(schema.FRAME_COLUMNS)]
        if self.decimal_comma_used:
            self.notices.append("Decimal commas were read as decimal points (e.g. 12,5 as 12.5).")
        frame.attrs.update({"form": self.form, "source_name": self.source_name,
                            "ignored_columns": list(self.ignored),
                            "notices": list(self.notices)})
        return frame

    def _output_column(self, column: schema.Column, index: pd.RangeIndex) -> pd.Series:
        if column.name in self.parsed:
            values = self.parsed[column.name]
            values.index = index
            return values
        if column.kind is Kind.DATE:
            return pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
        if column.kind is Kind.YES_NO:  # never happens: yes/no contract columns are required
            return pd.Series(False, index=index, dtype=bool)
        return pd.Series(np.nan, index=index, dtype=object)

    def _derived_intervals(self, index: pd.RangeIndex) -> dict[str, pd.Series]:
        group = self.parsed["group"].to_numpy(dtype=object)
        if self.form == "dates":
            months = self._dates_months()
            progressed = self.parsed["date_progression"].notna().to_numpy() \
                if "date_progression" in self.parsed else np.zeros(self.n, dtype=bool)
        else:
            months = {name: (self.parsed[name].to_numpy(dtype=float) if name in self.parsed
                             else np.full(self.n, np.nan))
                      for name in ("mdfi_months", "os_months", "pdrs_months", "pfs_months",
                                   "intervention_months")}
            progressed = self.parsed["progressed"].to_numpy(dtype=bool) \
                if "progressed" in self.parsed else np.zeros(self.n, dtype=bool)
        intervention = np.where(group == "IT", months["intervention_months"], np.nan)
        return {
            "mdfi_months": pd.Series(months["mdfi_months"], index=index, dtype=float),
            "os_months": pd.Series(months["os_months"], index=index, dtype=float),
            "pdrs_months": pd.Series(months["pdrs_months"], index=index, dtype=float),
            "pfs_months": pd.Series(months["pfs_months"], index=index, dtype=float),
            "progressed": pd.Series(progressed, index=index, dtype=bool),
            "intervention_months": pd.Series(intervention, index=index, dtype=float),
            # entry = os - pdrs = diagnosis -> metastasis (delayed entry for OS, contract frame)
            "entry_months": pd.Series(months["os_months"] - months["pdrs_months"], index=index,
                                      dtype=float),
        }


def _row_list(rows: np.ndarray, shown: int = 5) -> str:
    listed = [str(int(r)) for r in rows[:shown]]
    more = len(rows) - len(listed)
    if more:
        return f"rows {', '.join(listed)} and {more:,} more"
    return f"rows {', '.join(listed[:-1])} and {listed[-1]}"


def _site(lung: np.ndarray, liver: np.ndarray, bone: np.ndarray) -> np.ndarray:
    """The paper's five site levels; every loaded patient has lung or liver metastases."""
    site = np.select(
        [lung & liver, lung & bone, lung, liver & bone, liver],
        ["multiple", "lung+bone", "lung", "liver+bone", "liver"],
        default=None,
    )
    return site.astype(object)
