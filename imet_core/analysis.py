"""Everything a dashboard view shows, computed once per (registry, selection).

Each ``*_view`` function takes a loaded registry frame (``imet_core.io.load_registry``) and a
:class:`imet_core.subgroups.Selection`, and returns a frozen result of DataFrames with fixed,
documented columns. Pages, exports and the command line draw from these results and never call
the statistics themselves, so the Survival page, the slide deck and the HTML report cannot
disagree. Nothing here rounds; small subgroups give NaN and a plain note, never an exception.

The small-subgroup rule (issue 4): when an arm has fewer than ``MIN_EVENTS`` events (or no
patients), no hazard ratio and no p-value is reported for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from imet_core import schema
from imet_core.subgroups import Selection, SubgroupFilter, comparison_arms
from imet_core.survival import (
    KaplanMeierResult, SurvivalInputError, cox_regression, kaplan_meier, logrank_test,
    proportional_hazards_test, risk_table,
)
from imet_core.table_one import table_one

__all__ = [
    "MIN_EVENTS", "DEFAULT_LANDMARKS", "SurvivalView", "ForestView", "CoxView", "OverviewView",
    "survival_view", "forest_view", "cox_view", "table_one_view", "overview_view",
    "COX_CANDIDATES", "FOREST_VARIABLES", "risk_times",
]

MIN_EVENTS = 5
"""An arm needs at least this many events before a hazard ratio or p-value is shown."""

DEFAULT_LANDMARKS = (36.0, 60.0)
"""3- and 5-year survival (months), the paper's milestones."""

ARM_COLUMN = "_arm"


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
def _subset_with_arms(frame: pd.DataFrame, selection: Selection) -> tuple[pd.DataFrame, object, int]:
    """Rows of the subgroup that belong to an arm, with an ``_arm`` column; and rows dropped."""
    subset = selection.subgroup.apply(frame)
    arms = comparison_arms(subset, selection.comparison)
    in_arm = arms.arm.notna().to_numpy()
    out = subset.loc[in_arm].copy()
    out[ARM_COLUMN] = arms.arm[in_arm].astype(str).to_numpy()
    return out, arms, int((~in_arm).sum())


def risk_times(max_time: float) -> np.ndarray:
    """Regular times for an at-risk table: steps of 12, 24, 36 or 60 months, at most 11 columns."""
    if not np.isfinite(max_time) or max_time <= 0:
        return np.array([0.0])
    for step in (12.0, 24.0, 36.0, 60.0, 120.0):
        if max_time / step <= 10:
            break
    return np.arange(0.0, np.floor(max_time / step) * step + step / 2, step)


def _events_by_arm(data: pd.DataFrame, event: str, levels: Sequence[str]) -> pd.Series:
    return data.groupby(ARM_COLUMN, observed=True)[event].sum().reindex(list(levels), fill_value=0)


def _counts_by_arm(data: pd.DataFrame, levels: Sequence[str]) -> pd.Series:
    return data[ARM_COLUMN].value_counts().reindex(list(levels), fill_value=0)


def _cox_arm_hrs(data: pd.DataFrame, time: str, event: str, reference: str, others: Sequence[str],
                 events: pd.Series, entry: str | None = None) -> pd.DataFrame:
    """HR of each arm in ``others`` versus ``reference`` from one Cox model of the eligible arms.

    Arms (and the reference) with fewer than MIN_EVENTS events are left out with a note."""
    rows = []
    eligible = [a for a in others if events.get(a, 0) >= MIN_EVENTS]
    ref_ok = events.get(reference, 0) >= MIN_EVENTS
    fit = None
    if ref_ok and eligible:
        sub = data[data[ARM_COLUMN].isin([reference, *eligible])]
        design = pd.DataFrame({f"arm_{i}": (sub[ARM_COLUMN] == a).astype(float).to_numpy()
                               for i, a in enumerate(eligible)})
        design["time"] = sub[time].to_numpy(dtype=float)
        design["event"] = sub[event].to_numpy(dtype=float)
        if entry is not None:
            design["entry"] = sub[entry].to_numpy(dtype=float)
        try:
            fit = cox_regression(design, time="time", event="event",
                                 covariates=[f"arm_{i}" for i in range(len(eligible))],
                                 entry="entry" if entry is not None else None)
        except (SurvivalInputError, np.linalg.LinAlgError) as exc:
            fit = None
            fit_error = str(exc)
    for a in others:
        row = {"arm": a, "reference": reference, "hr": np.nan, "hr_lower": np.nan,
               "hr_upper": np.nan, "p": np.nan, "note": ""}
        if not ref_ok:
            row["note"] = (f"No hazard ratio: the reference arm ({reference}) has "
                           f"{int(events.get(reference, 0))} events (fewer than {MIN_EVENTS}).")
        elif a not in eligible:
            row["note"] = (f"No hazard ratio: {a} has {int(events.get(a, 0))} events "
                           f"(fewer than {MIN_EVENTS}).")
        elif fit is None:
            row["note"] = f"No hazard ratio: the Cox model could not be fitted ({fit_error})."
        else:
            s = fit.summary.loc[f"arm_{eligible.index(a)}"]
            row.update(hr=s["hr"], hr_lower=s["hr_lower"], hr_upper=s["hr_upper"], p=s["p"])
            if fit.warnings:
                row["note"] = " ".join(fit.warnings)
        rows.append(row)
    return pd.DataFrame(rows, columns=["arm", "reference", "hr", "hr_lower", "hr_upper", "p", "note"])


