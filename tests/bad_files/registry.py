"""A small valid registry (12 patients) and writers for every file format the loader reads.

The registry is written out by hand here, independently of ``imet_core.schema``, so tests can
check the schema and the loader against it. Every helper returns new objects; mutate freely.

Patients (dates form); rows are spreadsheet rows (header = row 1):

====  =====  ===================  ======  ==================================
row   id     site                 group   notes
====  =====  ===================  ======  ==================================
2     P01    lung                 IT      lung_metastasectomy, alive
3     P02    liver                IT      liver_metastasectomy, progressed, dead
4     P03    lung+bone            IT      lung_radiosurgery
5     P04    liver+bone           IT      liver_rfa, progressed
6     P05    liver                IT      liver_radiosurgery, dead
7     P06    liver                IT      liver_tare, no intervention date
8     P07    multiple             ST      optional categories blank
9     P08    multiple (+bone)     ST      progressed, dead
10    P09    lung                 ST      dead
11    P10    liver                ST
12    P11    lung+bone            ST      progressed
13    P12    liver+bone           ST      dead
====  =====  ===================  ======  ==================================
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Iterable, Sequence

MONTH_DAYS = 30.4375  # contract section 1: "A month is 30.4375 days"

DATES_HEADER: tuple[str, ...] = (
    "patient_id", "center", "age", "menopause", "er", "pr", "her2", "histology", "nodal_status",
    "breast_surgery", "axillary_surgery", "mets_lung", "mets_liver", "mets_bone", "mets_biopsy",
    "group", "intervention", "date_diagnosis", "date_surgery", "date_metastasis",
    "date_intervention", "date_progression", "date_last_followup", "dead", "er_met", "pr_met",
    "her2_met",
)
"""The contract's columns, in the contract's order (contract.md section 1)."""

INTERVALS_HEADER: tuple[str, ...] = (
    DATES_HEADER[: DATES_HEADER.index("date_diagnosis")]
    + ("mdfi_months", "os_months", "pdrs_months", "pfs_months", "progressed",
       "intervention_months")
    + ("dead", "er_met", "pr_met", "her2_met")
)

_ROWS: tuple[tuple[str, ...], ...] = (
    ("P01", "C01", "45", "pre", "positive", "positive", "negative", "IDC", "N1", "mastectomy",
     "ALND", "yes", "no", "no", "yes", "IT", "lung_metastasectomy", "2010-01-05", "2010-02-01",
     "2014-03-04", "2014-04-01", "", "2020-01-01", "no", "positive", "positive", "negative"),
    ("P02", "C01", "62", "post", "positive", "negative", "positive", "ILC", "N0", "segmental",
     "SLNB", "no", "yes", "no", "yes", "IT", "liver_metastasectomy", "2011-03-10", "2011-03-24",
     "2013-05-01", "2013-06-15", "2015-01-20", "2018-07-07", "yes", "negative", "", "positive"),
    ("P03", "C02", "38", "pre", "negative", "negative", "positive", "IDC+ILC", "N2", "mastectomy",
     "ALND", "yes", "no", "yes", "no", "IT", "lung_radiosurgery", "2012-06-01", "2012-07-01",
     "2015-09-09", "2015-10-10", "", "2021-02-02", "no", "", "", ""),
    ("P04", "C02", "55", "post", "positive", "positive", "negative", "IDC", "N3", "mastectomy",
     "ALND", "no", "yes", "yes", "yes", "IT", "liver_rfa", "2009-11-11", "2009-12-01",
     "2014-12-24", "2015-02-02", "2016-06-30", "2019-12-31", "no", "positive", "negative",
     "negative"),
    ("P05", "C03", "70", "post", "positive", "positive", "positive", "metaplastic", "NX",
     "segmental", "SLNB", "no", "yes", "no", "yes", "IT", "liver_radiosurgery", "2012-02-29",
     "2012-03-15", "2016-03-01", "2016-04-01", "", "2019-05-05", "yes", "", "", ""),
    ("P06", "C03", "50", "pre", "negative", "positive", "negative", "other", "N1", "mastectomy",
     "ALND", "no", "yes", "no", "no", "IT", "liver_tare", "2013-01-01", "2013-01-20",
     "2016-08-08", "", "", "2022-01-01", "no", "", "", ""),
    ("P07", "C04", "47", "pre", "positive", "negative", "negative", "", "N0", "", "", "yes",
     "yes", "no", "yes", "ST", "", "2012-05-05", "2012-06-06", "2014-10-10", "", "",
     "2019-09-09", "no", "", "", ""),
    ("P08", "C04", "66", "post", "positive", "positive", "negative", "IDC", "N1", "mastectomy",
     "ALND", "yes", "yes", "yes", "yes", "ST", "", "2010-10-10", "2010-11-11", "2013-12-12",
     "", "2015-03-03", "2016-04-04", "yes", "positive", "positive", "negative"),
    ("P09", "C05", "58", "post", "negative", "negative", "positive", "IDC", "N2", "segmental",
     "ALND", "yes", "no", "no", "no", "ST", "", "2014-07-07", "2014-08-01", "2015-06-01", "",
     "", "2017-01-15", "yes", "", "", ""),
    ("P10", "C05", "41", "pre", "positive", "positive", "negative", "IDC", "N1", "mastectomy",
     "SLNB", "no", "yes", "no", "yes", "ST", "", "2011-09-09", "2011-10-01", "2016-01-10", "",
     "", "2020-12-12", "no", "", "", ""),
    ("P11", "C06", "54", "pre", "positive", "negative", "positive", "IDC", "N0", "mastectomy",
     "ALND", "yes", "no", "yes", "yes", "ST", "", "2013-03-03", "2013-04-04", "2017-05-05", "",
     "2018-02-02", "2020-02-02", "no", "", "", ""),
    ("P12", "C06", "80", "post", "positive", "positive", "negative", "ILC", "N3", "segmental",
     "ALND", "no", "yes", "yes", "yes", "ST", "", "2012-12-12", "2013-01-10", "2014-02-14", "",
     "", "2016-06-16", "yes", "", "", ""),
)

EXPECTED_SITES = ("lung", "liver", "lung+bone", "liver+bone", "liver", "liver", "multiple",
                  "multiple", "lung", "liver", "lung+bone", "liver+bone")
"""Hand-assigned site of each patient, in file order."""


def dates_rows() -> list[dict[str, str]]:
    """The 12 patients in the dates form, as ``{column: text}`` dicts in file order."""
    return [dict(zip(DATES_HEADER, row)) for row in _ROWS]


def _months(later: str, earlier: str) -> float:
    return (date.fromisoformat(later) - date.fromisoformat(earlier)).days / MONTH_DAYS


def intervals_rows() -> list[dict[str, str]]:
    """The same patients in the intervals form (intervals computed here from the dates)."""
    out = []
    for row in dates_rows():
        progressed = row["date_progression"] != ""
        pfs_end = row["date_progression"] if progressed else row["date_last_followup"]
        record = {name: row[name] for name in INTERVALS_HEADER if name in row}
        record["mdfi_months"] = repr(_months(row["date_metastasis"], row["date_surgery"]))
        record["os_months"] = repr(_months(row["date_last_followup"], row["date_diagnosis"]))
        record["pdrs_months"] = repr(_months(row["date_last_followup"], row["date_metastasis"]))
        record["pfs_months"] = repr(_months(pfs_end, row["date_metastasis"]))
        record["progressed"] = "yes" if progressed else "no"
        record["intervention_months"] = (
            repr(_months(row["date_intervention"], row["date_metastasis"]))
            if row["date_intervention"] else "")
        out.append({name: record[name] for name in INTERVALS_HEADER})
    return out


def header_of(rows: Sequence[dict[str, str]]) -> list[str]:
    """Column names of a list of row dicts (first row's keys, in order)."""
    return list(rows[0].keys()) if rows else list(DATES_HEADER)


# --- writers ----------------------------------------------------------------------------------


def csv_text(rows: Sequence[dict[str, str]], *, header: Sequence[str] | None = None,
             sep: str = ",", newline: str = "\n") -> str:
    """Rows as delimited text (quoted where needed), header first."""
    header = list(header) if header is not None else header_of(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return buffer.getvalue()


def csv_bytes(rows: Sequence[dict[str, str]], *, header: Sequence[str] | None = None,
              sep: str = ",", newline: str = "\n", bom: bool = False,
              encoding: str = "utf-8") -> bytes:
    """Rows as CSV/TSV bytes; ``bom`` prefixes the UTF-8 byte-order mark."""
    data = csv_text(rows, header=header, sep=sep, newline=newline).encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def grid_bytes(lines: Iterable[Sequence[str]], *, sep: str = ",") -> bytes:
    """Free-form rows of cells (any widths) as CSV bytes, for malformed layouts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\n")
    for line in lines:
        writer.writerow(list(line))
    return buffer.getvalue().encode("utf-8")


def _typed(name: str, text: str):
    """The value a spreadsheet user would type: numbers as numbers, dates as dates."""
    if text == "":
        return None
    if name.startswith("date_"):
        return datetime.fromisoformat(text)
    if name == "age" or name.endswith("_months"):
        number = float(text)
        return int(number) if number.is_integer() else number
    return text


def xlsx_bytes(rows: Sequence[dict[str, str]], *, header: Sequence[str] | None = None,
               typed: bool = True, extra_sheets: Sequence[str] = (),
               sheet_title: str = "Registry") -> bytes:
    """Rows as an .xlsx workbook; ``typed`` stores numbers and dates as Excel values.

    Text cells are always stored as text (never as formulas), even when they begin with "=".
    """
    import openpyxl

    header = list(header) if header is not None else header_of(rows)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    sheet.append(header)
    for r, row in enumerate(rows, start=2):
        for c, name in enumerate(header, start=1):
            text = row.get(name, "")
            value = _typed(name, text) if typed else (text or None)
            cell = sheet.cell(row=r, column=c)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # text, even when it looks like a formula
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd"
    for title in extra_sheets:
        workbook.create_sheet(title).append(["notes"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def parquet_bytes(rows: Sequence[dict[str, str]], *, header: Sequence[str] | None = None,
                  typed: bool = True) -> bytes:
    """Rows as Parquet; ``typed`` stores age/intervals as float, dates as date32, yes/no as bool."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    header = list(header) if header is not None else header_of(rows)
    yes_no = {"mets_lung", "mets_liver", "mets_bone", "mets_biopsy", "dead", "progressed"}
    arrays = {}
    for name in header:
        texts = [row.get(name, "") for row in rows]
        if not typed:
            arrays[name] = pa.array([t or None for t in texts], pa.string())
        elif name.startswith("date_"):
            arrays[name] = pa.array([date.fromisoformat(t) if t else None for t in texts],
                                    pa.date32())
        elif name == "age" or name.endswith("_months"):
            arrays[name] = pa.array([float(t) if t else None for t in texts], pa.float64())
        elif name in yes_no:
            arrays[name] = pa.array([None if not t else t in ("yes", "true", "1") for t in texts],
                                    pa.bool_())
        else:
            arrays[name] = pa.array([t or None for t in texts], pa.string())
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer)
    return buffer.getvalue()
