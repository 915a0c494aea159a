"""Shared pieces of the bias checks: endpoints, arms, the guarded two-arm Cox fit.

Every analysis in :mod:`imet_core.bias` reports a treatment effect as one row with the columns
of :data:`EFFECT_COLUMNS`.  When a method cannot run on the data (an empty arm, fewer than
:data:`MIN_EVENTS_PER_ARM` events in an arm, a model that does not converge) the numbers are
NaN and ``note`` says why in plain words; nothing here raises for degenerate data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from imet_core.subgroups import ENDPOINTS, Endpoint
from imet_core.survival import SurvivalInputError, cox_regression, kaplan_meier

TREATED_LEVEL = "IT"
"""Value of ``group`` for the intervention arm (the 'treated' arm of every bias check)."""
CONTROL_LEVEL = "ST"
"""Value of ``group`` for systemic therapy only (the reference arm)."""

MIN_EVENTS_PER_ARM = 5
"""Fewest events an arm needs before a hazard ratio is estimated (otherwise NaN and a note)."""

EFFECT_COLUMNS: tuple[str, ...] = (
    "hr", "hr_lower", "hr_upper", "p", "coef", "se", "n", "events",
    "n_treated", "events_treated", "n_control", "events_control", "note",
)
"""Columns of every treatment-effect row (see :func:`effect_row`)."""

KM_COLUMNS: tuple[str, ...] = ("time", "at_risk", "events", "censored", "survival", "lower", "upper")
"""Columns of a Kaplan-Meier table (as :func:`imet_core.survival.kaplan_meier`)."""

_COX_FAILURES = (SurvivalInputError, np.linalg.LinAlgError, ValueError, FloatingPointError)


def endpoint_spec(endpoint: str) -> Endpoint:
    """The :class:`imet_core.subgroups.Endpoint` for ``endpoint`` ("os" or "pdrs").

    Raises
    ------
    ValueError
        For an endpoint other than those of :data:`imet_core.subgroups.ENDPOINTS`.
    """
    try:
        return ENDPOINTS[endpoint]
    except (KeyError, TypeError):
        raise ValueError(f"endpoint={endpoint!r} is not allowed; allowed: {', '.join(ENDPOINTS)}") from None


def missing_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Names in ``columns`` that ``frame`` lacks, in the given order."""
    return [c for c in columns if c not in frame.columns]


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 patient', '3 patients'."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def join_notes(notes: Sequence[str]) -> str:
    """Non-empty notes, each ending with a full stop, joined once each (duplicates dropped)."""
    parts: list[str] = []
    for note in notes:
        note = note.strip()
        if note:
            note = note if note.endswith((".", "!", "?")) else note + "."
            if note not in parts:
                parts.append(note)
    return " ".join(parts)


