"""The bad-file corpus: malformed registries and exactly what the loader must report for each.

Each case is a file name, its bytes (built from the valid 12-patient registry in
:mod:`registry`, broken on purpose) and the exact set of ``(row, column)`` pairs that
``RegistryError.problems`` must contain: row is the spreadsheet row (header = 1, first patient
= 2; None for a problem with the whole file), column the canonical column name (None for a
problem with the whole file or a whole row).

To add a case, write a function returning :class:`BadCase` and decorate it with ``@case``.
:func:`write_all` writes every file into a folder (e.g. to open them in a spreadsheet).
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import registry as R

Pair = tuple[int | None, str | None]
FILE = (None, None)  # a problem with the whole file


@dataclass(frozen=True)
class BadCase:
    """One malformed registry file and what the loader must report."""

    filename: str
    content: bytes
    expected: frozenset[Pair]
    why: str
    notice: str | None = None  # a phrase one of ``RegistryError.notices`` must contain
    message: str | None = None  # a phrase one of the problem messages must contain

    @property
    def id(self) -> str:
        return self.filename


_BUILDERS: list[Callable[[], BadCase]] = []


def case(builder: Callable[[], BadCase]) -> Callable[[], BadCase]:
    _BUILDERS.append(builder)
    return builder


def all_cases() -> list[BadCase]:
    """Every case, built afresh (each call returns new bytes)."""
    return [build() for build in _BUILDERS]


def write_all(folder: str | Path) -> list[Path]:
    """Write every case's file into ``folder``; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for bad in all_cases():
        path = folder / bad.filename
        path.write_bytes(bad.content)
        paths.append(path)
    return paths


def changed(rows: list[dict[str, str]], changes: dict[int, dict[str, str]]) -> list[dict[str, str]]:
    """Rows with some cells replaced; keys of ``changes`` are spreadsheet rows (first = 2)."""
    for row, cells in changes.items():
        rows[row - 2].update(cells)
    return rows


def without(rows: list[dict[str, str]], *names: str) -> list[dict[str, str]]:
    """Rows with some columns removed."""
    return [{k: v for k, v in row.items() if k not in names} for row in rows]


def pairs(*items: Pair) -> frozenset[Pair]:
    return frozenset(items)


# --- files that are not tables ---------------------------------------------------------------


@case
def empty_file() -> BadCase:
    return BadCase("empty.csv", b"", pairs(FILE), "zero bytes", message="empty")


@case
def only_blank_lines() -> BadCase:
    return BadCase("blank_lines.csv", b"\r\n   \n\t\n\n", pairs(FILE), "whitespace only",
                   message="empty")


@case
def header_only_csv() -> BadCase:
    data = R.csv_bytes([], header=R.DATES_HEADER)
    return BadCase("header_only.csv", data, pairs(FILE), "a header row and no patients",
                   message="no patient rows")


@case
def header_only_xlsx() -> BadCase:
    data = R.xlsx_bytes([], header=R.DATES_HEADER)
    return BadCase("header_only.xlsx", data, pairs(FILE), "a workbook with headers only",
                   message="no patient rows")


@case
def binary_garbage() -> BadCase:
    noise = random.Random(20240611)
    data = b"\x01\x02" + bytes(noise.randrange(256) for _ in range(4000))
    return BadCase("garbage.csv", data, pairs(FILE), "random bytes", message="binary")


@case
def pdf_renamed() -> BadCase:
    data = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
    return BadCase("registry.pdf.csv", data, pairs(FILE), "a PDF renamed .csv", message="PDF")


@case
def latin1_text() -> BadCase:
    rows = changed(R.dates_rows(), {4: {"center": "Zürich"}})
    data = R.csv_bytes(rows, encoding="latin-1")
    return BadCase("latin1.csv", data, pairs(FILE), "Latin-1, not UTF-8", message="UTF-8")


@case
def utf16_without_bom() -> BadCase:
    data = R.csv_text(R.dates_rows()).encode("utf-16-le")
    return BadCase("utf16_no_bom.csv", data, pairs(FILE), "UTF-16 without byte-order mark",
                   message="UTF-16")