# ----------------------------------------------------------------------------------------------
# Survival page
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SurvivalView:
    """Kaplan-Meier curves and their summaries for the selected subgroup and comparison.

    Attributes
    ----------
    selection : Selection
    arms : DataFrame
        Indexed by arm (display order), columns ``n, events, censored, median, median_lower,
        median_upper`` (months; NaN where not reached or the arm is empty).
    curves : dict[str, KaplanMeierResult]
        Kaplan-Meier estimate per non-empty arm (95% CI of the chosen type, R's "log" default).
    landmarks : DataFrame
        Columns ``arm, time, survival, lower, upper, at_risk``: survival at each landmark time.
    risk_table : DataFrame
        Columns ``arm, time, at_risk, events, censored`` (cumulative events and censored) at
        regular times aligned with the plot (KMunicate).
    hazard_ratios : DataFrame
        Columns ``arm, reference, hr, hr_lower, hr_upper, p, note`` (Cox, Efron ties).
    logrank : dict
        ``statistic, dof, p, note``.
    reference : str
    n, n_events, n_without_arm : int
    notes : tuple of str
    """

    selection: Selection
    arms: pd.DataFrame
    curves: dict
    landmarks: pd.DataFrame
    risk_table: pd.DataFrame
    hazard_ratios: pd.DataFrame
    logrank: dict
    reference: str
    levels: tuple
    n: int
    n_events: int
    n_without_arm: int
    notes: tuple = field(default_factory=tuple)


