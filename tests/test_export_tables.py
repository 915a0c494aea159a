"""CSV/XLSX exports: formula neutralisation (OWASP CSV injection), footer rows, numbers kept."""
from __future__ import annotations

import csv
import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from imet_core.export.footer import Footer
from imet_core.export.tables import (
    FORMULA_TRIGGERS, neutralise_cell, neutralise_frame, table_csv, table_xlsx,
)
from imet_core.io import load_registry
from tests.support.random_registry import random_registry_table

DANGEROUS = ["=1+1", "+SUM(A1:A2)", "-2+3", "@cmd", "=HYPERLINK(\"http://x\",\"y\")", "\tTAB", "\rCR"]
HARMLESS = ["IT", "0.44 (0.26–0.72)", "< 0.001", "a=b", " =leading space", "", "–"]


def _footer(source: str = "Synthetic IMET cohort", synthetic: bool = True) -> Footer:
    return Footer(source=source, synthetic=synthetic, subgroup="Age < 55 · Liver only",
                  endpoint="Overall survival (from breast cancer diagnosis)", endpoint_short="OS",
                  comparison="IT vs ST", n=58, events=25, created=dt.datetime(2026, 3, 4, 10, 30),
                  data_version="abcd1234")


def _read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark for spreadsheet programs"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("text", DANGEROUS)
def test_text_beginning_with_a_trigger_gets_a_quote(text):
    assert text[0] in FORMULA_TRIGGERS
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("value", [*HARMLESS, 1.5, -2.0, 0, np.nan, None, True])
def test_other_cells_are_unchanged(value):
    out = neutralise_cell(value)
    assert out is value or out == value or (isinstance(value, float) and np.isnan(value) and np.isnan(out))


def test_neutralise_frame_leaves_the_input_alone_and_keeps_numbers():
    frame = pd.DataFrame({"text": DANGEROUS, "number": np.arange(len(DANGEROUS)) - 3.5})
    before = frame.copy()
    out = neutralise_frame(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(out["text"]) == ["'" + t for t in DANGEROUS]
    assert out["number"].tolist() == frame["number"].tolist()
    assert out["number"].dtype == np.float64


def test_csv_neutralises_cells_header_and_footer_and_appends_the_footer_rows():
    frame = pd.DataFrame({"=danger": ["=1+1", "ok"], "n": [3, -4]})
    footer = _footer(source="=cmd|' /C calc'!A0.csv", synthetic=False)
    rows = _read_csv(table_csv(frame, footer, notes=["@note"]))
    assert rows[0] == ["'=danger", "n"]
    assert rows[1] == ["'=1+1", "3"]
    assert rows[2] == ["ok", "-4"], "numbers are numbers, never quoted"
    assert rows[3] == [], "a blank row separates table and footer"
    fields = {r[0]: r[1] for r in rows[4:]}
    assert fields["Data source"].startswith("'=cmd"), "an uploaded file's name is data too"
    assert fields["Subgroup"] == "Age < 55 · Liver only"
    assert fields["Endpoint"] == "Overall survival (from breast cancer diagnosis)"
    assert fields["Comparison"] == "IT vs ST"
    assert fields["Patients and events"] == "n = 58 patients, 25 events"
    assert fields["Created"] == "2026-03-04 10:30"
    assert fields["Note"] == "'@note"


def test_xlsx_has_no_formula_cells_numbers_stay_numbers_and_footer_is_underneath():
    frame = pd.DataFrame({"centre": DANGEROUS, "hr": np.linspace(0.5, 1.1, len(DANGEROUS)),
                          "events": np.arange(len(DANGEROUS))})
    data = table_xlsx(frame, _footer(), sheet_name="Table/1:x", title="=Title")
    book = load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet.title == "Table_1_x", "Excel forbids / and : in sheet names"
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells), "no cell may be a formula"
    assert sheet["A1"].value == "'=Title"
    header_row = 3
    assert [sheet.cell(header_row, j).value for j in (1, 2, 3)] == ["centre", "hr", "events"]
    body = [[sheet.cell(header_row + 1 + i, j).value for j in (1, 2, 3)] for i in range(len(frame))]
    assert [r[0] for r in body] == ["'" + t for t in DANGEROUS]
    assert [r[1] for r in body] == pytest.approx(frame["hr"].tolist(), abs=0), "unrounded floats"
    assert [r[2] for r in body] == frame["events"].tolist()
    labels = [sheet.cell(r, 1).value for r in range(header_row + len(frame) + 1, sheet.max_row + 1)]
    assert labels[0] is None, "blank row before the footer"
    assert labels[1:] == ["Data source", "Subgroup", "Endpoint", "Comparison", "Patients and events", "Created"]
    source = sheet.cell(header_row + len(frame) + 2, 2).value
    assert source.startswith("Synthetic IMET cohort") and "synthetic data" in source


def test_missing_values_are_empty_cells_not_nan_text():
    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", None], "c": pd.array([1, None], dtype="Int64")})
    rows = _read_csv(table_csv(frame))
    assert rows[2] == ["", "", ""]
    sheet = load_workbook(io.BytesIO(table_xlsx(frame))).active
    assert [sheet.cell(3, j).value for j in (1, 2, 3)] == [None, None, None]


def test_loaded_registry_keeps_formula_like_text_and_its_export_neutralises_it():
    raw = random_registry_table(12, seed=3)
    raw.loc[0, "center"] = "=HYPERLINK(\"http://evil\",\"x\")"
    raw.loc[1, "center"] = "@SUM(1+1)"
    raw.loc[2, "patient_id"] = "-2+3"
    frame = load_registry(io.BytesIO(raw.to_csv(index=False).encode()), name="registry.csv")
    assert frame.loc[0, "center"] == "=HYPERLINK(\"http://evil\",\"x\")", "data load unchanged"
    assert frame.loc[1, "center"] == "@SUM(1+1)"
    assert frame.loc[2, "patient_id"] == "-2+3"
    rows = _read_csv(table_csv(frame[["patient_id", "center"]]))
    assert rows[1][1] == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert rows[2][1] == "'@SUM(1+1)"
    assert rows[3][0] == "'-2+3"
    assert frame.loc[0, "center"] == "=HYPERLINK(\"http://evil\",\"x\")", "exporting does not change the frame"
