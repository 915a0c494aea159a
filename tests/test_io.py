"""load_registry on valid files: every format, both forms, derived columns, frame conventions."""
from __future__ import annotations

import csv
import io
import os
import tempfile

import numpy as np
import pandas as pd
import pytest

from bad_files import registry as R
from imet_core import MONTH_DAYS, schema
from imet_core.io import RegistryError, frame_fingerprint, load_registry

MONTHS_TOLERANCE = 1e-9  # months; day counts / 30.4375 are exact to ~1e-14 in float64

# Day counts worked out by hand from the dates in tests/bad_files/registry.py (leap days
# counted): surgery->metastasis, diagnosis->last follow-up, metastasis->last follow-up,
# metastasis->progression (or last follow-up), metastasis->intervention (None: no date / ST).
HAND_DAYS = {
    "P01": (1492, 3648, 2129, 2129, 28),
    "P02": (769, 2676, 1893, 629, 45),
    "P03": (1165, 3168, 1973, 1973, 31),
    "P04": (1849, 3702, 1833, 554, 40),
    "P05": (1447, 2622, 1160, 1160, 31),
    "P06": (1296, 3287, 1972, 1972, None),
    "P07": (856, 2683, 1795, 1795, None),
    "P08": (1127, 2003, 844, 446, None),
    "P09": (304, 923, 594, 594, None),
    "P10": (1562, 3382, 1798, 1798, None),
    "P11": (1492, 2527, 1003, 273, None),
    "P12": (400, 1282, 853, 853, None),
}
AGE_LT_55 = [True, False, True, False, False, True, True, False, False, True, True, False]
HR_POSITIVE = [True, True, False, True, True, True, True, True, False, True, True, True]
HER2_POSITIVE = [False, True, True, False, True, False, False, False, True, False, True, False]
MDFI_GT_24 = [True, True, True, True, True, True, True, True, False, True, True, False]
PROGRESSED = [False, True, False, True, False, False, False, True, False, False, True, False]


@pytest.fixture(scope="module")
def dates_frame() -> pd.DataFrame:
    return load_registry(R.csv_bytes(R.dates_rows()), name="registry.csv")


@pytest.fixture(scope="module")
def intervals_frame() -> pd.DataFrame:
    return load_registry(R.csv_bytes(R.intervals_rows()), name="registry.csv")


def _without_dates(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("date_")]]


# --- the frame's shape and types ---------------------------------------------------------------


def test_frame_columns_order_index_and_attrs(dates_frame):
    assert list(dates_frame.columns) == list(schema.FRAME_COLUMNS)
    assert isinstance(dates_frame.index, pd.RangeIndex)
    assert list(dates_frame.index) == list(range(12))
    assert list(dates_frame["patient_id"]) == [f"P{i:02d}" for i in range(1, 13)]
    assert dates_frame.attrs["form"] == "dates"
    assert dates_frame.attrs["source_name"] == "registry.csv"
    assert dates_frame.attrs["ignored_columns"] == []
    assert dates_frame.attrs["notices"] == []


def test_frame_dtypes(dates_frame):
    kinds = {c.name: c.kind for c in schema.COLUMNS}
    for name, kind in kinds.items():
        dtype = dates_frame[name].dtype
        if name in ("site",) or kind in (schema.Kind.TEXT, schema.Kind.CATEGORY):
            assert dtype == object, name
        elif kind is schema.Kind.YES_NO:
            assert dtype == bool, name
        elif kind is schema.Kind.DATE:
            assert dtype == "datetime64[ns]", name
        else:
            assert dtype == float, name


def test_categories_hold_contract_spellings_and_nan_for_missing(dates_frame):
    row7 = dates_frame.iloc[6]  # P07: histology, breast and axillary surgery blank
    assert pd.isna(row7["histology"]) and pd.isna(row7["breast_surgery"])
    assert pd.isna(row7["axillary_surgery"]) and pd.isna(row7["intervention"])
    assert set(dates_frame["histology"].dropna()) <= set(schema.HISTOLOGY_LEVELS)
    assert dates_frame.loc[2, "histology"] == "IDC+ILC"
    assert list(dates_frame["group"]) == ["IT"] * 6 + ["ST"] * 6