def survival_view(frame: pd.DataFrame, selection: Selection, *,
                  landmarks: Iterable[float] = DEFAULT_LANDMARKS, conf_type: str = "log",
                  risk_at: Sequence[float] | None = None) -> SurvivalView:
    """Kaplan-Meier curves per arm with log-rank, Cox HR, medians and landmark survival.

    Parameters
    ----------
    frame : DataFrame
        Loaded registry.
    selection : Selection
        Subgroup, endpoint (``os`` or ``pdrs``) and comparison.
    landmarks : iterable of float
        Times (months) for milestone survival; default 36 and 60 (3 and 5 years).
    conf_type : {"log", "log-log", "plain"}
    risk_at : sequence of float, optional
        Times of the at-risk table; default regular steps over the follow-up.

    Returns
    -------
    SurvivalView
    """
    data, arms, n_without = _subset_with_arms(frame, selection)
    time, event = selection.time_column, selection.event_column
    levels = tuple(arms.levels)
    counts = _counts_by_arm(data, levels)
    events = _events_by_arm(data, event, levels)
    notes: list[str] = []
    if n_without:
        notes.append(f"{n_without} patient(s) have no value for the comparison and are not shown.")
    curves: dict[str, KaplanMeierResult] = {}
    arm_rows = []
    for a in levels:
        sub = data[data[ARM_COLUMN] == a]
        row = {"arm": a, "n": int(counts[a]), "events": int(events[a]),
               "censored": int(counts[a] - events[a]), "median": np.nan,
               "median_lower": np.nan, "median_upper": np.nan}
        if len(sub):
            km = kaplan_meier(sub[time].to_numpy(float), sub[event].to_numpy(float), conf_type=conf_type)
            curves[a] = km
            row.update(median=km.median, median_lower=km.median_lower, median_upper=km.median_upper)
        arm_rows.append(row)
    arms_table = pd.DataFrame(arm_rows).set_index("arm")
    max_time = float(data[time].max()) if len(data) else 0.0
    times = np.asarray(risk_at, dtype=float) if risk_at is not None else risk_times(max_time)
    rt_parts, lm_rows = [], []
    landmark_times = [float(t) for t in landmarks]
    for a in levels:
        sub = data[data[ARM_COLUMN] == a]
        part = risk_table(sub[time].to_numpy(float), sub[event].to_numpy(float), times) if len(sub) \
            else pd.DataFrame({"time": times, "at_risk": 0.0, "events": 0.0, "censored": 0.0})
        part.insert(0, "arm", a)
        rt_parts.append(part)
        at_risk_lm = risk_table(sub[time].to_numpy(float), sub[event].to_numpy(float), landmark_times)["at_risk"] \
            if len(sub) else pd.Series([0.0] * len(landmark_times))
        for j, lt in enumerate(landmark_times):
            km = curves.get(a)
            if km is None or lt > max(km.table["time"].max(), 0):
                lm_rows.append({"arm": a, "time": lt, "survival": np.nan, "lower": np.nan, "upper": np.nan,
                                "at_risk": float(at_risk_lm.iloc[j])})
                continue
            lo, hi = km.ci_at(lt)
            lm_rows.append({"arm": a, "time": lt, "survival": km.survival_at(lt), "lower": lo, "upper": hi,
                            "at_risk": float(at_risk_lm.iloc[j])})
    risk = pd.concat(rt_parts, ignore_index=True)
    landmark_table = pd.DataFrame(lm_rows, columns=["arm", "time", "survival", "lower", "upper", "at_risk"])
    hrs = _cox_arm_hrs(data, time, event, arms.reference, arms.non_reference, events)
    logrank = _logrank_summary(data, time, event, levels, events)
    if len(data) == 0:
        notes.append("No patient matches this selection.")
    return SurvivalView(
        selection=selection, arms=arms_table, curves=curves, landmarks=landmark_table,
        risk_table=risk, hazard_ratios=hrs, logrank=logrank, reference=arms.reference,
        levels=levels, n=int(len(data)), n_events=int(data[event].sum()) if len(data) else 0,
        n_without_arm=n_without, notes=tuple(notes),
    )


def _logrank_summary(data, time, event, levels, events) -> dict:
    present = [a for a in levels if (data[ARM_COLUMN] == a).any()]
    out = {"statistic": np.nan, "dof": np.nan, "p": np.nan, "note": ""}
    if len(present) < 2:
        out["note"] = "No log-rank test: fewer than two arms have patients."
        return out
    few = [a for a in present if events[a] < MIN_EVENTS]
    if few:
        out["note"] = ("No log-rank p-value: " + ", ".join(f"{a} has {int(events[a])} events" for a in few)
                       + f" (fewer than {MIN_EVENTS}).")
        return out
    sub = data[data[ARM_COLUMN].isin(present)]
    res = logrank_test(sub[time].to_numpy(float), sub[event].to_numpy(float), sub[ARM_COLUMN].to_numpy())
    out.update(statistic=res.statistic, dof=res.dof, p=res.p_value)
    return out


# ----------------------------------------------------------------------------------------------
# Subgroups page: forest plot
# ----------------------------------------------------------------------------------------------
FOREST_VARIABLES: tuple[tuple[str, str, tuple], ...] = (
    ("age_lt_55", "Age", ((True, "Age < 55"), (False, "Age ≥ 55"))),
    ("hr_positive", "ER/PR status", ((True, "ER/PR+"), (False, "ER/PR−"))),
    ("her2_positive", "HER2 status", ((True, "HER2+"), (False, "HER2−"))),
    ("mdfi_gt_24", "MDFI", ((True, "MDFI > 24 months"), (False, "MDFI ≤ 24 months"))),
    ("site", "Metastasis site", tuple((lvl, schema.LEVEL_LABELS.get("site", {}).get(lvl, lvl))
                                      for lvl in schema.SITE_LEVELS)),
    ("menopause", "Menopausal status", (("pre", "Premenopausal"), ("post", "Postmenopausal"))),
    ("nodal_status", "Nodal status", tuple((lvl, lvl) for lvl in ("N0", "N1", "N2", "N3", "NX"))),
)
"""Subgroup variables of the forest plot: (column, label, ((value, level label), ...))."""

