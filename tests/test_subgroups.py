"""Tests of imet_core.subgroups: the subgroup filter (mask, flow, description), the selection's
URL round trip, comparison arms and the CLI's --subgroup parsing."""
from __future__ import annotations

import io
from urllib.parse import parse_qs, urlencode

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imet_core.subgroups import (
    COMPARISONS,
    ENDPOINTS,
    QUERY_KEYS,
    SITE_LEVELS,
    SUBGROUP_KEYS,
    Selection,
    SubgroupFilter,
    comparison_arms,
    parse_subgroup_args,
)


def random_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A frame with the loaded registry's subgroup columns (bool flags, object site/group)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "group": rng.choice(["IT", "ST"], n).astype(object),
        "age_lt_55": rng.random(n) < 0.5,
        "hr_positive": rng.random(n) < 0.75,
        "her2_positive": rng.random(n) < 0.3,
        "mdfi_gt_24": rng.random(n) < 0.6,
        "menopause": rng.choice(["pre", "post"], n).astype(object),
        "mets_biopsy": rng.random(n) < 0.7,
        "site": rng.choice(list(SITE_LEVELS), n).astype(object),
    })


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return random_frame(500)


tri_states = st.sampled_from(["any", "yes", "no"])
site_sets = st.frozensets(st.sampled_from(SITE_LEVELS))
filters = st.builds(SubgroupFilter, age_lt_55=tri_states, hr_positive=tri_states, her2_positive=tri_states,
                    mdfi_gt_24=tri_states, sites=site_sets)
selections = st.builds(Selection, subgroup=filters, endpoint=st.sampled_from(list(ENDPOINTS)),
                       comparison=st.sampled_from(list(COMPARISONS)))


# --------------------------------------------------------------------------------------------
# SubgroupFilter
# --------------------------------------------------------------------------------------------
def test_default_filter_keeps_everyone(frame):
    default = SubgroupFilter()
    assert default.is_default
    assert default.describe() == "All patients"
    assert default.mask(frame).all() and default.mask(frame).dtype == bool
    assert default.to_query_params() == {}
    flow = default.flow(frame)
    assert flow.to_dict("records") == [
        {"step": 0, "key": "all", "label": "All patients", "n_remaining": 500, "n_removed": 0}]


@pytest.mark.parametrize("kwargs, text", [
    ({"age_lt_55": "yes", "her2_positive": "yes", "sites": {"liver"}}, "Age < 55 · HER2+ · Liver only"),
    ({"age_lt_55": "no"}, "Age ≥ 55"),
    ({"hr_positive": "no"}, "ER/PR−"),
    ({"hr_positive": "yes"}, "ER/PR+"),
    ({"her2_positive": "no"}, "HER2−"),
    ({"mdfi_gt_24": "no"}, "MDFI ≤ 24 months"),
    ({"mdfi_gt_24": "yes"}, "MDFI > 24 months"),
    ({"sites": {"lung", "liver"}}, "Lung only or liver only"),
    ({"sites": {"multiple", "lung", "liver+bone"}}, "Lung only, liver + bone or lung + liver (± bone)"),
])
def test_describe(kwargs, text):
    assert SubgroupFilter(**kwargs).describe() == text


def test_all_five_sites_is_the_same_as_no_site_filter():
    assert SubgroupFilter(sites=frozenset(SITE_LEVELS)) == SubgroupFilter()
    assert SubgroupFilter(sites=frozenset(SITE_LEVELS)).is_default


def test_filter_is_frozen_and_hashable():
    subgroup = SubgroupFilter(age_lt_55="yes", sites={"lung"})
    with pytest.raises(AttributeError):
        subgroup.age_lt_55 = "no"  # type: ignore[misc]
    assert isinstance(subgroup.sites, frozenset)
    assert {subgroup: 1}[SubgroupFilter(age_lt_55="yes", sites=frozenset({"lung"}))] == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"age_lt_55": "maybe"}, r"age_lt_55='maybe'.*any, yes, no"),
    ({"her2_positive": True}, r"her2_positive=True"),
    ({"sites": {"brain"}}, r"site=brain.*lung, liver"),
])
def test_invalid_filters_raise_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SubgroupFilter(**kwargs)