def test_both_forms_load_to_the_same_registry(dates_frame, intervals_frame):
    assert intervals_frame.attrs["form"] == "intervals"
    assert intervals_frame[[c for c in dates_frame.columns if c.startswith("date_")]].isna().all().all()
    pd.testing.assert_frame_equal(_without_dates(intervals_frame), _without_dates(dates_frame),
                                  check_exact=False, rtol=0, atol=MONTHS_TOLERANCE)


# --- derived columns against hand-computed values -------------------------------------------------


@pytest.mark.parametrize("form", ["dates", "intervals"])
def test_derived_months_match_hand_counted_days(form, dates_frame, intervals_frame):
    frame = dates_frame if form == "dates" else intervals_frame
    for i, (patient, (mdfi, os_days, pdrs, pfs, intervention)) in enumerate(HAND_DAYS.items()):
        row = frame.iloc[i]
        assert row["patient_id"] == patient
        assert row["mdfi_months"] == pytest.approx(mdfi / MONTH_DAYS, abs=MONTHS_TOLERANCE)
        assert row["os_months"] == pytest.approx(os_days / MONTH_DAYS, abs=MONTHS_TOLERANCE)
        assert row["pdrs_months"] == pytest.approx(pdrs / MONTH_DAYS, abs=MONTHS_TOLERANCE)
        assert row["entry_months"] == pytest.approx((os_days - pdrs) / MONTH_DAYS,
                                                    abs=MONTHS_TOLERANCE)
        assert row["pfs_months"] == pytest.approx(pfs / MONTH_DAYS, abs=MONTHS_TOLERANCE)
        if intervention is None:
            assert np.isnan(row["intervention_months"])
        else:
            assert row["intervention_months"] == pytest.approx(intervention / MONTH_DAYS,
                                                               abs=MONTHS_TOLERANCE)


def test_one_month_is_30_4375_days():
    rows = R.dates_rows()[:1]
    rows[0].update(date_surgery="2014-01-01", date_metastasis="2014-01-31",  # 30 days
                   date_intervention="", date_diagnosis="2013-12-01")
    frame = load_registry(R.csv_bytes(rows))
    assert frame.loc[0, "mdfi_months"] == pytest.approx(30 / 30.4375, abs=1e-15)


@pytest.mark.parametrize("form", ["dates", "intervals"])
def test_derived_flags_and_site_match_hand_values(form, dates_frame, intervals_frame):
    frame = dates_frame if form == "dates" else intervals_frame
    assert list(frame["age_lt_55"]) == AGE_LT_55  # P04 is exactly 55: not < 55
    assert list(frame["hr_positive"]) == HR_POSITIVE
    assert list(frame["her2_positive"]) == HER2_POSITIVE
    assert list(frame["mdfi_gt_24"]) == MDFI_GT_24
    assert list(frame["progressed"]) == PROGRESSED
    assert list(frame["site"]) == list(R.EXPECTED_SITES)
    assert set(frame["site"]) == set(schema.SITE_LEVELS)


def test_mdfi_of_exactly_24_months_is_not_above_24():
    rows = R.intervals_rows()
    rows[0]["mdfi_months"] = "24"
    frame = load_registry(R.csv_bytes(rows))
    assert not frame.loc[0, "mdfi_gt_24"]
    assert frame.loc[1, "mdfi_gt_24"]


def test_intervals_form_without_optional_intervals():
    rows = [{k: v for k, v in row.items()
             if k not in ("pfs_months", "progressed", "intervention_months")}
            for row in R.intervals_rows()]
    frame = load_registry(R.csv_bytes(rows))
    assert frame["pfs_months"].isna().all()
    assert frame["intervention_months"].isna().all()
    assert not frame["progressed"].any()
    assert frame["progressed"].dtype == bool


