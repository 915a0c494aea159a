"""Everything a dashboard view shows, computed once per (registry, selection).

Each ``*_view`` function takes a loaded registry frame (``imet_core.io.load_registry``) and a
:class:`imet_core.subgroups.Selection`, and returns a frozen result of DataFrames with fixed,
documented columns. Pages, exports and the command line draw from these results and never call
the statistics themselves, so the Survival page, the slide deck and the HTML report cannot
disagree. Nothing here rounds; small subgroups give NaN and a plain note, never an exception.

The small-subgroup rule (issue 4): when an arm of the comparison has fewer than ``MIN_EVENTS``
events (or no patients), no hazard ratio and no p-value is reported for it. Covariates of the
Cox models page (the paper's Table 2) are estimated whenever a level and its reference both have
events, as R does, with a caution note below ``MIN_EVENTS``.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from imet_core import schema
from imet_core.subgroups import COMPARISONS, Selection
from imet_core.survival import (
    KaplanMeierResult, SurvivalInputError, _chi2_sf, cox_fit_arrays, kaplan_meier, logrank_test, risk_table,
)
from imet_core.table_one import DEFAULT_VARIABLES, table_one

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
class _Arrays:
    """One subgroup's rows as numpy arrays (taken lazily, column by column, from the registry),
    with each row's arm of the comparison, so the many small models of a view avoid pandas.

    Built once per (registry, subgroup, comparison, endpoint) and shared by every view of a
    filter change (see :func:`_prepare`)."""

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray, arm: np.ndarray, levels: Sequence[str],
                 reference: str, time: str, event: str, n_without_arm: int = 0):
        # a weak reference: the memo below must never keep a registry (e.g. a replaced upload)
        # alive; views use these arrays while their caller still holds the frame
        self._frame_ref = weakref.ref(frame)
        self.rows = rows
        self.arm = arm
        self.levels = tuple(levels)
        self.reference = reference
        self.n_without_arm = n_without_arm
        self._columns: dict[str, np.ndarray] = {}
        self.time = self._take(time).astype(float, copy=False) if rows.size else np.zeros(0)
        self.event = self._take(event).astype(float, copy=False) if rows.size else np.zeros(0)

    def __len__(self) -> int:
        return int(self.rows.size)

    def time_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct times, each row's index into them), computed once: every Cox model
        of the views then counts on this grid instead of sorting its rows again."""
        if getattr(self, "_codes", None) is None:
            self._grid, self._codes = np.unique(self.time, return_inverse=True)
        return self._grid, self._codes

    def cox(self, rows: np.ndarray, x: np.ndarray, **kwargs):
        """Cox model (:func:`cox_fit_arrays`) on ``rows`` (indices or a mask) of these arrays."""
        grid, codes = self.time_codes()
        return cox_fit_arrays(self.time[rows], self.event[rows], x, time_codes=codes[rows],
                              time_grid=grid, **kwargs)

    @property
    def frame(self) -> pd.DataFrame:
        frame = self._frame_ref()
        if frame is None:
            raise RuntimeError("the registry these arrays were taken from no longer exists")
        return frame

    def has(self, name: str) -> bool:
        return name in self.frame.columns

    def _take(self, name: str) -> np.ndarray:
        return self.frame[name].to_numpy()[self.rows]

    def column(self, name: str) -> np.ndarray:
        """The column at these rows, kept for the next call unless it is text (object dtype:
        8 bytes a row; :meth:`equals` keeps the level masks it needs instead)."""
        if name in self._columns:
            return self._columns[name]
        values = self._take(name)
        if values.dtype != object:
            self._columns[name] = values
        return values

    def nbytes(self) -> int:
        """Bytes of the numpy arrays held (rows, arms, times, kept columns and masks)."""
        total = 0
        for value in vars(self).values():
            items = value.values() if isinstance(value, dict) else (value,)
            total += sum(item.nbytes for item in items if isinstance(item, np.ndarray))
        return total

    def equals(self, name: str, value) -> np.ndarray:
        key = (name, type(value).__name__, value)
        cache = self.__dict__.setdefault("_equals_cache", {})
        if key not in cache:  # the forest and Table 2 test the same levels: compare once
            cache[key] = self._equals(name, value)
        return cache[key]

    def _equals(self, name: str, value) -> np.ndarray:
        if self.frame[name].dtype == object:  # text: compare the registry's value codes
            codes, distinct = _factorized(self.frame, name)
            is_bool = isinstance(value, (bool, np.bool_))
            matching = [i for i, v in enumerate(distinct) if (is_bool and v is value) or v == value]
            selected = codes[self.rows]
            if len(matching) == 1:
                return selected == matching[0]
            return np.isin(selected, matching)
        col = self.column(name)
        if isinstance(value, (bool, np.bool_)):
            return col == value if col.dtype == bool else np.array([v is value or v == value
                                                                      for v in col], dtype=bool)
        return col == value

    def subframe(self, columns: Sequence[str]) -> pd.DataFrame:
        """The chosen columns of these rows as a DataFrame, with the arm label column."""
        frame = self.frame
        present = [c for c in dict.fromkeys(columns) if c in frame.columns]
        # only the chosen columns' rows are copied (``frame.iloc[rows]`` would copy every
        # column of the registry first: 0.4 GB for a million patients)
        out = pd.DataFrame({c: _take_rows(frame[c], self.rows) for c in present},
                           index=pd.RangeIndex(len(self)), columns=present, copy=False)
        labels = np.array(self.levels, dtype=object)
        out[ARM_COLUMN] = labels[self.arm] if len(self.levels) else np.array([], dtype=object)
        return out

    def counts(self, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(patients, events) per arm, in level order."""
        arm = self.arm if mask is None else self.arm[mask]
        ev = self.event if mask is None else self.event[mask]
        k = len(self.levels)
        ok = arm >= 0
        return (np.bincount(arm[ok], minlength=k).astype(int),
                np.bincount(arm[ok], weights=ev[ok], minlength=k).astype(int))


def _take_rows(column: pd.Series, rows: np.ndarray):
    """The column's values at ``rows``, in its own dtype: numpy columns as numpy arrays (a
    DataFrame built from pandas' numpy wrapper scans object columns for missing values first)."""
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        return column.array.take(rows)
    return column.to_numpy().take(rows)


_FACTORIZED: "OrderedDict[int, tuple]" = OrderedDict()
_FACTORIZED_REGISTRIES = 4


def _factorized(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, list]:
    """(code per row, distinct values) of a text column, once per registry object: a subgroup's
    level masks are then comparisons of small integers, not of Python strings (a million-patient
    registry: about 10 ms less per level and selection). Held weakly, for a few registries."""
    entry = _FACTORIZED.get(id(frame))
    if entry is None or entry[0]() is not frame:
        entry = (weakref.ref(frame), {})
        _FACTORIZED[id(frame)] = entry
        while len(_FACTORIZED) > _FACTORIZED_REGISTRIES:
            _FACTORIZED.popitem(last=False)
    _FACTORIZED.move_to_end(id(frame))
    columns = entry[1]
    if name not in columns:
        codes, distinct = pd.factorize(frame[name].to_numpy(), use_na_sentinel=True)
        dtype = np.int8 if len(distinct) < 127 else np.int32
        columns[name] = (codes.astype(dtype), list(distinct))
    return columns[name]


_PREPARED: "OrderedDict[tuple, tuple]" = OrderedDict()
_PREPARED_SIZE = 16
_PREPARED_BYTES = 256 * 1024 * 1024  # entries other than the newest hold at most this together


def _prepare(frame: pd.DataFrame, selection: Selection, *, with_arms: bool = True) -> _Arrays:
    """The subgroup's rows and arms, memoised per registry object and selection: a filter change
    computes this once for all views instead of once per view. Registry frames are never
    modified in place (loaded frames are treated as immutable), and the memo holds only a weak
    reference to each, so an entry is used only while it refers to the very same frame."""
    key = (id(frame), len(frame), selection.subgroup, selection.comparison if with_arms else None,
           selection.endpoint)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0]() is frame:
        _PREPARED.move_to_end(key)
        return hit[1]
    mask = selection.subgroup.mask(frame)
    if with_arms:
        spec = COMPARISONS[selection.comparison]
        values = frame[spec.column].to_numpy()
        codes = np.full(len(frame), -1, dtype=np.int64)
        for code, (stored, _) in enumerate(spec.arms):
            equal = values == stored
            if isinstance(stored, (bool, np.bool_)) and values.dtype != bool:
                equal = np.array([v is stored or v == stored for v in values], dtype=bool)
            codes[equal & (codes < 0)] = code
        in_arm = mask & (codes >= 0)
        rows = np.nonzero(in_arm)[0]
        levels = tuple(label for _, label in spec.arms)
        arrays = _Arrays(frame, rows, codes[rows], levels, spec.reference, selection.time_column,
                         selection.event_column, int((mask & (codes < 0)).sum()))
    else:
        rows = np.nonzero(mask)[0]
        arrays = _Arrays(frame, rows, np.zeros(rows.size, dtype=np.int64), ("",), "",
                         selection.time_column, selection.event_column)
    _PREPARED[key] = (weakref.ref(frame), arrays)
    while len(_PREPARED) > _PREPARED_SIZE:
        _PREPARED.popitem(last=False)
    # Older entries (earlier selections, registries no longer loaded) are dropped, oldest first,
    # until they hold at most _PREPARED_BYTES: a selection of a million-patient registry holds
    # ~70 MB, and sixteen of them would keep a gigabyte for selections the app has cached anyway.
    older = list(_PREPARED)[:-1]
    held = sum(_PREPARED[k][1].nbytes() for k in older if _PREPARED[k][0]() is not None)
    for k in older:
        if _PREPARED[k][0]() is None:
            del _PREPARED[k]
        elif held > _PREPARED_BYTES:
            held -= _PREPARED.pop(k)[1].nbytes()
    return arrays