def test_mask_matches_a_row_by_row_definition(frame):
    subgroup = SubgroupFilter(age_lt_55="yes", hr_positive="no", sites={"liver", "liver+bone"})
    expected = [
        row.age_lt_55 and not row.hr_positive and row.site in ("liver", "liver+bone")
        for row in frame.itertuples()
    ]
    assert subgroup.mask(frame).tolist() == expected


def test_apply_keeps_the_original_index(frame):
    subgroup = SubgroupFilter(her2_positive="yes")
    subset = subgroup.apply(frame)
    assert list(subset.index) == list(frame.index[frame["her2_positive"]])
    assert subset["her2_positive"].all()


def test_missing_values_never_pass_an_active_filter():
    frame = pd.DataFrame({"age_lt_55": [True, False, None, True], "site": ["lung", None, "lung", "liver"]},
                         dtype=object)
    assert SubgroupFilter(age_lt_55="yes").mask(frame).tolist() == [True, False, False, True]
    assert SubgroupFilter(age_lt_55="no").mask(frame).tolist() == [False, True, False, False]
    assert SubgroupFilter(sites={"lung"}).mask(frame).tolist() == [True, False, True, False]
    assert SubgroupFilter().mask(frame).tolist() == [True] * 4


def test_missing_column_is_named(frame):
    with pytest.raises(ValueError, match="mdfi_gt_24"):
        SubgroupFilter(mdfi_gt_24="yes").mask(frame.drop(columns=["mdfi_gt_24"]))
    # an inactive filter does not need its column
    assert SubgroupFilter(age_lt_55="yes").mask(frame.drop(columns=["mdfi_gt_24"])).sum() > 0


def test_flow_counts_each_step_in_order(frame):
    subgroup = SubgroupFilter(age_lt_55="yes", her2_positive="no", sites={"lung"})
    flow = subgroup.flow(frame)
    assert list(flow.columns) == ["step", "key", "label", "n_remaining", "n_removed"]
    assert list(flow["key"]) == ["all", "age_lt_55", "her2_positive", "site"]
    assert list(flow["label"]) == ["All patients", "Age < 55", "HER2−", "Lung only"]
    young = frame["age_lt_55"]
    young_her2_neg = young & ~frame["her2_positive"]
    final = young_her2_neg & (frame["site"] == "lung")
    assert list(flow["n_remaining"]) == [500, young.sum(), young_her2_neg.sum(), final.sum()]
    assert list(flow["n_removed"]) == [0, 500 - young.sum(), young.sum() - young_her2_neg.sum(),
                                       young_her2_neg.sum() - final.sum()]


@settings(max_examples=150, deadline=None)
@given(subgroup=filters, seed=st.integers(0, 2**16), n=st.integers(0, 60))
def test_flow_and_mask_agree(subgroup, seed, n):
    frame = random_frame(n, seed)
    mask = subgroup.mask(frame)
    flow = subgroup.flow(frame)
    assert flow["n_remaining"].iloc[-1] == mask.sum()
    assert flow["n_remaining"].iloc[0] == n
    assert (flow["n_removed"] >= 0).all()
    assert flow["n_removed"].sum() == n - mask.sum()
    assert len(flow) == 1 + len(subgroup.active_steps())
    assert len(subgroup.apply(frame)) == mask.sum()


def test_mask_on_a_million_rows():
    big = random_frame(1_000_000, seed=1)
    subgroup = SubgroupFilter(age_lt_55="yes", hr_positive="yes", her2_positive="no", mdfi_gt_24="yes",
                              sites={"lung", "liver", "multiple"})
    mask = subgroup.mask(big)
    assert mask.shape == (1_000_000,)
    expected = (big["age_lt_55"] & big["hr_positive"] & ~big["her2_positive"] & big["mdfi_gt_24"]
                & big["site"].isin(["lung", "liver", "multiple"])).to_numpy()
    assert (mask == expected).all()


def test_on_a_loaded_registry():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from bad_files.registry import csv_bytes, dates_rows

    from imet_core.io import load_registry
    registry = load_registry(io.BytesIO(csv_bytes(dates_rows())), name="registry.csv")
    subgroup = SubgroupFilter(age_lt_55="yes", sites={"lung", "lung+bone", "multiple"})
    expected = registry["age_lt_55"] & registry["site"].isin(["lung", "lung+bone", "multiple"])
    assert subgroup.mask(registry).tolist() == expected.tolist()
    assert subgroup.flow(registry)["n_remaining"].iloc[-1] == expected.sum()
    arms = comparison_arms(registry, "group")
    assert arms.counts().to_dict() == {"IT": 6, "ST": 6}