def test_given_intervals_within_half_a_month_load_and_dates_win():
    rows, intervals = R.dates_rows(), R.intervals_rows()
    for row, given in zip(rows, intervals):
        row["mdfi_months"] = repr(float(given["mdfi_months"]) + 0.49)
    frame = load_registry(R.csv_bytes(rows))
    assert frame.attrs["form"] == "dates"
    assert frame.loc[0, "mdfi_months"] == pytest.approx(1492 / MONTH_DAYS, abs=MONTHS_TOLERANCE)


def test_intervals_form_chosen_when_date_columns_are_all_empty():
    rows = R.intervals_rows()
    for row in rows:
        row.update({name: "" for name in ("date_diagnosis", "date_surgery", "date_metastasis",
                                          "date_last_followup")})
    frame = load_registry(R.csv_bytes(rows))
    assert frame.attrs["form"] == "intervals"


# --- every format --------------------------------------------------------------------------------


def _formats() -> list[tuple[str, bytes, str]]:
    dates = R.dates_rows()
    text = R.csv_text(dates)
    return [
        ("csv comma", R.csv_bytes(dates), "r.csv"),
        ("csv semicolon", R.csv_bytes(dates, sep=";"), "r.csv"),
        ("csv with BOM", R.csv_bytes(dates, bom=True), "r.csv"),
        ("csv CRLF", R.csv_bytes(dates, newline="\r\n"), "r.csv"),
        ("csv CR only", R.csv_bytes(dates, newline="\r"), "r.csv"),
        ("semicolon BOM CRLF", R.csv_bytes(dates, sep=";", bom=True, newline="\r\n"), "r.csv"),
        ("tsv", R.csv_bytes(dates, sep="\t"), "r.tsv"),
        ("tab text named .txt", R.csv_bytes(dates, sep="\t"), "r.txt"),
        ("utf-16 with BOM", b"\xff\xfe" + text.encode("utf-16-le"), "r.csv"),
        ("xlsx typed cells", R.xlsx_bytes(dates), "r.xlsx"),
        ("xlsx text cells", R.xlsx_bytes(dates, typed=False), "r.xlsx"),
        ("parquet typed", R.parquet_bytes(dates), "r.parquet"),
        ("parquet text", R.parquet_bytes(dates, typed=False), "r.parquet"),
        ("csv without a name", R.csv_bytes(dates), None),
        ("xlsx misnamed .csv", R.xlsx_bytes(dates), "r.csv"),
    ]


FORMATS = _formats()


@pytest.mark.parametrize("label,data,name", FORMATS, ids=[f[0] for f in FORMATS])
def test_every_format_loads_the_same_frame(label, data, name, dates_frame):
    frame = load_registry(io.BytesIO(data), name=name)
    pd.testing.assert_frame_equal(frame, dates_frame, check_exact=True)
    assert frame.attrs["source_name"] == name


def test_intervals_form_in_xlsx_and_parquet(intervals_frame):
    rows = R.intervals_rows()
    for data in (R.parquet_bytes(rows), R.parquet_bytes(rows, typed=False)):
        pd.testing.assert_frame_equal(load_registry(data), intervals_frame, check_exact=True)
    # openpyxl writes floats with 16 significant digits (Excel keeps 15): equal to 1e-14
    pd.testing.assert_frame_equal(load_registry(R.xlsx_bytes(rows)), intervals_frame,
                                  check_exact=False, rtol=1e-14, atol=0)


def test_parquet_timestamps_at_midnight_are_dates(dates_frame):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(R.parquet_bytes(R.dates_rows())))
    for i, field in enumerate(table.schema):
        if field.name.startswith("date_"):
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp("ns")))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    pd.testing.assert_frame_equal(load_registry(buffer.getvalue()), dates_frame)


