"""Fuzzing (issue 8): hypothesis builds registries, valid and subtly invalid, and sends them
through the whole path a user's upload takes: load -> subgroup filters -> every analysis view
-> every figure builder -> the numbers as the pages format them.

Allowed: ``RegistryError`` at load time (and then it must name the broken cell), and the views'
documented small-subgroup notes. Not allowed: any other exception, and "nan"/"inf" (or an empty
string) wherever the pages print a number.
"""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imet_core import analysis, privacy, schema
from imet_core.figures import cox_forest_figure, forest_figure, km_figure
from imet_core.io import RegistryError, load_registry
from imet_core.subgroups import COMPARISONS, ENDPOINTS, SITE_LEVELS, SUBGROUP_KEYS, Selection, SubgroupFilter
from imet_core.table_one import format_table_one
from ui import fmt

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                derandomize=True)
_SITES = {"lung": ("yes", "no", "no"), "liver": ("no", "yes", "no"), "lung+bone": ("yes", "no", "yes"),
          "liver+bone": ("no", "yes", "yes"), "multiple": ("yes", "yes", "no"),
          "multiple+bone": ("yes", "yes", "yes")}
_INTERVENTIONS = {"lung": ["lung_metastasectomy", "lung_radiosurgery"],
                  "liver": ["liver_metastasectomy", "liver_rfa", "liver_radiosurgery", "liver_tare"]}
_BAD_NUMBER = re.compile(r"\b(nan|NaN|inf|-inf|None)\b")


# --- registries -------------------------------------------------------------------------------


@st.composite
def patients(draw, index: int) -> dict[str, str]:
    """One valid patient in the intervals form (text cells, as in a file)."""
    site = draw(st.sampled_from(list(_SITES)))
    lung, liver, bone = _SITES[site]
    group = draw(st.sampled_from(["IT", "ST"]))
    organs = [o for o, flag in (("lung", lung), ("liver", liver)) if flag == "yes"]
    intervention = draw(st.sampled_from(_INTERVENTIONS[draw(st.sampled_from(organs))])) \
        if group == "IT" else ""
    # coarse times (whole and half months) make ties, the hard case for survival code
    months = st.one_of(st.integers(0, 120).map(float), st.floats(0, 240, allow_nan=False).map(lambda x: round(x, 2)))
    pdrs, entry, mdfi = draw(months), draw(months), draw(months)
    age = draw(st.integers(18, 100))
    return {
        "patient_id": f"F{index:04d}", "center": draw(st.sampled_from(["C1", "C2", "C3"])),
        "age": str(age), "menopause": draw(st.sampled_from(["pre", "post"])),
        "er": draw(st.sampled_from(["positive", "negative"])),
        "pr": draw(st.sampled_from(["positive", "negative"])),
        "her2": draw(st.sampled_from(["positive", "negative"])),
        "histology": draw(st.sampled_from(["IDC", "ILC", "IDC+ILC", "metaplastic", "other", ""])),
        "nodal_status": draw(st.sampled_from(["NX", "N0", "N1", "N2", "N3"])),
        "breast_surgery": draw(st.sampled_from(["mastectomy", "segmental", ""])),
        "axillary_surgery": draw(st.sampled_from(["SLNB", "ALND", ""])),
        "mets_lung": lung, "mets_liver": liver, "mets_bone": bone,
        "mets_biopsy": draw(st.sampled_from(["yes", "no"])),
        "group": group, "intervention": intervention,
        "mdfi_months": repr(mdfi), "os_months": repr(entry + pdrs), "pdrs_months": repr(pdrs),
        "dead": draw(st.sampled_from(["yes", "no"])),
    }


@st.composite
def registries(draw, max_patients: int = 40) -> list[dict[str, str]]:
    n = draw(st.integers(1, max_patients))
    return [draw(patients(i)) for i in range(n)]


# One subtle corruption each: (description, edit of the rows, the (row, column) it must name).
def _corrupt_age(rows, i):
    rows[i]["age"] = "17"
    return (i + 2, "age")


def _corrupt_level(rows, i):
    rows[i]["her2"] = "equivocal"
    return (i + 2, "her2")


def _corrupt_blank(rows, i):
    rows[i]["dead"] = " "
    return (i + 2, "dead")


def _corrupt_duplicate(rows, i):
    rows[i]["patient_id"] = rows[0]["patient_id"]
    return (i + 2, "patient_id") if i else None