# --------------------------------------------------------------------------------------------
# Selection and the URL round trip
# --------------------------------------------------------------------------------------------
def test_selection_defaults_and_endpoint_helpers():
    selection = Selection()
    assert selection.is_default and selection.to_query_params() == {}
    assert (selection.time_column, selection.event_column) == ("os_months", "dead")
    assert selection.delayed_entry_column == "entry_months"
    assert "breast cancer diagnosis" in selection.endpoint_label
    pdrs = Selection(endpoint="pdrs")
    assert (pdrs.time_column, pdrs.event_column, pdrs.delayed_entry_column) == ("pdrs_months", "dead", None)
    assert "metastasis diagnosis" in pdrs.endpoint_label
    assert Selection(SubgroupFilter(her2_positive="yes")).describe() == "HER2+ · OS · IT vs ST"
    # hashable, so the pages can use it as a cache key
    assert {Selection(SubgroupFilter(sites={"lung"})): 1}[Selection(SubgroupFilter(sites=frozenset({"lung"})))] == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"endpoint": "dfs"}, "endpoint='dfs'"),
    ({"comparison": "nodal_status"}, "comparison='nodal_status'"),
    ({"subgroup": {"age_lt_55": "yes"}}, "SubgroupFilter"),
])
def test_invalid_selection_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Selection(**kwargs)


def test_query_params_only_non_default_keys_in_order():
    selection = Selection(SubgroupFilter(mdfi_gt_24="no", age_lt_55="yes", sites={"multiple", "lung"}),
                          endpoint="pdrs", comparison="hr_positive")
    params = selection.to_query_params()
    assert params == {"age_lt_55": "yes", "mdfi_gt_24": "no", "site": "lung,multiple",
                      "endpoint": "pdrs", "compare": "hr_positive"}
    assert list(params) == [key for key in QUERY_KEYS if key in params]
    assert Selection(SubgroupFilter(her2_positive="no")).to_query_params() == {"her2_positive": "no"}


@settings(max_examples=300, deadline=None)
@given(selections)
def test_query_params_round_trip_exactly(selection):
    params = selection.to_query_params()
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in params.items())
    assert Selection.from_query_params(params) == (selection, [])
    # also through a real query string, as a browser would carry it (lists of values)
    parsed = parse_qs(urlencode(params))
    assert Selection.from_query_params(parsed) == (selection, [])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=20), st.lists(st.text(max_size=8), max_size=3)),
                       max_size=6))
def test_from_query_params_never_raises(params):
    selection, notices = Selection.from_query_params(params)
    assert isinstance(selection, Selection)
    assert all(isinstance(notice, str) and notice for notice in notices)


def test_notices_for_unknown_and_malformed_parameters():
    selection, notices = Selection.from_query_params({
        "age_lt_55": "maybe", "her2_positive": "YES", "site": "lung,brain,Liver", "endpoint": "dfs",
        "compare": ["site", "group"], "zoom": "2", "mdfi_gt_24": "",
    })
    assert selection == Selection(SubgroupFilter(her2_positive="yes", sites={"lung", "liver"}))
    assert len(notices) == 6
    joined = " | ".join(notices)
    for fragment in ["age_lt_55='maybe'", "site='brain'", "endpoint='dfs'", "'compare'", "'zoom'", "'mdfi_gt_24'"]:
        assert fragment in joined


def test_other_keys_are_passed_over_silently():
    selection, notices = Selection.from_query_params({"page": "survival", "endpoint": "pdrs"},
                                                     other_keys=["page"])
    assert selection == Selection(endpoint="pdrs") and notices == []


def test_repeated_site_values_and_any_are_accepted():
    selection, notices = Selection.from_query_params({"site": ["lung", "liver+bone"], "age_lt_55": "any"})
    assert selection == Selection(SubgroupFilter(sites={"lung", "liver+bone"}))
    assert notices == []


# --------------------------------------------------------------------------------------------
# Comparison arms
# --------------------------------------------------------------------------------------------
def test_group_comparison_arms(frame):
    arms = comparison_arms(frame, "group")
    assert arms.levels == ("IT", "ST") and arms.reference == "ST" and arms.non_reference == ("IT",)
    assert arms.label == "IT vs ST"
    assert list(arms.arm.cat.categories) == ["IT", "ST"]
    assert (arms.arm.astype(str) == frame["group"]).all()
    assert arms.arm.index.equals(frame.index)