def test_parquet_written_by_pandas_with_float_flags_and_missing_values(dates_frame):
    """pandas stores a yes/no column holding NaN as 1.0/0.0 floats: read as 1 and 0."""
    raw = pd.DataFrame(R.dates_rows())
    for name in ("mets_lung", "mets_liver", "mets_bone", "mets_biopsy", "dead"):
        raw[name] = (raw[name] == "yes").astype(float)
    raw["age"] = raw["age"].astype(float)
    raw["histology"] = raw["histology"].replace("", None)
    buffer = io.BytesIO()
    raw.to_parquet(buffer)
    pd.testing.assert_frame_equal(load_registry(buffer.getvalue()), dates_frame)


@pytest.mark.parametrize("form", ["dates", "intervals"])
def test_a_loaded_frame_written_out_loads_back_the_same(form, dates_frame, intervals_frame):
    frame = dates_frame if form == "dates" else intervals_frame
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    for data in (frame.to_csv(index=False).encode(), buffer.getvalue()):
        again = load_registry(data)
        pd.testing.assert_frame_equal(again, frame, check_exact=False, rtol=1e-15, atol=0)
        derived = [c.name for c in schema.DERIVED_ONLY_COLUMNS]
        assert again.attrs["ignored_columns"] == derived
        assert again.attrs["form"] == form  # empty date columns leave the intervals form


def test_path_str_bytes_and_file_objects(tmp_path, dates_frame):
    data = R.csv_bytes(R.dates_rows())
    path = tmp_path / "on_disk.csv"
    path.write_bytes(data)
    named = io.BytesIO(data)
    named.name = "upload.csv"
    with open(path, "rb") as handle:
        from_handle = load_registry(handle)
    sources = {
        "Path": (load_registry(path), "on_disk.csv"),
        "str": (load_registry(str(path)), "on_disk.csv"),
        "bytes": (load_registry(data), None),
        "BytesIO without name": (load_registry(io.BytesIO(data)), None),
        "BytesIO with .name": (load_registry(named), "upload.csv"),
        "name= overrides .name": (load_registry(named, name="chosen.csv"), "chosen.csv"),
        "open file": (from_handle, "on_disk.csv"),
        "text stream": (load_registry(io.StringIO(data.decode())), None),
    }
    for label, (frame, source_name) in sources.items():
        pd.testing.assert_frame_equal(frame, dates_frame, obj=label)
        assert frame.attrs["source_name"] == source_name, label


def test_short_rows_and_fully_quoted_cells(dates_frame):
    lines = R.csv_text(R.dates_rows()).splitlines()
    short = "\n".join([lines[0]] + [line.rstrip(",") for line in lines[1:]]) + "\n"
    assert short.count(",") < "\n".join(lines).count(",")  # some rows really are shorter
    pd.testing.assert_frame_equal(load_registry(short.encode()), dates_frame)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(R.DATES_HEADER)
    writer.writerows([list(row.values()) for row in R.dates_rows()])
    pd.testing.assert_frame_equal(load_registry(buffer.getvalue().encode()), dates_frame)


def test_quoted_cells_keep_delimiters_and_line_breaks():
    rows = R.dates_rows()
    rows[0]["center"] = 'North; "East", wing\nsecond line'
    for sep in (",", ";", "\t"):
        frame = load_registry(R.csv_bytes(rows, sep=sep))
        assert frame.loc[0, "center"] == 'North; "East", wing\nsecond line'
        assert len(frame) == 12


# --- nothing altered ---------------------------------------------------------------------------


FORMULA_LOOKING = ["=1+2", "+31 20 123", "-7", "@SUM(A1:A3)", "=HYPERLINK(\"http://x\")"]


@pytest.mark.parametrize("writer", ["csv", "xlsx", "parquet"])
def test_formula_looking_text_loads_unchanged(writer):
    rows = R.dates_rows()
    for row, text in zip(rows, FORMULA_LOOKING):
        row["patient_id"] = text
        row["center"] = text + " centre"
    data = {"csv": R.csv_bytes, "xlsx": R.xlsx_bytes, "parquet": R.parquet_bytes}[writer](rows)
    frame = load_registry(data)
    assert list(frame["patient_id"][:5]) == FORMULA_LOOKING
    assert list(frame["center"][:5]) == [t + " centre" for t in FORMULA_LOOKING]