def risk_times(max_time: float) -> np.ndarray:
    """Regular times for an at-risk table: steps of 12, 24, 36 or 60 months, at most 11 columns."""
    if not np.isfinite(max_time) or max_time <= 0:
        return np.array([0.0])
    for step in (12.0, 24.0, 36.0, 60.0, 120.0):
        if max_time / step <= 10:
            break
    return np.arange(0.0, np.floor(max_time / step) * step + step / 2, step)


def _arm_hrs(arrays: _Arrays, mask: np.ndarray | None, reference: int, others: Sequence[int],
             events: np.ndarray | None = None) -> list[dict]:
    """HR of each arm in ``others`` versus ``reference`` from one Cox model of the eligible arms
    (rows in ``mask``). Arms with fewer than MIN_EVENTS events are left out with a note.
    ``events``: the arms' event counts in ``mask`` when the caller has them already."""
    levels = arrays.levels
    if events is None:
        _, events = arrays.counts(mask)
    arm = arrays.arm if mask is None else arrays.arm[mask]
    ref_ok = events[reference] >= MIN_EVENTS
    eligible = [a for a in others if events[a] >= MIN_EVENTS]
    fit = None
    error = ""
    if ref_ok and eligible:
        keep = np.isin(arm, [reference, *eligible])
        x = np.column_stack([(arm[keep] == a).astype(float) for a in eligible])
        rows = (np.arange(arrays.time.size) if mask is None else np.nonzero(mask)[0])[keep]
        try:
            fit = arrays.cox(rows, x)
        except (SurvivalInputError, np.linalg.LinAlgError, ValueError) as exc:
            error = str(exc)
    rows = []
    for a in others:
        row = {"arm": levels[a], "reference": levels[reference], "hr": np.nan, "hr_lower": np.nan,
               "hr_upper": np.nan, "p": np.nan, "note": ""}
        if not ref_ok:
            row["note"] = (f"No hazard ratio: the reference arm ({levels[reference]}) has "
                           f"{int(events[reference])} events (fewer than {MIN_EVENTS}).")
        elif a not in eligible:
            row["note"] = (f"No hazard ratio: {levels[a]} has {int(events[a])} events "
                           f"(fewer than {MIN_EVENTS}).")
        elif fit is None:
            row["note"] = f"No hazard ratio: the Cox model could not be fitted ({error})."
        else:
            j = eligible.index(a)
            row.update(hr=fit.hr[j], hr_lower=fit.hr_lower[j], hr_upper=fit.hr_upper[j], p=fit.p[j])
            if fit.warnings:
                row["note"] = " ".join(fit.warnings)
        rows.append(row)
    return rows


