"""Everything the Bias checks page shows, computed once per (registry, selection, options).

The page (``pages/bias_checks.py``) caches :func:`bias_checks_view` like the other views
(``ui.views``); exports can call it too.  It applies the selection's subgroup filter and runs
every bias check on IT vs ST (the sidebar's comparison does not apply: these checks are about
the intervention), plus the delayed-entry check of MDFI > 24 months.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from imet_core.bias.compare import MultivariableResult, method_descriptions, methods_table, multivariable_analysis
from imet_core.bias.delayed_entry import DelayedEntryResult, delayed_entry_analysis
from imet_core.bias.evalue import e_value
from imet_core.bias.landmark import (
    LandmarkResult, TimeVaryingResult, has_intervention_timing, landmark_analysis, time_varying_analysis,
)
from imet_core.bias.propensity import IPTWResult, iptw_analysis
from imet_core.bias.restricted_mean import RMSTComparison, default_rmst_horizon, rmst_comparison
from imet_core.subgroups import Selection

__all__ = ["E_VALUE_COLUMNS", "BiasChecksView", "bias_checks_view", "e_value_table"]

E_VALUE_COLUMNS: tuple[str, ...] = (
    "hr", "hr_lower", "hr_upper", "event_fraction", "outcome", "e_value", "e_value_ci", "limit", "note",
)
"""Columns of :func:`e_value_table`."""


def e_value_table(summary: pd.DataFrame) -> pd.DataFrame:
    """E-values of every row of a :func:`imet_core.bias.compare_methods` table.

    The outcome approximation follows each row's own event fraction (``events / n``; see
    :func:`imet_core.bias.e_value`).

    Returns
    -------
    DataFrame
        Indexed like ``summary``, columns :data:`E_VALUE_COLUMNS`.
    """
    rows = {}
    for method, r in summary.iterrows():
        fraction = r["events"] / r["n"] if r["n"] and math.isfinite(r["n"]) and r["n"] > 0 else math.nan
        ev = e_value(r["hr"], r["hr_lower"], r["hr_upper"],
                     event_fraction=fraction if math.isfinite(fraction) else None)
        rows[method] = {"hr": ev.hr, "hr_lower": ev.hr_lower, "hr_upper": ev.hr_upper,
                        "event_fraction": fraction, "outcome": ev.outcome, "e_value": ev.e_value,
                        "e_value_ci": ev.e_value_ci, "limit": ev.limit, "note": ev.note}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(E_VALUE_COLUMNS))
    table.index.name = summary.index.name
    return table


@dataclass(frozen=True)
class BiasChecksView:
    """All bias checks of one subgroup.

    Attributes
    ----------
    selection : Selection
    n : int
        Patients in the subgroup.
    endpoint : str
        ``"os"`` or ``"pdrs"`` (the selection's).
    summary : DataFrame
        :func:`imet_core.bias.compare_methods` at ``landmark_months`` (the same numbers, computed
        once with the analyses below by :func:`imet_core.bias.compare.methods_table`).
    descriptions : dict
        One sentence per method (:func:`imet_core.bias.method_descriptions`).
    e_values : DataFrame
        :func:`e_value_table` of ``summary``.
    delayed : DelayedEntryResult
        IT vs ST, naive and with delayed entry (always on the OS scale).
    delayed_mdfi : DelayedEntryResult
        MDFI > 24 vs <= 24 months, the same.
    landmark : LandmarkResult
        At every landmark asked for.
    time_varying : TimeVaryingResult
        On the selection's endpoint.
    iptw : IPTWResult
        On the selection's endpoint, with the chosen covariates and truncation.
    multivariable : MultivariableResult
        The Cox model of IT and the same covariates (every term).
    rmst : RMSTComparison or None
        At ``tau`` (None when no horizon exists: an empty arm).
    has_timing : bool
        Whether the data carry intervention times.
    landmark_months, trim_percentile, tau : the options used
    covariates : tuple of str or None
    """

    selection: Selection
    n: int
    endpoint: str
    summary: pd.DataFrame
    descriptions: dict
    e_values: pd.DataFrame
    delayed: DelayedEntryResult
    delayed_mdfi: DelayedEntryResult
    landmark: LandmarkResult
    time_varying: TimeVaryingResult
    iptw: IPTWResult
    multivariable: MultivariableResult
    rmst: RMSTComparison | None
    has_timing: bool
    landmark_months: float
    covariates: tuple | None
    trim_percentile: float | None
    tau: float


def bias_checks_view(frame: pd.DataFrame, selection: Selection, *, landmarks: Sequence[float] = (3.0, 6.0, 12.0),
                     landmark_months: float = 6.0, covariates: Sequence[str] | None = None,
                     trim_percentile: float | None = None, tau: float | None = None,
                     alpha: float = 0.05) -> BiasChecksView:
    """Run every bias check on the selection's subgroup.

    Parameters
    ----------
    frame : DataFrame
        The loaded registry.
    selection : Selection
        Subgroup and endpoint (the comparison is ignored: the checks compare IT with ST).
    landmarks : sequence of float
        Landmarks of the landmark table (months after the metastasis diagnosis).
    landmark_months : float
        The landmark of the summary row.
    covariates : sequence of str, optional
        IPTW and multivariable covariates (default :data:`imet_core.bias.DEFAULT_COVARIATES`).
    trim_percentile : float, optional
        Weight truncation.
    tau : float, optional
        RMST horizon; default :func:`imet_core.bias.default_rmst_horizon` of the subgroup.
    alpha : float

    Returns
    -------
    BiasChecksView
    """
    subset = selection.subgroup.apply(frame)
    subset.attrs = {}
    endpoint = selection.endpoint
    cov = None if covariates is None else tuple(covariates)
    all_landmarks = sorted(set(float(v) for v in landmarks) | {float(landmark_months)})
    landmark = landmark_analysis(subset, all_landmarks, alpha=alpha)
    iptw = iptw_analysis(subset, covariates=cov, endpoint=endpoint, trim_percentile=trim_percentile, alpha=alpha)
    multivariable = multivariable_analysis(subset, covariates=cov, endpoint=endpoint, alpha=alpha)
    summary = methods_table(subset, endpoint=endpoint, landmark_months=landmark_months, covariates=cov,
                            trim_percentile=trim_percentile, alpha=alpha, landmark=landmark, iptw=iptw,
                            multivariable=multivariable)
    horizon = default_rmst_horizon(subset, endpoint=endpoint)
    chosen_tau = float(tau) if tau is not None else horizon
    rmst = (rmst_comparison(subset, chosen_tau, endpoint=endpoint, alpha=alpha)
            if np.isfinite(chosen_tau) and chosen_tau > 0 else None)
    return BiasChecksView(
        selection=selection, n=int(len(subset)), endpoint=endpoint, summary=summary,
        descriptions=method_descriptions(endpoint=endpoint, landmark_months=landmark_months),
        e_values=e_value_table(summary),
        delayed=delayed_entry_analysis(subset, comparison="group", alpha=alpha),
        delayed_mdfi=delayed_entry_analysis(subset, comparison="mdfi_gt_24", alpha=alpha),
        landmark=landmark, time_varying=time_varying_analysis(subset, endpoint=endpoint, alpha=alpha),
        iptw=iptw, multivariable=multivariable,
        rmst=rmst, has_timing=has_intervention_timing(subset), landmark_months=float(landmark_months),
        covariates=cov, trim_percentile=trim_percentile, tau=chosen_tau,
    )