_COMPARISON_COLUMN = {"group": "group", "age_lt_55": "age_lt_55", "hr_positive": "hr_positive",
                      "her2_positive": "her2_positive", "mdfi_gt_24": "mdfi_gt_24",
                      "menopause": "menopause", "mets_biopsy": "mets_biopsy", "site": "site"}


@dataclass(frozen=True)
class ForestView:
    """HR of the comparison within each level of each subgroup variable.

    Attributes
    ----------
    table : DataFrame
        One row per subgroup level, "All patients" first. Columns ``variable, variable_label,
        level, level_label, n_<arm>, events_<arm>`` (for the two arms, ``arm_a`` = compared arm,
        ``arm_b`` = reference), ``hr, hr_lower, hr_upper, p, p_interaction, note``.
        ``p_interaction`` (likelihood-ratio test of the arm x subgroup terms in a Cox model) is
        repeated on every row of its variable.
    arm_a, arm_b : str
        The compared arm and the reference arm.
    note : str
        Why no forest plot can be drawn (e.g. a comparison with more than two arms).
    """

    table: pd.DataFrame
    arm_a: str
    arm_b: str
    note: str = ""


def forest_view(frame: pd.DataFrame, selection: Selection) -> ForestView:
    """Subgroup hazard ratios with interaction tests, as oncology trial reports draw them.

    Returns
    -------
    ForestView
        ``.table`` with columns ``variable, variable_label, level, level_label, n_a, events_a,
        n_b, events_b, hr, hr_lower, hr_upper, p, p_interaction, note`` (``a`` = compared arm,
        ``b`` = reference arm).
    """
    data, arms, _ = _subset_with_arms(frame, selection)
    columns = ["variable", "variable_label", "level", "level_label", "n_a", "events_a", "n_b",
               "events_b", "hr", "hr_lower", "hr_upper", "p", "p_interaction", "note"]
    if len(arms.levels) != 2:
        return ForestView(pd.DataFrame(columns=columns), "", "",
                          note="The forest plot compares two arms; choose a two-arm comparison "
                               "(the metastasis-site comparison has five).")
    arm_b = arms.reference
    arm_a = [a for a in arms.levels if a != arm_b][0]
    time, event = selection.time_column, selection.event_column
    skip = _COMPARISON_COLUMN.get(selection.comparison)
    rows = [_forest_row(data, "all", "All patients", "all", "All patients", arm_a, arm_b, time, event)]
    for variable, var_label, levels in FOREST_VARIABLES:
        if variable == skip or variable not in data.columns:
            continue
        var_rows = []
        for value, level_label in levels:
            mask = data[variable].eq(value).fillna(False).to_numpy(dtype=bool)
            var_rows.append(_forest_row(data.loc[mask], variable, var_label, _level_key(value),
                                        level_label, arm_a, arm_b, time, event))
        p_int, note = _interaction_p(data, variable, levels, var_rows, arm_a, time, event)
        for r in var_rows:
            r["p_interaction"] = p_int
            if note and not r["note"]:
                r["note"] = note
        rows.extend(var_rows)
    table = pd.DataFrame(rows, columns=columns)
    return ForestView(table=table, arm_a=arm_a, arm_b=arm_b)


def _level_key(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value)


def _forest_row(data, variable, var_label, level, level_label, arm_a, arm_b, time, event) -> dict:
    counts = _counts_by_arm(data, (arm_a, arm_b))
    events = _events_by_arm(data, event, (arm_a, arm_b))
    hr = _cox_arm_hrs(data, time, event, arm_b, [arm_a], events).iloc[0]
    return {"variable": variable, "variable_label": var_label, "level": level,
            "level_label": level_label, "n_a": int(counts[arm_a]), "events_a": int(events[arm_a]),
            "n_b": int(counts[arm_b]), "events_b": int(events[arm_b]), "hr": hr["hr"],
            "hr_lower": hr["hr_lower"], "hr_upper": hr["hr_upper"], "p": hr["p"],
            "p_interaction": np.nan, "note": hr["note"]}