def _corrupt_order(rows, i):
    rows[i]["os_months"] = repr(float(rows[i]["pdrs_months"]) - 1.0)
    return (i + 2, "os_months") if float(rows[i]["pdrs_months"]) >= 1.0 else None


def _corrupt_negative(rows, i):
    rows[i]["mdfi_months"] = "-0.5"
    return (i + 2, "mdfi_months")


def _corrupt_intervention(rows, i):
    rows[i]["group"], rows[i]["intervention"] = "IT", ""
    return (i + 2, "intervention")


def _corrupt_inclusion(rows, i):
    rows[i]["mets_lung"] = rows[i]["mets_liver"] = "no"
    rows[i]["group"], rows[i]["intervention"] = "ST", ""
    return (i + 2, "mets_lung")


def _corrupt_date_like(rows, i):
    rows[i]["age"] = "03/04/2015"
    return (i + 2, "age")


CORRUPTIONS = [_corrupt_age, _corrupt_level, _corrupt_blank, _corrupt_duplicate, _corrupt_order,
               _corrupt_negative, _corrupt_intervention, _corrupt_inclusion, _corrupt_date_like]


# Harmless variations that must still load (case, spaces, column order, delimiter).
def _vary(rows: list[dict[str, str]], how: str) -> bytes:
    frame = pd.DataFrame(rows)
    if how == "upper_levels":
        frame["er"] = frame["er"].str.upper()
        frame["group"] = frame["group"].str.lower()
    elif how == "padded":
        frame = frame.apply(lambda column: " " + column + " " if column.name != "patient_id" else column)
    elif how == "shuffled_columns":
        frame = frame[list(reversed(frame.columns))]
    sep = ";" if how == "semicolons" else ","
    return frame.to_csv(index=False, sep=sep).encode()


selections = st.builds(
    lambda tri, sites, endpoint, comparison: Selection(
        SubgroupFilter(**dict(zip(SUBGROUP_KEYS, tri)), sites=frozenset(sites)), endpoint, comparison),
    st.tuples(*[st.sampled_from(["any", "yes", "no"]) for _ in SUBGROUP_KEYS]),
    st.sets(st.sampled_from(SITE_LEVELS), max_size=3),
    st.sampled_from(list(ENDPOINTS)),
    st.sampled_from(list(COMPARISONS)),
)


# --- what the pages print -------------------------------------------------------------------


def _assert_printable(text: object, where: str) -> None:
    assert isinstance(text, str) and text.strip(), f"{where}: nothing printed ({text!r})"
    assert not _BAD_NUMBER.search(text), f"{where}: {text!r}"


def _check_survival(view: analysis.SurvivalView) -> None:
    for arm, row in view.arms.iterrows():
        for column in ("n", "events", "censored"):
            assert float(row[column]).is_integer() and row[column] >= 0, (arm, column, row[column])
        _assert_printable(fmt.months_ci(row["median"], row["median_lower"], row["median_upper"]), "median")
        _assert_printable(f"{row['events']:.0f} events / {row['n']:.0f}", "arm counts")
    for _, r in view.hazard_ratios.iterrows():
        _assert_printable(fmt.hr_ci(r["hr"], r["hr_lower"], r["hr_upper"]), "HR")
        _assert_printable(fmt.p_value(r["p"]), "HR p")
        if not fmt.is_number(r["hr"]):
            assert r["note"], "a missing HR is explained"
    _assert_printable(fmt.p_value(view.logrank["p"]), "log-rank p")
    if not fmt.is_number(view.logrank["p"]):
        assert view.logrank["note"], "a missing log-rank p is explained"
    for _, r in view.landmarks.iterrows():
        _assert_printable(fmt.percent_ci(r["survival"], r["lower"], r["upper"]), "milestone")
        _assert_printable(fmt.count(r["at_risk"], suppress_below=None), "milestone at risk")
    assert np.isfinite(view.risk_table[["time", "at_risk", "events", "censored"]].to_numpy(float)).all()
    for arm, km in view.curves.items():
        table = km.table
        assert np.isfinite(table["survival"]).all() and ((table["survival"] >= 0) & (table["survival"] <= 1)).all()


