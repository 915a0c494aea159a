"""What the memory work at registry scale (issue 7) must not change: functional checks only.

The loader keeps a column's distinct values once (codes for the rows), reads Parquet numbers,
dates and text as dictionaries and frees the file's text early; the analysis memo keeps at most
a budget of earlier selections and no text column per selection; the Table 1 view copies only
its own columns. None of it may change a value: these tests pin the frame convention
(``notes/frame.md``: category columns are object dtype holding the contract's spellings) and
compare every new path with the plain one. Memory itself is measured by ``make bench``, never
asserted here.
"""
from __future__ import annotations

import gc
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bad_files import registry as R
from imet_core import analysis, schema
from imet_core.io import RegistryError, load_registry
from imet_core.subgroups import Selection, SubgroupFilter

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC_CSV = ROOT / "data" / "imet_synthetic.csv"
CATEGORY_COLUMNS = [c.name for c in schema.COLUMNS if c.kind is schema.Kind.CATEGORY]


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return load_registry(SYNTHETIC_CSV)


@pytest.fixture(scope="module")
def small_csv_frame() -> pd.DataFrame:
    return load_registry(R.csv_bytes(R.dates_rows()), name="registry.csv")


def _parquet(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def _typed_frame() -> pd.DataFrame:
    """The 12-patient registry with age as float and dates as timestamps (as pandas writes)."""
    frame = pd.DataFrame(R.dates_rows())
    frame["age"] = pd.to_numeric(frame["age"])
    for name in [c for c in frame.columns if c.startswith("date_")]:
        frame[name] = pd.to_datetime(frame[name].replace("", None))
    return frame


def _categorical_frame() -> pd.DataFrame:
    """Text, numbers and dates as pandas categoricals: Parquet dictionary columns."""
    frame = _typed_frame()
    for name in ("center", "menopause", "er", "group", "histology", "age", "date_metastasis"):
        frame[name] = frame[name].astype("category")
    return frame


def _large_string_table() -> pa.Table:
    table = pa.Table.from_pandas(pd.DataFrame(R.dates_rows()), preserve_index=False)
    return table.cast(pa.schema([pa.field(f.name, pa.large_string()) for f in table.schema]))


PARQUET_ENCODINGS = {
    "text columns": lambda: _parquet(pa.Table.from_pandas(pd.DataFrame(R.dates_rows()),
                                                          preserve_index=False)),
    "text without dictionary pages": lambda: _parquet(
        pa.Table.from_pandas(pd.DataFrame(R.dates_rows()), preserve_index=False),
        use_dictionary=False),
    "large_string text": lambda: _parquet(_large_string_table()),
    "typed numbers and timestamps": lambda: _parquet(pa.Table.from_pandas(_typed_frame(),
                                                                          preserve_index=False)),
    "typed, row groups of 5": lambda: _parquet(pa.Table.from_pandas(_typed_frame(),
                                                                    preserve_index=False),
                                               row_group_size=5),
    "categorical text, numbers and dates": lambda: _parquet(
        pa.Table.from_pandas(_categorical_frame(), preserve_index=False)),
    "categoricals, row groups of 4": lambda: _parquet(
        pa.Table.from_pandas(_categorical_frame(), preserve_index=False), row_group_size=4),
    "date32 and bool (the test writer)": lambda: R.parquet_bytes(R.dates_rows()),
}


# --- the loaded frame's convention -----------------------------------------------------------------


@pytest.mark.parametrize("name", CATEGORY_COLUMNS + ["site"])
def test_category_columns_are_text_with_the_contracts_levels(cohort, name):
    column = cohort[name]
    assert column.dtype == object
    levels = schema.COLUMNS_BY_NAME[name].levels
    present = column.dropna()
    assert len(present) > 0 or name in ("er_met", "pr_met", "her2_met")
    assert all(type(value) is str for value in present)
    assert set(present) <= set(levels)
    # == against the contract's spelling works on the Series and on .to_numpy(), and the
    # counts per level add up to the non-missing rows (no value is a look-alike of a level)
    values = column.to_numpy()
    counts = {level: int((column == level).sum()) for level in levels}
    assert counts == {level: int((values == level).sum()) for level in levels}
    assert sum(counts.values()) == len(present)


def test_text_columns_keep_every_cell_as_written(cohort):
    raw = pd.read_csv(SYNTHETIC_CSV, dtype=str, keep_default_na=False)
    assert list(cohort["patient_id"]) == list(raw["patient_id"])
    assert list(cohort["center"]) == list(raw["center"])
    assert cohort["center"].dtype == object and cohort["patient_id"].dtype == object


def test_site_is_one_of_the_five_levels_from_the_metastasis_flags(cohort):
    lung, liver, bone = (cohort[c].to_numpy() for c in ("mets_lung", "mets_liver", "mets_bone"))
    expected = np.where(lung & liver, "multiple", np.where(
        lung, np.where(bone, "lung+bone", "lung"), np.where(bone, "liver+bone", "liver")))
    assert list(cohort["site"]) == list(expected)


def test_non_ascii_text_is_read_unchanged():
    rows = R.dates_rows()
    rows[0]["center"] = "Hôpital Zürich"
    rows[1]["center"] = 'København "Nord", 2'
    frame = load_registry(R.csv_bytes(rows), name="registry.csv")
    assert frame.loc[0, "center"] == "Hôpital Zürich"
    assert frame.loc[1, "center"] == 'København "Nord", 2'


# --- Parquet read through dictionaries -------------------------------------------------------------


@pytest.mark.parametrize("encoding", list(PARQUET_ENCODINGS))
def test_every_parquet_encoding_loads_the_same_frame_as_the_csv(encoding, small_csv_frame):
    frame = load_registry(PARQUET_ENCODINGS[encoding](), name="registry.parquet")
    pd.testing.assert_frame_equal(frame, small_csv_frame, check_exact=True)  # exact: same text
    assert frame.attrs["notices"] == small_csv_frame.attrs["notices"]


def test_dictionary_columns_report_bad_cells_by_row_and_value():
    frame = _categorical_frame()
    frame["er"] = frame["er"].cat.add_categories(["maybe"])
    frame.loc[2, "er"] = "maybe"
    frame["age"] = frame["age"].cat.add_categories([130.0])
    frame.loc[4, "age"] = 130.0
    with pytest.raises(RegistryError) as caught:
        load_registry(_parquet(pa.Table.from_pandas(frame, preserve_index=False)),
                      name="registry.parquet")
    found = {(p.row, p.column, p.value) for p in caught.value.problems}
    assert found == {(4, "er", "maybe"), (6, "age", "130")}


def test_damaged_text_in_a_dictionary_column_is_refused_by_name():
    table = pa.Table.from_pandas(pd.DataFrame(R.dates_rows()), preserve_index=False)
    cells = [value.encode() for value in table.column("center").to_pylist()]
    cells[3] = b"\xff\xfeC1"
    position = table.column_names.index("center")
    table = table.set_column(position, "center", pa.array(cells, pa.binary()).view(pa.string()))
    with pytest.raises(RegistryError) as caught:
        load_registry(_parquet(table), name="registry.parquet")
    assert [p.message for p in caught.value.problems] == [
        "Column 'center': its text is damaged (not valid UTF-8)."]


# --- the analysis memo and the subgroup arrays -----------------------------------------------------


def test_table_one_subframe_is_the_registry_rows_of_its_columns(cohort):
    selection = Selection(subgroup=SubgroupFilter(age_lt_55="yes"))
    arrays = analysis._prepare(cohort, selection)
    columns = ["age", "site", "menopause", "date_metastasis", "hr_positive", "no_such_column"]
    sub = arrays.subframe(columns)
    expected = cohort.iloc[arrays.rows][columns[:-1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(sub.drop(columns=analysis.ARM_COLUMN), expected, check_exact=True)
    assert list(sub[analysis.ARM_COLUMN]) == [arrays.levels[a] for a in arrays.arm]
    assert sub.attrs == {}


def test_subgroup_columns_and_level_masks_are_the_registry_values(cohort):
    arrays = analysis._prepare(cohort, Selection(subgroup=SubgroupFilter(hr_positive="no")))
    for name in ("site", "nodal_status", "age", "hr_positive"):
        expected = cohort[name].to_numpy()[arrays.rows]
        first, again = arrays.column(name), arrays.column(name)
        np.testing.assert_array_equal(first, expected)
        np.testing.assert_array_equal(again, expected)
    for level in schema.SITE_LEVELS:
        np.testing.assert_array_equal(arrays.equals("site", level),
                                      cohort["site"].to_numpy()[arrays.rows] == level)
    assert arrays.time.dtype == float and arrays.event.dtype == float
    np.testing.assert_array_equal(arrays.time, cohort["os_months"].to_numpy()[arrays.rows])
    np.testing.assert_array_equal(arrays.event, cohort["dead"].to_numpy()[arrays.rows].astype(float))


def _all_views(frame: pd.DataFrame, selection: Selection) -> dict:
    return {"survival": analysis.survival_view(frame, selection),
            "forest": analysis.forest_view(frame, selection).table,
            "cox": analysis.cox_view(frame, selection).table,
            "table_one": analysis.table_one_view(frame, selection)}


def _assert_same_views(a: dict, b: dict) -> None:
    pd.testing.assert_frame_equal(a["forest"], b["forest"], check_exact=True)
    pd.testing.assert_frame_equal(a["cox"], b["cox"], check_exact=True)
    pd.testing.assert_frame_equal(a["table_one"], b["table_one"], check_exact=True)
    pd.testing.assert_frame_equal(a["survival"].arms, b["survival"].arms, check_exact=True)
    pd.testing.assert_frame_equal(a["survival"].risk_table, b["survival"].risk_table, check_exact=True)
    pd.testing.assert_frame_equal(a["survival"].hazard_ratios, b["survival"].hazard_ratios,
                                  check_exact=True)


SELECTIONS = [Selection(), Selection(subgroup=SubgroupFilter(age_lt_55="yes")),
              Selection(subgroup=SubgroupFilter(sites=frozenset({"liver"}))), Selection(endpoint="pdrs")]


def test_memo_over_its_budget_drops_older_selections_and_views_stay_the_same(cohort, monkeypatch):
    analysis._PREPARED.clear()
    kept = [_all_views(cohort, s) for s in SELECTIONS]
    monkeypatch.setattr(analysis, "_PREPARED_BYTES", 0)
    analysis._PREPARED.clear()
    for selection, expected in zip(SELECTIONS, kept):
        _assert_same_views(_all_views(cohort, selection), expected)
        # budget 0: only the entry added last survives each insertion
        assert len(analysis._PREPARED) == 1
    analysis._PREPARED.clear()


def test_memo_drops_entries_of_registries_no_longer_loaded(cohort):
    analysis._PREPARED.clear()
    gone = cohort.copy()
    analysis._prepare(gone, Selection())
    del gone
    gc.collect()
    analysis._prepare(cohort, Selection())
    assert len(analysis._PREPARED) == 1
    assert all(reference() is cohort for reference, _ in analysis._PREPARED.values())
    analysis._PREPARED.clear()