@case
def legacy_xls() -> BadCase:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    return BadCase("registry.xls", data, pairs(FILE), "an old binary Excel file", message=".xls")


@case
def damaged_xlsx() -> BadCase:
    data = R.xlsx_bytes(R.dates_rows())[:1500]
    return BadCase("damaged.xlsx", data, pairs(FILE), "a truncated workbook",
                   message="not a readable Excel workbook")


@case
def formula_never_calculated() -> BadCase:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(R.xlsx_bytes(R.dates_rows())))
    workbook.active["C2"] = "=40+5"  # age as a formula that was never calculated
    buffer = io.BytesIO()
    workbook.save(buffer)
    return BadCase("formula.xlsx", buffer.getvalue(), pairs(FILE),
                   "a formula without a saved result", message="C2")


@case
def nested_parquet() -> BadCase:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"patient_id": ["P01"], "age": pa.array([[45, 46]])})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return BadCase("nested.parquet", buffer.getvalue(), pairs(FILE), "a list-valued column",
                   message="lists")


@case
def prose() -> BadCase:
    data = b"Dear colleague,\nplease find the registry attached.\nBest wishes\n"
    return BadCase("letter.csv", data, pairs(FILE), "a letter, not a table",
                   message="does not look like a registry")


@case
def unrelated_table() -> BadCase:
    data = R.grid_bytes([["name", "phone"], ["A. Person", "555-0100"]])
    return BadCase("contacts.csv", data, pairs(FILE), "a table without registry columns",
                   message="does not look like a registry")


@case
def unclosed_quote() -> BadCase:
    text = R.csv_text(R.dates_rows()).replace("P04,C02", 'P04,"C02', 1)
    return BadCase("unclosed_quote.csv", text.encode(), pairs(FILE),
                   "a quote that never closes", message="quotation mark")


# --- header problems -------------------------------------------------------------------------


@case
def missing_required_columns() -> BadCase:
    rows = without(R.dates_rows(), "age", "her2", "dead")
    return BadCase("missing_columns.csv", R.csv_bytes(rows),
                   pairs((1, "age"), (1, "her2"), (1, "dead")), "three required columns absent",
                   message="Required column 'age'")


@case
def duplicate_columns() -> BadCase:
    rows = R.dates_rows()
    header = ["Age"] + [h for h in R.DATES_HEADER if h != "age"] + [" AGE "]
    for row in rows:
        row["Age"] = row[" AGE "] = row.pop("age")
    return BadCase("duplicate_columns.csv", R.csv_bytes(rows, header=header),
                   pairs((1, "age")), "age twice, spelled differently", message="appears 2 times")


@case
def missing_date_column() -> BadCase:
    rows = without(R.dates_rows(), "date_surgery")
    return BadCase("missing_date_column.csv", R.csv_bytes(rows), pairs((1, "date_surgery")),
                   "dates form without date_surgery, no intervals", message="four dates")


@case
def missing_intervention_column() -> BadCase:
    rows = without(R.dates_rows(), "intervention")
    return BadCase("no_intervention_column.csv", R.csv_bytes(rows), pairs((1, "intervention")),
                   "IT patients but no intervention column", message="IT group (6 patients)")


@case
def intervals_missing_column() -> BadCase:
    rows = without(R.intervals_rows(), "pdrs_months")
    return BadCase("intervals_missing_column.csv", R.csv_bytes(rows),
                   pairs((1, "pdrs_months")), "intervals form without pdrs_months")


@case
def pfs_without_progressed() -> BadCase:
    rows = without(R.intervals_rows(), "progressed")
    return BadCase("pfs_without_progressed.csv", R.csv_bytes(rows), pairs((1, "progressed")),
                   "pfs_months given, progressed column absent")


# --- cell problems ---------------------------------------------------------------------------


@case
def empty_required_cells() -> BadCase:
    rows = changed(R.dates_rows(), {3: {"age": ""}, 5: {"center": "   "}, 7: {"dead": "NA"},
                                    9: {"group": ""}, 11: {"date_last_followup": ""}})
    return BadCase("empty_required_cells.csv", R.csv_bytes(rows),
                   pairs((3, "age"), (5, "center"), (7, "dead"), (9, "group"),
                         (11, "date_last_followup")), "required cells left empty",
                   message="is empty")