HR_COLUMNS = ["arm", "reference", "hr", "hr_lower", "hr_upper", "p", "note"]


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
    arrays = _prepare(frame, selection)
    levels, n_without = arrays.levels, arrays.n_without_arm
    counts, events = arrays.counts()
    notes: list[str] = []
    if n_without:
        notes.append(f"{n_without} patient(s) have no value for the comparison and are not shown.")
    curves: dict[str, KaplanMeierResult] = {}
    arm_rows = []
    max_time = float(arrays.time.max()) if arrays.time.size else 0.0
    times = np.asarray(risk_at, dtype=float) if risk_at is not None else risk_times(max_time)
    landmark_times = [float(t) for t in landmarks]
    rt_parts, lm_rows = [], []
    for i, a in enumerate(levels):
        in_arm = arrays.arm == i
        t_arm, d_arm = arrays.time[in_arm], arrays.event[in_arm]
        row = {"arm": a, "n": int(counts[i]), "events": int(events[i]),
               "censored": int(counts[i] - events[i]), "median": np.nan,
               "median_lower": np.nan, "median_upper": np.nan}
        km = None
        if t_arm.size:
            km = kaplan_meier(t_arm, d_arm, conf_type=conf_type)
            curves[a] = km
            row.update(median=km.median, median_lower=km.median_lower, median_upper=km.median_upper)
        arm_rows.append(row)
        part = _risk_rows(t_arm, d_arm, times)
        part.insert(0, "arm", a)
        rt_parts.append(part)
        at_risk_lm = _risk_rows(t_arm, d_arm, landmark_times)["at_risk"].to_numpy()
        last = float(km.table["time"].max()) if km is not None else -np.inf
        for j, lt in enumerate(landmark_times):
            entry = {"arm": a, "time": lt, "survival": np.nan, "lower": np.nan, "upper": np.nan,
                     "at_risk": float(at_risk_lm[j])}
            if km is not None and lt <= last:
                lo, hi = km.ci_at(lt)
                entry.update(survival=km.survival_at(lt), lower=lo, upper=hi)
            lm_rows.append(entry)
    arms_table = pd.DataFrame(arm_rows).set_index("arm")
    risk = pd.concat(rt_parts, ignore_index=True)
    landmark_table = pd.DataFrame(lm_rows, columns=["arm", "time", "survival", "lower", "upper", "at_risk"])
    ref = levels.index(arrays.reference)
    hrs = pd.DataFrame(_arm_hrs(arrays, None, ref, [i for i in range(len(levels)) if i != ref]),
                       columns=HR_COLUMNS)
    logrank = _logrank_summary(arrays)
    if len(arrays) == 0:
        notes.append("No patient matches this selection.")
    return SurvivalView(
        selection=selection, arms=arms_table, curves=curves, landmarks=landmark_table,
        risk_table=risk, hazard_ratios=hrs, logrank=logrank, reference=arrays.reference,
        levels=levels, n=len(arrays), n_events=int(arrays.event.sum()),
        n_without_arm=n_without, notes=tuple(notes),
    )