def treatment_status(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """IT indicator and a mask of rows whose ``group`` is IT or ST.

    Returns
    -------
    (treated, known) : two bool arrays aligned with the rows of ``frame``
    """
    if "group" not in frame.columns:
        n = len(frame)
        return np.zeros(n, bool), np.zeros(n, bool)
    group = frame["group"].to_numpy(dtype=object)
    treated = group == TREATED_LEVEL
    control = group == CONTROL_LEVEL
    return np.asarray(treated, bool), np.asarray(treated | control, bool)


def event_indicator(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Event column as float 0/1 and a mask of rows where it is known."""
    raw = frame[column]
    if raw.dtype == bool:
        return raw.to_numpy(dtype=float), np.ones(len(raw), bool)
    known = raw.notna().to_numpy()
    values = np.zeros(len(raw))
    values[known] = raw[known].astype(float).to_numpy()
    return values, known


def nan_effect(note: str, **counts) -> dict:
    """An effect row with NaN numbers and a note (counts given as keywords are kept)."""
    row = {c: math.nan for c in EFFECT_COLUMNS}
    row.update({k: float(v) for k, v in counts.items()})
    row["note"] = note
    return row


def arm_counts(treated: np.ndarray, event: np.ndarray, patient: np.ndarray | None = None) -> dict:
    """Patients and events per arm (patients counted once per arm they have rows in)."""
    t = treated.astype(bool)
    if patient is None:
        n_t, n_c = int(t.sum()), int((~t).sum())
        n = int(t.size)
    else:
        n_t = int(pd.unique(patient[t]).size)
        n_c = int(pd.unique(patient[~t]).size)
        n = int(pd.unique(patient).size)
    return {
        "n": n, "events": float(event.sum()),
        "n_treated": n_t, "events_treated": float(event[t].sum()),
        "n_control": n_c, "events_control": float(event[~t].sum()),
    }


@dataclass(frozen=True)
class ArmLabels:
    """Display names of the treated and the reference arm of a comparison."""

    treated: str = TREATED_LEVEL
    control: str = CONTROL_LEVEL


def cox_effect(time: np.ndarray, event: np.ndarray, treated: np.ndarray, **options) -> dict:
    """The effect row of :func:`cox_effect_fit` (same parameters), without the fit."""
    return cox_effect_fit(time, event, treated, **options)[0]


def cox_effect_fit(time: np.ndarray, event: np.ndarray, treated: np.ndarray, *,
                   entry: np.ndarray | None = None, weights: np.ndarray | None = None,
                   covariates: pd.DataFrame | None = None, patient: np.ndarray | None = None,
                   robust: bool | None = None, alpha: float = 0.05,
                   labels: ArmLabels = ArmLabels(), min_events: int = MIN_EVENTS_PER_ARM):
    """Hazard ratio of ``treated`` (vs not) by :func:`imet_core.survival.cox_regression`, guarded.

    Parameters
    ----------
    time, event, treated : arrays of equal length
        Stop time, 0/1 event and 0/1 treatment of each row.
    entry : array, optional
        Start time of each row ((start, stop] counting-process rows or delayed entry).
    weights : array, optional
        Case weights (the fit then uses robust sandwich standard errors).
    covariates : DataFrame, optional
        Further numeric columns of the model (adjustment), aligned with the rows.
    patient : array, optional
        Patient id of each row: the robust variance is clustered on it, and ``n`` counts patients.
    robust : bool, optional
        Passed to ``cox_regression`` (default: True with weights or patient clusters).
    alpha : float
        1 - confidence level.
    labels : ArmLabels
        Arm names used in notes.
    min_events : int
        Fewest events per arm; fewer gives NaN and a note.

    Returns
    -------
    (dict, CoxResult or None)
        The effect row, keys :data:`EFFECT_COLUMNS`: ``hr, hr_lower, hr_upper, p`` (Wald), ``coef, se`` (log HR
        and its standard error, robust when weighted or clustered), ``n`` (patients), ``events``,
        ``n_treated, events_treated, n_control, events_control`` (patients with rows in the arm
        and events in the arm; unweighted), ``note`` ("" when the fit ran cleanly).
    """
    treated = np.asarray(treated, dtype=float)
    event = np.asarray(event, dtype=float)
    counts = arm_counts(treated > 0, event, patient)
    if counts["n"] == 0:
        return _no_fit("No patients to analyse.", **counts)
    for arm, n_key, e_key in ((labels.treated, "n_treated", "events_treated"),
                              (labels.control, "n_control", "events_control")):
        if counts[n_key] == 0:
            return _no_fit(f"Not estimable: no {arm} patients.", **counts)
        if counts[e_key] < min_events:
            return _no_fit(
                f"Not estimable: the {arm} arm has {plural(int(counts[e_key]), 'event')} "
                f"(at least {min_events} needed for a hazard ratio).", **counts)
    data = {"_time": np.asarray(time, float), "_event": event, "_treated": treated}
    names = ["_treated"]
    if covariates is not None and covariates.shape[1]:
        for column in covariates.columns:
            data[str(column)] = covariates[column].to_numpy(dtype=float)
            names.append(str(column))
    if entry is not None:
        data["_entry"] = np.asarray(entry, float)
    if weights is not None:
        data["_weight"] = np.asarray(weights, float)
    if patient is not None:
        data["_patient"] = np.asarray(patient)
    work = pd.DataFrame(data)
    try:
        with np.errstate(all="ignore"):
            fit = cox_regression(
                work, time="_time", event="_event", covariates=names,
                entry="_entry" if entry is not None else None,
                weights="_weight" if weights is not None else None,
                cluster="_patient" if patient is not None else None,
                robust=robust, alpha=alpha)
    except _COX_FAILURES as error:
        return _no_fit(f"The Cox model could not be fitted: {error}", **counts)
    if not fit.converged:
        return _no_fit("The Cox model did not converge.", **counts)
    if any(w.startswith("Coefficient 1 ") for w in fit.warnings):
        return _no_fit("Not estimable: the hazard ratio runs off to 0 or infinity "
                          "(for example, no events in one arm).", **counts)
    summary = fit.summary.iloc[0]
    notes = []
    flagged = [names[i] for i in range(1, len(names))
               if any(w.startswith(f"Coefficient {i + 1} ") for w in fit.warnings)]
    if flagged:
        notes.append(f"Covariate(s) {', '.join(flagged)} may have an infinite coefficient "
                     "(a level without events); the intervention estimate is still shown")
    if not np.isfinite(summary["se"]):
        return _no_fit("Not estimable: the standard error is not finite.", **counts)
    row = {
        "hr": float(summary["hr"]), "hr_lower": float(summary["hr_lower"]),
        "hr_upper": float(summary["hr_upper"]), "p": float(summary["p"]),
        "coef": float(summary["coef"]), "se": float(summary["se"]),
        **{k: float(v) for k, v in counts.items()}, "note": join_notes(notes),
    }
    return row, fit


def _no_fit(note: str, **counts):
    return nan_effect(note, **counts), None


def effect_frame(rows: dict, index_name: str) -> pd.DataFrame:
    """Rows (a dict of index label -> effect dict) as a DataFrame with :data:`EFFECT_COLUMNS`."""
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame = frame.reindex(columns=list(EFFECT_COLUMNS))
    frame.index.name = index_name
    numeric = [c for c in EFFECT_COLUMNS if c != "note"]
    frame[numeric] = frame[numeric].astype(float)
    frame["note"] = frame["note"].fillna("").astype(object)
    return frame


def km_long(curves: dict, key_names: Sequence[str]) -> pd.DataFrame:
    """Stack Kaplan-Meier tables: ``curves`` maps a key tuple to a KM table (or None = no rows)."""
    parts = []
    for key, table in curves.items():
        if table is None or table.empty:
            continue
        part = table.loc[:, list(KM_COLUMNS)].copy()
        for name, value in zip(key_names, key):
            part.insert(list(key_names).index(name), name, value)
        parts.append(part)
    columns = [*key_names, *KM_COLUMNS]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in key_names else float) for c in columns})
    return pd.concat(parts, ignore_index=True)[columns]


def km_table(time, event, *, entry=None, weights=None, alpha: float = 0.05):
    """Kaplan-Meier table and median row for one arm, or (None, NaN medians) with no rows."""
    time = np.asarray(time, float)
    if time.size == 0:
        return None, {"median": math.nan, "median_lower": math.nan, "median_upper": math.nan}
    with np.errstate(all="ignore"):
        fit = kaplan_meier(time, event, entry=entry, weights=weights, alpha=alpha)
    return fit.table, {"median": fit.median, "median_lower": fit.median_lower,
                       "median_upper": fit.median_upper}