@case
def unknown_levels() -> BadCase:
    rows = changed(R.dates_rows(), {
        2: {"menopause": "peri"}, 3: {"menopause": "POST"},  # POST is fine (any case)
        4: {"nodal_status": "N4"}, 6: {"histology": "lobular"}, 8: {"er": "pos"},
        10: {"her2_met": "equivocal"}, 11: {"group": "it+st"},
    })
    return BadCase("unknown_levels.csv", R.csv_bytes(rows),
                   pairs((2, "menopause"), (4, "nodal_status"), (6, "histology"), (8, "er"),
                         (10, "her2_met"), (11, "group")), "values outside the levels",
                   message="is not one of the allowed values")


@case
def not_numbers() -> BadCase:
    rows = changed(R.dates_rows(), {2: {"age": "fifty"}, 3: {"age": "45 years"},
                                    4: {"age": "4O"}, 5: {"age": "inf"}})
    return BadCase("not_numbers.csv", R.csv_bytes(rows),
                   pairs((2, "age"), (3, "age"), (4, "age"), (5, "age")), "ages in words",
                   message="is not a number")


@case
def age_out_of_range() -> BadCase:
    rows = changed(R.dates_rows(), {2: {"age": "130"}, 3: {"age": "17"}, 4: {"age": "100"},
                                    5: {"age": "18"}, 6: {"age": "-5"}})
    return BadCase("age_out_of_range.csv", R.csv_bytes(rows),
                   pairs((2, "age"), (3, "age"), (6, "age")), "ages 130, 17 and -5",
                   message="Age 130 is outside 18-100 years.")


@case
def duplicate_ids() -> BadCase:
    rows = changed(R.dates_rows(), {7: {"patient_id": "P03"}, 12: {"patient_id": "P03"},
                                    11: {"patient_id": "P09 "}})
    return BadCase("duplicate_ids.csv", R.csv_bytes(rows),
                   pairs((4, "patient_id"), (7, "patient_id"), (12, "patient_id"),
                         (10, "patient_id"), (11, "patient_id")),
                   "P03 three times; P09 twice (once with a trailing space)",
                   message="appears on rows 4, 7 and 12")


@case
def non_iso_dates() -> BadCase:
    rows = changed(R.dates_rows(), {2: {"date_diagnosis": "03/04/2015"},
                                    3: {"date_surgery": "2011/03/24"},
                                    4: {"date_metastasis": "2015-9-9"},
                                    5: {"date_last_followup": "31.12.2019"}})
    return BadCase("non_iso_dates.csv", R.csv_bytes(rows),
                   pairs((2, "date_diagnosis"), (3, "date_surgery"), (4, "date_metastasis"),
                         (5, "date_last_followup")), "day/month dates, not ISO",
                   message="YYYY-MM-DD")


@case
def impossible_dates() -> BadCase:
    rows = changed(R.dates_rows(), {2: {"date_metastasis": "2014-02-30"},
                                    3: {"date_last_followup": "2018-13-07"},
                                    6: {"date_diagnosis": "2011-02-29"},
                                    7: {"date_surgery": "1013-01-20"}})
    return BadCase("impossible_dates.csv", R.csv_bytes(rows),
                   pairs((2, "date_metastasis"), (3, "date_last_followup"), (6, "date_diagnosis"),
                         (7, "date_surgery")), "February 30, month 13, 29 Feb 2011, year 1013",
                   message="not a real calendar date")


@case
def chronology() -> BadCase:
    rows = changed(R.dates_rows(), {
        2: {"date_metastasis": "2009-12-01", "date_intervention": ""},  # before surgery
        3: {"date_surgery": "2011-03-01"},                              # before diagnosis
        4: {"date_last_followup": "2015-09-01"},  # before metastasis; intervention after it
        5: {"date_intervention": "2014-12-01"},                         # before metastasis
        6: {"date_progression": "2019-06-01"},                          # after last follow-up
        9: {"date_progression": "2013-01-01"},                          # before metastasis
    })
    return BadCase("chronology.csv", R.csv_bytes(rows),
                   pairs((2, "date_metastasis"), (3, "date_surgery"), (4, "date_last_followup"),
                         (4, "date_intervention"), (5, "date_intervention"),
                         (6, "date_progression"), (9, "date_progression")),
                   "dates in the wrong order", message="is dated before the breast surgery")


