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

Problems are :class:`Problem` named tuples ``(row, column, value, message)``;
:func:`problems_frame` turns them into a table for a downloadable report and
:func:`summarise_problems` into a few lines ("... and 9,000 more problems."). Files larger than
:data:`READ_BYTES_LIMIT` are refused before parsing. :func:`frame_fingerprint` hashes a loaded
frame for caching.

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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from imet_core import MONTH_DAYS
from imet_core import schema
from imet_core.schema import Kind, Requirement

__all__ = [
    "PROBLEM_LIMIT",
    "READ_BYTES_LIMIT",
    "Problem",
    "RegistryError",
    "format_problem",
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

_REQUIRED_DATES = ("date_diagnosis", "date_surgery", "date_metastasis", "date_last_followup")
_REQUIRED_INTERVALS = ("mdfi_months", "os_months", "pdrs_months")
_FILE_COLUMNS = frozenset(c.name for c in schema.CONTRACT_COLUMNS + schema.INTERVAL_COLUMNS)
_DERIVED_ONLY = frozenset(c.name for c in schema.DERIVED_ONLY_COLUMNS)
_COLUMN_ORDER = {name: i for i, name in enumerate(schema.FRAME_COLUMNS)}
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"  # 12, -3.5, .5, 1e3
_DECIMAL_COMMA = r"[+-]?\d+,\d+"  # 12,5 (European spreadsheets)
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"  # YYYY-MM-DD


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
    del data  # split into columns: the file's bytes are not needed while validating
    try:
        return _Validator(table, source_name).run()
    finally:
        # the file's text columns are freed by now; hand the memory Arrow's pool keeps for
        # reuse back to the system (a million-row file leaves a few hundred MB otherwise)
        pa.default_memory_pool().release_unused()


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
    return (f"The file is {size / 1024 / 1024:.1f} MB ({size:,} bytes), over the "
            f"{READ_BYTES_LIMIT / 1024 / 1024:.0f} MB limit ({READ_BYTES_LIMIT:,} bytes); it was not read.")


def _read_source(source: Source, name: str | None) -> tuple[bytes, str | None]:
    """The file's bytes and display name, refusing files over :data:`READ_BYTES_LIMIT`."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        source_name = name or path.name
        if not path.is_file():
            raise _file_error(f"There is no file at '{path.name}'.", source_name)
        try:
            size = path.stat().st_size
            if size > READ_BYTES_LIMIT:
                raise _file_error(_too_large_message(size), source_name)
            return path.read_bytes(), source_name
        except OSError as error:  # permissions, a file removed while reading
            raise _file_error(f"The file '{path.name}' cannot be read "
                              f"({error.strerror or type(error).__name__}).", source_name) from None
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
    """Every cell of the file as text ("" when empty), one Arrow array per column: strings,
    or a dictionary of strings (each distinct text once, rows as codes) where a reader has
    the column's distinct values anyway (Parquet dictionaries, numbers and dates).

    ``headers[i]`` is the header of ``columns[i]`` as written; every column has ``n_rows``
    cells (the header row excluded).
    """

    headers: list[str]
    columns: list[pa.Array]
    n_rows: int
    notices: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    decimal_comma_allowed: bool = True
    trailing_blank_rows: int = 0  # empty rows a reader already dropped below the data


def _text_array(values: Sequence[str]) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _parse_table(data: bytes, source_name: str | None) -> _RawTable:
    try:
        return _parse_by_content(data, source_name)
    except _FileUnreadable as unreadable:
        raise _file_error(unreadable.message, source_name) from None


def _parse_by_content(data: bytes, source_name: str | None) -> _RawTable:
    """Pick the reader from the file's first bytes (its extension is only a tie-breaker)."""
    if _is_blank(data):
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


def _is_blank(data: bytes) -> bool:
    """Nothing but spaces, line breaks, NUL bytes or a byte-order mark."""
    blank = b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"
    return not data[:65536].strip(blank) and not data.strip(blank)


# --- CSV / TSV --------------------------------------------------------------------------------

_BLOCK_BYTES = 16 * 1024 * 1024  # Arrow's CSV block: large enough for very wide rows

_BINARY_MESSAGE = ("The file is not a table: it holds binary data. Load a CSV, TSV, Excel "
                   "(.xlsx) or Parquet file.")


def _decode_text(data: bytes) -> bytes:
    """UTF-8 bytes without BOM; refuse binary and non-UTF-8 files.

    The text is decoded only to check it, never kept: a large file would otherwise be held
    twice (bytes and text) while Arrow parses it. The tolerant readers of the error path
    decode it again.
    """
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise _FileUnreadable("The file says it is UTF-16 text but cannot be read as such; "
                                  "save it as 'CSV UTF-8' and load it again.") from None
    else:
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        try:
            if not data.isascii():  # ASCII is UTF-8 already
                data.decode("utf-8")
        except UnicodeDecodeError as error:
            if _looks_binary(data):
                raise _FileUnreadable(_BINARY_MESSAGE) from None
            line = data[: error.start].count(b"\n") + 1
            raise _FileUnreadable(
                f"The file is not UTF-8 text (the first character that is not UTF-8 is on "
                f"line {line}); it is probably Latin-1 or Windows-1252. Save it as "
                f"'CSV UTF-8' and load it again.") from None
    if b"\x00" in data:  # in UTF-8 the NUL character is the NUL byte and nothing else
        if _looks_like_utf16(data):
            raise _FileUnreadable("The file looks like UTF-16 text without a byte-order mark; "
                                  "save it as 'CSV UTF-8' and load it again.")
        raise _FileUnreadable(_BINARY_MESSAGE)
    return data


def _looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return b"\x00" in sample or control > 0.05 * len(sample)


def _looks_like_utf16(data: bytes) -> bool:
    sample = data[:4096]
    half = max(len(sample) // 2, 1)
    return sample[1::2].count(0) > 0.9 * half or sample[0::2].count(0) > 0.9 * half


def _detect_delimiter(header_line: str, source_name: str | None) -> str:
    """Comma, semicolon or tab: whichever occurs most in the header line."""
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts.values())
    suffix = Path(source_name).suffix.lower() if source_name else ""
    if suffix in (".tsv", ".tab") and counts["\t"] == best:
        return "\t"
    return next(sep for sep in (",", ";", "\t") if counts[sep] == best)


def _read_delimited(data: bytes, source_name: str | None) -> _RawTable:
    utf8 = _decode_text(data)
    header_line = _header_line(utf8)
    if not header_line.strip():
        raise _FileUnreadable("The first row of the file is empty; the first row must hold the "
                              "column names (patient_id, center, age, ...).")
    sep = _detect_delimiter(header_line, source_name)
    rows, problems = _parse_delimited(utf8, sep)
    headers = [cells[0].as_py() if len(cells) else "" for cells in rows]
    columns = [cells.slice(1) for cells in rows]
    n_rows = max(len(columns[0]), 0) if columns else 0
    table = _RawTable(headers, columns, n_rows, problems=problems,
                      decimal_comma_allowed=(sep != ","))
    if len(headers) == 1:
        table.notices.append("The file has a single column: its values are not separated by "
                             "commas, semicolons or tabs.")
    return table


def _parse_delimited(utf8: bytes, sep: str) -> tuple[list[pa.Array], list[Problem]]:
    """Every column (header cell first) as text; fast path first, then tolerant readers."""
    try:
        return _parse_with_arrow(utf8, sep), []
    except (pa.ArrowInvalid, pa.ArrowException):  # short rows, long rows, unclosed quotes
        pass
    text = utf8.decode("utf-8")
    try:
        frame = pd.read_csv(_io.StringIO(text), sep=sep, header=None, dtype=str,
                            na_filter=False, skip_blank_lines=False, engine="c")
        return [_text_array(frame[c].tolist()) for c in frame.columns], []
    except (pd.errors.ParserError, pd.errors.EmptyDataError):  # long rows, unclosed quotes
        return _parse_with_csv_module(text, sep)


def _first_record(utf8: bytes, sep: str) -> list[str]:
    """The header row's cells (quotes understood), decoding only as much of the file as needed."""
    lines = _io.TextIOWrapper(_io.BytesIO(utf8), encoding="utf-8", newline="")
    try:
        return next(csv.reader(lines, delimiter=sep), [])
    except csv.Error:  # an unclosed quote in the header; the tolerant readers report it
        return _header_line(utf8).split(sep)


def _header_line(utf8: bytes) -> str:
    """The file's first line as text (line breaks are single bytes in UTF-8)."""
    ends = [i for i in (utf8.find(b"\n"), utf8.find(b"\r")) if i >= 0]
    return (utf8[: min(ends)] if ends else utf8).decode("utf-8")


def _parse_with_arrow(utf8: bytes, sep: str) -> list[pa.Array]:
    width = max(len(_first_record(utf8, sep)), 1)
    table = pa_csv.read_csv(
        pa.BufferReader(utf8),
        read_options=pa_csv.ReadOptions(autogenerate_column_names=True, block_size=_BLOCK_BYTES),
        # Line breaks inside quoted cells need the slower chunker; without quotes there are none.
        parse_options=pa_csv.ParseOptions(delimiter=sep, newlines_in_values=b'"' in utf8,
                                          ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(
            column_types={f"f{i}": pa.string() for i in range(width)},
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    columns = []
    while table.num_columns:  # column by column, so each column's parsed blocks are freed
        columns.append(pc.cast(table.column(0), pa.string()).combine_chunks())
        table = table.remove_column(0)
    return columns


def _parse_with_csv_module(text: str, sep: str) -> tuple[list[pa.Array], list[Problem]]:
    """Slow, tolerant reader for the error path: reports rows wider than the header."""
    try:
        records = list(csv.reader(_io.StringIO(text, newline=""), delimiter=sep, strict=True))
    except csv.Error:
        raise _FileUnreadable("A quotation mark (\") opens a cell that is never closed, so the "
                              "file cannot be split into rows and columns. Check the quotes in "
                              "the file.") from None
    width = len(records[0]) if records else 0
    problems = []
    for row, record in enumerate(records[1:], start=_FIRST_DATA_ROW):
        extra = [cell for cell in record[width:] if cell.strip()]
        if extra:
            problems.append(Problem(row, None, sep.join(extra), (
                f"Row {row} has {len(record)} cells but the header row names only {width} "
                "columns.")))
    columns = [_text_array([record[c] if c < len(record) else "" for record in records])
               for c in range(width)]
    return columns, problems


# --- Excel ------------------------------------------------------------------------------------


def _read_xlsx(data: bytes) -> _RawTable:
    try:
        rows, title, sheet_names = _xlsx_first_sheet(data)
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
    last = len(rows)
    while last > 1 and rows[last - 1].count(None) == len(rows[last - 1]):
        last -= 1  # formatted but empty rows below the data (cheap test, before conversion)
    width = max(len(row) for row in rows[:last])
    texts = [[_cell_text(v) for v in row] + [""] * (width - len(row)) for row in rows[:last]]
    columns = [_text_array([row[c] for row in texts[1:]]) for c in range(width)]
    return _RawTable(texts[0], columns, last - 1, notices=notices,
                     trailing_blank_rows=len(rows) - last)


def _xlsx_first_sheet(data: bytes) -> tuple[list[tuple[Any, ...]], str, list[str]]:
    """Values of the first sheet (formulas replaced by the results Excel saved)."""
    import openpyxl

    with _quiet_openpyxl():
        workbook = openpyxl.load_workbook(_io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                raise _FileUnreadable("The workbook has no worksheet.")
            sheet = workbook.worksheets[0]
            rows = list(sheet.iter_rows(values_only=True))
            title, names = sheet.title, list(workbook.sheetnames)
        finally:
            workbook.close()
    if _has_formulas(data):
        _refuse_formulas_never_calculated(data, rows)
    return rows, title, names


@contextlib.contextmanager
def _quiet_openpyxl() -> Iterator[None]:
    """Silence openpyxl's warnings about workbook features it does not read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _has_formulas(data: bytes) -> bool:
    """Whether any worksheet of the workbook holds a formula (an ``<f>`` element)."""
    with zipfile.ZipFile(_io.BytesIO(data)) as archive:
        return any(re.search(rb"<f[\s>/]", archive.read(name))
                   for name in archive.namelist()
                   if name.startswith("xl/worksheets/") and name.endswith(".xml"))


def _refuse_formulas_never_calculated(data: bytes, rows: list[tuple[Any, ...]]) -> None:
    """A formula whose result Excel never saved has no value to read: refuse the file."""
    import openpyxl

    never_calculated = []
    with _quiet_openpyxl():
        workbook = openpyxl.load_workbook(_io.BytesIO(data), read_only=True, data_only=False)
        try:
            for r, row in enumerate(workbook.worksheets[0].iter_rows()):
                for c, cell in enumerate(row):
                    if getattr(cell, "data_type", None) != "f":
                        continue
                    saved = rows[r][c] if r < len(rows) and c < len(rows[r]) else None
                    if saved is None:
                        never_calculated.append(f"{_column_letter(c)}{r + 1}")
        finally:
            workbook.close()
    if never_calculated:
        shown = ", ".join(never_calculated[:5])
        if len(never_calculated) > 5:
            shown += f" and {len(never_calculated) - 5} more"
        what = (f"Cell {shown} holds a formula whose result was" if len(never_calculated) == 1
                else f"Cells {shown} hold formulas whose results were")
        raise _FileUnreadable(f"{what} never calculated and saved; open the workbook in Excel, "
                              "save it, and load it again.")


def _cell_text(value: Any) -> str:
    """A typed cell (Excel) as the text a user sees; "" when empty, dates as YYYY-MM-DD."""
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
    try:
        table = _parquet_table(data)
        headers = [str(h) for h in table.column_names]
    except Exception as error:  # ArrowInvalid, OSError, UnicodeDecodeError ... for bad files
        raise _FileUnreadable(f"The file is not a readable Parquet file "
                              f"({type(error).__name__}).") from None
    n_rows = table.num_rows
    columns = []
    for header in headers:
        # column by column, so each typed column is freed once it is text
        column, table = table.column(0), table.remove_column(0)
        try:
            columns.append(_arrow_column_text(column))
        except _FileUnreadable as unreadable:
            raise _FileUnreadable(f"Column '{header}': {unreadable.message}") from None
        except Exception as error:  # damaged column data
            raise _FileUnreadable(f"Column '{header}' of the Parquet file cannot be read "
                                  f"({type(error).__name__}).") from None
    return _RawTable(headers, columns, n_rows)


def _parquet_table(data: bytes) -> pa.Table:
    """The Parquet file's table, its text columns read as dictionaries (a million rows of a
    few levels are then codes, not a million strings)."""
    import pyarrow.parquet as pq

    # ParquetFile.read, unlike read_table's dataset path, accepts repeated column names, so
    # the duplicate-column rule can name them like for any other format
    parquet = pq.ParquetFile(pa.BufferReader(data))
    text = [f.name for f in parquet.schema_arrow
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    if text:
        try:
            return pq.ParquetFile(pa.BufferReader(data), read_dictionary=text).read()
        except Exception:  # e.g. repeated column names: read the text columns as text
            pass
    return parquet.read()


def _arrow_column_text(column: pa.ChunkedArray) -> pa.Array:
    """A typed Parquet column as text ("" when null); dates as YYYY-MM-DD.

    Dictionary columns, numbers and dates come back as a dictionary of their distinct texts
    (each text built once, rows as codes); other columns as plain text.
    """
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _dictionary_column_text(column)
    if pa.types.is_nested(kind):
        raise _FileUnreadable("it holds lists or records, not single values.")
    if pa.types.is_timestamp(kind):
        return _timestamps_as_text(column)
    if pa.types.is_floating(kind):
        return _floats_as_text(column)
    try:
        text = pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _FileUnreadable(f"its values ({kind}) cannot be read as text.") from None
    text = pc.fill_null(text, "")
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    try:
        text.validate(full=True)  # Parquet does not check that its strings are UTF-8
    except pa.ArrowInvalid:
        raise _FileUnreadable("its text is damaged (not valid UTF-8).") from None
    return text


def _dictionary_column_text(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """A dictionary column as text: its dictionary's values as text (the rules above), the
    rows' codes unchanged; a missing cell is ""."""
    combined = column.unify_dictionaries().combine_chunks()
    values = _arrow_column_text(pa.chunked_array([combined.dictionary]))
    if pa.types.is_dictionary(values.type):  # numbers or dates: one text per value again
        values = values.dictionary.take(values.indices)
    indices = combined.indices.to_numpy(zero_copy_only=False) if combined.null_count == 0 \
        else pc.fill_null(combined.indices, len(values)).to_numpy(zero_copy_only=False)
    return _text_dictionary(pa.concat_arrays([values, pa.array([""], pa.string())]), indices)


def _floats_as_text(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """Floats as a spreadsheet shows them: whole numbers without ".0" (1.0 -> "1"), others
    as the shortest text that reads back to the same number (numpy's repr)."""
    codes, values = pd.factorize(np.asarray(column.to_numpy(), dtype=np.float64),
                                 use_na_sentinel=False)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 1e15)
    text = values.astype(str).astype(object)
    text[whole] = values[whole].astype(np.int64).astype(str)
    text[np.isnan(values)] = ""
    return _text_dictionary(pa.array(text, pa.string()), codes)


def _timestamps_as_text(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """Midnight timestamps as YYYY-MM-DD; others keep their time of day (and fail as dates)."""
    codes, distinct = pd.factorize(pd.Series(column.to_pandas()))  # missing: code -1
    values = pd.Series(distinct)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    midnight = values.dt.normalize() == values
    text = values.dt.strftime("%Y-%m-%d").where(midnight, values.astype(str))
    return _text_dictionary(pa.array([*text.tolist(), ""], pa.string()), codes)


def _text_dictionary(distinct_text: pa.Array, codes: np.ndarray) -> pa.DictionaryArray:
    """Rows as codes into their distinct texts (code -1: the last text).

    Text is built once per distinct value, not once per row: a million-row column repeats
    few dates and numbers, and a million strings would cost time and memory.
    """
    codes = np.where(codes < 0, len(distinct_text) - 1, codes).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes), distinct_text)


def _column_letter(index: int) -> str:
    """Spreadsheet column letter of a 0-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


# --------------------------------------------------------------------------------------------
# Validation (column operations on Arrow arrays and numpy masks; no loop over rows)
# --------------------------------------------------------------------------------------------


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow boolean array as a numpy mask, null = False."""
    filled = pc.fill_null(values, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    return filled.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    """Cells matching a regular expression as a whole."""
    return _mask(pc.match_substring_regex(text, f"^(?:{pattern})$"))


# Status of a cell after parsing; each code but _VALID has its message per kind.
_VALID, _NOT_A_NUMBER, _UNKNOWN_LEVEL, _NOT_YES_NO, _NOT_ISO, _NOT_A_DATE, _OUT_OF_YEARS = range(7)

_STATUS_MESSAGES: dict[Kind, dict[int, str]] = {
    Kind.NUMBER: {_NOT_A_NUMBER: "{label} '{{value}}' is not a number."},
    Kind.CATEGORY: {_UNKNOWN_LEVEL: ("{label} '{{value}}' is not one of the allowed values: "
                                     "{levels}.")},
    Kind.YES_NO: {_NOT_YES_NO: ("{label} '{{value}}' is not yes or no (also accepted: "
                                "true/false, 1/0).")},
    Kind.DATE: {
        _NOT_ISO: ("{label} '{{value}}' is not an ISO date; dates must be written YYYY-MM-DD "
                   "(for example 2019-07-25), so that day and month cannot be confused."),
        _NOT_A_DATE: ("{label} '{{value}}' is not a real calendar date; dates must be real "
                      "ISO dates (YYYY-MM-DD)."),
        _OUT_OF_YEARS: ("{label} '{{value}}' is outside the years "
                        f"{schema.EARLIEST_YEAR}-{schema.LATEST_YEAR}; check the year."),
    },
}


def _month_length(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Days in each month, Gregorian leap years (divisible by 4, not by 100 unless by 400)."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    days = lengths[np.clip(month, 1, 12) - 1]
    return days + ((month == 2) & leap)


def _months_between(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Months between two datetime64 arrays; a month is 30.4375 days (contract section 1)."""
    days = (later - earlier) / np.timedelta64(1, "D")
    return days / MONTH_DAYS


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

    def cells(self, mask: np.ndarray, column: str, values: pa.Array, template: str,
              **fields: pa.Array | np.ndarray) -> None:
        """One problem per flagged row of ``column``.

        ``values`` are the cells of ``column`` as written (each problem's value);
        ``template`` is formatted with ``value`` and each of ``fields`` at that row.
        """
        if self.live is not None:
            mask = mask & self.live
        index = np.flatnonzero(mask)
        self.total += len(index)
        room = PROBLEM_LIMIT - len(self.items)
        if room <= 0 or len(index) == 0:
            return
        index = index[:room]
        take = pa.array(index, type=pa.int64())
        shown = values.take(take).to_pylist()
        extra = {key: [v.strip() if isinstance(v, str) else v for v in
                       (field.take(take).to_pylist() if isinstance(field, pa.Array)
                        else field[index].tolist())]
                 for key, field in fields.items()}
        for i, (position, value) in enumerate(zip(index.tolist(), shown)):
            message = template.format(value=value, **{k: v[i] for k, v in extra.items()})
            self.items.append(Problem(position + _FIRST_DATA_ROW, column, value, message))

    def sorted(self) -> list[Problem]:
        def key(problem: Problem) -> tuple:
            return (problem.row is not None, problem.row or 0,
                    _COLUMN_ORDER.get(problem.column or "", len(_COLUMN_ORDER)))
        return sorted(self.items, key=key)


@dataclass
class _Cells:
    """One registry column of the file, parsed through its distinct values.

    Registry columns repeat few distinct values (levels, dates, ages), so every cell-level
    operation runs once per distinct value (``uniques``) and is spread back to the rows with
    ``codes`` (a numpy gather): fast for a million rows, and still vectorised when every
    value is distinct.
    """

    raw: pa.DictionaryArray  # cells as written, one per row (``codes`` into ``uniques``)
    codes: np.ndarray        # row -> position in ``uniques`` (the narrowest integer type)
    uniques: pa.Array        # distinct cells as written
    stripped: pa.Array       # ``uniques`` without surrounding spaces
    lower: pa.Array          # ``stripped`` in lower case
    unique_blank: np.ndarray  # which ``uniques`` read as an empty cell
    blank: np.ndarray        # which rows are empty

    @classmethod
    def of(cls, column: pa.Array) -> "_Cells":
        """Distinct values and codes of a text column (plain or dictionary-encoded)."""
        if pa.types.is_dictionary(column.type):
            # a dictionary may repeat a text (or hold one no row uses): encode it again
            encoded = pc.dictionary_encode(column.dictionary)
            uniques = encoded.dictionary
            codes = encoded.indices.to_numpy(zero_copy_only=False)[
                column.indices.to_numpy(zero_copy_only=False)]
        else:
            encoded = pc.dictionary_encode(column)
            uniques = encoded.dictionary
            codes = encoded.indices.to_numpy(zero_copy_only=False)
        codes = codes.astype(np.min_scalar_type(-max(len(uniques), 1)), copy=False)
        # the cells as written, kept for the problems' messages without a copy of their text
        raw = pa.DictionaryArray.from_arrays(pa.array(codes), uniques)
        stripped = pc.utf8_trim_whitespace(uniques)
        lower = pc.utf8_lower(stripped)
        unique_blank = _mask(pc.is_in(lower, value_set=pa.array(schema.MISSING_SPELLINGS)))
        return cls(raw, codes, uniques, stripped, lower, unique_blank, unique_blank[codes])

    def per_row(self, per_unique: np.ndarray) -> np.ndarray:
        """Spread a result computed per distinct value back to the rows."""
        return per_unique[self.codes]


class _Validator:
    """Checks a raw table against the schema and builds the loaded frame."""

    def __init__(self, table: _RawTable, source_name: str | None) -> None:
        self.table = table
        self.source_name = source_name
        self.problems = _Problems()
        for problem in table.problems:
            self.problems.add(problem)
        self.notices = list(table.notices)
        self.cells: dict[str, _Cells] = {}        # canonical name -> the file's column
        self.parsed: dict[str, np.ndarray] = {}   # canonical name -> typed values
        self.ok: dict[str, np.ndarray] = {}       # canonical name -> parsed and not empty
        self.ignored: list[str] = []
        self.form: str | None = None
        self.n = table.n_rows
        self.filled = np.ones(self.n, dtype=bool)
        self.decimal_comma_used = False

    # --- driver ---------------------------------------------------------------------------

    def run(self) -> pd.DataFrame:
        self._drop_trailing_blank_rows()
        positions = self._match_headers()
        if positions is None:  # not a registry table at all: one clear problem is enough
            raise self._error()
        if self.n == 0:
            self.problems.add(Problem(None, None, None,
                                      "The file has a header row but no patient rows."))
        self._flag_interior_blank_rows()
        self.cells = self._encode_columns(positions)
        self.form = self._decide_form()
        self._check_cells()
        self._check_rows()
        if self.problems.total:
            raise self._error()
        self._release_file_text()
        return self._build_frame()

    def _encode_columns(self, positions: dict[str, int]) -> dict[str, _Cells]:
        """Each registry column as its distinct values and codes; the file's text columns are
        freed one by one as they are encoded (a million-row file's text is hundreds of MB)."""
        columns, self.table.columns = self.table.columns, []
        cells = {}
        for name, position in positions.items():
            cells[name] = _Cells.of(columns[position])
            columns[position] = None
        del columns
        pa.default_memory_pool().release_unused()
        return cells

    def _release_file_text(self) -> None:
        """Free the file's cells once every check has passed: the frame is built from the
        parsed values only."""
        self.cells = {}
        pa.default_memory_pool().release_unused()

    def _error(self) -> RegistryError:
        return RegistryError(self.problems.sorted(), total=self.problems.total,
                             notices=self.notices, source_name=self.source_name)

    def _raw(self, name: str) -> pa.Array:
        return self.cells[name].raw

    def _blank(self, name: str) -> np.ndarray:
        """Empty cells of a column; a column absent from the file is empty everywhere."""
        return self.cells[name].blank if name in self.cells else np.ones(self.n, dtype=bool)

    # --- rows and headers -----------------------------------------------------------------

    @staticmethod
    def _has_content(column: pa.Array) -> np.ndarray:
        if pa.types.is_dictionary(column.type):
            return _Validator._has_content(column.dictionary)[
                column.indices.to_numpy(zero_copy_only=False)]
        return _mask(pc.not_equal(pc.utf8_trim_whitespace(column), ""))

    def _rows_with_content(self) -> np.ndarray:
        """Rows with at least one non-blank cell; each column only looks at rows still empty."""
        filled = np.zeros(self.n, dtype=bool)
        unknown = np.arange(self.n)
        for column in self.table.columns:
            if len(unknown) == 0:
                break
            found = self._has_content(column.take(pa.array(unknown, type=pa.int64())))
            filled[unknown[found]] = True
            unknown = unknown[~found]
        return filled

    def _drop_trailing_blank_rows(self) -> None:
        filled = self._rows_with_content()
        last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
        dropped = self.n - last + self.table.trailing_blank_rows
        if dropped:
            self.table.columns = [column.slice(0, last) for column in self.table.columns]
            self.notices.append(f"{dropped:,} empty row{'s' if dropped != 1 else ''} after the "
                                f"last patient {'were' if dropped != 1 else 'was'} skipped.")
        self.filled = filled[:last]
        self.n = last

    def _flag_interior_blank_rows(self) -> None:
        empty = np.flatnonzero(~self.filled)
        for position in empty[:PROBLEM_LIMIT].tolist():
            row = position + _FIRST_DATA_ROW
            self.problems.add(Problem(row, None, "", (
                f"Row {row} is empty; remove empty rows between patients.")))
        self.problems.total += max(0, len(empty) - PROBLEM_LIMIT)
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
                letters = " and ".join(_column_letter(p) for p in found)
                written = " | ".join(str(self.table.headers[p]) for p in found)
                self.problems.add(Problem(_HEADER_ROW, name, written, (
                    f"Column '{name}' appears {len(found)} times (columns {letters}); keep only "
                    "one.")))
        self._note_ignored_columns(positions)
        return {name: found[0] for name, found in known.items()}

    def _note_ignored_columns(self, positions: dict[str, list[int]]) -> None:
        for name, found in positions.items():
            if name in _FILE_COLUMNS:
                continue
            for position in found:
                header = str(self.table.headers[position])
                if name == "":
                    if not self._has_content(self.table.columns[position]).any():
                        continue  # an empty column an editor left behind
                    header = f"(unnamed column {_column_letter(position)})"
                self.ignored.append(header)
        if self.ignored:
            listed = ", ".join(self.ignored[:20])
            if len(self.ignored) > 20:
                listed += f" and {len(self.ignored) - 20:,} more"
            self.notices.append("Columns that are not part of the registry format were ignored: "
                                f"{listed}.")
            derived = [h for h in self.ignored if schema.canonical_header(h) in _DERIVED_ONLY]
            if derived:
                self.notices.append("Derived columns are always recomputed from the registry "
                                    "columns, never read: " + ", ".join(derived) + ".")

    def _decide_form(self) -> str | None:
        """"dates" when the four dates are given, "intervals" when the three intervals are."""
        has_dates = all(name in self.cells for name in _REQUIRED_DATES)
        has_intervals = all(name in self.cells for name in _REQUIRED_INTERVALS)
        dates_all_blank = has_dates and all(self._blank(n).all() for n in _REQUIRED_DATES)
        if has_dates and not (has_intervals and dates_all_blank):
            return "dates"
        if has_intervals:
            return "intervals"
        dates_found = sum(name in self.cells for name in _REQUIRED_DATES)
        intervals_found = sum(name in self.cells for name in _REQUIRED_INTERVALS)
        wanted = _REQUIRED_INTERVALS if intervals_found > dates_found else _REQUIRED_DATES
        for name in wanted:
            if name not in self.cells:
                self.problems.add(Problem(_HEADER_ROW, name, None, (
                    f"Required column '{name}' ({schema.LABELS[name]}) is missing. Give the four "
                    f"dates ({', '.join(_REQUIRED_DATES)}) or the three intervals "
                    f"({', '.join(_REQUIRED_INTERVALS)}).")))
        return None

    # --- single cells ---------------------------------------------------------------------

    def _why_required(self, column: schema.Column) -> str | None:
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
            if column.name in self.cells:
                self._check_column(column)
            elif column.required is Requirement.ALWAYS:
                self.problems.add(Problem(_HEADER_ROW, column.name, None, (
                    f"Required column '{column.name}' ({column.label}) is missing.")))

    def _check_column(self, column: schema.Column) -> None:
        cells = self.cells[column.name]
        why = self._why_required(column)
        if why:
            self.problems.cells(cells.blank, column.name, cells.raw,
                                f"{column.label} is empty; {why}.")
        if column.kind is Kind.TEXT:
            values, valid = self._parse_text(column, cells)
        else:
            parse = {Kind.NUMBER: self._parse_numbers, Kind.CATEGORY: self._parse_levels,
                     Kind.YES_NO: self._parse_yes_no, Kind.DATE: self._parse_dates}[column.kind]
            unique_values, unique_status = parse(column, cells)
            values = cells.per_row(unique_values)
            status = cells.per_row(unique_status.astype(np.int8))  # codes 0-6, a byte per row
            for code, message in _STATUS_MESSAGES[column.kind].items():
                self.problems.cells((status == code) & ~cells.blank, column.name, cells.raw,
                                    message.format(label=column.label, levels=", ".join(column.levels)))
            valid = status == _VALID
            values = self._check_range(column, cells, values, valid)
        self.parsed[column.name] = values
        self.ok[column.name] = valid & ~cells.blank

    def _parse_text(self, column: schema.Column, cells: _Cells) -> tuple[np.ndarray, np.ndarray]:
        # one str object per distinct cell, shared by the rows that hold it (a million rows of
        # a few centres are a million pointers, not a million strings)
        distinct = np.array(cells.uniques.to_pylist(), dtype=object)
        distinct[cells.unique_blank] = np.nan
        values = cells.per_row(distinct)
        if column.name == "patient_id":
            self._check_unique_ids(cells)
        return values, np.ones(self.n, dtype=bool)

    def _check_unique_ids(self, cells: _Cells) -> None:
        """Every row of a repeated patient_id is reported, naming the other rows."""
        # ids equal after trimming spaces are the same id
        same = pc.dictionary_encode(cells.stripped).indices.to_numpy(zero_copy_only=False)
        codes = cells.per_row(same.astype(np.intp, copy=False))
        counts = np.bincount(codes, minlength=len(cells.uniques))
        repeated = (counts[codes] > 1) & ~cells.blank & self.filled
        if not repeated.any():
            return
        positions = np.flatnonzero(repeated)
        rows = pd.Series(positions + _FIRST_DATA_ROW).groupby(codes[positions], sort=False)
        listing = rows.agg(lambda r: _row_list(r.to_numpy()))
        where = np.empty(self.n, dtype=object)
        where[positions] = listing.reindex(codes[positions]).to_numpy()
        self.problems.cells(repeated, "patient_id", cells.raw, (
            "Patient ID '{value}' appears on {rows}; each patient must have exactly one row."),
            rows=where)

    def _parse_numbers(self, column: schema.Column,
                       cells: _Cells) -> tuple[np.ndarray, np.ndarray]:
        text = cells.stripped
        plain = _matches(text, _NUMBER)
        comma = _matches(text, _DECIMAL_COMMA) if self.table.decimal_comma_allowed \
            else np.zeros(len(text), dtype=bool)
        if (comma & ~cells.unique_blank).any():
            self.decimal_comma_used = True
            text = pc.if_else(pa.array(comma), pc.replace_substring(text, ",", "."), text)
        readable = plain | comma
        chosen = pc.if_else(pa.array(readable), text, pa.scalar(None, pa.string()))
        values = np.asarray(pc.cast(chosen, pa.float64()).to_numpy(zero_copy_only=False),
                            dtype=float)
        valid = readable & np.isfinite(values)
        values = np.where(valid, values, np.nan)
        return values, np.where(valid, _VALID, _NOT_A_NUMBER)

    def _check_range(self, column: schema.Column, cells: _Cells, values: np.ndarray,
                     valid: np.ndarray) -> np.ndarray:
        """Range of numbers (age 18-100; intervals not negative in the intervals form)."""
        if column.kind is not Kind.NUMBER:
            return values
        values = np.where(valid & ~cells.blank, values, np.nan)
        with np.errstate(invalid="ignore"):
            if column.maximum is not None and column.minimum is not None:
                outside = (values < column.minimum) | (values > column.maximum)
                self.problems.cells(outside, column.name, cells.raw, (
                    f"{column.label} {{value}} is outside {column.minimum:g}-{column.maximum:g} "
                    f"{column.unit}."))
            elif column.minimum == 0.0 and self.form == "intervals":
                # Negative intervals; in the dates form the dates decide (agreement check).
                self.problems.cells(values < 0, column.name, cells.raw, (
                    f"{column.label} is {{value}}, which is negative; a time interval cannot be "
                    "negative."))
        return values

    def _parse_levels(self, column: schema.Column,
                      cells: _Cells) -> tuple[np.ndarray, np.ndarray]:
        lookup = {level.lower(): level for level in column.levels}
        values = np.array([lookup.get(v, np.nan) for v in cells.lower.to_pylist()],
                          dtype=object)
        known = np.array([v in lookup for v in cells.lower.to_pylist()], dtype=bool)
        return values, np.where(known, _VALID, _UNKNOWN_LEVEL)

    def _parse_yes_no(self, column: schema.Column,
                      cells: _Cells) -> tuple[np.ndarray, np.ndarray]:
        yes = _mask(pc.is_in(cells.lower, value_set=pa.array(schema.TRUE_SPELLINGS)))
        no = _mask(pc.is_in(cells.lower, value_set=pa.array(schema.FALSE_SPELLINGS)))
        return yes, np.where(yes | no, _VALID, _NOT_YES_NO)

    def _parse_dates(self, column: schema.Column,
                     cells: _Cells) -> tuple[np.ndarray, np.ndarray]:
        text = cells.stripped
        iso = _matches(text, _ISO_DATE)
        filler = pc.if_else(pa.array(iso), text, "1970-01-01")
        year, month, day = (
            np.asarray(pc.cast(pc.utf8_slice_codeunits(filler, start, stop), pa.int64())
                       .to_numpy(zero_copy_only=False), dtype=np.int64)
            for start, stop in ((0, 4), (5, 7), (8, 10)))
        real = iso & (month >= 1) & (month <= 12) & (day >= 1) & (day <= _month_length(year, month))
        in_range = real & (year >= schema.EARLIEST_YEAR) & (year <= schema.LATEST_YEAR)
        status = np.select([~iso, ~real, ~in_range], [_NOT_ISO, _NOT_A_DATE, _OUT_OF_YEARS],
                           default=_VALID)
        dates = _to_datetime64(np.where(in_range, year, 1970), np.where(in_range, month, 1),
                               np.where(in_range, day, 1))
        dates[~in_range] = np.datetime64("NaT")
        return dates, status

    # --- rules across columns -------------------------------------------------------------

    def _all_ok(self, *names: str) -> np.ndarray:
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
        """The registry's inclusion rule: lung and/or liver metastases."""
        known = self._all_ok("mets_lung", "mets_liver")
        if not known.any():
            return
        neither = known & ~self.parsed["mets_lung"] & ~self.parsed["mets_liver"]
        self.problems.cells(neither, "mets_lung", self._raw("mets_lung"), (
            "The patient has neither lung nor liver metastases (mets_lung and mets_liver are "
            "both no); the registry includes only patients with lung and/or liver metastases."))

    def _check_group_and_intervention(self) -> None:
        if "group" not in self.ok:
            return
        it = self.ok["group"] & (self.parsed["group"] == "IT")
        st = self.ok["group"] & (self.parsed["group"] == "ST")
        if "intervention" in self.cells:
            blank = self._blank("intervention")
            self.problems.cells(it & blank, "intervention", self._raw("intervention"), (
                "Intervention is empty; patients in the IT group (intervention for metastases) "
                "need the type of intervention."))
            self.problems.cells(st & ~blank, "intervention", self._raw("intervention"), (
                "Intervention '{value}' is given for a patient in the ST group (systemic therapy "
                "only); leave it empty or change the group to IT."))
            self._check_intervention_organ()
        elif it.any():
            count = int((it & self.filled).sum())
            self.problems.add(Problem(_HEADER_ROW, "intervention", None, (
                "Required column 'intervention' (Intervention) is missing; it is needed for the "
                f"IT group ({count:,} patient{'s' if count != 1 else ''}).")))
        for name, what in (("date_intervention", "A date of intervention"),
                           ("intervention_months", "A time to intervention")):
            if name in self.cells:
                self.problems.cells(st & ~self._blank(name), name, self._raw(name), (
                    f"{what} ('{{value}}') is given for a patient in the ST group (systemic "
                    "therapy only); leave it empty or change the group to IT."))

    def _check_intervention_organ(self) -> None:
        """A lung intervention needs lung metastases, a liver one liver metastases."""
        for organ in ("lung", "liver"):
            flag = f"mets_{organ}"
            if flag not in self.ok:
                continue
            codes = [code for code, treated in schema.INTERVENTION_ORGAN.items()
                     if treated == organ]
            on_organ = self.ok["intervention"] & np.isin(self.parsed["intervention"], codes)
            mismatch = on_organ & self.ok[flag] & ~self.parsed[flag]
            self.problems.cells(mismatch, "intervention", self._raw("intervention"), (
                f"Intervention '{{value}}' treats the {organ}, but the patient has no {organ} "
                f"metastases ({flag} is no)."))

    _CHRONOLOGY: tuple[tuple[str, str, str, str], ...] = (
        # (column reported, column compared with, how it is wrong, message)
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
        for name, other, how, message in self._CHRONOLOGY:
            both = self._all_ok(name, other)
            if not both.any():
                continue
            a, b = self.parsed[name], self.parsed[other]
            wrong = both & ((a < b) if how == "before" else (a > b))
            self.problems.cells(wrong, name, self._raw(name), message,
                                other=self._raw(other))

    def _date(self, name: str) -> np.ndarray:
        if name in self.parsed:
            return self.parsed[name]
        return np.full(self.n, np.datetime64("NaT"), dtype="datetime64[ns]")

    def _dates_months(self) -> dict[str, np.ndarray]:
        """Intervals computed from the dates (NaN where a date is missing or invalid)."""
        progression = self._date("date_progression")
        last = self._date("date_last_followup")
        metastasis = self._date("date_metastasis")
        pfs_end = np.where(np.isnat(progression), last, progression)
        return {
            "mdfi_months": _months_between(metastasis, self._date("date_surgery")),
            "os_months": _months_between(last, self._date("date_diagnosis")),
            "pdrs_months": _months_between(last, metastasis),
            "pfs_months": _months_between(pfs_end, metastasis),
            "intervention_months": _months_between(self._date("date_intervention"), metastasis),
        }

    def _check_intervals_agree_with_dates(self) -> None:
        """Dates win; a given interval may differ from the dates by 0.5 month at most."""
        tolerance = schema.DATE_AGREEMENT_MONTHS
        for name, months in self._dates_months().items():
            if name not in self.ok:
                continue
            with np.errstate(invalid="ignore"):
                differs = self.ok[name] & (np.abs(self.parsed[name] - months) > tolerance)
            self.problems.cells(differs, name, self._raw(name), (
                f"{schema.LABELS[name]} is {{value}} but the dates give {{computed:.1f}} months; "
                f"when the file has dates, a given interval may differ from them by at most "
                f"{tolerance:g} month."), computed=months)
        if "intervention_months" in self.ok:
            lone = self.ok["intervention_months"] & self._blank("date_intervention")
            self.problems.cells(lone, "intervention_months", self._raw("intervention_months"), (
                "Time to intervention is given but the date of intervention is empty; when the "
                "file has dates, give the date of intervention."))
        if "progressed" in self.ok:
            has_date = ~self._blank("date_progression")
            said = self.parsed["progressed"]
            self.problems.cells(self.ok["progressed"] & said & ~has_date, "progressed",
                                self._raw("progressed"),
                                "Progressed is '{value}' but no date of progression is given.")
            self.problems.cells(self.ok["progressed"] & ~said & has_date, "progressed",
                                self._raw("progressed"),
                                "Progressed is '{value}' but a date of progression is given.")

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
        for name, how, message in checks:
            both = self._all_ok(name, "pdrs_months")
            if not both.any():
                continue
            a, b = self.parsed[name], self.parsed["pdrs_months"]
            wrong = both & ((a < b) if how == "<" else (a > b))
            self.problems.cells(wrong, name, self._raw(name), message,
                                other=self._raw("pdrs_months"))

    def _check_pfs_pairs(self) -> None:
        """Intervals form: pfs_months and progressed go together (column and cell)."""
        present = [name for name in ("pfs_months", "progressed") if name in self.cells]
        if len(present) == 1:
            missing = "progressed" if present[0] == "pfs_months" else "pfs_months"
            self.problems.add(Problem(_HEADER_ROW, missing, None, (
                f"Column '{missing}' is missing; it is required when the file has "
                f"'{present[0]}' (progression needs both its time and whether it happened).")))
            return
        if len(present) < 2:
            return
        pfs_blank, progressed_blank = self._blank("pfs_months"), self._blank("progressed")
        self.problems.cells(pfs_blank & ~progressed_blank, "pfs_months",
                            self._raw("pfs_months"),
                            "PFS is empty but Progressed is given; give both or neither.")
        self.problems.cells(progressed_blank & ~pfs_blank, "progressed",
                            self._raw("progressed"),
                            "Progressed is empty but PFS is given; give both or neither.")

    # --- the loaded frame -----------------------------------------------------------------

    def _build_frame(self) -> pd.DataFrame:
        index = pd.RangeIndex(self.n)
        out: dict[str, Any] = {}
        for column in schema.CONTRACT_COLUMNS:
            out[column.name] = self._output_column(column)
        out.update(self._derived_intervals())
        er, pr, her2 = out["er"], out["pr"], out["her2"]
        out["age_lt_55"] = out["age"] < schema.AGE_LT_CUTOFF
        out["hr_positive"] = (er == "positive") | (pr == "positive")
        out["her2_positive"] = her2 == "positive"
        with np.errstate(invalid="ignore"):
            out["mdfi_gt_24"] = out["mdfi_months"] > schema.MDFI_GT_CUTOFF_MONTHS
        out["site"] = _site(out["mets_lung"], out["mets_liver"], out["mets_bone"])
        frame = pd.DataFrame({name: out[name] for name in schema.FRAME_COLUMNS}, index=index,
                             copy=False)
        if self.decimal_comma_used:
            self.notices.append("Decimal commas were read as decimal points (e.g. 12,5 as 12.5).")
        frame.attrs.update({"form": self.form, "source_name": self.source_name,
                            "ignored_columns": list(self.ignored),
                            "notices": list(self.notices)})
        return frame

    def _output_column(self, column: schema.Column) -> np.ndarray:
        if column.name in self.parsed:
            return self.parsed[column.name]
        if column.kind is Kind.DATE:
            return np.full(self.n, np.datetime64("NaT"), dtype="datetime64[ns]")
        return np.full(self.n, np.nan, dtype=object)  # optional categories absent from the file

    def _derived_intervals(self) -> dict[str, np.ndarray]:
        if self.form == "dates":
            months = self._dates_months()
            progressed = ~np.isnat(self._date("date_progression"))
        else:
            months = {name: self.parsed.get(name, np.full(self.n, np.nan))
                      for name in ("mdfi_months", "os_months", "pdrs_months", "pfs_months",
                                   "intervention_months")}
            progressed = self.parsed.get("progressed", np.zeros(self.n, dtype=bool))
        it = self.parsed["group"] == "IT"
        return {
            "mdfi_months": months["mdfi_months"].astype(float),
            "os_months": months["os_months"].astype(float),
            "pdrs_months": months["pdrs_months"].astype(float),
            "pfs_months": months["pfs_months"].astype(float),
            "progressed": np.asarray(progressed, dtype=bool),
            "intervention_months": np.where(it, months["intervention_months"], np.nan),
            # entry = os - pdrs = diagnosis -> metastasis, the delayed-entry time of OS
            # (the loaded-frame convention in imet_core/io.py's module docstring)
            "entry_months": months["os_months"] - months["pdrs_months"],
        }


def _to_datetime64(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Dates from year, month and day arrays (already checked to be real dates)."""
    months = (year - 1970) * 12 + (month - 1)
    first = months.astype("datetime64[M]").astype("datetime64[D]")
    return (first + (day - 1).astype("timedelta64[D]")).astype("datetime64[ns]")


def _row_list(rows: np.ndarray, shown: int = 5) -> str:
    listed = [str(int(r)) for r in rows[:shown]]
    more = len(rows) - len(listed)
    if more:
        return f"rows {', '.join(listed)} and {more:,} more"
    return f"rows {', '.join(listed[:-1])} and {listed[-1]}"


def _site(lung: np.ndarray, liver: np.ndarray, bone: np.ndarray) -> np.ndarray:
    """The paper's five site levels; every loaded patient has lung or liver metastases."""
    # each row points at one of the five level strings (a string per row would cost 50 MB
    # at a million rows); None where neither applies (the validator refuses such rows)
    levels = np.array(["multiple", "lung+bone", "lung", "liver+bone", "liver", None], dtype=object)
    code = np.select([lung & liver, lung & bone, lung, liver & bone, liver],
                     [0, 1, 2, 3, 4], default=5).astype(np.int8)
    return levels[code]