def test_text_cells_keep_their_spelling():
    rows = R.dates_rows()
    rows[0]["patient_id"] = "  P01-ß  "
    rows[1]["center"] = "Ünïcode Centre"
    frame = load_registry(R.csv_bytes(rows))
    assert frame.loc[0, "patient_id"] == "  P01-ß  "
    assert frame.loc[1, "center"] == "Ünïcode Centre"


def test_row_order_is_preserved():
    rows = R.dates_rows()
    order = [7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 6, 4]
    frame = load_registry(R.csv_bytes([rows[i] for i in order]))
    assert list(frame["patient_id"]) == [f"P{i + 1:02d}" for i in order]
    assert list(frame.index) == list(range(12))
    assert list(frame["site"]) == [R.EXPECTED_SITES[i] for i in order]


def test_inputs_are_not_changed(tmp_path):
    data = R.csv_bytes(R.dates_rows())
    upload = io.BytesIO(data)
    upload.seek(17)
    load_registry(upload)
    assert upload.tell() == 17 and upload.getvalue() == data
    path = tmp_path / "registry.csv"
    path.write_bytes(data)
    before = os.stat(path).st_mtime_ns
    load_registry(path)
    assert path.read_bytes() == data and os.stat(path).st_mtime_ns == before
    with open(path, "rb") as handle:
        handle.seek(5)
        load_registry(handle)
        assert handle.tell() == 5


def test_uploads_are_never_written_to_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    rows = R.dates_rows()
    for data in (R.csv_bytes(rows), R.xlsx_bytes(rows), R.parquet_bytes(rows)):
        load_registry(io.BytesIO(data), name="upload")
    with pytest.raises(RegistryError):
        load_registry(io.BytesIO(b"patient_id\nx\n"), name="bad.csv")
    assert list(tmp_path.iterdir()) == []


# --- lenient where the contract says so --------------------------------------------------------


def test_levels_and_yes_no_are_matched_case_insensitively_and_stored_canonically():
    rows = R.dates_rows()
    rows[0].update(er="POSITIVE", menopause=" Pre ", group="it", intervention="Lung_Metastasectomy",
                   histology="idc", nodal_status="n1", axillary_surgery="alnd", mets_lung="TRUE",
                   mets_liver="0", mets_bone="No", mets_biopsy=" yes ", dead="False")
    rows[2]["histology"] = "idc+ilc"
    frame = load_registry(R.csv_bytes(rows))
    first = frame.iloc[0]
    assert (first["er"], first["menopause"], first["group"]) == ("positive", "pre", "IT")
    assert first["intervention"] == "lung_metastasectomy"
    assert (first["histology"], first["nodal_status"], first["axillary_surgery"]) == ("IDC", "N1", "ALND")
    assert (first["mets_lung"], first["mets_liver"], first["mets_bone"]) == (True, False, False)
    assert first["mets_biopsy"] and not first["dead"]
    assert frame.loc[2, "histology"] == "IDC+ILC"


def test_headers_match_case_and_spaces():
    rows = R.dates_rows()
    header = [" Patient ID ", "CENTER", "Age"] + list(R.DATES_HEADER[3:])
    renamed = [dict(zip(header, row.values())) for row in rows]
    frame = load_registry(R.csv_bytes(renamed, header=header))
    assert list(frame["patient_id"][:2]) == ["P01", "P02"]
    assert frame.loc[0, "age"] == 45.0


def test_unknown_and_derived_columns_are_ignored_and_reported():
    rows = R.dates_rows()
    for row in rows:
        row.update({"notes": "text", "site": "liver", "Age_LT_55": "yes"})
    frame = load_registry(R.csv_bytes(rows))
    assert frame.attrs["ignored_columns"] == ["notes", "site", "Age_LT_55"]
    assert list(frame["site"]) == list(R.EXPECTED_SITES)  # recomputed, not read
    assert any("site, Age_LT_55" in notice for notice in frame.attrs["notices"])
    assert "notes" not in frame.columns