@case
def group_and_intervention() -> BadCase:
    rows = changed(R.dates_rows(), {
        2: {"intervention": ""},                      # IT without intervention
        8: {"intervention": "liver_rfa"},             # ST with intervention
        10: {"date_intervention": "2016-01-01"},      # ST with an intervention date
        6: {"intervention": "lung_metastasectomy"},   # lung intervention, no lung metastases
        4: {"intervention": "liver_tare"},            # liver intervention, no liver metastases
    })
    return BadCase("group_and_intervention.csv", R.csv_bytes(rows),
                   pairs((2, "intervention"), (8, "intervention"), (10, "date_intervention"),
                         (6, "intervention"), (4, "intervention")),
                   "interventions that contradict the group or the organs",
                   message="treats the lung")


@case
def inclusion_rule() -> BadCase:
    rows = changed(R.dates_rows(), {10: {"mets_lung": "no"}, 11: {"mets_liver": "0"},
                                    2: {"mets_lung": "False"}})
    return BadCase("inclusion_rule.csv", R.csv_bytes(rows),
                   pairs((10, "mets_lung"), (11, "mets_lung"), (2, "mets_lung"),
                         (2, "intervention")),
                   "patients with neither lung nor liver metastases",
                   message="neither lung nor liver")


@case
def bad_yes_no() -> BadCase:
    rows = changed(R.dates_rows(), {2: {"mets_bone": "maybe"}, 3: {"dead": "Y"},
                                    4: {"mets_biopsy": "2"}, 5: {"dead": "TRUE"}})
    return BadCase("bad_yes_no.csv", R.csv_bytes(rows),
                   pairs((2, "mets_bone"), (3, "dead"), (4, "mets_biopsy")),
                   "yes/no columns with other words", message="is not yes or no")


# --- rows ------------------------------------------------------------------------------------


@case
def interior_blank_row() -> BadCase:
    rows = changed(R.dates_rows(), {6: {"age": "130"}})
    lines = R.csv_text(rows).splitlines()
    lines.insert(4, "")          # spreadsheet row 5 is empty; P05 (age 130) moves to row 7
    text = "\n".join(lines) + "\n\n\n,,,\n"  # trailing empty rows are fine
    return BadCase("interior_blank_row.csv", text.encode(), pairs((5, None), (7, "age")),
                   "an empty row between patients", message="Row 5 is empty")


@case
def too_many_cells() -> BadCase:
    lines = R.csv_text(R.dates_rows()).splitlines()
    lines[2] += ",surprise,42"   # spreadsheet row 3: two cells beyond the header
    lines[4] += ","              # row 5: one empty extra cell, harmless
    return BadCase("too_many_cells.csv", ("\n".join(lines) + "\n").encode(), pairs((3, None)),
                   "a row longer than the header", message="Row 3 has 29 cells")


# --- the intervals form ------------------------------------------------------------------------


@case
def intervals_negative() -> BadCase:
    rows = changed(R.intervals_rows(), {10: {"pdrs_months": "-1"}, 3: {"mdfi_months": "-3"}})
    return BadCase("intervals_negative.csv", R.csv_bytes(rows),
                   pairs((10, "pdrs_months"), (10, "pfs_months"), (3, "mdfi_months")),
                   "negative intervals (and a PFS longer than the negative PDRS)",
                   message="which is negative")


@case
def intervals_inconsistent() -> BadCase:
    rows = changed(R.intervals_rows(), {
        4: {"os_months": "10"},                              # OS shorter than PDRS
        5: {"intervention_months": "999"},                   # intervention after follow-up
        6: {"pfs_months": ""},                               # progressed without PFS
        7: {"progressed": ""},                               # PFS without progressed
        9: {"intervention_months": "2"},                     # ST patient with an intervention
    })
    return BadCase("intervals_inconsistent.csv", R.csv_bytes(rows),
                   pairs((4, "os_months"), (5, "intervention_months"), (6, "pfs_months"),
                         (7, "progressed"), (9, "intervention_months")),
                   "intervals that contradict each other", message="shorter than survival")


