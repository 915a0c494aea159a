"""Delayed entry (left truncation): overall survival from diagnosis without immortal time.

A patient enters the IMET registry only when her first distant metastasis is diagnosed, but the
paper counts overall survival (OS) from breast cancer diagnosis.  Every registered patient has
therefore survived the whole diagnosis-to-metastasis interval (``entry_months``): that
interval is *immortal time*, during which no death can be observed.  The naive analysis puts
every patient at risk from month 0, so groups with long immortal time (MDFI > 24 months, and
an arm whose metastases came later) look better than they are.

The correction keeps OS from diagnosis but lets each patient enter the risk set only at her
metastasis diagnosis: she is at risk on ``(entry_months, os_months]`` (left truncation; Klein &
Moeschberger, *Survival Analysis* 2nd ed. 2003, section 4.6; Therneau & Grambsch 2000,
section 3.7; R: ``Surv(entry_months, os_months, dead)``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from imet_core.bias._common import (
    ArmLabels, cox_effect, effect_frame, event_indicator, join_notes, km_long, km_table,
    missing_columns, nan_effect, plural,
)
from imet_core.subgroups import COMPARISONS, comparison_arms

__all__ = ["ANALYSES", "MEDIAN_COLUMNS", "DelayedEntryResult", "delayed_entry_analysis"]

ANALYSES: tuple[str, ...] = ("naive", "delayed_entry")
"""Row labels of :attr:`DelayedEntryResult.estimates`."""

MEDIAN_COLUMNS: tuple[str, ...] = ("analysis", "arm", "n", "events", "median", "median_lower",
                                   "median_upper", "reliable_from")
"""Columns of :attr:`DelayedEntryResult.medians`."""

_TIME, _EVENT, _ENTRY = "os_months", "dead", "entry_months"


@dataclass(frozen=True)
class DelayedEntryResult:
    """Naive and delayed-entry overall survival for a two-arm comparison.

    Attributes
    ----------
    comparison : str
        Comparison key (``"group"`` for IT vs ST, ``"mdfi_gt_24"``, ...).
    treated, control : str
        Arm labels; hazard ratios are ``treated`` versus ``control`` (the reference).
    estimates : DataFrame
        Indexed by ``analysis`` (``naive``, ``delayed_entry``), columns
        :data:`imet_core.bias.EFFECT_COLUMNS` (``hr, hr_lower, hr_upper, p, coef, se, n, events,
        n_treated, events_treated, n_control, events_control, note``).
    km : DataFrame
        Kaplan-Meier curves, columns ``analysis, arm, time, at_risk, events, censored, survival,
        lower, upper`` (time in months from diagnosis; log-type 95% intervals).
    medians : DataFrame
        Columns ``analysis, arm, n, events, median, median_lower, median_upper, reliable_from``
        (the first curve time with at least ``min_at_risk`` patients at risk; NaN if never).
    entry : DataFrame
        Indexed by arm label and ``All``, columns ``n`` (patients), ``late_entrants`` (entry
        after diagnosis: ``entry_months > 0``), ``entry_median``, ``entry_min``, ``entry_max``
        (months from diagnosis to metastasis), ``immortal_months`` (sum of entry times: the
        person-months the naive analysis counts although no death could happen in them),
        ``followup_months`` (sum of ``os_months``), ``immortal_fraction``
        (``immortal_months / followup_months``).
    late_entrants : int
        Patients who enter after diagnosis (all of them in a metachronous registry).
    notes : tuple of str
        Plain-language remarks (rows left out and why).
    """

    comparison: str
    treated: str
    control: str
    estimates: pd.DataFrame
    km: pd.DataFrame
    medians: pd.DataFrame
    entry: pd.DataFrame
    late_entrants: int
    notes: tuple


def delayed_entry_analysis(frame: pd.DataFrame, *, comparison: str = "group",
                           alpha: float = 0.05, min_at_risk: int = 20) -> DelayedEntryResult:
    """Overall survival from diagnosis, naive and with delayed entry at metastasis, side by side.

    Parameters
    ----------
    frame : DataFrame
        A loaded registry frame (or a subgroup of it) with ``os_months``, ``dead``,
        ``entry_months`` and the comparison's column.
    comparison : str
        A two-arm comparison of :data:`imet_core.subgroups.COMPARISONS`: ``"group"`` (IT vs
        ST) or ``"mdfi_gt_24"`` (MDFI > 24 vs <= 24 months), ``"age_lt_55"``, ...
    alpha : float
        1 - confidence level.
    min_at_risk : int
        Risk-set size below which the start of a delayed-entry curve is flagged as resting on
        few patients (column ``reliable_from`` of ``medians``, and a note).

    Returns
    -------
    DelayedEntryResult
        ``estimates`` (rows ``naive``, ``delayed_entry``; Cox HR of the first arm vs the
        reference), ``km``, ``medians``, ``entry`` (late entrants and immortal time per arm).

    Raises
    ------
    ValueError
        For an unknown comparison or one with more than two arms (``site``).

    Notes
    -----
    How to read the delayed-entry curves: on the diagnosis time scale the first months have
    only the few patients whose metastasis came early in the risk set, so one early death moves
    the curve a lot; the curve answers "how fast do patients die at each time since diagnosis,
    among those already in the registry", not "what share of all patients is alive".  The
    hazard ratio is the main result; ``reliable_from`` says from when each curve rests on at
    least ``min_at_risk`` patients.

    Naive: ``coxph(Surv(os_months, dead) ~ arm)``; delayed entry:
    ``coxph(Surv(entry_months, os_months, dead) ~ arm)``.  A patient with no time at risk after
    entry (``os_months == entry_months``: death or last contact on the day of the metastasis
    diagnosis) cannot enter a left-truncated analysis and is left out of it, with a note.
    """
    spec = COMPARISONS.get(comparison)
    if spec is None:
        raise ValueError(f"comparison={comparison!r} is not allowed; allowed: {', '.join(COMPARISONS)}")
    if len(spec.arms) != 2:
        raise ValueError(f"comparison={comparison!r} has {len(spec.arms)} arms; delayed entry "
                         "compares two arms (choose a yes/no comparison)")
    labels = ArmLabels(treated=next(label for _, label in spec.arms if label != spec.reference),
                       control=spec.reference)
    notes: list[str] = []
    absent = missing_columns(frame, [_TIME, _EVENT, spec.column])
    if absent:
        return _empty_result(comparison, labels, f"The data has no column {', '.join(absent)}.")
    arms = comparison_arms(frame, comparison).arm
    in_arm = arms.notna().to_numpy()
    treated = (arms == labels.treated).to_numpy()
    event, event_known = event_indicator(frame, _EVENT)
    time = pd.to_numeric(frame[_TIME], errors="coerce").to_numpy(dtype=float)
    usable = in_arm & event_known & np.isfinite(time) & (time >= 0)
    left_out = int((~usable).sum())
    if left_out:
        notes.append(f"{plural(left_out, 'patient')} without arm, OS time or vital status left out")
    has_entry = _ENTRY in frame.columns
    entry = (pd.to_numeric(frame[_ENTRY], errors="coerce").to_numpy(dtype=float)
             if has_entry else np.full(len(frame), np.nan))
    entry_ok = usable & np.isfinite(entry) & (entry >= 0)
    truncated_ok = entry_ok & (entry < time)
    rows = {"naive": cox_effect(time[usable], event[usable], treated[usable], alpha=alpha, labels=labels)}
    if not entry_ok.any():
        rows["delayed_entry"] = nan_effect(
            "Not estimable: the data has no time from diagnosis to metastasis (entry_months), "
            "so delayed entry cannot be applied.")
    else:
        extra = []
        no_entry = int((usable & ~entry_ok).sum())
        if no_entry:
            extra.append(f"{plural(no_entry, 'patient')} without a diagnosis-to-metastasis time left out")
        zero_risk = int((entry_ok & ~truncated_ok).sum())
        if zero_risk:
            extra.append(f"{plural(zero_risk, 'patient')} with no follow-up after the metastasis "
                         "diagnosis (death or last contact that day) left out")
        row = cox_effect(time[truncated_ok], event[truncated_ok], treated[truncated_ok],
                         entry=entry[truncated_ok], alpha=alpha, labels=labels)
        row["note"] = join_notes([*extra, row["note"]])
        rows["delayed_entry"] = row
    estimates = effect_frame(rows, "analysis")
    curves, medians = {}, []
    for analysis, mask, use_entry in (("naive", usable, False), ("delayed_entry", truncated_ok, True)):
        for arm, arm_mask in ((labels.treated, treated), (labels.control, ~treated)):
            sel = mask & arm_mask
            table, med = km_table(time[sel], event[sel], entry=entry[sel] if use_entry else None, alpha=alpha)
            curves[(analysis, arm)] = table
            reliable = _reliable_from(table, min_at_risk)
            medians.append({"analysis": analysis, "arm": arm, "n": int(sel.sum()),
                            "events": float(event[sel].sum()), **med, "reliable_from": reliable})
            first = math.nan if table is None or table.empty else float(table["time"].iloc[0])
            if use_entry and math.isfinite(first) and not reliable <= first:
                notes.append(
                    f"{arm}: before month {reliable:.1f} fewer than {min_at_risk} patients were in the "
                    "delayed-entry risk set, so the start of that curve rests on few patients"
                    if math.isfinite(reliable) else
                    f"{arm}: the delayed-entry risk set never reaches {min_at_risk} patients")
    entry_table = _entry_summary(entry, time, entry_ok, treated, labels)
    late = int(entry_table.loc["All", "late_entrants"])
    return DelayedEntryResult(
        comparison=comparison, treated=labels.treated, control=labels.control, estimates=estimates,
        km=km_long(curves, ("analysis", "arm")),
        medians=pd.DataFrame(medians, columns=list(MEDIAN_COLUMNS)),
        entry=entry_table, late_entrants=late, notes=tuple(notes))


def _reliable_from(table: pd.DataFrame | None, min_at_risk: int) -> float:
    if table is None or table.empty:
        return math.nan
    enough = table["at_risk"].to_numpy() >= min_at_risk
    return float(table["time"].to_numpy()[np.argmax(enough)]) if enough.any() else math.nan


def _entry_summary(entry, time, ok, treated, labels: ArmLabels) -> pd.DataFrame:
    rows = {}
    for label, mask in ((labels.treated, ok & treated), (labels.control, ok & ~treated), ("All", ok)):
        e, t = entry[mask], time[mask]
        followup = float(t.sum())
        immortal = float(e.sum())
        rows[label] = {
            "n": int(mask.sum()), "late_entrants": int((e > 0).sum()),
            "entry_median": float(np.median(e)) if e.size else math.nan,
            "entry_min": float(e.min()) if e.size else math.nan,
            "entry_max": float(e.max()) if e.size else math.nan,
            "immortal_months": immortal, "followup_months": followup,
            "immortal_fraction": immortal / followup if followup > 0 else math.nan,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "arm"
    return table


def _empty_result(comparison: str, labels: ArmLabels, note: str) -> DelayedEntryResult:
    estimates = effect_frame({a: nan_effect(note) for a in ANALYSES}, "analysis")
    empty = np.array([])
    return DelayedEntryResult(
        comparison=comparison, treated=labels.treated, control=labels.control, estimates=estimates,
        km=km_long({}, ("analysis", "arm")),
        medians=pd.DataFrame(columns=list(MEDIAN_COLUMNS)),
        entry=_entry_summary(empty, empty, np.zeros(0, bool), np.zeros(0, bool), labels),
        late_entrants=0, notes=(note,))