def test_missing_markers_read_as_empty_in_optional_columns():
    rows = R.dates_rows()
    rows[0].update(histology="NA", er_met="n/a", date_progression="NULL")
    frame = load_registry(R.csv_bytes(rows))
    assert pd.isna(frame.loc[0, "histology"]) and pd.isna(frame.loc[0, "er_met"])
    assert pd.isna(frame.loc[0, "date_progression"])


def test_optional_columns_absent_from_the_file_are_added_empty():
    optional = ("histology", "breast_surgery", "axillary_surgery", "date_intervention",
                "date_progression", "er_met", "pr_met", "her2_met")
    rows = [{k: v for k, v in row.items() if k not in optional} for row in R.dates_rows()]
    frame = load_registry(R.csv_bytes(rows))
    assert list(frame.columns) == list(schema.FRAME_COLUMNS)
    for name in optional:
        assert frame[name].isna().all(), name
    assert frame["date_progression"].dtype == "datetime64[ns]"
    assert not frame["progressed"].any()
    assert frame["intervention_months"].isna().all()


def test_a_registry_of_st_patients_needs_no_intervention_column():
    rows = [{k: v for k, v in row.items() if k not in ("intervention", "date_intervention")}
            for row in R.dates_rows()[6:]]
    frame = load_registry(R.csv_bytes(rows))
    assert list(frame["group"]) == ["ST"] * 6
    assert frame["intervention"].isna().all()


def test_trailing_empty_rows_are_skipped_with_a_notice():
    data = R.csv_bytes(R.dates_rows()) + b",,,\n\n   \n" * 3
    frame = load_registry(data)
    assert len(frame) == 12
    assert frame.attrs["notices"] == ["9 empty rows after the last patient were skipped."]


def test_workbook_with_several_sheets_says_which_was_read():
    frame = load_registry(R.xlsx_bytes(R.dates_rows(), extra_sheets=["Codes"]))
    assert frame.attrs["notices"] == ["The workbook has 2 sheets; only the first, 'Registry', "
                                      "was read."]


def test_decimal_comma_in_semicolon_files():
    rows = R.dates_rows()
    rows[0]["age"] = "45,5"
    frame = load_registry(R.csv_bytes(rows, sep=";"))
    assert frame.loc[0, "age"] == 45.5
    assert any("Decimal commas" in notice for notice in frame.attrs["notices"])
    with pytest.raises(RegistryError) as caught:  # in a comma-separated file it is ambiguous
        load_registry(R.csv_bytes(rows, sep=","))
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "age")]


# --- fingerprint and speed ---------------------------------------------------------------------


def test_frame_fingerprint_is_stable_and_content_sensitive(dates_frame):
    again = load_registry(R.xlsx_bytes(R.dates_rows()), name="other.xlsx")
    fingerprint = frame_fingerprint(dates_frame)
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0
    assert frame_fingerprint(again) == fingerprint  # same content, other file
    changed = dates_frame.copy()
    changed.loc[3, "age"] = 56.0
    assert frame_fingerprint(changed) != fingerprint
    reordered = dates_frame.iloc[::-1].reset_index(drop=True)
    assert frame_fingerprint(reordered) != fingerprint
    assert frame_fingerprint(dates_frame) == fingerprint  # not changed by hashing
    assert frame_fingerprint(dates_frame.iloc[:0]) != frame_fingerprint(dates_frame)


def test_a_large_registry_validates_with_column_operations():
    """200,000 patients (5.4 million cells) load whole (load time is measured by `make bench`)."""
    lines = R.csv_text(R.dates_rows()).splitlines()
    header, body = lines[0], lines[1:]
    n = 200_000
    text = "\n".join([header] + [f"X{i}{body[i % 12][3:]}" for i in range(n)]) + "\n"
    frame = load_registry(text.encode())
    assert len(frame) == n
    assert frame["patient_id"].iloc[-1] == f"X{n - 1}{body[(n - 1) % 12][3:].split(',')[0]}"
