"""The bad-input corpus of issue 8: files a registry upload may really be, and what must happen.

Every case is a file (name and bytes, built here from the valid 12-patient registry of
``tests/bad_files/registry.py``) and its one acceptable outcome:

* :class:`Refused`: ``load_registry`` raises ``RegistryError`` whose problems are exactly the
  given ``(row, column)`` pairs (row = spreadsheet row, header = 1; ``(None, None)`` = the whole
  file), with a phrase the messages must contain;
* :class:`Loads`: it loads cleanly, with the given number of patients, and a check of what was
  read (formula-looking text unchanged, a notice about what was skipped, ...).

Nothing else is acceptable: any other exception is a bug. The cases complement issue 2's suite
(``tests/bad_files``); none repeats one of its files. Three cases are too large to build in
memory or to commit and are written by :data:`LARGE_CASES` straight to a folder at test time:
a file over the upload limit (sparse, so it costs no disk), 10,000 columns, and a million blank
rows.

Write every small file into a folder to open them in a spreadsheet or upload them by hand::

    .venv/bin/python -m tests.bad_inputs.corpus /tmp/bad_inputs
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import pandas as pd

from tests.bad_files import registry as R

Pair = tuple[int | None, str | None]
FILE: Pair = (None, None)
ROWS = range(2, 14)  # spreadsheet rows of the 12 patients


@dataclass(frozen=True)
class Refused:
    """The file must be refused with exactly these (row, column) problems."""

    problems: frozenset[Pair]
    message: str | None = None   # a phrase one of the problem messages contains
    notice: str | None = None    # a phrase one of the loader's notices contains
    values: tuple[tuple[Pair, str], ...] = ()  # cells whose value the problem must quote unchanged


@dataclass(frozen=True)
class Loads:
    """The file must load cleanly."""

    patients: int
    notice: str | None = None    # a phrase one of ``frame.attrs["notices"]`` contains
    cells: tuple[tuple[int, str, object], ...] = ()  # (row, column, exact value after loading)
    check: Callable[[pd.DataFrame], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Case:
    filename: str
    content: bytes
    outcome: Refused | Loads
    why: str

    @property
    def id(self) -> str:
        return self.filename


_BUILDERS: list[Callable[[], Case]] = []


def case(builder: Callable[[], Case]) -> Callable[[], Case]:
    _BUILDERS.append(builder)
    return builder


def all_cases() -> list[Case]:
    """Every small case, built afresh."""
    return [build() for build in _BUILDERS]


def refused(*pairs: Pair, **kwargs) -> Refused:
    return Refused(frozenset(pairs), **kwargs)


def changed(rows: list[dict[str, str]], changes: dict[int, dict[str, str]]) -> list[dict[str, str]]:
    """Rows with cells replaced; keys of ``changes`` are spreadsheet rows (first patient = 2)."""
    for row, cells in changes.items():
        rows[row - 2].update(cells)
    return rows


def valid_csv(**kwargs) -> bytes:
    return R.csv_bytes(R.dates_rows(), **kwargs)


# --- files that are not tables, or not readable as text ----------------------------------------


@case
def empty_workbook() -> Case:
    import openpyxl

    buffer = io.BytesIO()
    openpyxl.Workbook().save(buffer)
    return Case("empty.xlsx", buffer.getvalue(), refused(FILE, message="empty"),
                "a new, never-edited workbook")


@case
def header_only_parquet() -> Case:
    return Case("header_only.parquet", R.parquet_bytes([], header=R.DATES_HEADER),
                refused(FILE, message="no patient rows"), "a Parquet schema without rows")


@case
def header_only_intervals_tsv() -> Case:
    data = R.csv_bytes([], header=R.INTERVALS_HEADER, sep="\t", newline="\r\n", bom=True)
    return Case("header_only_intervals.tsv", data, refused(FILE, message="no patient rows"),
                "an intervals-form template saved by Excel (BOM, CRLF, tabs)")


@case
def byte_order_mark_only() -> Case:
    return Case("bom_only.csv", codecs.BOM_UTF8 + b"\r\n", refused(FILE, message="empty"),
                "an empty file saved as 'CSV UTF-8'")


@case
def png_image() -> Case:
    data = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06"
            + bytes(range(256)) * 8)
    return Case("screenshot.png.csv", data, refused(FILE, message="binary"),
                "a screenshot of the registry renamed .csv")


@case
def gzipped_csv() -> Case:
    return Case("registry.csv.gz.csv", gzip.compress(valid_csv(), mtime=0),
                refused(FILE, message="binary"), "a compressed export renamed .csv")


@case
def zip_of_csv_named_xlsx() -> Case:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("registry.csv", valid_csv())
    return Case("registry.zip.xlsx", buffer.getvalue(), refused(FILE, message="Excel"),
                "a ZIP archive of the CSV renamed .xlsx")


@case
def pdf_named_xlsx() -> Case:
    data = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n%%EOF\n"
    return Case("registry.pdf.xlsx", data, refused(FILE, message="PDF"),
                "a printed report renamed .xlsx")


@case
def html_saved_as_xls() -> Case:
    header = "".join(f"<th>{name}</th>" for name in R.DATES_HEADER)
    data = (f"<html><body><table><tr>{header}</tr></table></body></html>\n").encode()
    return Case("web_page.xls", data, refused(FILE, message="registry"),
                "Excel's 'save as web page' (HTML named .xls)")


@case
def json_records() -> Case:
    data = pd.DataFrame(R.dates_rows()).to_json(orient="records").encode()
    return Case("registry.json.csv", data, refused(FILE, message="registry"),
                "a JSON export renamed .csv")


@case
def nul_bytes_in_text() -> Case:
    text = valid_csv()
    cut = text.index(b"P05")
    return Case("nul_bytes.csv", text[:cut] + b"\x00\x00" + text[cut:],
                refused(FILE, message="binary"), "a CSV with NUL bytes pasted into it")


# --- delimiters, encodings, line endings ------------------------------------------------------


@case
def pipe_delimited() -> Case:
    return Case("pipe_delimited.csv", valid_csv(sep="|"),
                refused(FILE, message="registry", notice="single column"),
                "values separated by | (not comma, semicolon or tab)")


@case
def tab_separated_named_csv() -> Case:
    return Case("tabs_named.csv", valid_csv(sep="\t"), Loads(12),
                "a TSV named .csv: the delimiter is read from the header line")


@case
def semicolon_decimal_comma() -> Case:
    rows = R.intervals_rows()
    for row in rows:
        for name in ("mdfi_months", "os_months", "pdrs_months", "pfs_months", "intervention_months"):
            row[name] = row[name].replace(".", ",")
    data = R.csv_bytes(rows, sep=";", newline="\r\n", bom=True)
    return Case("european_excel.csv", data,
                Loads(12, notice="Decimal commas",
                      check=lambda frame: _close(frame.loc[0, "pdrs_months"],
                                                 float(R.intervals_rows()[0]["pdrs_months"]))),
                "a European Excel export: semicolons, decimal commas, BOM, CRLF")


@case
def header_commas_rows_semicolons() -> Case:
    rows = R.dates_rows()
    lines = [",".join(R.DATES_HEADER)] + [";".join(row[name] for name in R.DATES_HEADER)
                                          for row in rows]
    data = ("\n".join(lines) + "\n").encode()
    # every patient row is one long cell in patient_id; every other required cell is empty
    required = ["center", "age", "menopause", "er", "pr", "her2", "nodal_status", "mets_lung",
                "mets_liver", "mets_bone", "mets_biopsy", "group", "date_diagnosis",
                "date_surgery", "date_metastasis", "date_last_followup", "dead"]
    return Case("mixed_delimiters.csv", data,
                refused(*[(row, name) for row in ROWS for name in required], message="empty"),
                "a header with commas above rows with semicolons")


@case
def windows_1252() -> Case:
    rows = changed(R.dates_rows(), {5: {"center": "Zürich – Nord"}})
    return Case("windows_1252.csv", R.csv_bytes(rows, encoding="cp1252"),
                refused(FILE, message="UTF-8"), "Windows-1252 text (ü, en dash)")


@case
def utf16_le_with_bom() -> Case:
    text = R.csv_text(changed(R.dates_rows(), {5: {"center": "Zürich"}}))
    return Case("utf16le.csv", codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
                Loads(12, cells=((5, "center", "Zürich"),)),
                "Excel's 'Unicode text' (UTF-16 LE with BOM), comma-separated")


@case
def utf16_be_with_bom_tabs() -> Case:
    text = R.csv_text(changed(R.dates_rows(), {3: {"center": "İstanbul"}}), sep="\t")
    return Case("utf16be.tsv", codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
                Loads(12, cells=((3, "center", "İstanbul"),)), "UTF-16 BE with BOM, tabs")


@case
def classic_mac_line_endings() -> Case:
    return Case("mac_cr.csv", valid_csv(newline="\r"), Loads(12),
                "old Mac line endings (CR only)")


@case
def quoted_line_breaks() -> Case:
    rows = changed(R.dates_rows(), {2: {"center": "C01\nNorth wing"}, 9: {"center": 'C05 "B"'}})
    return Case("quoted_newlines.csv", R.csv_bytes(rows),
                Loads(12, cells=((2, "center", "C01\nNorth wing"), (9, "center", 'C05 "B"'))),
                "a line break and quotes inside quoted cells")


# --- Excel workbooks ----------------------------------------------------------------------------


def _workbook(fill: Callable[[object], None]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    fill(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _append_registry(sheet, rows: list[dict[str, str]], start_row: int = 1) -> None:
    for c, name in enumerate(R.DATES_HEADER, start=1):
        sheet.cell(row=start_row, column=c, value=name)
    for r, row in enumerate(rows, start=start_row + 1):
        for c, name in enumerate(R.DATES_HEADER, start=1):
            text = row[name]
            if text == "":
                continue
            value = datetime.fromisoformat(text) if name.startswith("date_") else \
                int(text) if name == "age" else text
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd"


@case
def registry_on_second_sheet() -> Case:
    def fill(workbook):
        notes = workbook.active
        notes.title = "README"
        notes.append(["IMET registry export"])
        notes.append(["The data are on the next sheet."])
        _append_registry(workbook.create_sheet("Registry"), R.dates_rows())
    return Case("readme_first.xlsx", _workbook(fill),
                refused(FILE, message="registry", notice="only the first, 'README'"),
                "several sheets, the registry not the first: said, not guessed")


@case
def registry_first_of_three_sheets() -> Case:
    def fill(workbook):
        workbook.active.title = "Registry"
        _append_registry(workbook.active, R.dates_rows())
        workbook.create_sheet("Codes").append(["group", "IT = intervention"])
        workbook.create_sheet("Notes").append(["exported 2024-05-01"])
    return Case("three_sheets.xlsx", _workbook(fill), Loads(12, notice="3 sheets"),
                "several sheets, the registry first")


@case
def merged_title_above_headers() -> Case:
    def fill(workbook):
        sheet = workbook.active
        sheet.cell(row=1, column=1, value="IMET registry export, May 2024")
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(R.DATES_HEADER))
        _append_registry(sheet, R.dates_rows(), start_row=2)
    return Case("merged_title.xlsx", _workbook(fill), refused(FILE, message="first row"),
                "a merged title row above the headers")


HUMAN_LABELS = {
    "patient_id": "Patient ID", "center": "Centre", "age": "Age (years)",
    "menopause": "Menopausal status", "er": "ER status", "pr": "PR status", "her2": "HER2 status",
    "histology": "Histology", "nodal_status": "Nodal status", "breast_surgery": "Breast surgery",
    "axillary_surgery": "Axillary surgery", "mets_lung": "Lung metastases",
    "mets_liver": "Liver metastases", "mets_bone": "Bone metastases",
    "mets_biopsy": "Biopsy of the metastasis", "group": "Treatment group",
    "intervention": "Intervention", "date_diagnosis": "Date of diagnosis",
    "date_surgery": "Date of surgery", "date_metastasis": "Date of metastasis",
    "date_intervention": "Date of intervention", "date_progression": "Date of progression",
    "date_last_followup": "Date of last follow-up", "dead": "Vital status",
    "er_met": "ER on metastasis", "pr_met": "PR on metastasis", "her2_met": "HER2 on metastasis",
}


@case
def two_header_rows() -> Case:
    def fill(workbook):
        sheet = workbook.active
        _append_registry(sheet, R.dates_rows())
        sheet.insert_rows(2)
        for c, name in enumerate(R.DATES_HEADER, start=1):
            sheet.cell(row=2, column=c, value=HUMAN_LABELS[name])
    # the label row is read as a patient: every checked cell of row 2 is wrong, the free-text
    # ones (patient_id, center) are not; the 12 patients move down to rows 3-14
    expected = [(2, name) for name in R.DATES_HEADER if name not in ("patient_id", "center")]
    return Case("two_header_rows.xlsx", _workbook(fill),
                refused(*expected, values=(((2, "age"), "Age (years)"),)),
                "a second header row of human-readable labels")


@case
def merged_cells_in_data() -> Case:
    def fill(workbook):
        sheet = workbook.active
        _append_registry(sheet, R.dates_rows())
        centre = R.DATES_HEADER.index("center") + 1
        sheet.cell(row=3, column=centre, value="C01")  # rows 2-4 "look" like one centre
        sheet.merge_cells(start_row=2, start_column=centre, end_row=4, end_column=centre)
    return Case("merged_centre_cells.xlsx", _workbook(fill),
                refused((3, "center"), (4, "center"), message="empty"),
                "vertically merged centre cells: only the top cell holds a value")


@case
def excel_date_with_time() -> Case:
    def fill(workbook):
        sheet = workbook.active
        _append_registry(sheet, R.dates_rows())
        column = R.DATES_HEADER.index("date_metastasis") + 1
        sheet.cell(row=6, column=column, value=datetime(2016, 3, 1, 14, 30))
    return Case("date_with_time.xlsx", _workbook(fill),
                refused((6, "date_metastasis"), values=(((6, "date_metastasis"), "2016-03-01 14:30:00"),)),
                "an Excel date cell carrying a time of day")


@case
def formula_looking_text_in_excel() -> Case:
    def fill(workbook):
        sheet = workbook.active
        rows = changed(R.dates_rows(), {2: {"center": "=SUM(A1:A3)"},
                                        3: {"patient_id": "+P02"}})
        _append_registry(sheet, rows)
    return Case("formula_text.xlsx", _workbook(fill),
                Loads(12, cells=((2, "center", "=SUM(A1:A3)"), (3, "patient_id", "+P02"))),
                "text cells beginning with = or + in a workbook are data")


# --- duplicated columns -------------------------------------------------------------------------


@case
def duplicate_column_other_case() -> Case:
    header = list(R.DATES_HEADER) + [" AGE "]
    rows = [dict(row, **{" AGE ": row["age"]}) for row in R.dates_rows()]
    return Case("duplicate_age.csv", R.csv_bytes(rows, header=header),
                refused((1, "age"), message="appears 2 times"),
                "the same column twice, spelled differently")


@case
def duplicate_non_registry_columns() -> Case:
    header = list(R.DATES_HEADER) + ["notes", "notes"]
    lines = [header] + [[row[name] for name in R.DATES_HEADER] + ["a", "b"]
                        for row in R.dates_rows()]
    return Case("duplicate_notes.csv", R.grid_bytes(lines),
                Loads(12, notice="not part of the registry format",
                      check=lambda frame: _equal(frame.attrs["ignored_columns"], ["notes", "notes"])),
                "two extra columns with the same name: ignored, and said so")


@case
def duplicate_columns_parquet() -> Case:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = R.dates_rows()
    names = list(R.DATES_HEADER) + ["age"]
    arrays = [pa.array([row[name] or None for row in rows], pa.string()) for name in names]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), buffer)
    # the duplicate is named like in any other format (header row 1, column age)
    return Case("duplicate_age.parquet", buffer.getvalue(), refused((1, "age"), message="appears 2 times"),
                "a Parquet file with two fields called age")


# --- each contract rule broken once -------------------------------------------------------------


def _one_rule(filename: str, changes: dict[int, dict[str, str]], expected: list[Pair],
              message: str, why: str, *, intervals: bool = False) -> Case:
    rows = R.intervals_rows() if intervals else R.dates_rows()
    return Case(filename, R.csv_bytes(changed(rows, changes)), refused(*expected, message=message),
                why)


@case
def rule_missing_required_column() -> Case:
    rows = [{k: v for k, v in row.items() if k != "dead"} for row in R.dates_rows()]
    return Case("rule_missing_column.csv", R.csv_bytes(rows),
                refused((1, "dead"), message="Required column 'dead'"),
                "contract: missing required column")


@case
def rule_unknown_category() -> Case:
    return _one_rule("rule_unknown_category.csv", {4: {"her2": "equivocal"}}, [(4, "her2")],
                     "not one of the allowed values", "contract: unknown category")


@case
def rule_age_out_of_range() -> Case:
    return _one_rule("rule_age_17.csv", {3: {"age": "17"}}, [(3, "age")], "outside 18-100",
                     "contract: age out of range")


@case
def rule_duplicate_patient_id() -> Case:
    return _one_rule("rule_duplicate_id.csv", {9: {"patient_id": "P03"}},
                     [(4, "patient_id"), (9, "patient_id")], "rows 4 and 9",
                     "contract: duplicate patient_id (both rows named)")


@case
def rule_not_a_real_date() -> Case:
    return _one_rule("rule_feb_29.csv", {6: {"date_diagnosis": "2013-02-29"}},
                     [(6, "date_diagnosis")], "2013-02-29", "contract: a date that does not exist")


@case
def rule_metastasis_before_surgery() -> Case:
    return _one_rule("rule_metastasis_before_surgery.csv", {2: {"date_metastasis": "2010-01-20"}},
                     [(2, "date_metastasis")], "before the breast surgery",
                     "contract: metastasis dated before surgery")


@case
def rule_followup_before_metastasis() -> Case:
    return _one_rule("rule_followup_before_metastasis.csv",
                     {10: {"date_last_followup": "2015-05-01"}}, [(10, "date_last_followup")],
                     "before the metastasis", "contract: follow-up ending before metastasis")


@case
def rule_negative_interval() -> Case:
    return _one_rule("rule_negative_mdfi.csv", {5: {"mdfi_months": "-3.2"}}, [(5, "mdfi_months")],
                     "negative", "contract: a negative interval", intervals=True)


@case
def rule_it_without_intervention() -> Case:
    return _one_rule("rule_it_without_intervention.csv", {3: {"intervention": ""}},
                     [(3, "intervention")], "IT group", "contract: IT row without intervention")


@case
def rule_st_with_intervention() -> Case:
    return _one_rule("rule_st_with_intervention.csv", {8: {"intervention": "liver_rfa"}},
                     [(8, "intervention")], "ST group", "an ST patient with an intervention")


@case
def rule_neither_lung_nor_liver() -> Case:
    return _one_rule("rule_bone_only.csv", {12: {"mets_lung": "no"}}, [(12, "mets_lung")],
                     "neither lung nor liver", "contract: the registry's inclusion rule")


@case
def rule_intervention_on_wrong_organ() -> Case:
    return _one_rule("rule_wrong_organ.csv", {2: {"intervention": "liver_rfa"}},
                     [(2, "intervention")], "no liver metastases",
                     "a liver intervention for lung-only metastases")


@case
def rule_bad_yes_no() -> Case:
    return _one_rule("rule_dead_maybe.csv", {7: {"dead": "maybe"}}, [(7, "dead")], "maybe",
                     "a yes/no cell that is neither")


@case
def rule_reversed_intervals() -> Case:
    rows = R.intervals_rows()
    os_months, pdrs = rows[4]["os_months"], rows[4]["pdrs_months"]
    return _one_rule("rule_reversed_intervals.csv", {6: {"os_months": pdrs, "pdrs_months": os_months}},
                     [(6, "os_months")], "shorter than survival after metastasis",
                     "OS and PDRS swapped: overall survival shorter than PDRS", intervals=True)


@case
def rule_pfs_after_last_followup() -> Case:
    rows = R.intervals_rows()
    longer = repr(float(rows[7]["pdrs_months"]) + 2.0)
    return _one_rule("rule_pfs_too_long.csv", {9: {"pfs_months": longer}}, [(9, "pfs_months")],
                     "longer than survival after metastasis", "PFS longer than PDRS", intervals=True)


# --- dates written the way people write them ----------------------------------------------------


@case
def ambiguous_day_month_dates() -> Case:
    changes = {4: {"date_surgery": "01/07/2012"},       # 1 July or 7 January?
               7: {"date_diagnosis": "03/04/2013"},     # 3 April or 4 March?
               11: {"date_last_followup": "12/12/2020"}}  # unambiguous, but still not ISO
    values = tuple(((row, name), text) for row, cells in changes.items()
                   for name, text in cells.items())
    return Case("ambiguous_dates.csv", R.csv_bytes(changed(R.dates_rows(), changes)),
                Refused(frozenset(pair for pair, _ in values), message="YYYY-MM-DD", values=values),
                "day/month dates are reported, never guessed")


@case
def unpadded_iso_dates() -> Case:
    return Case("unpadded_dates.csv",
                R.csv_bytes(changed(R.dates_rows(), {5: {"date_progression": "2016-6-30"}})),
                refused((5, "date_progression"), values=(((5, "date_progression"), "2016-6-30"),)),
                "an ISO-like date without leading zeros")


@case
def dates_with_midnight_time() -> Case:
    return Case("datetime_text.csv",
                R.csv_bytes(changed(R.dates_rows(), {2: {"date_metastasis": "2014-03-04 00:00:00"}})),
                refused((2, "date_metastasis")), "a date written with a time of day")


# --- cells that look like something else ---------------------------------------------------------


FORMULAS = {2: {"center": '=HYPERLINK("http://example.org","C01")'}, 3: {"patient_id": "+P02"},
            4: {"patient_id": "@P03"}, 5: {"patient_id": "-P04"}, 6: {"center": "=1+1"},
            7: {"center": "=cmd|' /C calc'!A0"}}


@case
def formula_looking_text() -> Case:
    rows = changed(R.dates_rows(), FORMULAS)
    cells = tuple((row, name, text) for row, change in FORMULAS.items()
                  for name, text in change.items())
    return Case("formula_text.csv", R.csv_bytes(rows), Loads(12, cells=cells),
                "text that looks like a spreadsheet formula is data: loaded unchanged")


@case
def missing_value_spellings() -> Case:
    rows = changed(R.dates_rows(), {3: {"histology": "NA"}, 4: {"er_met": "NULL"},
                                    5: {"center": "N/A"}})
    return Case("na_spellings.csv", R.csv_bytes(rows), refused((5, "center"), message="empty"),
                "NA/NULL read as empty: fine where optional, an error where required")


@case
def special_numbers() -> Case:
    rows = changed(R.dates_rows(), {2: {"age": "inf"}, 3: {"age": "1e2"}, 4: {"age": "nan"},
                                    5: {"age": "0x37"}})
    return Case("special_numbers.csv", R.csv_bytes(rows),
                refused((2, "age"), (4, "age"), (5, "age")),
                "inf, nan and hexadecimal are not ages (1e2 = 100 is)")


@case
def invisible_characters() -> Case:
    header = ["\u200bpatient_id"] + list(R.DATES_HEADER[1:])
    rows = [dict(row, **{"\u200bpatient_id": row["patient_id"]}) for row in R.dates_rows()]
    return Case("zero_width_header.csv", R.csv_bytes(rows, header=header),
                refused((1, "patient_id"), message="Required column 'patient_id'"),
                "a zero-width space glued to a header: the column is not recognised, and said so")


@case
def padded_headers_and_cells() -> Case:
    header = [f"  {name.upper()}\u00a0" for name in R.DATES_HEADER]
    rows = [{f"  {k.upper()}\u00a0": (f" {v}\u00a0" if v and k != "patient_id" else v)
             for k, v in row.items()} for row in R.dates_rows()]
    return Case("padded.csv", R.csv_bytes(rows, header=header),
                Loads(12, cells=((2, "er", "positive"), (2, "age", 45.0))),
                "upper-case headers and cells padded with spaces and no-break spaces")


@case
def totals_row_at_the_bottom() -> Case:
    rows = R.dates_rows() + [{"patient_id": "Total", "age": "57"}]
    required = ["center", "menopause", "er", "pr", "her2", "nodal_status", "mets_lung",
                "mets_liver", "mets_bone", "mets_biopsy", "group", "date_diagnosis",
                "date_surgery", "date_metastasis", "date_last_followup", "dead"]
    return Case("totals_row.csv", R.csv_bytes(rows, header=R.DATES_HEADER),
                refused(*[(14, name) for name in required]),
                "a summary row under the patients is reported, not dropped")


@case
def very_long_cell() -> Case:
    long_id = "P" + "x" * 1_000_000
    return Case("long_cell.csv", R.csv_bytes(changed(R.dates_rows(), {2: {"patient_id": long_id}})),
                Loads(12, cells=((2, "patient_id", long_id),)), "a cell of a million characters")


# --- large files: written at test time ---------------------------------------------------------


def write_over_limit(path: Path, limit: int) -> None:
    """A valid CSV padded (sparsely) to one byte over ``limit``."""
    data = valid_csv()
    with open(path, "wb") as handle:
        handle.write(data)
        handle.truncate(limit + 1)


def write_ten_thousand_columns(path: Path) -> int:
    """The 27 registry columns and 9,973 more; returns how many extra columns were written."""
    extra = [f"extra_{i:05d}" for i in range(10_000 - len(R.DATES_HEADER))]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(R.DATES_HEADER) + extra)
        for row in R.dates_rows():
            writer.writerow([row[name] for name in R.DATES_HEADER] + ["1"] * len(extra))
    return len(extra)


def write_million_blank_rows(path: Path, *, commas: bool = True) -> int:
    """The 12 patients followed by 1,000,000 blank rows (",,,," rows or bare line breaks)."""
    blank = ("," * (len(R.DATES_HEADER) - 1) + "\n") if commas else "\n"
    with open(path, "wb") as handle:
        handle.write(valid_csv())
        handle.write(blank.encode() * 1_000_000)
    return 1_000_000


# --- helpers for checks -------------------------------------------------------------------------


def _close(actual: float, expected: float) -> None:
    assert abs(actual - expected) <= 1e-9, (actual, expected)  # tolerance: parse round-off


def _equal(actual, expected) -> None:
    assert actual == expected, (actual, expected)


def write_all(folder: str | Path) -> list[Path]:
    """Write every small case into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in all_cases():
        path = folder / item.filename
        path.write_bytes(item.content)
        paths.append(path)
    return paths


if __name__ == "__main__":
    written = write_all(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs_out")
    print(f"{len(written)} files written to {written[0].parent}")