def _risk_rows(time: np.ndarray, event: np.ndarray, at: Sequence[float]) -> pd.DataFrame:
    if time.size == 0:
        at = np.asarray(at, dtype=float)
        return pd.DataFrame({"time": at, "at_risk": np.zeros(at.size), "events": np.zeros(at.size),
                             "censored": np.zeros(at.size)})
    return risk_table(time, event, at)


def _logrank_summary(arrays: _Arrays) -> dict:
    counts, events = arrays.counts()
    present = [i for i in range(len(arrays.levels)) if counts[i] > 0]
    out = {"statistic": np.nan, "dof": np.nan, "p": np.nan, "note": ""}
    if len(present) < 2:
        out["note"] = "No log-rank test: fewer than two arms have patients."
        return out
    few = [i for i in present if events[i] < MIN_EVENTS]
    if few:
        out["note"] = ("No log-rank p-value: " + ", ".join(
            f"{arrays.levels[i]} has {int(events[i])} events" for i in few) + f" (fewer than {MIN_EVENTS}).")
        return out
    keep = arrays.arm >= 0
    res = logrank_test(arrays.time[keep], arrays.event[keep], arrays.arm[keep])
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
        ``p_interaction`` (Wald test of the arm x subgroup terms in a Cox model with arm, subgroup
        and their interaction) is repeated on every row of its variable.
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
    arrays = _prepare(frame, selection)
    columns = ["variable", "variable_label", "level", "level_label", "n_a", "events_a", "n_b",
               "events_b", "hr", "hr_lower", "hr_upper", "p", "p_interaction", "note"]
    if len(arrays.levels) != 2:
        return ForestView(pd.DataFrame(columns=columns), "", "",
                          note="The forest plot compares two arms; choose a two-arm comparison "
                               "(the metastasis-site comparison has five).")
    arm_b = arrays.reference
    arm_a = [a for a in arrays.levels if a != arm_b][0]
    ia, ib = arrays.levels.index(arm_a), arrays.levels.index(arm_b)
    skip = _COMPARISON_COLUMN.get(selection.comparison)
    rows = [_forest_row(arrays, None, "all", "All patients", "all", "All patients", ia, ib)]
    for variable, var_label, levels in FOREST_VARIABLES:
        if variable == skip or not arrays.has(variable):
            continue
        masks = [arrays.equals(variable, value) for value, _ in levels]
        var_rows = [_forest_row(arrays, mask, variable, var_label, _level_key(value), level_label, ia, ib)
                    for mask, (value, level_label) in zip(masks, levels)]
        p_int, note = _interaction_p(arrays, masks, var_rows, ia)
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