def _interaction_p(data, variable, levels, var_rows, arm_a, time, event) -> tuple[float, str]:
    """LR test of arm x level terms, over the levels whose own HR is estimable."""
    usable = [value for (value, _), r in zip(levels, var_rows) if np.isfinite(r["hr"])]
    if len(usable) < 2:
        return np.nan, "No interaction test: fewer than two levels with enough events in both arms."
    mask = data[variable].isin(usable).to_numpy(dtype=bool)
    sub = data.loc[mask]
    design = pd.DataFrame({"arm": (sub[ARM_COLUMN] == arm_a).astype(float).to_numpy(),
                           "time": sub[time].to_numpy(float), "event": sub[event].to_numpy(float)})
    level_cols, inter_cols = [], []
    for i, value in enumerate(usable[1:]):
        col = (sub[variable] == value).astype(float).to_numpy()
        design[f"lvl{i}"] = col
        design[f"int{i}"] = col * design["arm"].to_numpy()
        level_cols.append(f"lvl{i}")
        inter_cols.append(f"int{i}")
    try:
        reduced = cox_regression(design, time="time", event="event", covariates=["arm", *level_cols])
        full = cox_regression(design, time="time", event="event", covariates=["arm", *level_cols, *inter_cols])
    except (SurvivalInputError, np.linalg.LinAlgError):
        return np.nan, "No interaction test: the Cox model could not be fitted."
    chi = max(2 * (full.log_likelihood - reduced.log_likelihood), 0.0)
    return float(stats.chi2.sf(chi, len(inter_cols))), ""


# ----------------------------------------------------------------------------------------------
# Cox models page (the paper's Table 2)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoxCandidate:
    """A covariate of Table 2: its column, display label, levels and default reference."""

    variable: str
    label: str
    levels: tuple  # ((stored value, level label), ...), reference included
    reference: object
    binary: bool


COX_CANDIDATES: tuple[CoxCandidate, ...] = (
    CoxCandidate("group", "Intervention for metastases", (("IT", "IT"), ("ST", "ST")), "ST", True),
    CoxCandidate("mdfi_gt_24", "MDFI > 24 months", ((True, "MDFI > 24 months"), (False, "MDFI ≤ 24 months")), False, True),
    CoxCandidate("age_lt_55", "Age < 55", ((True, "Age < 55"), (False, "Age ≥ 55")), False, True),
    CoxCandidate("menopause", "Premenopausal", (("pre", "Premenopausal"), ("post", "Postmenopausal")), "post", True),
    CoxCandidate("hr_positive", "ER/PR+", ((True, "ER/PR+"), (False, "ER/PR−")), False, True),
    CoxCandidate("her2_positive", "HER2+", ((True, "HER2+"), (False, "HER2−")), False, True),
    CoxCandidate("breast_surgery", "Primary breast surgery",
                 (("mastectomy", "Mastectomy"), ("segmental", "Segmental mastectomy")), "segmental", False),
    CoxCandidate("site", "Metastasis site",
                 tuple((lvl, schema.LEVEL_LABELS.get("site", {}).get(lvl, lvl)) for lvl in schema.SITE_LEVELS),
                 "lung", False),
    CoxCandidate("nodal_status", "Lymph node status",
                 tuple((lvl, lvl) for lvl in ("N0", "N1", "N2", "N3")), "N0", False),
)
"""Candidate covariates of the Cox models page, in the paper's Table 2 order. NX (nodes not
assessed) is treated as unknown in the nodal-status model, as the paper's Table 2 does."""

CANDIDATES_BY_NAME = {c.variable: c for c in COX_CANDIDATES}


@dataclass(frozen=True)
class CoxView:
    """Uni- and multivariable Cox models (the paper's Table 2) for the selected subgroup.

    Attributes
    ----------
    table : DataFrame
        One row per term (a binary covariate, or a level of a categorical one against its
        reference). Columns ``variable, label, level, level_label, reference_label, n, events,
        hr, hr_lower, hr_upper, p, variable_p`` (univariable; ``variable_p`` is the LR test of
        the variable), ``in_model`` (bool), ``hr_adj, hr_adj_lower, hr_adj_upper, p_adj``
        (multivariable; NaN when not in the model), ``ph_chisq, ph_df, ph_p, ph_flag`` (scaled
        Schoenfeld test of the variable, from the multivariable model when it is in it, else from
        its univariable model) and ``note``.
    model_variables : tuple of str
        Covariates of the multivariable model.
    model_rule : str
        How they were chosen ("user" or "univariable p < 0.05").
    model_n, model_events : int
        Complete cases used by the multivariable model.
    global_ph : dict
        ``chisq, df, p`` of the multivariable model's global PH test (NaN when no model).
    notes : tuple of str
    """

    table: pd.DataFrame
    model_variables: tuple
    model_rule: str
    model_n: int
    model_events: int
    global_ph: dict
    notes: tuple = field(default_factory=tuple)