def _check_forest(view: analysis.ForestView) -> None:
    table = view.table
    if view.note:
        assert table.empty
        return
    assert table.iloc[0]["variable"] == "all"
    for _, r in table.iterrows():
        _assert_printable(f"{r['events_a']}/{r['n_a']}", "forest counts")
        _assert_printable(fmt.hr_ci(r["hr"], r["hr_lower"], r["hr_upper"]), "forest HR")
        _assert_printable(fmt.p_value(r["p_interaction"]), "interaction p")
        if not fmt.is_number(r["hr"]):
            assert r["note"], "a missing subgroup HR is explained"


def _check_cox(view: analysis.CoxView) -> None:
    for _, r in view.table.iterrows():
        for columns in (("hr", "hr_lower", "hr_upper"), ("hr_adj", "hr_adj_lower", "hr_adj_upper")):
            _assert_printable(fmt.hr_ci(*(r[c] for c in columns)), "Cox HR")
        for column in ("p", "p_adj", "ph_p"):
            _assert_printable(fmt.p_value(r[column]), f"Cox {column}")
        _assert_printable(f"{r['n']}/{r['events']}", "Cox n/events")
        if not fmt.is_number(r["hr"]):
            assert r["note"], "a missing Cox HR is explained"
    _assert_printable(fmt.p_value(view.global_ph["p"]), "global PH p")


def _check_table_one(result: pd.DataFrame) -> None:
    for show_p in (True, False):
        formatted = format_table_one(result, show_p=show_p)
        for column in formatted.columns:
            assert not _BAD_NUMBER.search(str(column)), column
            for cell in formatted[column]:
                assert isinstance(cell, str) and not _BAD_NUMBER.search(cell), (column, cell)
        hidden = privacy.suppress_table_one(result, formatted)
        assert hidden.shape == formatted.shape


def _check_overview(view: analysis.OverviewView) -> None:
    for key in ("n", "n_events", "centers"):
        _assert_printable(fmt.count(view.cohort[key], suppress_below=None), f"cohort {key}")
    for arm, r in view.arms.iterrows():
        _assert_printable(fmt.count(r["n"], suppress_below=None), "arm n")
        if fmt.is_number(r["median_follow_up"]):
            _assert_printable(fmt.months(r["follow_up_q1"]), "follow-up IQR")
    assert (view.flow["n_remaining"] >= 0).all() and (view.flow["n_removed"] >= 0).all()


def _figure_text(figure) -> str:
    """Every string a reader can see in a figure: trace texts, tick labels, annotations, hovers
    with their data (customdata) filled in as text."""
    spec = json.loads(figure.to_json())
    parts: list[str] = []
    for trace in spec["data"]:
        for key in ("text", "name", "customdata"):
            value = trace.get(key)
            if isinstance(value, list):
                parts.extend(str(v) for v in np.ravel(np.array(value, dtype=object)) if v is not None)
            elif value is not None:
                parts.append(str(value))
    layout = spec["layout"]
    for axis in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        parts.extend(str(t) for t in layout[axis].get("ticktext", []) or [])
        title = (layout[axis].get("title") or {}).get("text")
        if title:
            parts.append(title)
    parts.extend(a.get("text", "") for a in layout.get("annotations", []))
    return "\n".join(parts)


def _check_figures(survival, forest, cox) -> None:
    for suppress_below in (None, 5):
        text = _figure_text(km_figure(survival, suppress_below=suppress_below))
        assert not _BAD_NUMBER.search(text), text[:2000]
        text = _figure_text(forest_figure(forest, suppress_below=suppress_below))
        assert not _BAD_NUMBER.search(text), text[:2000]
    for adjusted in (False, True):
        assert not _BAD_NUMBER.search(_figure_text(cox_forest_figure(cox, adjusted=adjusted)))


def _check_suppression(survival, forest) -> None:
    """Suppressed tables show no count from 1 to 4 and keep their shape."""
    hidden = privacy.suppress_risk_table(survival.risk_table)
    forest_hidden = privacy.suppress_forest_table(forest.table) if len(forest.table) else forest.table
    for table, columns in ((hidden, ["at_risk", "events", "censored"]),
                           (forest_hidden, ["n_a", "events_a", "n_b", "events_b"])):
        for column in columns:
            if column in table:
                numbers = pd.to_numeric(table[column], errors="coerce")
                assert not ((numbers > 0) & (numbers < 5)).any(), (column, table[column].tolist())