def _forest_row(arrays: _Arrays, mask, variable, var_label, level, level_label, ia, ib) -> dict:
    counts, events = arrays.counts(mask)
    hr = _arm_hrs(arrays, mask, ib, [ia], events)[0]
    return {"variable": variable, "variable_label": var_label, "level": level,
            "level_label": level_label, "n_a": int(counts[ia]), "events_a": int(events[ia]),
            "n_b": int(counts[ib]), "events_b": int(events[ib]), "hr": hr["hr"],
            "hr_lower": hr["hr_lower"], "hr_upper": hr["hr_upper"], "p": hr["p"],
            "p_interaction": np.nan, "note": hr["note"]}


def _interaction_p(arrays: _Arrays, masks, var_rows, ia) -> tuple[float, str]:
    """Wald test of the arm x level terms in one Cox model (arm + level + arm x level), over the
    levels whose own HR is estimable (Therneau & Grambsch section 3.4)."""
    usable = [m for m, r in zip(masks, var_rows) if np.isfinite(r["hr"])]
    if len(usable) < 2:
        return np.nan, "No interaction test: fewer than two levels with enough events in both arms."
    keep = np.logical_or.reduce(usable) & (arrays.arm >= 0)
    arm = (arrays.arm[keep] == ia).astype(float)
    level_cols = [m[keep].astype(float) for m in usable[1:]]
    x = np.column_stack([arm, *level_cols, *[c * arm for c in level_cols]])
    try:
        fit = arrays.cox(keep, x)
    except (SurvivalInputError, np.linalg.LinAlgError, ValueError):
        return np.nan, "No interaction test: the Cox model could not be fitted."
    k = len(level_cols)
    idx = np.arange(1 + k, 1 + 2 * k)
    b = fit.coef[idx]
    v = fit.var[np.ix_(idx, idx)]
    try:
        chi = float(b @ np.linalg.solve(v, b))
    except np.linalg.LinAlgError:
        return np.nan, "No interaction test: the interaction terms are not estimable."
    return float(_chi2_sf(chi, k)), ""


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

COX_TABLE_COLUMNS = ["variable", "label", "level", "level_label", "reference_label", "n", "events", "hr",
                     "hr_lower", "hr_upper", "p", "variable_p", "note", "in_model", "hr_adj", "hr_adj_lower",
                     "hr_adj_upper", "p_adj", "ph_chisq", "ph_df", "ph_p", "ph_flag"]


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


def _same(a, b) -> bool:
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return isinstance(a, (bool, np.bool_)) and isinstance(b, (bool, np.bool_)) and bool(a) == bool(b)
    return a == b


