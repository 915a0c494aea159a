"""imet_core.schema: the single source of truth, and what is generated from it."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from bad_files import registry as R
from imet_core import schema
from imet_core.io import RegistryError, load_registry

# contract.md section 1, the table's columns in order (written out here, not read from schema)
CONTRACT = R.DATES_HEADER
INTERVAL_NAMES = ("mdfi_months", "os_months", "pdrs_months", "pfs_months", "progressed",
                  "intervention_months")
DERIVED_ONLY = ("entry_months", "age_lt_55", "hr_positive", "her2_positive", "mdfi_gt_24", "site")


def test_contract_columns_in_the_contracts_order():
    assert schema.DATES_FORM_COLUMNS == CONTRACT
    assert tuple(c.name for c in schema.CONTRACT_COLUMNS) == CONTRACT
    assert schema.INTERVALS_FORM_COLUMNS == R.INTERVALS_HEADER
    assert schema.FRAME_COLUMNS == CONTRACT + INTERVAL_NAMES + DERIVED_ONLY
    assert len(set(schema.FRAME_COLUMNS)) == len(schema.FRAME_COLUMNS)
    assert all(name == name.lower().strip() for name in schema.FRAME_COLUMNS)


def test_levels_as_the_contract_spells_them():
    assert schema.SITE_LEVELS == ("lung", "liver", "lung+bone", "liver+bone", "multiple")
    assert schema.INTERVENTION_LEVELS == ("lung_metastasectomy", "liver_metastasectomy",
                                          "liver_rfa", "lung_radiosurgery", "liver_radiosurgery",
                                          "liver_tare")
    levels = {c.name: c.levels for c in schema.COLUMNS}
    assert levels["menopause"] == ("pre", "post")
    assert levels["histology"] == ("IDC", "ILC", "IDC+ILC", "metaplastic", "other")
    assert levels["nodal_status"] == ("NX", "N0", "N1", "N2", "N3")
    assert levels["breast_surgery"] == ("mastectomy", "segmental")
    assert levels["axillary_surgery"] == ("SLNB", "ALND")
    assert levels["group"] == ("IT", "ST")
    for name in ("er", "pr", "her2", "er_met", "pr_met", "her2_met"):
        assert levels[name] == ("positive", "negative"), name
    assert levels["intervention"] == schema.INTERVENTION_LEVELS
    assert levels["site"] == schema.SITE_LEVELS


def test_yes_no_spellings_and_intervention_organs():
    assert schema.YES_NO == {"yes": True, "true": True, "1": True,
                             "no": False, "false": False, "0": False}
    assert {code: schema.INTERVENTION_ORGAN[code] for code in schema.INTERVENTION_LEVELS} == {
        "lung_metastasectomy": "lung", "liver_metastasectomy": "liver", "liver_rfa": "liver",
        "lung_radiosurgery": "lung", "liver_radiosurgery": "liver", "liver_tare": "liver"}


def test_requirements_and_kinds():
    required = {c.name: c.required.value for c in schema.COLUMNS}
    kinds = {c.name: c.kind.value for c in schema.COLUMNS}
    always = {"patient_id", "center", "age", "menopause", "er", "pr", "her2", "nodal_status",
              "mets_lung", "mets_liver", "mets_bone", "mets_biopsy", "group", "dead"}
    assert {n for n, r in required.items() if r == "always"} == always
    assert {n for n, r in required.items() if r == "dates form"} == {
        "date_diagnosis", "date_surgery", "date_metastasis", "date_last_followup"}
    assert {n for n, r in required.items() if r == "intervals form"} == {
        "mdfi_months", "os_months", "pdrs_months"}
    assert {n for n, r in required.items() if r == "IT rows only"} == {"intervention"}
    assert {n for n, r in required.items() if r == "derived (not in the file)"} == set(DERIVED_ONLY)
    assert {n for n, k in kinds.items() if k == "date"} == {n for n in CONTRACT if n.startswith("date_")}
    assert {n for n, k in kinds.items() if k == "yes/no"} == {
        "mets_lung", "mets_liver", "mets_bone", "mets_biopsy", "dead", "progressed",
        "age_lt_55", "hr_positive", "her2_positive", "mdfi_gt_24"}
    assert {n for n, k in kinds.items() if k == "text"} == {"patient_id", "center"}
    age = schema.COLUMNS_BY_NAME["age"]
    assert (age.minimum, age.maximum, age.unit) == (18.0, 100.0, "years")


def test_labels_for_pages():
    assert schema.LABELS["hr_positive"] == "ER/PR+"
    assert schema.LABELS["her2_positive"] == "HER2+"
    assert schema.LABELS["age_lt_55"] == "Age < 55"
    assert schema.LABELS["mdfi_gt_24"] == "MDFI > 24 months"
    assert set(schema.LABELS) == set(schema.FRAME_COLUMNS)
    assert all(label.strip() for label in schema.LABELS.values())
    assert schema.LEVEL_LABELS["site"]["liver"] == "Liver only"
    for column, labels in schema.LEVEL_LABELS.items():
        assert set(labels) == set(schema.COLUMNS_BY_NAME[column].levels), column


def test_data_dictionary_is_generated_from_the_schema():
    dictionary = schema.data_dictionary()
    assert list(dictionary.columns) == ["column", "label", "kind", "required", "levels",
                                        "description", "derived"]
    assert tuple(dictionary["column"]) == schema.FRAME_COLUMNS
    assert set(CONTRACT) <= set(dictionary["column"])
    for row in dictionary.itertuples(index=False):
        column = schema.COLUMNS_BY_NAME[row.column]
        assert row.label == schema.LABELS[row.column]
        assert row.kind == column.kind.value
        assert row.required == column.required.value
        assert row.description == column.description and row.description.endswith(".")
        if column.kind is schema.Kind.CATEGORY:
            assert row.levels == ", ".join(column.levels)
    derived = set(dictionary.loc[dictionary["derived"], "column"])
    assert derived == set(INTERVAL_NAMES) | set(DERIVED_ONLY)
    yes_no_levels = dictionary.set_index("column").loc["dead", "levels"]
    assert yes_no_levels == "yes/no, true/false, 1/0"


def test_blank_templates_have_the_contracts_headers_and_load_as_header_only():
    dates = schema.blank_template()
    intervals = schema.blank_template("intervals")
    assert tuple(dates.columns) == CONTRACT and len(dates) == 0
    assert tuple(intervals.columns) == R.INTERVALS_HEADER and len(intervals) == 0
    with pytest.raises(ValueError):
        schema.blank_template("both")
    for template in (dates, intervals):
        csv = template.to_csv(index=False).encode()
        with pytest.raises(RegistryError) as caught:
            load_registry(io.BytesIO(csv), name="template.csv")
        assert [(p.row, p.column) for p in caught.value.problems] == [(None, None)]
        assert "no patient rows" in caught.value.problems[0].message


def test_template_filled_in_loads():
    template = schema.blank_template()
    filled = pd.concat([template, pd.DataFrame(R.dates_rows())], ignore_index=True)
    frame = load_registry(filled.to_csv(index=False).encode())
    assert len(frame) == 12


def test_canonical_header():
    assert schema.canonical_header("  Patient ID ") == "patient_id"
    assert schema.canonical_header("\ufeffAGE") == "age"
    assert schema.canonical_header("date  of\tdiagnosis") == "date_of_diagnosis"
    assert schema.canonical_header(None) == ""


def test_columns_are_frozen():
    with pytest.raises(AttributeError):
        schema.COLUMNS_BY_NAME["age"].maximum = 120  # type: ignore[misc]