def _design(data: pd.DataFrame, cand: CoxCandidate, reference) -> tuple[pd.DataFrame, list, pd.Series]:
    """0/1 columns for every non-reference level present, and the rows with a known value."""
    col = data[cand.variable]
    known = col.isin([v for v, _ in cand.levels]).to_numpy(dtype=bool)
    terms = []
    out = {}
    for value, label in cand.levels:
        if _same(value, reference):
            continue
        name = f"{cand.variable}={_level_key(value)}"
        out[name] = col.eq(value).fillna(False).to_numpy(dtype=float)
        terms.append((name, value, label))
    return pd.DataFrame(out, index=data.index), terms, pd.Series(known, index=data.index)


def _same(a, b) -> bool:
    return (a is b) or (type(a) is type(b) and a == b) or (isinstance(a, (bool, np.bool_)) and isinstance(b, (bool, np.bool_)) and bool(a) == bool(b))


def cox_view(frame: pd.DataFrame, selection: Selection, *, model: Sequence[str] | str = "paper",
             references: Mapping[str, object] | None = None,
             candidates: Sequence[str] | None = None) -> CoxView:
    """Univariable Cox model for each candidate covariate and one multivariable model.

    Parameters
    ----------
    frame : DataFrame
    selection : Selection
        Subgroup and endpoint (the comparison switch does not change Table 2).
    model : "paper" or list of str
        "paper": the variables with a univariable p < 0.05 for any level (the paper's rule);
        otherwise the variables to adjust for.
    references : mapping, optional
        Reference level per categorical variable (e.g. ``{"site": "liver"}``).
    candidates : list of str, optional
        Candidate variables (default all of :data:`COX_CANDIDATES`).

    Returns
    -------
    CoxView
    """
    references = dict(references or {})
    data = selection.subgroup.apply(frame)
    time, event = selection.time_column, selection.event_column
    names = list(candidates) if candidates is not None else [c.variable for c in COX_CANDIDATES]
    cands = [CANDIDATES_BY_NAME[n] for n in names if n in CANDIDATES_BY_NAME and n in data.columns]
    rows: list[dict] = []
    univariable_ph: dict[str, tuple] = {}
    significant: list[str] = []
    notes: list[str] = []
    for cand in cands:
        ref = references.get(cand.variable, cand.reference)
        ref_label = dict((_level_key(v), l) for v, l in cand.levels).get(_level_key(ref), str(ref))
        design, terms, known = _design(data, cand, ref)
        sub = data.loc[known.to_numpy()]
        X = design.loc[known.to_numpy()]
        ev = sub[event].to_numpy(float)
        ref_events = ev[(X.sum(axis=1) == 0).to_numpy()].sum() if len(terms) else ev.sum()
        estimable = []
        term_rows = []
        for name, value, label in terms:
            lvl_events = ev[X[name].to_numpy() == 1].sum()
            row = {"variable": cand.variable, "label": cand.label, "level": _level_key(value),
                   "level_label": label, "reference_label": ref_label,
                   "n": int(len(sub)), "events": int(ev.sum()), "hr": np.nan, "hr_lower": np.nan,
                   "hr_upper": np.nan, "p": np.nan, "variable_p": np.nan, "note": ""}
            if lvl_events < MIN_EVENTS or ref_events < MIN_EVENTS:
                row["note"] = (f"Not estimated: {int(lvl_events)} events in {label} and "
                               f"{int(ref_events)} in {ref_label} (need {MIN_EVENTS} each).")
            else:
                estimable.append(name)
            term_rows.append(row)
        if estimable:
            keep = (X[estimable].sum(axis=1) > 0) | (X.sum(axis=1) == 0)
            fit_frame = X.loc[keep, estimable].copy()
            fit_frame["time"] = sub.loc[keep.to_numpy(), time].to_numpy(float)
            fit_frame["event"] = sub.loc[keep.to_numpy(), event].to_numpy(float)
            try:
                fit = cox_regression(fit_frame, time="time", event="event", covariates=estimable)
                lr_p = fit.lr_test[2]
                ph = proportional_hazards_test(fit, terms={cand.variable: estimable})
                univariable_ph[cand.variable] = tuple(ph.loc[cand.variable, ["chisq", "df", "p"]])
                for row, (name, _, _) in zip(term_rows, terms):
                    if name in estimable:
                        s = fit.summary.loc[name]
                        row.update(hr=s["hr"], hr_lower=s["hr_lower"], hr_upper=s["hr_upper"], p=s["p"],
                                   variable_p=lr_p, n=int(fit.n), events=int(fit.n_events))
                        if fit.warnings:
                            row["note"] = " ".join(fit.warnings)
                if (fit.summary["p"] < 0.05).any():
                    significant.append(cand.variable)
            except (SurvivalInputError, np.linalg.LinAlgError) as exc:
                for row in term_rows:
                    row["note"] = row["note"] or f"Not estimated: {exc}"
        elif not terms:
            notes.append(f"{cand.label}: only the reference level is present in this subgroup.")
        if not terms:
            term_rows.append({"variable": cand.variable, "label": cand.label, "level": "",
                              "level_label": "", "reference_label": ref_label, "n": int(len(sub)),
                              "events": int(ev.sum()), "hr": np.nan, "hr_lower": np.nan, "hr_upper": np.nan,
                              "p": np.nan, "variable_p": np.nan,
                              "note": "Not estimated: one level only in this subgroup."})
        rows.extend(term_rows)
    table = pd.DataFrame(rows)
    if model == "paper":
        model_vars, rule = significant, "univariable p < 0.05"
    else:
        model_vars, rule = [m for m in model if m in CANDIDATES_BY_NAME and m in data.columns], "user"
    for col in ("hr_adj", "hr_adj_lower", "hr_adj_upper", "p_adj", "ph_chisq", "ph_df", "ph_p"):
        table[col] = np.nan
    table["in_model"] = False
    table["ph_flag"] = ""
    model_n = model_events = 0
    global_ph = {"chisq": np.nan, "df": np.nan, "p": np.nan}
    fitted_vars: list[str] = []
    if model_vars:
        fit, columns, model_n, model_events, term_map, note = _multivariable(
            data, [CANDIDATES_BY_NAME[v] for v in model_vars], references, time, event)
        if note:
            notes.append(note)
        if fit is not None:
            fitted_vars = list(term_map)
            ph = proportional_hazards_test(fit, terms=term_map)
            global_ph = dict(ph.loc["GLOBAL", ["chisq", "df", "p"]])
            for i, row in table.iterrows():
                name = f"{row['variable']}={row['level']}"
                if name in fit.summary.index:
                    s = fit.summary.loc[name]
                    table.loc[i, ["hr_adj", "hr_adj_lower", "hr_adj_upper", "p_adj"]] = \
                        [s["hr"], s["hr_lower"], s["hr_upper"], s["p"]]
                if row["variable"] in term_map:
                    table.loc[i, "in_model"] = True
                    table.loc[i, ["ph_chisq", "ph_df", "ph_p"]] = list(ph.loc[row["variable"], ["chisq", "df", "p"]])
    for i, row in table.iterrows():
        if not row["in_model"] and row["variable"] in univariable_ph:
            table.loc[i, ["ph_chisq", "ph_df", "ph_p"]] = list(univariable_ph[row["variable"]])
    table["ph_flag"] = np.where(table["ph_p"] < 0.05, "PH doubtful (p < 0.05)",
                                np.where(table["ph_p"].notna(), "OK", ""))
    return CoxView(table=table, model_variables=tuple(fitted_vars), model_rule=rule, model_n=int(model_n),
                   model_events=int(model_events), global_ph=global_ph, notes=tuple(notes))


