"""The IT-vs-ST hazard ratio under each method side by side, and the multivariable Cox model."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from imet_core.bias._common import (
    EFFECT_COLUMNS, cox_effect, cox_effect_fit, effect_frame, endpoint_spec, event_indicator, join_notes,
    nan_effect,
    plural, treatment_status,
)
from imet_core.bias.landmark import LandmarkResult, landmark_analysis
from imet_core.bias.propensity import IPTWResult, analysis_rows, design_matrix, iptw_analysis

__all__ = [
    "METHODS",
    "COMPARE_COLUMNS",
    "MultivariableResult",
    "multivariable_analysis",
    "compare_methods",
    "methods_table",
    "method_descriptions",
]

METHODS: tuple[str, ...] = ("naive", "delayed_entry", "landmark", "iptw", "multivariable")
"""Row labels of :func:`compare_methods`, in display order."""

COMPARE_COLUMNS: tuple[str, ...] = ("hr", "hr_lower", "hr_upper", "p", "n", "events", "note")
"""Columns of :func:`compare_methods`."""

METHOD_LABELS: dict[str, str] = {
    "naive": "Naive (as published)",
    "delayed_entry": "Delayed entry",
    "landmark": "Landmark",
    "iptw": "Propensity weighting (IPTW)",
    "multivariable": "Multivariable Cox",
}
"""Display names of the methods."""


def method_descriptions(*, endpoint: str = "os", landmark_months: float = 6) -> dict[str, str]:
    """One plain sentence per method of :func:`compare_methods`: what it corrects.

    Returns
    -------
    dict of str to str
        Keyed by :data:`METHODS`.
    """
    spec = endpoint_spec(endpoint)
    entry = (" and counts each patient at risk only from her metastasis diagnosis"
             if spec.delayed_entry_column else "")
    return {
        "naive": (f"Compares the arms as recorded, with everyone at risk from {spec.origin}: "
                  "the paper's analysis; it corrects nothing."),
        "delayed_entry": ("Counts each patient at risk only from her metastasis diagnosis (registry "
                          "entry), removing the immortal time between breast cancer diagnosis and "
                          "metastasis that every registered patient had to survive."
                          if spec.delayed_entry_column else
                          "Survival from the metastasis diagnosis already starts at registry entry, "
                          "so there is no diagnosis-to-metastasis immortal time to remove."),
        "landmark": (f"Starts the clock {landmark_months:g} months after the metastasis diagnosis, among "
                     "patients alive then, and calls a patient IT only if her intervention came by "
                     "then, removing the time IT patients had to survive to receive it."),
        "iptw": ("Weights patients by the inverse probability of the treatment they received given "
                 f"their baseline characteristics, balancing those measured factors between the arms{entry}; "
                 "it cannot balance factors the registry does not record."),
        "multivariable": ("Adjusts the hazard ratio for the same baseline characteristics in one Cox "
                          f"model{entry}; like IPTW it cannot adjust for unrecorded factors."),
    }


@dataclass(frozen=True)
class MultivariableResult:
    """Cox model of IT adjusted for baseline covariates.

    Attributes
    ----------
    endpoint : str
    estimate : DataFrame
        One row indexed ``multivariable``, :data:`imet_core.bias.EFFECT_COLUMNS` (the IT term).
    summary : DataFrame
        Every term of the model (``it`` first, then the covariate columns of
        :func:`imet_core.bias.design_matrix`), columns ``coef, se, hr, hr_lower, hr_upper, z, p``;
        empty when the model could not be fitted.
    notes : tuple of str
    """

    endpoint: str
    estimate: pd.DataFrame
    summary: pd.DataFrame
    notes: tuple


def multivariable_analysis(frame: pd.DataFrame, *, covariates: Sequence[str] | None = None,
                           endpoint: str = "os", alpha: float = 0.05) -> MultivariableResult:
    """Cox regression of survival on IT and baseline covariates.

    Parameters
    ----------
    frame : DataFrame
        Registry frame (or a subgroup).
    covariates : sequence of str, optional
        Default :data:`imet_core.bias.DEFAULT_COVARIATES`; encoded by
        :func:`imet_core.bias.design_matrix`.
    endpoint : {"os", "pdrs"}
        ``"os"`` uses delayed entry at the metastasis diagnosis.
    alpha : float

    Returns
    -------
    MultivariableResult
    """
    outcome = analysis_rows(frame, endpoint)
    design = design_matrix(frame, covariates)
    treated, _ = treatment_status(frame)
    used = outcome.usable & design.rows
    notes = [*outcome.notes, *design.notes]
    lost = int((outcome.usable & ~design.rows).sum())
    if lost:
        notes.append(f"{plural(lost, 'patient')} with a missing covariate left out")
    model = design.model.loc[used[design.rows]]
    keep = [c for c in model.columns if np.ptp(model[c].to_numpy()) > 0] if len(model) else []
    row, fit = cox_effect_fit(outcome.time[used], outcome.event[used], treated[used],
                              entry=None if outcome.entry is None else outcome.entry[used],
                              covariates=model[keep].reset_index(drop=True), alpha=alpha)
    row["note"] = join_notes([*notes, row["note"]])
    if fit is None:
        summary = pd.DataFrame(columns=["coef", "se", "hr", "hr_lower", "hr_upper", "z", "p"])
    else:
        summary = fit.summary.rename(index={"_treated": "it"})
    return MultivariableResult(endpoint=endpoint, estimate=effect_frame({"multivariable": row}, "method"),
                               summary=summary, notes=tuple(notes))


def compare_methods(frame: pd.DataFrame, *, endpoint: str = "os", landmark_months: float = 6,
                    covariates: Sequence[str] | None = None, trim_percentile: float | None = None,
                    alpha: float = 0.05) -> pd.DataFrame:
    """The IT-vs-ST hazard ratio under each bias correction, side by side.

    Parameters
    ----------
    frame : DataFrame
        A loaded registry frame or a subgroup of it.
    endpoint : {"os", "pdrs"}
        ``"os"``: overall survival from breast cancer diagnosis (the paper's); ``"pdrs"``:
        survival from the metastasis diagnosis.
    landmark_months : float
        Landmark after the metastasis diagnosis for the ``landmark`` row.
    covariates : sequence of str, optional
        Baseline covariates of the ``iptw`` and ``multivariable`` rows; default
        :data:`imet_core.bias.DEFAULT_COVARIATES`.
    trim_percentile : float, optional
        Weight truncation of the ``iptw`` row (see :func:`imet_core.bias.iptw_weights`).
    alpha : float
        1 - confidence level.

    Returns
    -------
    DataFrame
        Indexed by ``method`` = ``naive, delayed_entry, landmark, iptw, multivariable``; columns
        ``hr, hr_lower, hr_upper, p, n, events, note``.  HR of IT vs ST (Wald CI and p; robust
        SE for ``iptw``); ``n`` patients and ``events`` deaths analysed (for ``landmark``:
        alive at the landmark, deaths after it).  A method that cannot run on the data gives
        NaN numbers and a ``note`` saying why; ``note`` also carries remarks on rows that ran
        ("" when none).

        * ``naive``: ``coxph(Surv(time, dead) ~ it)``, everyone at risk from the endpoint's
          origin.
        * ``delayed_entry``: ``coxph(Surv(entry_months, os_months, dead) ~ it)``; for
          ``"pdrs"`` (which starts at registry entry) the same numbers as ``naive``.
        * ``landmark``: :func:`imet_core.bias.landmark_analysis` at ``landmark_months``.
        * ``iptw``: stabilised-IPTW weighted Cox with robust SE (delayed entry for ``"os"``).
        * ``multivariable``: Cox on IT and the covariates (delayed entry for ``"os"``).

    Raises
    ------
    ValueError
        For an unknown endpoint, a negative landmark or an unknown covariate name.
    """
    return methods_table(frame, endpoint=endpoint, landmark_months=landmark_months, covariates=covariates,
                         trim_percentile=trim_percentile, alpha=alpha)


def methods_table(frame: pd.DataFrame, *, endpoint: str = "os", landmark_months: float = 6,
                  covariates: Sequence[str] | None = None, trim_percentile: float | None = None,
                  alpha: float = 0.05, landmark: LandmarkResult | None = None, iptw: IPTWResult | None = None,
                  multivariable: MultivariableResult | None = None) -> pd.DataFrame:
    """:func:`compare_methods`, reusing analyses already run on the same frame and options.

    ``landmark`` (which must include ``landmark_months``), ``iptw`` and ``multivariable`` are
    the results of :func:`imet_core.bias.landmark_analysis`, :func:`imet_core.bias.iptw_analysis`
    and :func:`multivariable_analysis` for the same frame, endpoint and options (the Bias checks
    view has them anyway); missing ones are computed.  Returns what :func:`compare_methods` returns.
    """
    spec = endpoint_spec(endpoint)
    rows: dict[str, dict] = {}
    treated, known = treatment_status(frame)
    rows["naive"] = _naive(frame, spec, treated, known, alpha)
    if spec.delayed_entry_column:
        outcome = analysis_rows(frame, endpoint)
        row = cox_effect(outcome.time[outcome.usable], outcome.event[outcome.usable],
                         treated[outcome.usable], entry=outcome.entry[outcome.usable], alpha=alpha)
        if math.isfinite(row["hr"]):
            late = int((outcome.entry[outcome.usable] > 0).sum())
            row["note"] = join_notes([f"{late} of {plural(int(outcome.usable.sum()), 'patient')} enter "
                                      "the risk set at their metastasis diagnosis", *outcome.notes, row["note"]])
        else:
            row["note"] = join_notes([*outcome.notes, row["note"]])
        rows["delayed_entry"] = row
    else:
        rows["delayed_entry"] = {**rows["naive"], "note": join_notes([
            f"{spec.short_label} starts at the metastasis diagnosis (registry entry): no immortal "
            "time from diagnosis to correct, same as naive", rows["naive"]["note"]])}
    lm = landmark if landmark is not None else landmark_analysis(frame, [landmark_months], alpha=alpha, curves=False)
    lm_row = lm.estimates.loc[float(landmark_months)]
    rows["landmark"] = {c: lm_row[c] for c in EFFECT_COLUMNS}
    rows["landmark"]["note"] = join_notes([*lm.notes, lm_row["note"]])
    if iptw is None:
        iptw = iptw_analysis(frame, covariates=covariates, endpoint=endpoint, trim_percentile=trim_percentile,
                             alpha=alpha, curves=False)
    rows["iptw"] = iptw.estimate.iloc[0].to_dict()
    if multivariable is None:
        multivariable = multivariable_analysis(frame, covariates=covariates, endpoint=endpoint, alpha=alpha)
    rows["multivariable"] = multivariable.estimate.iloc[0].to_dict()
    table = effect_frame(rows, "method").loc[list(METHODS), list(COMPARE_COLUMNS)]
    return table


def _naive(frame, spec, treated, known, alpha) -> dict:
    if spec.time_column not in frame.columns or spec.event_column not in frame.columns or "group" not in frame.columns:
        return nan_effect("Not estimable: the data lacks the group, time or vital-status column.")
    time = pd.to_numeric(frame[spec.time_column], errors="coerce").to_numpy(dtype=float)
    event, event_known = event_indicator(frame, spec.event_column)
    usable = known & event_known & np.isfinite(time) & (time >= 0)
    row = cox_effect(time[usable], event[usable], treated[usable], alpha=alpha)
    lost = int((~usable).sum())
    if lost:
        row["note"] = join_notes([f"{plural(lost, 'patient')} without arm, time or vital status left out",
                                  row["note"]])
    return row