@case
def dates_disagree_with_intervals() -> BadCase:
    dates, intervals = R.dates_rows(), R.intervals_rows()
    for d, i in zip(dates, intervals):
        d.update({k: i[k] for k in ("mdfi_months", "os_months", "progressed",
                                    "intervention_months")})
    changed(dates, {
        5: {"mdfi_months": str(float(dates[3]["mdfi_months"]) + 2)},  # 2 months off
        6: {"os_months": str(float(dates[4]["os_months"]) + 0.4)},   # within 0.5: fine
        7: {"intervention_months": "3"},                             # no date to match
        8: {"progressed": "yes"},                                    # no progression date
    })
    return BadCase("dates_disagree.csv", R.csv_bytes(dates),
                   pairs((5, "mdfi_months"), (7, "intervention_months"), (8, "progressed")),
                   "intervals that disagree with the dates", message="the dates give")


# --- other formats -----------------------------------------------------------------------------


@case
def xlsx_with_problems() -> BadCase:
    rows = changed(R.dates_rows(), {3: {"age": "150"}, 7: {"menopause": "peri"}})
    data = bytearray(R.xlsx_bytes(rows, extra_sheets=["Codes", "Notes"]))
    return BadCase("registry_problems.xlsx", bytes(data), pairs((3, "age"), (7, "menopause")),
                   "an Excel workbook with two bad cells and three sheets",
                   notice="3 sheets")


@case
def xlsx_text_dates() -> BadCase:
    rows = changed(R.dates_rows(), {5: {"date_surgery": "12/01/2009"}})
    data = R.xlsx_bytes(rows, typed=False)
    return BadCase("text_dates.xlsx", data, pairs((5, "date_surgery")),
                   "an Excel date typed as day/month text", message="not an ISO date")


@case
def parquet_with_problems() -> BadCase:
    rows = changed(R.dates_rows(), {13: {"patient_id": "P01"}, 9: {"nodal_status": "N9"}})
    return BadCase("registry_problems.parquet", R.parquet_bytes(rows),
                   pairs((2, "patient_id"), (13, "patient_id"), (9, "nodal_status")),
                   "a Parquet file with a repeated id and an unknown level")


@case
def semicolon_with_problems() -> BadCase:
    rows = changed(R.dates_rows(), {4: {"age": "45,5"}, 6: {"age": "abc"}})
    data = R.csv_bytes(rows, sep=";", bom=True, newline="\r\n")
    return BadCase("semicolon_problems.csv", data, pairs((6, "age")),
                   "semicolon CSV: a decimal comma is fine, a word is not")


@case
def utf16_tab_text_with_problem() -> BadCase:
    rows = changed(R.dates_rows(), {12: {"age": "101"}})
    data = b"\xff\xfe" + R.csv_text(rows, sep="\t", newline="\r\n").encode("utf-16-le")
    return BadCase("unicode_text.txt", data, pairs((12, "age")),
                   "Excel's 'Unicode text' (UTF-16 with BOM, tabs) with one bad age")


@case
def everything_at_once() -> BadCase:
    rows = without(changed(R.dates_rows(), {
        2: {"age": "130"},
        3: {"date_metastasis": "2013-02-30"},
        5: {"patient_id": "P03"},
        6: {"intervention": ""},
        12: {"mets_lung": "no"},
    }), "menopause")
    for row in rows:
        row["notes"] = "free text"  # not a registry column: ignored, not an error
    return BadCase("everything.csv", R.csv_bytes(rows),
                   pairs((1, "menopause"), (2, "age"), (3, "date_metastasis"),
                         (4, "patient_id"), (5, "patient_id"), (6, "intervention"),
                         (12, "mets_lung")),
                   "many different problems, all reported together", notice="notes")


def cases_by_name() -> dict[str, BadCase]:
    return {bad.filename: bad for bad in all_cases()}