def _design(arrays: _Arrays, cand: CoxCandidate, reference) -> tuple[list, np.ndarray]:
    """[(term name, value, label, boolean column)] for every non-reference level, and the rows
    whose value is one of the candidate's levels (known)."""
    known = np.zeros(len(arrays.time), dtype=bool)
    terms = []
    for value, label in cand.levels:
        is_level = arrays.equals(cand.variable, value)
        known |= is_level
        if not _same(value, reference):
            terms.append((f"{cand.variable}={_level_key(value)}", value, label, is_level))
    return terms, known


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
    arrays = _prepare(frame, selection, with_arms=False)
    names = list(candidates) if candidates is not None else [c.variable for c in COX_CANDIDATES]
    cands = [CANDIDATES_BY_NAME[n] for n in names if n in CANDIDATES_BY_NAME and arrays.has(n)]
    rows: list[dict] = []
    univariable_ph: dict[str, tuple] = {}
    significant: list[str] = []
    notes: list[str] = []
    for cand in cands:
        rows.extend(_univariable_rows(arrays, cand, references, univariable_ph, significant, notes))
    if model == "paper":
        model_vars, rule = significant, "univariable p < 0.05"
    else:
        model_vars, rule = [m for m in model if m in CANDIDATES_BY_NAME and arrays.has(m)], "user"
    for row in rows:
        row.update(in_model=False, hr_adj=np.nan, hr_adj_lower=np.nan, hr_adj_upper=np.nan, p_adj=np.nan,
                   ph_chisq=np.nan, ph_df=np.nan, ph_p=np.nan)
    model_n = model_events = 0
    global_ph = {"chisq": np.nan, "df": np.nan, "p": np.nan}
    fitted_vars: list[str] = []
    if model_vars:
        result = _multivariable(arrays, [CANDIDATES_BY_NAME[v] for v in model_vars], references)
        if result["note"]:
            notes.append(result["note"])
        model_n, model_events = result["n"], result["events"]
        fit, columns, term_map = result["fit"], result["columns"], result["term_map"]
        if fit is not None:
            fitted_vars = list(term_map)
            global_ph = dict(zip(("chisq", "df", "p"), fit.ph["GLOBAL"]))
            position = {name: j for j, name in enumerate(columns)}
            for row in rows:
                j = position.get(f"{row['variable']}={row['level']}")
                if j is not None:
                    row.update(hr_adj=fit.hr[j], hr_adj_lower=fit.hr_lower[j], hr_adj_upper=fit.hr_upper[j],
                               p_adj=fit.p[j])
                if row["variable"] in term_map:
                    row["in_model"] = True
                    row.update(zip(("ph_chisq", "ph_df", "ph_p"), fit.ph[row["variable"]]))
    for row in rows:
        if not row["in_model"] and row["variable"] in univariable_ph:
            row.update(zip(("ph_chisq", "ph_df", "ph_p"), univariable_ph[row["variable"]]))
        row["ph_flag"] = ("PH doubtful (p < 0.05)" if row["ph_p"] < 0.05
                          else "OK" if np.isfinite(row["ph_p"]) else "")
    table = pd.DataFrame(rows, columns=COX_TABLE_COLUMNS)
    return CoxView(table=table, model_variables=tuple(fitted_vars), model_rule=rule, model_n=int(model_n),
                   model_events=int(model_events), global_ph=global_ph, notes=tuple(notes))


def _univariable_rows(arrays: _Arrays, cand: CoxCandidate, references, univariable_ph, significant, notes):
    ref = references.get(cand.variable, cand.reference)
    ref_label = dict((_level_key(v), l) for v, l in cand.levels).get(_level_key(ref), str(ref))
    terms, known = _design(arrays, cand, ref)
    time, event = arrays.time[known], arrays.event[known]
    columns = [col[known] for _, _, _, col in terms]
    ref_rows = np.ones(time.size, dtype=bool)
    for col in columns:
        ref_rows &= ~col
    ref_events = event[ref_rows].sum()
    base = {"variable": cand.variable, "label": cand.label, "reference_label": ref_label,
            "n": int(time.size), "events": int(event.sum()), "hr": np.nan, "hr_lower": np.nan,
            "hr_upper": np.nan, "p": np.nan, "variable_p": np.nan, "note": ""}
    if not terms:
        notes.append(f"{cand.label}: only the reference level is present in this subgroup.")
        return [dict(base, level="", level_label="", note="Not estimated: one level only in this subgroup.")]
    rows, estimable = [], []
    for (name, value, label, _), col in zip(terms, columns):
        row = dict(base, level=_level_key(value), level_label=label)
        lvl_events = event[col].sum()
        if lvl_events == 0 or ref_events == 0:
            # a level (or reference) without events has an infinite hazard ratio: not estimable
            row["note"] = (f"Not estimated: {int(lvl_events)} events in {label} and "
                           f"{int(ref_events)} in {ref_label}.")
        else:
            estimable.append(len(rows))
            if min(lvl_events, ref_events) < MIN_EVENTS:
                row["note"] = (f"Few events ({int(lvl_events)} in {label}, {int(ref_events)} in "
                               f"{ref_label}): a very uncertain estimate.")
        rows.append(row)
    if not estimable:
        return rows
    x = np.column_stack([columns[j] for j in estimable])  # booleans: a narrow matrix to select from
    keep = x.any(axis=1) | ref_rows
    try:
        fit = arrays.cox(np.nonzero(known)[0][keep], x[keep].astype(float),
                         ph_terms={cand.variable: list(range(len(estimable)))})
    except (SurvivalInputError, np.linalg.LinAlgError, ValueError) as exc:
        for row in rows:
            row["note"] = row["note"] or f"Not estimated: {exc}"
        return rows
    lr_p = float(_chi2_sf(max(2 * (fit.log_likelihood - fit.log_likelihood_null), 0.0), len(estimable)))
    univariable_ph[cand.variable] = fit.ph[cand.variable]
    for j, r in enumerate(estimable):
        rows[r].update(hr=fit.hr[j], hr_lower=fit.hr_lower[j], hr_upper=fit.hr_upper[j], p=fit.p[j],
                       variable_p=lr_p, n=fit.n, events=fit.n_events)
        if fit.warnings:
            rows[r]["note"] = " ".join([rows[r]["note"], *fit.warnings]).strip()
    if (fit.p < 0.05).any():
        significant.append(cand.variable)
    return rows