def _multivariable(data, cands, references, time, event):
    """Fit the multivariable model on complete cases; levels with < MIN_EVENTS events dropped."""
    known = np.ones(len(data), dtype=bool)
    blocks = []
    for cand in cands:
        ref = references.get(cand.variable, cand.reference)
        design, terms, k = _design(data, cand, ref)
        known &= k.to_numpy()
        blocks.append((cand, design, terms))
    sub = data.loc[known]
    ev = sub[event].to_numpy(float)
    columns, term_map = [], {}
    frame = pd.DataFrame(index=sub.index)
    for cand, design, terms in blocks:
        X = design.loc[known]
        usable = [name for name, _, _ in terms if ev[X[name].to_numpy() == 1].sum() >= MIN_EVENTS]
        if usable:
            for name in usable:
                frame[name] = X[name].to_numpy()
            columns.extend(usable)
            term_map[cand.variable] = usable
    if not columns:
        return None, [], int(len(sub)), int(ev.sum()), {}, "No multivariable model: no covariate has enough events."
    frame["time"] = sub[time].to_numpy(float)
    frame["event"] = ev
    try:
        fit = cox_regression(frame, time="time", event="event", covariates=columns)
    except (SurvivalInputError, np.linalg.LinAlgError) as exc:
        return None, [], int(len(sub)), int(ev.sum()), {}, f"No multivariable model: {exc}"
    dropped = int((~known).sum())
    note = f"Multivariable model: {dropped} patient(s) with a missing covariate left out." if dropped else ""
    return fit, columns, int(fit.n), int(fit.n_events), term_map, note


