"""Restricted mean survival time (RMST) of IT and ST and their difference.

When hazards are not proportional, a single hazard ratio averages an effect that changes over
time and can mislead.  The RMST up to a horizon tau is the area under the Kaplan-Meier curve
from 0 to tau: the mean survival time over the first tau months.  The difference between arms
(IT - ST, in months) needs no proportional-hazards assumption (Royston & Parmar, *BMC Med Res
Methodol* 2013;13:152; Uno et al., *J Clin Oncol* 2014;32:2380-5).

Each arm's RMST and standard error come from :func:`imet_core.survival.rmst` (R's
``print(survfit(...), rmean = tau)``); the arms are independent samples, so the difference has
SE sqrt(se_IT^2 + se_ST^2) and a normal (Wald) interval and p-value.  The proportional-hazards
test is :func:`imet_core.survival.proportional_hazards_test` (R's ``cox.zph``) on the Cox model
of the same data; :attr:`RMSTComparison.ph_rejected` says when the RMST should be preferred.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from imet_core.bias._common import cox_effect, join_notes, treatment_status
from imet_core.bias.propensity import analysis_rows
from imet_core.survival import cox_regression, proportional_hazards_test, rmst

__all__ = ["PH_TEST_LEVEL", "RMST_COLUMNS", "RMSTComparison", "rmst_comparison", "default_rmst_horizon"]

PH_TEST_LEVEL = 0.05
"""The PH test 'rejects' when its p-value is below this level."""

RMST_COLUMNS: tuple[str, ...] = ("estimate", "se", "lower", "upper", "p")


@dataclass(frozen=True)
class RMSTComparison:
    """RMST of IT and ST up to ``tau`` and the difference.

    Attributes
    ----------
    endpoint : str
    tau : float
        Horizon in months (from diagnosis for ``os``, from metastasis for ``pdrs``).
    table : DataFrame
        Indexed by ``IT``, ``ST``, ``difference`` (IT - ST); columns ``estimate, se, lower,
        upper, p`` (months; ``p`` only for the difference, Wald test of no difference).
    ph_p : float
        p-value of the proportional-hazards test of the IT term (NaN when not testable).
    ph_rejected : bool
        True when ``ph_p < PH_TEST_LEVEL``: the hazard ratio is doubtful and the RMST difference
        is the summary to show.
    notes : tuple of str
        E.g. a horizon beyond an arm's last follow-up (the curve is then carried flat).
    """

    endpoint: str
    tau: float
    table: pd.DataFrame
    ph_p: float
    ph_rejected: bool
    notes: tuple


def default_rmst_horizon(frame: pd.DataFrame, *, endpoint: str = "os") -> float:
    """The largest sensible horizon: the shorter of the two arms' longest follow-up times.

    Tian et al. (*Stat Med* 2020;39:3066-83) recommend not going past the smaller of the
    arms' largest observed times.  NaN when an arm has no usable patient.
    """
    outcome = analysis_rows(frame, endpoint)
    treated, _ = treatment_status(frame)
    ends = []
    for mask in (treated, ~treated):
        sel = outcome.usable & mask
        if not sel.any():
            return math.nan
        ends.append(float(outcome.time[sel].max()))
    return min(ends)


def rmst_comparison(frame: pd.DataFrame, tau: float, *, endpoint: str = "os",
                    alpha: float = 0.05) -> RMSTComparison:
    """RMST of IT and ST up to ``tau`` months, the difference with its CI, and the PH test.

    Parameters
    ----------
    frame : DataFrame
        Registry frame (or a subgroup).
    tau : float
        Horizon (months) > 0.
    endpoint : {"os", "pdrs"}
        ``"os"``: from diagnosis with delayed entry at the metastasis; ``"pdrs"``: from the
        metastasis diagnosis.
    alpha : float
        1 - confidence level.

    Returns
    -------
    RMSTComparison

    Raises
    ------
    ValueError
        When ``tau`` is not a positive finite number.
    """
    tau = float(tau)
    if not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a positive number of months, not {tau!r}")
    outcome = analysis_rows(frame, endpoint)
    treated, _ = treatment_status(frame)
    notes = list(outcome.notes)
    z = stats.norm.ppf(1 - alpha / 2)
    rows = {}
    for arm, mask in (("IT", treated), ("ST", ~treated)):
        sel = outcome.usable & mask
        if not sel.any():
            rows[arm] = {"estimate": math.nan, "se": math.nan}
            notes.append(f"No {arm} patients: no RMST for this arm")
            continue
        t = outcome.time[sel]
        fit = rmst(t, outcome.event[sel], tau, entry=None if outcome.entry is None else outcome.entry[sel])
        rows[arm] = {"estimate": fit.estimate, "se": fit.se}
        if tau > t.max():
            notes.append(f"The horizon ({tau:g} months) is beyond the last {arm} follow-up "
                         f"({t.max():.1f} months): the {arm} curve is carried flat after it")
    for arm in rows:
        est, se = rows[arm]["estimate"], rows[arm]["se"]
        rows[arm].update(lower=est - z * se, upper=est + z * se, p=math.nan)
    diff = rows["IT"]["estimate"] - rows["ST"]["estimate"]
    se = math.sqrt(rows["IT"]["se"] ** 2 + rows["ST"]["se"] ** 2)
    with np.errstate(all="ignore"):
        p = float(2 * stats.norm.sf(abs(diff / se))) if se > 0 else math.nan
    rows["difference"] = {"estimate": diff, "se": se, "lower": diff - z * se, "upper": diff + z * se, "p": p}
    table = pd.DataFrame.from_dict(rows, orient="index")[list(RMST_COLUMNS)].astype(float)
    table.index.name = "arm"
    ph_p, ph_note = _ph_test(outcome, treated)
    if ph_note:
        notes.append(ph_note)
    return RMSTComparison(endpoint=endpoint, tau=tau, table=table, ph_p=ph_p,
                          ph_rejected=bool(math.isfinite(ph_p) and ph_p < PH_TEST_LEVEL),
                          notes=tuple(notes))


def _ph_test(outcome, treated: np.ndarray) -> tuple[float, str]:
    """p of cox.zph for IT in the Cox model of the same rows, or NaN and why not."""
    sel = outcome.usable
    check = cox_effect(outcome.time[sel], outcome.event[sel], treated[sel],
                       entry=None if outcome.entry is None else outcome.entry[sel])
    if not math.isfinite(check["hr"]):
        return math.nan, join_notes(["Proportional-hazards test not run", check["note"]])
    work = pd.DataFrame({"time": outcome.time[sel], "event": outcome.event[sel],
                         "it": treated[sel].astype(float)})
    if outcome.entry is not None:
        work["entry"] = outcome.entry[sel]
    try:
        with np.errstate(all="ignore"):
            fit = cox_regression(work, time="time", event="event", covariates=["it"],
                                 entry="entry" if outcome.entry is not None else None)
            test = proportional_hazards_test(fit)
    except (ValueError, np.linalg.LinAlgError) as error:
        return math.nan, f"Proportional-hazards test not run: {error}"
    return float(test.loc["it", "p"]), ""