def _multivariable(arrays: _Arrays, cands, references) -> dict:
    """Fit the multivariable model on complete cases; levels without events are left out."""
    known = np.ones(len(arrays.time), dtype=bool)
    blocks = []
    for cand in cands:
        terms, k = _design(arrays, cand, references.get(cand.variable, cand.reference))
        known &= k
        blocks.append((cand, terms))
    event = arrays.event[known]
    columns, term_map, matrix = [], {}, []
    for cand, terms in blocks:
        usable = [(name, col[known]) for name, _, _, col in terms]
        usable = [(name, col) for name, col in usable if event[col].sum() > 0]
        if usable:
            term_map[cand.variable] = [name for name, _ in usable]
            for name, col in usable:
                columns.append(name)
                matrix.append(col)
    out = {"fit": None, "columns": columns, "term_map": term_map, "n": int(known.sum()),
           "events": int(event.sum()), "note": ""}
    if not columns:
        out["note"] = "No multivariable model: no covariate has enough events."
        return out
    position = {name: j for j, name in enumerate(columns)}
    ph_terms = {variable: [position[n] for n in names] for variable, names in term_map.items()}
    try:
        fit = arrays.cox(known, np.column_stack(matrix).astype(float), ph_terms=ph_terms)
    except (SurvivalInputError, np.linalg.LinAlgError, ValueError) as exc:
        out["note"] = f"No multivariable model: {exc}"
        return out
    dropped = int((~known).sum())
    out.update(fit=fit, n=fit.n, events=fit.n_events,
               note=f"Multivariable model: {dropped} patient(s) with a missing covariate left out." if dropped else "")
    return out


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
    arrays = _prepare(frame, selection)
    column = _COMPARISON_COLUMN.get(selection.comparison)
    variables = [v for v in DEFAULT_VARIABLES if v != column and arrays.has(v)]
    if selection.comparison != "group" and arrays.has("group"):
        variables = ["group", *variables]
    data = arrays.subframe([*variables, "intervention", "group"])
    return table_one(data, group=ARM_COLUMN, variables=variables, group_levels=list(arrays.levels))


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
    arrays = _prepare(frame, selection)
    event = selection.event_column
    cohort = {"n": int(len(frame)), "n_events": int(frame[event].sum()),
              "centers": int(frame["center"].nunique()) if "center" in frame else 0}
    if "date_metastasis" in frame and frame["date_metastasis"].notna().any():
        cohort["first_metastasis"] = frame["date_metastasis"].min()
        cohort["last_metastasis"] = frame["date_metastasis"].max()
    rows = []
    for i, a in enumerate(arrays.levels):
        in_arm = arrays.arm == i
        med, q1, q3 = reverse_km_follow_up(arrays.time[in_arm], arrays.event[in_arm])
        rows.append({"arm": a, "n": int(in_arm.sum()), "events": int(arrays.event[in_arm].sum()),
                     "median_follow_up": med, "follow_up_q1": q1, "follow_up_q3": q3})
    return OverviewView(cohort=cohort, arms=pd.DataFrame(rows).set_index("arm"),
                        flow=selection.subgroup.flow(frame), n=len(arrays),
                        n_events=int(arrays.event.sum()))