# ----------------------------------------------------------------------------------------------
# Table 1 page
# ----------------------------------------------------------------------------------------------
def table_one_view(frame: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    """Table 1 of the comparison's arms within the selected subgroup.

    Returns
    -------
    DataFrame
        As :func:`imet_core.table_one.table_one` (columns ``variable, label, level, ...,
        p_value, test, smd``), groups = the comparison's arms in display order.
    """
    data, arms, _ = _subset_with_arms(frame, selection)
    column = _COMPARISON_COLUMN.get(selection.comparison)
    from imet_core.table_one import DEFAULT_VARIABLES
    variables = [v for v in DEFAULT_VARIABLES if v != column and v in data.columns]
    if selection.comparison != "group" and "group" in data.columns:
        variables = ["group", *variables]
    return table_one(data, group=ARM_COLUMN, variables=variables, group_levels=list(arms.levels))


# ----------------------------------------------------------------------------------------------
# Overview page
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OverviewView:
    """Cohort and subgroup at a glance.

    Attributes
    ----------
    cohort : dict
        ``n, n_events, centers, first_metastasis, last_metastasis`` of the whole registry.
    arms : DataFrame
        Indexed by arm, columns ``n, events, median_follow_up, follow_up_q1, follow_up_q3``
        (months; reverse Kaplan-Meier, Schemper & Smith 1996) for the selected subgroup.
    flow : DataFrame
        ``step, label, n_remaining, n_removed`` from the whole cohort to the subgroup.
    """

    cohort: dict
    arms: pd.DataFrame
    flow: pd.DataFrame
    n: int
    n_events: int


def reverse_km_follow_up(time: np.ndarray, event: np.ndarray) -> tuple[float, float, float]:
    """Median (and quartiles) of follow-up by the reverse Kaplan-Meier: censoring is the event."""
    if len(time) == 0:
        return np.nan, np.nan, np.nan
    km = kaplan_meier(time, 1 - np.asarray(event, dtype=float))
    tab = km.table
    def q(p):
        below = tab.loc[tab["survival"] <= 1 - p + 1e-12, "time"]
        return float(below.iloc[0]) if len(below) else np.nan
    return km.median, q(0.25), q(0.75)


def overview_view(frame: pd.DataFrame, selection: Selection) -> OverviewView:
    """Cohort size, arms, deaths and follow-up, and the filter flow.

    Returns
    -------
    OverviewView
    """
    data, arms, _ = _subset_with_arms(frame, selection)
    time, event = selection.time_column, selection.event_column
    cohort = {"n": int(len(frame)), "n_events": int(frame[event].sum()),
              "centers": int(frame["center"].nunique()) if "center" in frame else 0}
    if "date_metastasis" in frame and frame["date_metastasis"].notna().any():
        cohort["first_metastasis"] = frame["date_metastasis"].min()
        cohort["last_metastasis"] = frame["date_metastasis"].max()
    rows = []
    for a in arms.levels:
        sub = data[data[ARM_COLUMN] == a]
        med, q1, q3 = reverse_km_follow_up(sub[time].to_numpy(float), sub[event].to_numpy(float))
        rows.append({"arm": a, "n": int(len(sub)), "events": int(sub[event].sum()),
                     "median_follow_up": med, "follow_up_q1": q1, "follow_up_q3": q3})
    return OverviewView(cohort=cohort, arms=pd.DataFrame(rows).set_index("arm"),
                        flow=selection.subgroup.flow(frame), n=int(len(data)),
                        n_events=int(data[event].sum()) if len(data) else 0)