def _every_view(frame: pd.DataFrame, selection: Selection, *, figures: bool = True) -> None:
    """Every view of ``selection`` and its printed numbers; the figures too when asked (plotly
    takes ~1 s for the five, so each example draws them once)."""
    survival = analysis.survival_view(frame, selection)
    forest = analysis.forest_view(frame, selection)
    cox = analysis.cox_view(frame, selection)
    table = analysis.table_one_view(frame, selection)
    overview = analysis.overview_view(frame, selection)
    _check_survival(survival)
    _check_forest(forest)
    _check_cox(cox)
    _check_table_one(table)
    _check_overview(overview)
    _check_suppression(survival, forest)
    if figures:
        _check_figures(survival, forest, cox)


def _load(data: bytes, name: str = "fuzz.csv") -> pd.DataFrame:
    return load_registry(io.BytesIO(data), name=name)


# --- the properties ---------------------------------------------------------------------------


@settings(max_examples=10, **SETTINGS)
@given(rows=registries(), chosen=st.lists(selections, min_size=1, max_size=2),
       how=st.sampled_from(["plain", "upper_levels", "padded", "shuffled_columns", "semicolons"]))
def test_valid_registries_survive_every_filter_view_and_figure(rows, chosen, how):
    frame = _load(_vary(rows, how))
    assert len(frame) == len(rows), "no patient dropped"
    assert frame["patient_id"].tolist() == [row["patient_id"] for row in rows]
    for i, selection in enumerate([Selection(), *chosen]):
        _every_view(frame, selection, figures=i == len(chosen))


@settings(max_examples=30, **SETTINGS)
@given(rows=registries(max_patients=25), corruption=st.sampled_from(CORRUPTIONS),
       which=st.integers(0, 24))
def test_subtly_invalid_registries_are_refused_naming_the_cell(rows, corruption, which):
    index = which % len(rows)
    target = corruption(rows, index)
    assume(target is not None)
    with pytest.raises(RegistryError) as caught:
        _load(pd.DataFrame(rows).to_csv(index=False).encode())
    error = caught.value
    places = {(p.row, p.column) for p in error.problems}
    assert target in places, (target, places)
    for problem in error.problems:
        assert problem.message and problem.row is not None and 2 <= problem.row <= len(rows) + 1


@settings(max_examples=25, **SETTINGS)
@given(rows=registries(max_patients=12), cut=st.integers(0, 10_000),
       junk=st.text(alphabet=',;\t\n"=+-@ 0123456789.aeiouNAny/', min_size=1, max_size=8),
       selection=selections)
def test_damaged_registries_load_or_are_refused_and_what_loads_is_analysable(rows, cut, junk, selection):
    text = pd.DataFrame(rows).to_csv(index=False)
    position = cut % len(text)
    data = (text[:position] + junk + text[position:]).encode()
    try:
        frame = _load(data)
    except RegistryError as error:
        assert error.problems and all(p.message for p in error.problems)
        return
    required = [c.name for c in schema.CONTRACT_COLUMNS if c.required is schema.Requirement.ALWAYS]
    assert not frame[required].isna().any().any()
    _every_view(frame, selection, figures=False)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_smallest_registries_survive_every_view(n):
    rows = [{**patients_example(i)} for i in range(n)]
    frame = _load(pd.DataFrame(rows).to_csv(index=False).encode())
    for comparison in ("group", "site", "mets_biopsy"):  # two arms, five arms, a yes/no split
        for endpoint in ENDPOINTS:
            _every_view(frame, Selection(SubgroupFilter(), endpoint, comparison),
                        figures=comparison == "group" and endpoint == "os")


def patients_example(i: int) -> dict[str, str]:
    """A fixed valid patient (for the explicit small cases)."""
    site = list(_SITES)[i % len(_SITES)]
    lung, liver, bone = _SITES[site]
    return {"patient_id": f"S{i}", "center": "C1", "age": str(40 + i), "menopause": "pre",
            "er": "positive", "pr": "negative", "her2": "negative", "histology": "",
            "nodal_status": "N1", "breast_surgery": "", "axillary_surgery": "",
            "mets_lung": lung, "mets_liver": liver, "mets_bone": bone, "mets_biopsy": "yes",
            "group": "ST", "intervention": "", "mdfi_months": "12.0",
            "os_months": repr(30.0 + i), "pdrs_months": repr(10.0 + i), "dead": "yes" if i else "no"}