@pytest.mark.parametrize("comparison, yes_label, reference", [
    ("age_lt_55", "Age < 55", "Age ≥ 55"),
    ("hr_positive", "ER/PR+", "ER/PR−"),
    ("her2_positive", "HER2+", "HER2−"),
    ("mdfi_gt_24", "MDFI > 24 months", "MDFI ≤ 24 months"),
    ("mets_biopsy", "Biopsy-confirmed", "No biopsy"),
])
def test_binary_comparison_arms(frame, comparison, yes_label, reference):
    arms = comparison_arms(frame, comparison)
    assert arms.levels == (yes_label, reference) and arms.reference == reference
    assert ((arms.arm == yes_label) == frame[comparison]).all()
    assert arms.counts().sum() == len(frame)


def test_menopause_and_site_arms(frame):
    menopause = comparison_arms(frame, "menopause")
    assert menopause.levels == ("Premenopausal", "Postmenopausal") and menopause.reference == "Postmenopausal"
    assert ((menopause.arm == "Premenopausal") == (frame["menopause"] == "pre")).all()
    site = comparison_arms(frame, "site")
    assert len(site.levels) == 5 and site.reference == "Lung only"
    assert site.counts().to_dict() == {
        label: int((frame["site"] == level).sum()) for level, label in zip(SITE_LEVELS, site.levels)}


def test_arms_with_missing_values_and_empty_arms():
    frame = pd.DataFrame({"group": ["IT", None, "IT"], "site": ["lung", "lung", None]}, dtype=object)
    arms = comparison_arms(frame, "group")
    assert arms.arm.isna().tolist() == [False, True, False]
    assert arms.counts().to_dict() == {"IT": 2, "ST": 0}
    assert comparison_arms(frame, "site").counts()["Lung only"] == 2


def test_arms_errors(frame):
    with pytest.raises(ValueError, match="comparison='stage'"):
        comparison_arms(frame, "stage")
    with pytest.raises(ValueError, match="'menopause'"):
        comparison_arms(frame.drop(columns=["menopause"]), "menopause")


def test_selection_arms_helper(frame):
    selection = Selection(comparison="her2_positive")
    assert selection.arms(frame).reference == "HER2−"
    assert selection.comparison_label == "HER2+ vs HER2−"


# --------------------------------------------------------------------------------------------
# CLI --subgroup key=value
# --------------------------------------------------------------------------------------------
def test_parse_subgroup_args():
    assert parse_subgroup_args(["age_lt_55=yes", "site=liver"]) == SubgroupFilter(age_lt_55="yes", sites={"liver"})
    assert parse_subgroup_args([]) == SubgroupFilter()
    assert parse_subgroup_args(["site=lung,liver", "site=multiple", " HER2_positive = No "]) == SubgroupFilter(
        her2_positive="no", sites={"lung", "liver", "multiple"})
    assert parse_subgroup_args(["mdfi_gt_24=any"]) == SubgroupFilter()


@pytest.mark.parametrize("args, fragments", [
    (["stage=II"], ["'stage'", "age_lt_55, hr_positive, her2_positive, mdfi_gt_24, site"]),
    (["age_lt_55=maybe"], ["'maybe'", "'age_lt_55'", "any, yes, no"]),
    (["site=brain"], ["'brain'", "lung, liver, lung+bone, liver+bone, multiple"]),
    (["site="], ["no site"]),
    (["age_lt_55"], ["not key=value"]),
    (["age_lt_55=yes", "age_lt_55=no"], ["given twice"]),
])
def test_parse_subgroup_args_errors_are_one_line(args, fragments):
    with pytest.raises(ValueError) as error:
        parse_subgroup_args(args)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@settings(max_examples=200, deadline=None)
@given(filters)
def test_cli_arguments_from_a_filter_round_trip(subgroup):
    args = [f"{key}={value}" for key, value in subgroup.to_query_params().items()]
    assert parse_subgroup_args(args) == subgroup


def test_subgroup_keys_are_query_keys():
    assert set(SUBGROUP_KEYS) <= set(QUERY_KEYS)
