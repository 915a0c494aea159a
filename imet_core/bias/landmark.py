"""Immortal time between metastasis and intervention: landmark analysis and a time-varying Cox model.

A patient is in the IT arm because she *had* an intervention, weeks or months after her
metastasis diagnosis; she had to survive until then.  Comparing IT with ST from the metastasis
diagnosis credits the IT arm with that survival (immortal time bias; Suissa, *Am J Epidemiol*
2008;167:492-9).  Two standard corrections:

* **Landmark analysis** (Anderson, Cain & Gelber, *J Clin Oncol* 1983;1:710-9; Dafni, *Circ
  Cardiovasc Qual Outcomes* 2011;4:363-71): choose a time L after the metastasis diagnosis;
  keep only patients still alive and followed at L; call a patient IT only if her intervention
  happened by L (``intervention_months <= L``; later interventions count as ST, because at L
  she had not had one); restart the clock at L.
* **Time-varying covariate** (Therneau & Grambsch 2000, section 3.7; R ``tmerge(..., tdc())``):
  every IT patient contributes ST time from the metastasis diagnosis to her intervention and IT
  time afterwards, as counting-process rows ``(start, stop]``; Cox with a robust variance
  clustered on the patient.

Both need the time of the intervention (``intervention_months``, from ``date_intervention`` or
given directly).  A registry without it cannot be analysed either way, and the result says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from imet_core.bias._common import (
    ArmLabels, EFFECT_COLUMNS, cox_effect, effect_frame, endpoint_spec, event_indicator,
    join_notes, km_long, km_table, missing_columns, nan_effect, plural, treatment_status,
)

__all__ = [
    "LANDMARK_COLUMNS",
    "NO_TIMING_NOTE",
    "LandmarkResult",
    "TimeVaryingResult",
    "has_intervention_timing",
    "landmark_analysis",
    "split_at_intervention",
    "time_varying_analysis",
]

NO_TIMING_NOTE = (
    "Not estimable: the registry has no intervention dates (date_intervention or "
    "intervention_months), so it is unknown whether an IT patient had her intervention by a given "
    "time. Add the intervention dates to run this analysis."
)
"""The note given when the data carries no intervention timing at all."""

LANDMARK_COLUMNS: tuple[str, ...] = (
    *EFFECT_COLUMNS, "excluded_before_landmark", "it_after_landmark", "timing_unknown",
)
"""Columns of :attr:`LandmarkResult.estimates`."""

_PDRS, _EVENT, _LAG = "pdrs_months", "dead", "intervention_months"


def has_intervention_timing(frame: pd.DataFrame) -> bool:
    """True when at least one IT patient has a known time from metastasis to intervention."""
    if _LAG not in frame.columns:
        return False
    treated, _ = treatment_status(frame)
    lag = pd.to_numeric(frame[_LAG], errors="coerce").to_numpy(dtype=float)
    return bool(np.isfinite(lag[treated]).any())


@dataclass(frozen=True)
class LandmarkResult:
    """Landmark analyses of IT vs ST from the metastasis diagnosis.

    Attributes
    ----------
    landmarks : tuple of float
        The landmarks, months after the metastasis diagnosis.
    estimates : DataFrame
        Indexed by ``landmark``; columns :data:`LANDMARK_COLUMNS`: the effect columns (``hr``
        ... ``note``; ``n`` = patients alive and followed at the landmark, ``events`` = deaths
        after it), ``excluded_before_landmark`` (died or censored at or before the landmark),
        ``it_after_landmark`` (IT patients whose intervention came after the landmark, counted
        as ST), ``timing_unknown`` (IT patients alive at the landmark without an intervention
        time, left out).
    km : DataFrame
        Columns ``landmark, arm, time, at_risk, events, censored, survival, lower, upper``;
        ``time`` is months since the landmark.
    notes : tuple of str
    """

    landmarks: tuple
    estimates: pd.DataFrame
    km: pd.DataFrame
    notes: tuple


def landmark_analysis(frame: pd.DataFrame, landmarks: Sequence[float] = (3.0, 6.0, 12.0), *,
                      alpha: float = 0.05, curves: bool = True) -> LandmarkResult:
    """IT vs ST survival from a landmark after the metastasis diagnosis.

    Parameters
    ----------
    frame : DataFrame
        A loaded registry frame with ``group``, ``pdrs_months``, ``dead`` and
        ``intervention_months``.
    landmarks : sequence of float
        Months after the metastasis diagnosis (e.g. 3, 6, 12).
    alpha : float
        1 - confidence level.
    curves : bool
        Compute the Kaplan-Meier curves (False leaves ``km`` empty, for speed).

    Returns
    -------
    LandmarkResult
        ``estimates`` indexed by landmark (Cox HR of IT-by-the-landmark vs not, with the
        clock restarted at the landmark), ``km`` (curves from the landmark), ``notes``.

    Raises
    ------
    ValueError
        When a landmark is negative or not a finite number.

    Notes
    -----
    At landmark L the analysis keeps patients with ``pdrs_months > L`` and fits
    ``coxph(Surv(pdrs_months - L, dead) ~ it_by_L)`` with ``it_by_L = group == "IT" &
    intervention_months <= L``.
    """
    values = _check_landmarks(landmarks)
    rows, tables, notes = {}, {}, []
    absent = missing_columns(frame, ["group", _PDRS, _EVENT])
    timing = has_intervention_timing(frame)
    if absent:
        note = f"Not estimable: the data has no column {', '.join(absent)}."
    elif not timing:
        note = NO_TIMING_NOTE
    else:
        note = ""
    if note:
        for lm in values:
            rows[lm] = {**nan_effect(note), "excluded_before_landmark": math.nan,
                        "it_after_landmark": math.nan, "timing_unknown": math.nan}
        return LandmarkResult(landmarks=values, estimates=_landmark_frame(rows),
                              km=km_long({}, ("landmark", "arm")), notes=(note,))
    treated, known = treatment_status(frame)
    event, event_known = event_indicator(frame, _EVENT)
    time = pd.to_numeric(frame[_PDRS], errors="coerce").to_numpy(dtype=float)
    lag = pd.to_numeric(frame[_LAG], errors="coerce").to_numpy(dtype=float)
    usable = known & event_known & np.isfinite(time)
    if (~usable).any():
        notes.append(f"{plural(int((~usable).sum()), 'patient')} without arm, PDRS time or vital "
                     "status left out")
    for lm in values:
        alive = usable & (time > lm)
        unknown = alive & treated & ~np.isfinite(lag)
        cohort = alive & ~unknown
        it_by_lm = treated & np.isfinite(lag) & (lag <= lm)
        late = cohort & treated & ~it_by_lm
        row = cox_effect(time[cohort] - lm, event[cohort], it_by_lm[cohort], alpha=alpha,
                         labels=ArmLabels("IT by the landmark", "ST (no intervention by the landmark)"))
        extra = []
        if unknown.any():
            extra.append(f"{plural(int(unknown.sum()), 'IT patient')} alive at the landmark without "
                         "an intervention date left out")
        if late.any():
            extra.append(f"{plural(int(late.sum()), 'IT patient')} whose intervention came after the "
                         "landmark counted as ST")
        row["note"] = join_notes([*extra, row["note"]])
        row.update(excluded_before_landmark=float((usable & ~alive).sum()),
                   it_after_landmark=float(late.sum()), timing_unknown=float(unknown.sum()))
        rows[lm] = row
        for arm, mask in (("IT", cohort & it_by_lm), ("ST", cohort & ~it_by_lm)) if curves else ():
            tables[(lm, arm)] = km_table(time[mask] - lm, event[mask], alpha=alpha)[0]
    return LandmarkResult(landmarks=values, estimates=_landmark_frame(rows),
                          km=km_long(tables, ("landmark", "arm")), notes=tuple(notes))


def _check_landmarks(landmarks) -> tuple:
    try:
        values = tuple(float(v) for v in np.atleast_1d(np.asarray(landmarks, dtype=float)))
    except (TypeError, ValueError):
        raise ValueError(f"landmarks must be numbers of months, not {landmarks!r}") from None
    bad = [v for v in values if not math.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"landmarks must be finite and >= 0 months; got {bad}")
    return values


def _landmark_frame(rows: dict) -> pd.DataFrame:
    base = effect_frame({k: {c: v for c, v in r.items() if c in EFFECT_COLUMNS} for k, r in rows.items()},
                        "landmark")
    for column in LANDMARK_COLUMNS[len(EFFECT_COLUMNS):]:
        base[column] = [float(rows[k][column]) for k in rows]
    base.index = pd.Index([float(k) for k in rows], name="landmark")
    return base[list(LANDMARK_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# Time-varying intervention
# ----------------------------------------------------------------------------------------------
SPLIT_COLUMNS: tuple[str, ...] = ("patient", "start", "stop", "event", "treated")


def split_at_intervention(frame: pd.DataFrame, *, endpoint: str = "pdrs") -> pd.DataFrame:
    """Counting-process rows with the intervention as a time-varying covariate.

    Each ST patient gives one row; each IT patient with a known intervention time ``L`` gives
    a row ``(start, start + L]`` with ``treated = 0`` and no event, then a row
    ``(start + L, stop]`` with ``treated = 1`` carrying her death or censoring (as R's
    ``tmerge(..., tdc(L))``).  An intervention at the metastasis diagnosis (``L == 0``) gives a
    single treated row; one on the last day of follow-up (``L == pdrs_months``) starts after
    it, so that day's event belongs to the untreated row.

    Parameters
    ----------
    frame : DataFrame
        Registry frame with ``group``, ``dead``, ``pdrs_months``, ``intervention_months`` (and
        ``os_months``, ``entry_months`` for ``endpoint="os"``).
    endpoint : {"pdrs", "os"}
        ``"pdrs"``: time since the metastasis diagnosis (start = 0).  ``"os"``: time since the
        breast cancer diagnosis with delayed entry at the metastasis (start = ``entry_months``).

    Returns
    -------
    DataFrame
        Columns ``patient`` (the frame's index label), ``start``, ``stop``, ``event`` (0/1
        float), ``treated`` (0/1 float), sorted by patient order and start.  Patients that cannot
        be split (unknown arm, time or vital status, an IT patient without an intervention
        time, no follow-up after entry) are absent; :func:`time_varying_analysis` counts them.
    """
    return _split(frame, endpoint)[0]


def _split(frame: pd.DataFrame, endpoint: str) -> tuple[pd.DataFrame, dict]:
    spec = endpoint_spec(endpoint)
    treated, known = treatment_status(frame)
    n = len(frame)
    event, event_known = event_indicator(frame, _EVENT) if _EVENT in frame.columns else (np.zeros(n), np.zeros(n, bool))
    pdrs = _numeric(frame, _PDRS)
    lag = _numeric(frame, _LAG)
    if spec.delayed_entry_column is None:
        start0 = np.zeros(n)
        stop = pdrs
    else:
        start0 = _numeric(frame, spec.delayed_entry_column)
        stop = _numeric(frame, spec.time_column)
    base = known & event_known & np.isfinite(pdrs) & np.isfinite(start0) & np.isfinite(stop)
    no_time = base & treated & ~np.isfinite(lag)
    no_risk = base & ~no_time & ~(start0 < stop)
    keep = base & ~no_time & ~no_risk
    counts = {"unusable": int((~base).sum()), "timing_unknown": int(no_time.sum()),
              "no_followup": int(no_risk.sum())}
    idx = np.nonzero(keep)[0]
    t_it = treated[idx]
    L = np.where(t_it, lag[idx], np.inf)
    s0, t1, d = start0[idx], stop[idx], event[idx]
    split = t_it & (L > 0) & (L < pdrs[idx])
    whole_treated = t_it & (L <= 0)
    switch = s0 + np.where(split, L, 0.0)
    first = pd.DataFrame({
        "_order": idx, "_part": 0, "start": s0, "stop": np.where(split, switch, t1),
        "event": np.where(split, 0.0, d), "treated": whole_treated.astype(float)})
    second = pd.DataFrame({
        "_order": idx[split], "_part": 1, "start": switch[split], "stop": t1[split],
        "event": d[split], "treated": np.ones(int(split.sum()))})
    rows = pd.concat([first, second], ignore_index=True).sort_values(["_order", "_part"], kind="stable")
    rows.insert(0, "patient", frame.index.to_numpy()[rows["_order"].to_numpy()])
    rows = rows.drop(columns=["_order", "_part"]).reset_index(drop=True)
    return rows[list(SPLIT_COLUMNS)], counts


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


@dataclass(frozen=True)
class TimeVaryingResult:
    """Cox model with the intervention as a time-varying covariate.

    Attributes
    ----------
    endpoint : str
    estimate : DataFrame
        One row indexed ``time_varying``, columns :data:`imet_core.bias.EFFECT_COLUMNS`
        (robust SE clustered on the patient; ``n`` = patients, ``n_treated`` = patients with
        IT time, ``n_control`` = patients with ST time, events by the arm of the row they fall
        in).
    rows : DataFrame
        The counting-process data of :func:`split_at_intervention`.
    notes : tuple of str
    """

    endpoint: str
    estimate: pd.DataFrame
    rows: pd.DataFrame
    notes: tuple


def time_varying_analysis(frame: pd.DataFrame, *, endpoint: str = "pdrs",
                          alpha: float = 0.05) -> TimeVaryingResult:
    """IT vs ST with the intervention as a time-varying covariate (no immortal time).

    Parameters
    ----------
    frame : DataFrame
        Registry frame (see :func:`split_at_intervention`).
    endpoint : {"pdrs", "os"}
        Time scale: since metastasis, or since diagnosis with delayed entry at metastasis.
    alpha : float
        1 - confidence level.

    Returns
    -------
    TimeVaryingResult
        ``estimate`` (one row, ``coxph(Surv(start, stop, event) ~ treated, cluster = patient)``),
        ``rows`` (the split data), ``notes``.
    """
    spec = endpoint_spec(endpoint)
    needed = ["group", _EVENT, _PDRS] + ([spec.time_column, spec.delayed_entry_column]
                                         if spec.delayed_entry_column else [])
    absent = missing_columns(frame, needed)
    if absent or not has_intervention_timing(frame):
        note = f"Not estimable: the data has no column {', '.join(absent)}." if absent else NO_TIMING_NOTE
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in SPLIT_COLUMNS})
        return TimeVaryingResult(endpoint=endpoint, estimate=effect_frame({"time_varying": nan_effect(note)},
                                                                          "method"),
                                 rows=empty, notes=(note,))
    rows, counts = _split(frame, endpoint)
    notes = []
    if counts["unusable"]:
        notes.append(f"{plural(counts['unusable'], 'patient')} without arm, times or vital status left out")
    if counts["timing_unknown"]:
        notes.append(f"{plural(counts['timing_unknown'], 'IT patient')} without an intervention date left out")
    if counts["no_followup"]:
        notes.append(f"{plural(counts['no_followup'], 'patient')} with no follow-up after the "
                     "metastasis diagnosis left out")
    row = cox_effect(rows["stop"].to_numpy(), rows["event"].to_numpy(), rows["treated"].to_numpy(),
                     entry=rows["start"].to_numpy(), patient=rows["patient"].to_numpy(), alpha=alpha,
                     labels=ArmLabels("IT (after intervention)", "ST (before or without intervention)"))
    row["note"] = join_notes([*notes, row["note"]])
    return TimeVaryingResult(endpoint=endpoint, estimate=effect_frame({"time_varying": row}, "method"),
                             rows=rows, notes=tuple(notes))
