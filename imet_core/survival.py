"""Survival statistics that agree with R's survival package (the IMET authors' software).

Kaplan-Meier with delayed entry and case weights (``survfit``), the k-group log-rank and
Fleming-Harrington tests (``survdiff``), Cox regression with Efron or Breslow ties, delayed entry
(counting-process data), case weights, strata and robust sandwich errors (``coxph``), restricted
mean survival time (``print(survfit(...), rmean = tau)``) and the proportional-hazards test on
scaled Schoenfeld residuals (``cox.zph``).

Every routine is vectorised with numpy (cumulative sums over sorted times, no Python loops over
patients), so the same code serves the 200-patient IMET cohort and a million-row registry.

References
----------
- Therneau TM. *A Package for Survival Analysis in R*, survival 3.5-3: ``survfitKM`` and
  ``src/survfitkm.c`` (KM, Greenwood, infinitesimal-jackknife variance), ``survfit_confint``,
  ``survmean`` (median and RMST as printed), ``survdiff2.c``, ``coxfit6.c`` / ``agfit4.c``
  (Cox partial likelihood), ``coxscore2.c`` / ``agscore2.c`` (score residuals), ``cox.zph``.
- Therneau TM, Grambsch PM. *Modeling Survival Data*, Springer 2000: ch. 3 (Cox model, Efron
  approximation), ch. 6 (proportional hazards test), ch. 7 (robust variance).
- Klein JP, Moeschberger ML. *Survival Analysis*, 2nd ed., 2003: section 4.2 (Greenwood) and
  4.5 (restricted mean).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse, special, stats

__all__ = [
    "KaplanMeierResult",
    "LogrankResult",
    "CoxResult",
    "CoxFit",
    "RMSTResult",
    "kaplan_meier",
    "logrank_test",
    "cox_regression",
    "cox_fit_arrays",
    "rmst",
    "proportional_hazards_test",
    "risk_table",
    "SurvivalInputError",
]

CONF_TYPES = ("log", "log-log", "plain")
KM_TABLE_COLUMNS = ["time", "at_risk", "events", "censored", "survival", "lower", "upper"]
COX_SUMMARY_COLUMNS = ["coef", "se", "hr", "hr_lower", "hr_upper", "z", "p"]
# R's aeqSurv and survmean use sqrt(machine epsilon) as "equal" for times and probabilities.
_TOL = float(np.sqrt(np.finfo(float).eps))


class SurvivalInputError(ValueError):
    """Raised when survival input is unusable (lengths differ, missing values, stop <= start)."""


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------
def _as_float(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if np.isnan(array).any():
        raise SurvivalInputError(f"{name} has {int(np.isnan(array).sum())} missing value(s).")
    if np.isinf(array).any():
        raise SurvivalInputError(f"{name} has infinite values.")
    return array


def _as_event(values, n: int) -> np.ndarray:
    raw = np.asarray(values)
    if raw.dtype == bool:
        event = raw.astype(float)
    else:
        event = _as_float(raw, "event")
    if event.shape[0] != n:
        raise SurvivalInputError("event and time have different lengths.")
    if not np.isin(event, (0.0, 1.0)).all():
        raise SurvivalInputError("event must be 0/1 (or False/True).")
    return event


def _prepare(time, event, entry=None, weights=None):
    """Validate and return float arrays (time, event, entry, weights); entry is None if absent."""
    t = _as_float(time, "time")
    n = t.shape[0]
    d = _as_event(event, n)
    e = None
    if entry is not None:
        e = _as_float(entry, "entry")
        if e.shape[0] != n:
            raise SurvivalInputError("entry and time have different lengths.")
        if (e >= t).any():
            bad = int(np.argmax(e >= t))
            raise SurvivalInputError(
                f"entry must be before time for every row (row {bad}: entry {e[bad]} >= time {t[bad]})."
            )
    w = np.ones(n)
    if weights is not None:
        w = _as_float(weights, "weights")
        if w.shape[0] != n:
            raise SurvivalInputError("weights and time have different lengths.")
        if (w < 0).any():
            raise SurvivalInputError("weights must not be negative.")
    return t, d, e, w


def _timefix(*arrays: np.ndarray | None) -> list[np.ndarray | None]:
    """Make times that differ only by rounding error exactly equal, as R's ``aeqSurv`` does.

    Values whose gap to the previous distinct value is below sqrt(eps) * max|t| are mapped onto it,
    so that e.g. days / 30.4375 computed two ways still tie.
    """
    present = [a for a in arrays if a is not None]
    if not present:
        return list(arrays)
    # hash-based distinct values, then sort only those (far fewer than rows in a registry)
    values = _sorted_unique(np.concatenate(present) if len(present) > 1 else present[0])
    if values.size < 2:
        return list(arrays)
    scale = max(np.abs(values).max(), 1e-300)
    close = np.diff(values) <= _TOL * scale
    if not close.any():
        return list(arrays)
    group_start = np.concatenate([[True], ~close])
    representative = values[group_start][np.cumsum(group_start) - 1]
    return [None if a is None else representative[np.searchsorted(values, a)] for a in arrays]


_HASH_ABOVE = 50_000  # rows above which distinct times are hashed rather than sorted


def _unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True) without sorting the rows when they are many:
    hash the distinct values, sort those, and find each row's by binary search."""
    if values.size > _HASH_ABOVE:
        codes, distinct = pd.factorize(values)  # codes into the distinct values as they appear
        order = np.argsort(distinct)
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        return distinct[order], rank[codes]
    return np.unique(values, return_inverse=True)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Distinct values, sorted: hashing first for large arrays (few distinct times among
    many rows), a plain sort for small ones (less overhead)."""
    if values.size > _HASH_ABOVE:
        return np.sort(pd.unique(values))
    return np.unique(values)


# ----------------------------------------------------------------------------------------------
# Risk-set sums: sum over {i: entry_i < t <= time_i} of a_i, for many t at once
# ----------------------------------------------------------------------------------------------
def _risk_set_sums(times_at: np.ndarray, time: np.ndarray, entry: np.ndarray | None,
                   values: np.ndarray) -> np.ndarray:
    """Sum ``values`` (n, ...) over the risk set at each of ``times_at``.

    At risk at t means entry < t <= time (R's counting-process convention). Uses two reverse
    cumulative sums, so the cost is O(n log n) whatever the number of query times.
    """
    if entry is None and time.size > _HASH_ABOVE:  # no sort: sums per distinct time, then a tail sum
        distinct, inverse = _unique_inverse(time)
        if values.ndim == 1:
            per_time = np.bincount(inverse, weights=values, minlength=distinct.size)
        else:
            per_time = _bincount_columns(inverse, values.reshape(time.size, -1), distinct.size).reshape(
                (distinct.size,) + values.shape[1:])
        return _take_tail(_reverse_cumsum(per_time), np.searchsorted(distinct, times_at, side="left"))
    order = np.argsort(time, kind="stable")
    sorted_time = time[order]
    tail = _reverse_cumsum(values[order])
    pos = np.searchsorted(sorted_time, times_at, side="left")  # first index with time >= t
    total = _take_tail(tail, pos)
    if entry is not None:
        order_e = np.argsort(entry, kind="stable")
        sorted_entry = entry[order_e]
        tail_e = _reverse_cumsum(values[order_e])
        pos_e = np.searchsorted(sorted_entry, times_at, side="left")  # entry >= t: not yet at risk
        total = total - _take_tail(tail_e, pos_e)
    return total


def _reverse_cumsum(values: np.ndarray) -> np.ndarray:
    """tail[k] = sum(values[k:]), with a trailing zero row so index n is valid."""
    rev = np.cumsum(values[::-1], axis=0)[::-1]
    zero = np.zeros((1,) + values.shape[1:])
    return np.concatenate([rev, zero], axis=0)


def _take_tail(tail: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return tail[pos]


# ----------------------------------------------------------------------------------------------
# Kaplan-Meier
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan-Meier estimate, as R's ``survfit``.

    Attributes
    ----------
    table : DataFrame
        One row per distinct time at which an event or a censoring happens, columns
        ``time, at_risk, events, censored, survival, lower, upper`` (weighted counts when case
        weights are given, as R reports them).
    median, median_lower, median_upper : float
        Median survival and its confidence limits as ``print(survfit)`` gives them; NaN where
        not reached.
    std_err : ndarray
        Standard error behind the intervals: of log S (Greenwood) or, with non-integer weights,
        of S itself (infinitesimal jackknife), aligned with ``table``.
    conf_type, alpha, n, n_events, variance : metadata (``variance`` is "greenwood" or "robust").
    """

    table: pd.DataFrame
    median: float
    median_lower: float
    median_upper: float
    conf_type: str
    alpha: float
    n: int
    n_events: float
    variance: str
    std_err: np.ndarray = field(repr=False)

    def survival_at(self, t):
        """Survival probability S(t) (right-continuous step function; 1 before the first time)."""
        return self._step(self.table["survival"].to_numpy(), t, before=1.0)

    def ci_at(self, t) -> tuple:
        """(lower, upper) confidence limits at time(s) t, as ``summary(fit, times = t)``."""
        return (self._step(self.table["lower"].to_numpy(), t, before=1.0),
                self._step(self.table["upper"].to_numpy(), t, before=1.0))

    def _step(self, values: np.ndarray, t, before: float):
        times = self.table["time"].to_numpy()
        q = np.asarray(t, dtype=float)
        idx = np.searchsorted(times, q, side="right") - 1
        padded = np.concatenate([[before], values])
        out = padded[idx + 1]
        return float(out) if out.ndim == 0 else out


def kaplan_meier(time, event, *, entry=None, weights=None, conf_type: str = "log",
                 alpha: float = 0.05) -> KaplanMeierResult:
    """Kaplan-Meier survival with pointwise confidence intervals, matching R's ``survfit``.

    Parameters
    ----------
    time, event : array-like
        Follow-up time (stop time) and event indicator (1/True = event, 0/False = censored).
    entry : array-like, optional
        Delayed-entry (left-truncation) time: a subject is at risk on (entry, time].
    weights : array-like, optional
        Case weights. With non-integer weights R switches to the infinitesimal-jackknife (robust)
        variance, and so does this function.
    conf_type : {"log", "log-log", "plain"}
        Interval type; "log" is R's default and the IMET paper's.
    alpha : float
        1 - confidence level.

    Returns
    -------
    KaplanMeierResult
        ``.table`` with columns ``time, at_risk, events, censored, survival, lower, upper``;
        ``.median``, ``.median_lower``, ``.median_upper``; ``.survival_at(t)``.
    """
    if conf_type not in CONF_TYPES:
        raise SurvivalInputError(f"conf_type must be one of {CONF_TYPES}, not {conf_type!r}.")
    t, d, e, w = _prepare(time, event, entry, weights)
    t, e = _timefix(t, e)
    n = t.shape[0]
    if n == 0:
        raise SurvivalInputError("No observations.")
    utime, inverse = _unique_inverse(t)
    if e is None:  # at risk at u: every row with time >= u, a reverse cumulative sum
        at_risk = np.cumsum(np.bincount(inverse, weights=w, minlength=utime.size)[::-1])[::-1]
    else:
        at_risk = _risk_set_sums(utime, t, e, w)
    events = np.bincount(inverse, weights=w * d, minlength=utime.size)
    censored = np.bincount(inverse, weights=w * (1 - d), minlength=utime.size)
    events_unweighted = np.bincount(inverse, weights=d, minlength=utime.size)
    # An "event time" needs at least one event with positive weight (survfitkm.c).
    has_event = (events_unweighted > 0) & (events > 0)
    # Risk sets and deaths are summed in different orders; a risk set that dies out completely
    # must give exactly 0 (as R does), not +-2e-16 depending on row order.
    remaining = np.where(at_risk - events <= _TOL * at_risk, 0.0, at_risk - events)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(has_event, remaining / at_risk, 1.0)
    survival = np.cumprod(factor)
    robust = weights is not None and bool(np.any(w != np.floor(w)))
    if robust:
        std_err = _km_ij_std(utime, t, d, e, w, at_risk, events, has_event, survival, remaining)
        log_se = False
    else:
        # Greenwood (Klein & Moeschberger eq. 4.2.2) on the log scale, as survfitkm.c.
        with np.errstate(divide="ignore", invalid="ignore"):
            increment = np.where(has_event, events / (at_risk * remaining), 0.0)
        std_err = np.sqrt(np.cumsum(increment))
        log_se = True
    lower, upper = _confint(survival, std_err, log_se, conf_type, alpha)
    table = pd.DataFrame({
        "time": utime, "at_risk": at_risk, "events": events, "censored": censored,
        "survival": survival, "lower": lower, "upper": upper,
    })
    med = _survmean_quantile(survival, utime)
    med_lower = _survmean_quantile(lower, utime)
    med_upper = _survmean_quantile(upper, utime)
    return KaplanMeierResult(
        table=table, median=med, median_lower=med_lower, median_upper=med_upper,
        conf_type=conf_type, alpha=alpha, n=n, n_events=float((w * d).sum()),
        variance="robust" if robust else "greenwood", std_err=std_err,
    )


def _km_ij_std(utime, t, d, e, w, at_risk, events, has_event, survival, remaining) -> np.ndarray:
    """Infinitesimal-jackknife standard error of S(t) for weighted KM (survfitkm.c, type 1).

    The influence of subject k on S(t) is
        S(t) * w_k * sum_{event times t_j <= t} (Y_k(t_j) * h_j - dN_k(t_j)) / (n_j - d_j),
    with h_j = d_j / n_j; the variance is the sum of squared influences (Therneau & Grambsch
    section 7.2). Sums over subjects are done with risk-set cumulative sums.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(has_event, (events / at_risk) / remaining, 0.0)
    # Once S reaches 0 every remaining influence is 0 (survfitkm.c recursion); guard infinities.
    finite = np.isfinite(step)
    step = np.where(finite, step, 0.0)
    cum = np.cumsum(step)  # C(t_j) at each unique time
    m = utime.size
    # Per subject: own event term at its stop time (if an event time).
    stop_idx = np.searchsorted(utime, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where((d > 0) & has_event[stop_idx], 1.0 / remaining[stop_idx], 0.0)
    own = np.where(np.isfinite(own), own, 0.0)
    entry_cum = np.zeros_like(t) if e is None else _cum_before(utime, cum, e)
    # Final (post-exit) value of the bracket for subject k: C(stop) - C(entry) - own.
    final_val = cum[stop_idx] - entry_cum - own
    w2 = w * w
    # Subjects who have left by time u_j (stop <= u_j): contribute w2 * final^2.
    order = np.argsort(stop_idx, kind="stable")
    left_sum = np.bincount(stop_idx, weights=w2 * final_val ** 2, minlength=m)
    left_cum = np.cumsum(left_sum)
    # Subjects still at risk after u_j (entry < u_j, stop > u_j): w2 * (C(u_j) - C(entry))^2.
    # Sum = C^2 * S0 - 2 C * S1 + S2 over {entry < u_j < stop}, i.e. at risk at u_j but not exiting.
    del order
    values = np.column_stack([w2, w2 * entry_cum, w2 * entry_cum ** 2])
    in_risk = _risk_set_sums(utime, t, e, values)
    exiting = np.zeros((m, 3))
    for col in range(3):
        exiting[:, col] = np.bincount(stop_idx, weights=values[:, col], minlength=m)
    still = in_risk - exiting
    var_u = left_cum + cum ** 2 * still[:, 0] - 2 * cum * still[:, 1] + still[:, 2]
    var_u = np.maximum(var_u, 0.0)
    std = np.where(survival == 0, 0.0, survival * np.sqrt(var_u))
    # R recomputes the variance only at event times; between them it carries the last value.
    return _carry_forward(std, has_event, survival)


def _cum_before(utime: np.ndarray, cum: np.ndarray, at: np.ndarray) -> np.ndarray:
    """C evaluated at the last unique time <= at (0 before the first)."""
    idx = np.searchsorted(utime, at, side="right") - 1
    padded = np.concatenate([[0.0], cum])
    return padded[idx + 1]


def _carry_forward(values: np.ndarray, update: np.ndarray, survival: np.ndarray) -> np.ndarray:
    """Hold ``values`` constant between the positions where ``update`` is True (0 before)."""
    idx = np.where(update, np.arange(values.size), -1)
    idx = np.maximum.accumulate(idx)
    padded = np.concatenate([[0.0], values])
    return padded[idx + 1]


def _confint(surv: np.ndarray, std_err: np.ndarray, log_se: bool, conf_type: str,
             alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits exactly as R's ``survfit_confint`` (upper limit capped at 1)."""
    z = special.ndtri(1 - alpha / 2)  # the routine stats.norm.ppf calls, without its overhead
    p = surv
    se = std_err.astype(float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not log_se:  # robust: se is of S, convert to the log scale
            se = np.where(se == 0, 0.0, se / p)
        if conf_type == "plain":
            half = se * p * z
            lower = _pmax(p - half, 0.0)
            upper = _pmin(p + half, 1.0)
        elif conf_type == "log":
            xx = np.where(p == 0, np.nan, p)
            lower = np.exp(np.log(xx) - z * se)
            upper = _pmin(np.exp(np.log(xx) + z * se), 1.0)
        else:  # log-log
            xx = np.where((p == 0) | (p == 1), np.nan, p)
            se2 = z * se / np.log(xx)
            lower = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
            upper = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
    return lower, upper


def _pmax(x: np.ndarray, bound: float) -> np.ndarray:
    """R's pmax: NaN stays NaN."""
    return np.where(np.isnan(x), np.nan, np.maximum(x, bound))


def _pmin(x: np.ndarray, bound: float) -> np.ndarray:
    return np.where(np.isnan(x), np.nan, np.minimum(x, bound))


def _survmean_quantile(curve: np.ndarray, times: np.ndarray, p: float = 0.5) -> float:
    """The time where ``curve`` first reaches ``p``, as ``survmean``'s ``minmin`` (print.survfit).

    If the curve sits exactly at p (within sqrt(eps)) on a flat stretch, the answer is the
    midpoint between the start of that stretch and the time the curve next drops.
    """
    keep = ~np.isnan(curve) & (curve < p + _TOL)
    if not keep.any():
        return float("nan")
    x = times[keep]
    y = curve[keep]
    if abs(y[0] - p) < _TOL:
        lower = np.nonzero(y < y[0])[0]
        if lower.size:
            return float((x[0] + x[lower[0]]) / 2)
    return float(x[0])


def risk_table(time, event, at_times, *, entry=None, weights=None) -> pd.DataFrame:
    """Numbers at risk, cumulative events and cumulative censored at chosen times (KMunicate).

    Parameters
    ----------
    time, event, entry, weights : as in :func:`kaplan_meier`.
    at_times : array-like
        Times at which to report (e.g. 0, 12, 24, ... months).

    Returns
    -------
    DataFrame
        Columns ``time, at_risk, events, censored``: at risk at t counts subjects with
        entry < t <= time (all with time >= t when there is no entry, as R's ``summary.survfit``
        and survminer), events and censored are cumulative counts with time <= t.
    """
    t, d, e, w = _prepare(time, event, entry, weights)
    q = np.asarray(at_times, dtype=float).reshape(-1)
    at_risk = _risk_set_sums(q, t, e, w) if t.size else np.zeros(q.size)
    # cumulative counts over the distinct times (no sort of the rows)
    utime, inverse = _unique_inverse(t)
    cum_events = np.concatenate([[0.0], np.cumsum(np.bincount(inverse, weights=w * d, minlength=utime.size))])
    cum_cens = np.concatenate([[0.0], np.cumsum(np.bincount(inverse, weights=w * (1 - d), minlength=utime.size))])
    pos = np.searchsorted(utime, q, side="right")
    return pd.DataFrame({"time": q, "at_risk": at_risk, "events": cum_events[pos],
                         "censored": cum_cens[pos]})


# ----------------------------------------------------------------------------------------------
# Log-rank / Fleming-Harrington
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogrankResult:
    """k-sample test of equal survival, as R's ``survdiff``.

    Attributes
    ----------
    statistic : float
        Chi-square statistic.
    dof : int
        Degrees of freedom (number of groups with expected > 0, minus 1).
    p_value : float
    table : DataFrame
        Indexed by group, columns ``n, observed, expected`` (summed over strata).
    rho : float
        0 = log-rank, 1 = Peto-Peto modification of the Gehan-Wilcoxon test.
    """

    statistic: float
    dof: int
    p_value: float
    table: pd.DataFrame
    rho: float


def logrank_test(time, event, group, *, strata=None, rho: float = 0.0) -> LogrankResult:
    """Log-rank test (rho = 0) or the G-rho family of Harrington & Fleming, as ``survdiff``.

    Parameters
    ----------
    time, event : array-like
    group : array-like
        Group labels (k >= 2 levels; k - 1 degrees of freedom).
    strata : array-like, optional
        Stratification variable: observed, expected and variance are summed over strata.
    rho : float
        Weight S(t-)^rho, S the pooled Kaplan-Meier within stratum (survdiff2.c).

    Returns
    -------
    LogrankResult
        ``.statistic``, ``.dof``, ``.p_value``, ``.table`` (columns ``n, observed, expected``).
    """
    t, d, _, _ = _prepare(time, event)
    (t,) = _timefix(t)
    g = pd.Series(np.asarray(group)).reset_index(drop=True)
    if g.isna().any():
        raise SurvivalInputError("group has missing values.")
    if g.shape[0] != t.shape[0]:
        raise SurvivalInputError("group and time have different lengths.")
    levels = _ordered_levels(g)
    if len(levels) < 2:
        raise SurvivalInputError("The log-rank test needs at least two groups.")
    gi = pd.Categorical(g, categories=levels).codes
    k = len(levels)
    s = np.zeros(t.shape[0], dtype=int) if strata is None else pd.factorize(np.asarray(strata))[0]
    observed = np.zeros(k)
    expected = np.zeros(k)
    var = np.zeros((k, k))
    for stratum in np.unique(s):
        sel = s == stratum
        o, ex, v = _survdiff_stratum(t[sel], d[sel], gi[sel], k, rho)
        observed += o
        expected += ex
        var += v
    usable = expected > 0
    if usable.sum() < 2:
        chi = 0.0
    else:
        diff = (observed - expected)[usable][1:]
        vv = var[np.ix_(usable, usable)][1:, 1:]
        chi = float(diff @ np.linalg.solve(vv, diff))
    dof = int(usable.sum()) - 1
    p = float(_chi2_sf(chi, dof)) if dof > 0 else float("nan")
    n_per = np.bincount(gi, minlength=k)
    table = pd.DataFrame({"n": n_per, "observed": observed, "expected": expected},
                         index=pd.Index(levels, name="group"))
    return LogrankResult(statistic=chi, dof=dof, p_value=p, table=table, rho=float(rho))


def _ordered_levels(g: pd.Series) -> list:
    if isinstance(g.dtype, pd.CategoricalDtype):
        return [c for c in g.cat.categories if (g == c).any()]
    try:
        return sorted(g.unique().tolist())
    except TypeError:
        return list(pd.unique(g))


def _survdiff_stratum(t, d, gi, k, rho):
    """Observed, expected and variance within one stratum (survdiff2.c)."""
    utime, inverse = np.unique(t, return_inverse=True)
    m = utime.size
    deaths = np.bincount(inverse, weights=d, minlength=m)
    # deaths and numbers at risk per group at each unique time
    deaths_g = np.zeros((m, k))
    np.add.at(deaths_g, (inverse, gi), d)
    count_g = np.zeros((m, k))
    np.add.at(count_g, (inverse, gi), 1.0)
    risk_g = np.cumsum(count_g[::-1], axis=0)[::-1]
    risk = risk_g.sum(axis=1)
    if rho != 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(deaths > 0, (risk - deaths) / risk, 1.0)
        km_after = np.cumprod(factor)
        km_before = np.concatenate([[1.0], km_after[:-1]])
        wt = km_before ** rho
    else:
        wt = np.ones(m)
    ev = deaths > 0
    wt, deaths, deaths_g, risk_g, risk = wt[ev], deaths[ev], deaths_g[ev], risk_g[ev], risk[ev]
    observed = (wt[:, None] * deaths_g).sum(axis=0)
    share = risk_g / risk[:, None]
    expected = (wt[:, None] * deaths[:, None] * share).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kk = np.where(risk > 1, wt ** 2 * deaths * (risk - deaths) / (risk * (risk - 1)), 0.0)
    var = _survdiff_var(kk, risk, share)
    return observed, expected, var


def _survdiff_var(kk, risk, share):
    """V_jl = sum_t kk_t * n_t * s_tj * (delta_jl - s_tl), with s = group share of the risk set."""
    weighted = (kk * risk)[:, None] * share
    diag = np.diag(weighted.sum(axis=0))
    return diag - weighted.T @ share


# ----------------------------------------------------------------------------------------------
# Cox proportional hazards
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoxResult:
    """Cox proportional-hazards fit, as R's ``coxph``.

    Attributes
    ----------
    summary : DataFrame
        Indexed by covariate, columns ``coef, se, hr, hr_lower, hr_upper, z, p``. ``se`` is the
        robust (sandwich) standard error when ``robust`` is True, as R's ``robust se``.
    log_likelihood, log_likelihood_null : float
        Partial log-likelihood at the estimate and at beta = 0.
    n, n_events : int
        Rows used and (unweighted) number of events, as R's ``fit$n`` and ``fit$nevent``.
    robust : bool
    ties : str
    converged : bool
    warnings : tuple of str
        E.g. a coefficient that may be infinite (monotone likelihood).
    """

    summary: pd.DataFrame
    log_likelihood: float
    log_likelihood_null: float
    n: int
    n_events: int
    robust: bool
    ties: str
    alpha: float
    converged: bool
    iterations: int
    warnings: tuple
    coef: np.ndarray = field(repr=False)
    naive_var: np.ndarray = field(repr=False)
    var: np.ndarray = field(repr=False)
    _data: dict = field(repr=False, compare=False)

    @property
    def covariates(self) -> list:
        return list(self.summary.index)

    @property
    def lr_test(self) -> tuple[float, int, float]:
        """Likelihood-ratio test of all coefficients: (chi-square, df, p)."""
        chi = 2 * (self.log_likelihood - self.log_likelihood_null)
        df = len(self.coef)
        return chi, df, float(_chi2_sf(chi, df))

    @cached_property
    def concordance(self) -> float:
        """Harrell's concordance as R's ``coxph`` reports it (ties in risk count 1/2)."""
        dd = self._data
        return _concordance(dd["time"], dd["event"], dd["entry"], dd["weights"], dd["strata"],
                            dd["x"] @ self.coef)


def cox_regression(frame: pd.DataFrame, *, time: str, event: str, covariates: Sequence[str],
                   entry: str | None = None, weights: str | None = None, robust: bool | None = None,
                   ties: str = "efron", alpha: float = 0.05, strata: str | Sequence[str] | None = None,
                   cluster: str | None = None, max_iter: int = 30) -> CoxResult:
    """Cox regression by Newton-Raphson on the partial likelihood, as R's ``coxph``.

    Parameters
    ----------
    frame : DataFrame
    time, event : str
        Column names of the stop time and the event indicator.
    covariates : list of str
        Numeric columns used as given (encode categorical variables as 0/1 dummies first).
    entry : str, optional
        Start time column for delayed entry or counting-process (start, stop] rows.
    weights : str, optional
        Case-weight column.
    robust : bool, optional
        Sandwich variance (R's ``robust = TRUE``); default True when weights or cluster are given.
    ties : {"efron", "breslow"}
    alpha : float
        1 - confidence level of the HR interval.
    strata : str or list of str, optional
        Separate baseline hazards per stratum.
    cluster : str, optional
        Cluster id for the robust variance (e.g. patient id with several rows).

    Returns
    -------
    CoxResult
        ``.summary`` (columns ``coef, se, hr, hr_lower, hr_upper, z, p``), ``.log_likelihood``,
        ``.concordance``, ``.n``, ``.n_events``.
    """
    if ties not in ("efron", "breslow"):
        raise SurvivalInputError("ties must be 'efron' or 'breslow'.")
    covariates = list(covariates)
    if not covariates:
        raise SurvivalInputError("At least one covariate is needed.")
    missing = [c for c in [time, event, entry, weights, cluster, *covariates]
               if c is not None and c not in frame.columns]
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    missing += [c for c in strata_cols if c not in frame.columns]
    if missing:
        raise SurvivalInputError(f"Columns not found: {', '.join(map(str, missing))}.")
    x = np.column_stack([_as_float(frame[c], c) for c in covariates])
    t, d, e, w = _prepare(frame[time], frame[event],
                          None if entry is None else frame[entry],
                          None if weights is None else frame[weights])
    t, e = _timefix(t, e)
    if strata_cols:
        s = pd.MultiIndex.from_frame(frame[strata_cols].astype(object)).factorize()[0] \
            if len(strata_cols) > 1 else pd.factorize(frame[strata_cols[0]])[0]
        if (s < 0).any():
            raise SurvivalInputError("strata have missing values.")
    else:
        s = np.zeros(t.shape[0], dtype=int)
    if robust is None:
        robust = weights is not None or cluster is not None
    # Centre covariates for numerical stability (R does the same); coefficients are unchanged.
    centre = np.average(x, axis=0, weights=w) if w.sum() > 0 else x.mean(axis=0)
    xc = x - centre
    problem = _CoxProblem(t, d, e, w, s, xc, ties, aggregate=not robust, closed_form=not robust)
    fit = _newton_raphson(problem, max_iter)
    beta, loglik, loglik0, naive_var = fit.beta, fit.loglik, fit.loglik_null, fit.var
    converged, iterations, warnings = fit.converged, fit.iterations, fit.warnings
    if robust:
        resid = problem.score_residuals(beta, t.shape[0]) * w[:, None]
        dfbeta = resid @ naive_var
        if cluster is not None:
            codes = pd.factorize(frame[cluster])[0]
            dfbeta = _group_sum(dfbeta, codes)
        var = dfbeta.T @ dfbeta
    else:
        var = naive_var
    se = np.sqrt(np.diag(var))
    z = special.ndtri(1 - alpha / 2)  # the routine stats.norm.ppf calls, without its overhead
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zstat = beta / se
        summary = pd.DataFrame({
            "coef": beta, "se": se, "hr": np.exp(beta),
            "hr_lower": np.exp(beta - z * se), "hr_upper": np.exp(beta + z * se),
            "z": zstat, "p": 2 * stats.norm.sf(np.abs(zstat)),
        }, index=pd.Index(covariates, name="covariate"))
    data = {"time": t, "event": d, "entry": e, "weights": w, "strata": s, "x": xc,
            "ties": ties, "covariates": covariates}
    return CoxResult(
        summary=summary[COX_SUMMARY_COLUMNS], log_likelihood=float(loglik),
        log_likelihood_null=float(loglik0), n=int(t.shape[0]), n_events=int(d.sum()),
        robust=bool(robust), ties=ties, alpha=alpha, converged=converged, iterations=iterations,
        warnings=tuple(warnings), coef=beta, naive_var=naive_var, var=var, _data=data,
    )


@dataclass(frozen=True)
class CoxFit:
    """A lean Cox fit for internal callers that already hold clean numpy arrays (the dashboard
    fits dozens of models per filter change). Same engine and same numbers as
    :func:`cox_regression`; no robust variance, strata, weights or concordance.

    Attributes: ``coef, se, hr, hr_lower, hr_upper, z, p`` (arrays, one per column of x),
    ``log_likelihood``, ``log_likelihood_null``, ``n``, ``n_events``, ``warnings``.
    """

    coef: np.ndarray
    se: np.ndarray
    hr: np.ndarray
    hr_lower: np.ndarray
    hr_upper: np.ndarray
    z: np.ndarray
    p: np.ndarray
    log_likelihood: float
    log_likelihood_null: float
    n: int
    n_events: int
    warnings: tuple
    var: np.ndarray = field(repr=False, default=None)
    ph: dict | None = field(repr=False, default=None)  # {term: (chisq, df, p)}, "GLOBAL" last


def cox_fit_arrays(time: np.ndarray, event: np.ndarray, x: np.ndarray, *, entry: np.ndarray | None = None,
                   ties: str = "efron", alpha: float = 0.05, ph_terms: dict | None = None,
                   time_codes: np.ndarray | None = None, time_grid: np.ndarray | None = None) -> CoxFit:
    """Cox regression on float arrays (time, 0/1 event, n x p covariates), as :func:`cox_regression`.

    Inputs must be finite with entry < time; callers validate. With ``ph_terms`` (term name ->
    column indices) the result's ``ph`` holds cox.zph's test per term and GLOBAL.

    ``time_codes`` / ``time_grid`` (no entry): the rows' times given as indices into a sorted
    grid of distinct times (``np.unique(..., return_inverse=True)`` done once by the caller). A
    registry's dashboard fits dozens of models on subsets of the same rows; with the codes no
    fit sorts its rows again (the risk sets, the aggregation of identical rows and cox.zph's
    time transform all become counting on the grid). Same numbers either way (tested).
    Returns :class:`CoxFit`.
    """
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    x = np.asarray(x, dtype=float).reshape(t.shape[0], -1)
    e = None if entry is None else np.asarray(entry, dtype=float)
    grid = None
    if time_codes is not None and time_grid is not None and e is None:
        # the problem counts on the grid; the times themselves are not needed again
        grid, codes = _fixed_grid(np.asarray(time_grid, dtype=float), np.asarray(time_codes, dtype=np.int64))
    else:
        t, e = _timefix(t, e)
        codes = None
    w = np.ones(t.shape[0])
    s = None  # one stratum
    key = _binary_key(x) if t.shape[0] > _CoxProblem.AGGREGATE_ABOVE else None
    center = (np.ones(t.shape[0]) @ x) / max(t.shape[0], 1)  # column means (one matrix product)
    problem = _CoxProblem(t, d, e, w, s, x, ties, aggregate=True, codes=codes, grid=grid,
                          pattern_key=None if key is None else (*key, center), unit_weights=True,
                          center=center)
    fit = _newton_raphson(problem, 30)
    beta, loglik, loglik0, warnings = fit.beta, fit.loglik, fit.loglik_null, fit.warnings
    se = np.sqrt(np.abs(np.diag(fit.var)))
    z = stats.norm.ppf(1 - alpha / 2) if alpha != 0.05 else _Z95
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zstat = beta / se
        p = np.array([math.erfc(abs(v) / math.sqrt(2)) if np.isfinite(v) else np.nan for v in zstat])
        return CoxFit(coef=beta, se=se, hr=np.exp(beta), hr_lower=np.exp(beta - z * se),
                      hr_upper=np.exp(beta + z * se), z=zstat, p=p, log_likelihood=float(loglik),
                      log_likelihood_null=float(loglik0), n=int(t.shape[0]), n_events=int(d.sum()),
                      warnings=tuple(warnings), var=fit.var,
                      ph=_fit_ph(problem, t, d, e, beta, ph_terms, codes, grid))


def _fit_ph(problem, t, d, e, beta, ph_terms, codes=None, grid=None) -> dict | None:
    if ph_terms is None:
        return None
    names = [f"x{j}" for j in range(beta.size)]
    terms = {term: [names[j] for j in cols] for term, cols in ph_terms.items()}
    g = None if codes is None else _km_transform_on_grid(codes, d, grid.size)
    return _zph_table(problem, t, d, e, beta, names, terms, "km", g_grid=g)


def _fixed_grid(grid: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's timefix on a grid of distinct times, carried over to the codes."""
    (fixed,) = _timefix(grid)
    if fixed is grid or np.array_equal(fixed, grid):
        return grid, codes
    merged, inverse = np.unique(fixed, return_inverse=True)
    return merged, inverse[codes]


def _km_transform_on_grid(codes: np.ndarray, d: np.ndarray, size: int) -> np.ndarray:
    """cox.zph's "km" time transform, g = 1 - S(t-) minus its mean over the events, at every
    grid time, from counts on the grid (the unweighted KM of all rows, as R)."""
    at_grid = np.bincount(codes, minlength=size).astype(float)
    deaths = np.bincount(codes, weights=d, minlength=size)
    at_risk = np.cumsum(at_grid[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(deaths > 0, (at_risk - deaths) / at_risk, 1.0)
    before = np.concatenate([[1.0], np.cumprod(factor)[:-1]])
    transformed = 1 - before
    mean = float((deaths * transformed).sum() / deaths.sum())
    return transformed - mean


_Z95 = 1.959963984540054  # qnorm(0.975)


def _chi2_sf(x, df):
    """Upper tail of the chi-square distribution: the cephes routine scipy.stats.chi2.sf calls,
    without its per-call argument handling (a dashboard computes hundreds of p-values)."""
    return special.chdtrc(df, x)


def _group_sum(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    out = np.zeros((codes.max() + 1, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def _invert_information(info: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(info)


def _newton_raphson(problem: "_CoxProblem", max_iter: int):
    """Newton-Raphson with step halving, R's coxph.control defaults (eps = 1e-9, toler.inf)."""
    p = problem.p
    beta = np.zeros(p)
    loglik, grad, info = problem.evaluate(beta)
    loglik_null = loglik
    warnings: list[str] = []
    converged = False
    iterations = 0
    halving = 0
    for iterations in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        new_beta = beta + step
        new_loglik, new_grad, new_info = problem.evaluate(new_beta)
        if not np.isfinite(new_loglik) or new_loglik < loglik - 1e-12 * abs(loglik):
            # Step halving as coxfit6.c does when the likelihood gets worse.
            halving += 1
            new_beta = beta + step / 2 ** halving
            if halving > 30:
                break
            new_loglik, new_grad, new_info = problem.evaluate(new_beta)
            if not np.isfinite(new_loglik) or new_loglik < loglik:
                continue
        else:
            halving = 0
        done = abs(1 - loglik / new_loglik) <= 1e-9 if new_loglik != 0 else abs(loglik) <= 1e-12
        beta, loglik, grad, info = new_beta, new_loglik, new_grad, new_info
        if done:
            converged = True
            break
    var = _invert_information(info)
    se = np.sqrt(np.abs(np.diag(var)))
    for j in range(p):
        # R's toler.inf check: a coefficient running off to infinity (monotone likelihood).
        if abs(beta[j]) * np.sqrt(abs(info[j, j])) > 1e4 ** 0.5 * 10 or abs(beta[j]) > 20 \
                or (se[j] > 1e3 and abs(beta[j]) > 5):
            warnings.append(f"Coefficient {j + 1} may be infinite: the likelihood keeps rising "
                            "(for example, no events in one group).")
    if not converged:
        warnings.append("The Cox model did not converge.")
    return _NewtonResult(beta, loglik, loglik_null, info, var, converged, iterations, warnings)


@dataclass(frozen=True)
class _NewtonResult:
    beta: np.ndarray
    loglik: float
    loglik_null: float
    info: np.ndarray
    var: np.ndarray
    converged: bool
    iterations: int
    warnings: list


class _CoxProblem:
    """Partial likelihood, score and information for (start, stop] data with ties and weights.

    Efron's approximation with case weights follows coxfit6.c / agfit4.c: at a time with d tied
    events, for r = 0..d-1 the denominator is S0 - (r/d) * S0_deaths and each term is weighted by
    the mean weight of the deaths (Therneau & Grambsch section 3.3).

    Speed: each row is at risk at the event times with index in [lo, hi) (entry < t_k <= stop),
    so risk-set sums are difference arrays (bincounts and a cumsum, no sorting per iteration) and
    the information matrix is one X' diag(a) X product. For large registries without a robust
    variance, rows that share (stratum, lo, hi, event, covariates) are merged into one row with
    summed weights and a count: the likelihood is unchanged (Efron uses the counts), and a
    million-row fit with categorical covariates shrinks to a few thousand rows.
    """

    AGGREGATE_ABOVE = 20_000

    SMALL_TIES = 8  # tied deaths up to this many are expanded term by term (Efron's r = 0..d-1)

    def __init__(self, t, d, e, w, s, x, ties, aggregate: bool = False, codes=None, grid=None,
                 closed_form: bool = True, pattern_key: tuple | None = None, unit_weights: bool = False,
                 center: np.ndarray | None = None):
        self.p = x.shape[1]
        # x - center is the design the likelihood uses; formed only if a path needs the rows
        # (fits on covariate patterns never do: a million-row copy saved)
        self._center = center
        self._x_centred = None
        # (integer per row, its range, column means): the rows' 0/1 covariates as one integer
        # (column j adds 2^j); x holds them centred by the means
        self.pattern_key = pattern_key
        self.unit_weights = unit_weights  # every w is 1: count rows instead of summing weights
        self.efron = ties == "efron"
        # Efron's sums over r = 0..d-1 at a time with many tied deaths have closed forms in the
        # digamma / trigamma / log-gamma functions (see _efron_sums); the score residuals of the
        # robust variance need the term-by-term expansion, so they switch this off.
        self.closed_form = closed_form
        self.parts = []
        strata = np.zeros(1) if s is None else np.unique(s)  # None: one stratum
        for stratum in strata:
            single = strata.size == 1
            rows = np.arange(t.size) if single else np.nonzero(s == stratum)[0]
            part = self._stratum_part(rows, t, d, e, w, x, aggregate,
                                      None if codes is None else codes if single else codes[rows], grid)
            if part is not None:
                self.parts.append(part)

    def _stratum_part(self, rows, t, d, e, w, x, aggregate, codes=None, grid=None):
        whole = rows.size == t.size  # one stratum: use the arrays themselves, no copies
        t_r, d_r = (t, d) if whole else (t[rows], d[rows])
        event_grid = None
        if codes is not None:  # times as indices into a sorted grid: count instead of sort
            is_event_time = np.bincount(codes[d_r > 0], minlength=grid.size) > 0
            event_grid = np.nonzero(is_event_time)[0]
            etimes = grid[event_grid]
            m = etimes.size
            if m == 0:
                return None
            if (aggregate and e is None and self.pattern_key is not None
                    and rows.size > self.AGGREGATE_ABOVE):
                part = self._grid_pattern_part(rows, whole, d_r, w, codes, grid.size, is_event_time)
                if part is not None:
                    return {"etimes": etimes, "m": m, "event_grid": event_grid, **part}
            hi = np.cumsum(is_event_time)[codes]                  # event times <= stop
            x = self._centred(x)
        else:
            x = self._centred(x)
            etimes = _sorted_unique(t_r[d_r > 0])
            m = etimes.size
            if m == 0:
                return None
            hi = np.searchsorted(etimes, t_r, side="right")       # event times <= stop
        lo = (np.zeros(rows.size, dtype=np.int64) if e is None
              else np.searchsorted(etimes, e[rows], side="right"))  # event times <= entry
        active = np.nonzero(hi > lo)[0]  # rows at risk at some event time
        all_active = active.size == rows.size
        if whole and all_active:
            x_a, w_a, dead = x, w, d_r > 0
        else:
            x_a = x[active] if whole else x[rows][active]
            w_a = w[active] if whole else w[rows][active]
            lo, hi, dead = lo[active], hi[active], d_r[active] > 0
        shared = {"etimes": etimes, "m": m, "event_grid": event_grid}
        if aggregate and active.size > self.AGGREGATE_ABOVE:
            key = None
            if self.pattern_key is not None:
                key = self.pattern_key[0] if whole else self.pattern_key[0][rows]
                key = key if whole and all_active else key[active]
            patterns = self._pattern_part(x_a, w_a, lo, hi, dead, m, key,
                                          0 if key is None else self.pattern_key[1])
            if patterns is not None:
                return {**shared, **patterns}
        count = np.ones(active.size)
        row_map = rows[active]
        if aggregate and active.size > self.AGGREGATE_ABOVE:
            key, span = _combine_codes([lo, hi, dead.astype(np.int64)] +
                                       [_value_codes(x_a[:, j]) for j in range(x_a.shape[1])])
            if key is not None:
                inverse, n_groups = _dense_codes(key, span)
                first = _first_of_groups(inverse, n_groups)
                x_a, lo, hi, dead = x_a[first], lo[first], hi[first], dead[first]
                w_a = np.bincount(inverse, weights=w_a, minlength=n_groups)
                count = np.bincount(inverse, minlength=n_groups).astype(float)
                row_map = None
        # Work in order of hi (stop index) so risk-set sums are one cumulative sum per call.
        order = np.argsort(hi, kind="stable")
        x_a, w_a, lo, hi, dead, count = x_a[order], w_a[order], lo[order], hi[order], dead[order], count[order]
        if row_map is not None:
            row_map = row_map[order]
        ev = np.nonzero(dead)[0]
        inv = hi[ev] - 1  # a death's stop time is an event time: the last one <= stop
        # rows with hi <= k have left the risk set at event time k; with entry, rows with lo > k
        # have not entered yet
        hi_pos = np.searchsorted(hi, np.arange(m), side="right")
        lo_order = None if e is None else np.argsort(lo, kind="stable")
        lo_pos = None if e is None else np.searchsorted(lo[lo_order], np.arange(m), side="right")
        return {**shared, "x": x_a, "w": w_a, "lo": lo, "hi": hi, "hi_pos": hi_pos, "lo_order": lo_order,
                "lo_pos": lo_pos, "row_map": row_map, "at_risk": None,
                **self._death_terms(m, ev, inv, count[ev], w_a[ev], x_a[ev])}

    def _centred(self, x: np.ndarray) -> np.ndarray:
        if self._center is None:
            return x
        if self._x_centred is None:
            self._x_centred = x - self._center
        return self._x_centred

    def _grid_pattern_part(self, rows, whole, d, w, codes, n_grid, is_event_time):
        """:meth:`_pattern_part` for 0/1 covariates keyed by one integer (``pattern_key``) and
        times given as grid codes (no entry): rows are counted per (pattern, number of event
        times up to their time), and the at-risk weights are reverse cumulative sums of those
        counts, so no per-row risk interval or row selection is needed. None when the matrix
        would be too big."""
        key, span, center = self.pattern_key
        key = key if whole else key[rows]
        w = w if whole else w[rows]
        cum_events = np.cumsum(is_event_time)
        m = int(cum_events[-1])
        width = m + 1
        if span <= 64:
            pattern, pattern_keys = key, np.arange(span)  # absent patterns are rows of zeros
        else:
            pattern, pattern_keys = _dense_codes(key, span, values=True)
        n_patterns = pattern_keys.size
        cells = n_patterns * width
        if cells > min(self.PATTERN_CELLS, 16 * rows.size):
            return None
        cell = pattern * width + cum_events[codes]  # (pattern, event times <= the row's time)
        unit = self.unit_weights
        per_cell = np.bincount(cell, weights=None if unit else w, minlength=cells).reshape(n_patterns, width)
        # at risk at event time k: rows with more than k event times up to their time (the
        # pattern's total minus those with at most k; exact for counts)
        total = per_cell.sum(axis=1, dtype=float)
        at_risk = np.empty((n_patterns, m))  # one allocation: fresh memory is slow to touch here
        np.cumsum(per_cell[:, :m], axis=1, dtype=float, out=at_risk)
        np.subtract(total[:, None], at_risk, out=at_risk)
        bits = (pattern_keys[:, None] >> np.arange(center.size)) & 1
        x_pattern = bits.astype(float) - center  # the same floats as the centred 0/1 rows
        dead_rows = np.nonzero(d > 0)[0]
        return self._patterns(x_pattern, at_risk, cell[dead_rows], None if unit else w[dead_rows])

    PATTERN_CELLS = 8_000_000  # patterns x event times held as one dense at-risk matrix (64 MB)

    def _pattern_part(self, x, w, lo, hi, dead, m, key=None, span=0):
        """The stratum as covariate patterns: rows with the same covariates share exp(x'b), so
        every risk-set sum is a sum over patterns weighted by the pattern's at-risk weight at
        each event time (a patterns x event-times matrix counted once, before the iterations).
        With a dashboard's categorical covariates a million rows become a few hundred patterns;
        None when the matrix would be too large (continuous covariates), and the rows are then
        merged as usual. Same likelihood, score and information as the rows (tested)."""
        if key is None:
            key, span = _combine_codes([_value_codes(x[:, j]) for j in range(x.shape[1])])
            if key is None:
                return None
        pattern, n_patterns = _dense_codes(key, span)
        cells = n_patterns * (m + 1)
        if cells > min(self.PATTERN_CELLS, 16 * x.shape[0]):
            return None
        # at-risk weight of pattern g at event time k: entered (lo <= k) and not left (hi > k)
        base = pattern.astype(np.int64) * (m + 1)
        cell = base + hi  # (pattern, event times <= the row's time), as the grid path counts
        at_risk = np.bincount(base + lo, weights=w, minlength=cells)
        at_risk -= np.bincount(cell, weights=w, minlength=cells)
        at_risk = at_risk.reshape(n_patterns, m + 1)
        np.cumsum(at_risk, axis=1, out=at_risk)
        at_risk = np.ascontiguousarray(at_risk[:, :m])
        dead_rows = np.nonzero(dead)[0]
        return self._patterns(x[_first_of_groups(pattern, n_patterns)], at_risk, cell[dead_rows],
                              None if self.unit_weights else w[dead_rows])

    def _patterns(self, x_pattern, at_risk, dead_cell, w_dead) -> dict:
        """A stratum's part on covariate patterns: ``at_risk`` (patterns x event times) and each
        dead row's cell, pattern * (m + 1) + (number of event times up to its time), with its
        weight (None: all 1). Deaths are merged per cell: summed weights and number of rows."""
        n_patterns, m = at_risk.shape
        n_all = np.bincount(dead_cell, minlength=n_patterns * (m + 1))
        cells = np.nonzero(n_all)[0]
        n_cell = n_all[cells].astype(float)
        w_cell = n_cell if w_dead is None else \
            np.bincount(dead_cell, weights=w_dead, minlength=n_patterns * (m + 1))[cells]
        ev, inv = cells // (m + 1), cells % (m + 1) - 1  # a death's own time is an event time
        return {"x": x_pattern, "w": np.ones(n_patterns), "at_risk": at_risk, "lo": None, "hi": None,
                "row_map": None, "deaths": _death_matrix(w_cell, inv, ev, m, n_patterns),
                **self._death_terms(m, ev, inv, n_cell, w_cell, x_pattern[ev])}

    def _death_terms(self, m, ev, inv, n_ev, w_ev, x_ev) -> dict:
        """Per event time: deaths, their mean weight and Efron's (time, r) pairs. ``ev`` indexes
        the part's rows (or patterns), ``inv`` is each death's event time, ``n_ev`` the number
        of original rows it stands for and ``w_ev`` their summed weight."""
        ndead = np.bincount(inv, weights=n_ev, minlength=m)
        # Efron expansion: one (time, r) pair per original death, r = 0..d-1, except at times
        # with many tied deaths, whose sums over r are taken in closed form.
        nd_int = ndead.astype(np.int64)
        big = np.nonzero(nd_int > self.SMALL_TIES)[0] if self.closed_form else np.zeros(0, dtype=np.int64)
        if big.size:
            nd_int = nd_int.copy()
            nd_int[big] = 0
        pair_time = np.repeat(np.arange(m), nd_int)
        starts = np.concatenate([[0], np.cumsum(nd_int)[:-1]])
        pair_r = (np.arange(pair_time.size) - starts[pair_time]).astype(float)
        frac = pair_r / ndead[pair_time] if self.efron else np.zeros(pair_time.size)
        meanwt = np.bincount(inv, weights=w_ev, minlength=m) / ndead
        return {"ev": ev, "inv": inv, "ndead": ndead, "pair_time": pair_time, "pair_r": pair_r, "frac": frac,
                "meanwt": meanwt, "meanwt_k": meanwt[pair_time], "w_ev": w_ev, "x_ev": x_ev,
                "wx_ev": (w_ev[:, None] * x_ev).sum(axis=0),
                "big": big, "nd_big": ndead[big], "meanwt_big": meanwt[big]}

    @property
    def aggregated(self) -> bool:
        return any(part["row_map"] is None for part in self.parts)

    @staticmethod
    def _risk_sums(part, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` (rows x columns, rows in hi order) over the risk set of each event
        time: all rows minus those that left (hi <= k) minus those not yet entered (lo > k)."""
        if part["at_risk"] is not None:  # covariate patterns: weighted by their at-risk weight
            return part["at_risk"].T @ values
        if values.shape[0] > 4096:
            # many rows: per-column bincounts over the m event times beat an n x p cumsum
            m = part["m"]
            total = values.sum(axis=0)
            left = np.column_stack([np.bincount(part["hi"], weights=values[:, j], minlength=m + 1)
                                    for j in range(values.shape[1])])
            out = total - np.cumsum(left, axis=0)[:m]
            if part["lo_order"] is not None:
                entered = np.column_stack([np.bincount(part["lo"], weights=values[:, j], minlength=m + 1)
                                           for j in range(values.shape[1])])
                out -= total - np.cumsum(entered, axis=0)[:m]
            return out
        csum = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
        total = csum[-1]
        out = total - csum[part["hi_pos"]]
        if part["lo_order"] is not None:
            csum_lo = np.concatenate([np.zeros((1, values.shape[1])),
                                      np.cumsum(values[part["lo_order"]], axis=0)])
            out -= total - csum_lo[part["lo_pos"]]
        return out

    # ---- shared per-stratum quantities ----
    def _pieces(self, part, beta):
        """Risk-set and death sums at each event time for one stratum."""
        m, x = part["m"], part["x"]
        eta = x @ beta
        shift = eta.max()
        rel = np.exp(eta - shift)
        risk = part["w"] * rel
        values = np.column_stack([risk, risk[:, None] * x])
        sums = self._risk_sums(part, values)
        s0, s1 = sums[:, 0], sums[:, 1:]
        ev, inv = part["ev"], part["inv"]
        rel_ev = rel[ev]
        risk_ev = part["w_ev"] * rel_ev
        if part.get("deaths") is not None:  # patterns (unit pattern weight): one sparse product
            death_sums = part["deaths"] @ values
            d_s0, d_s1 = death_sums[:, 0], death_sums[:, 1:]
        else:
            d_s0 = np.bincount(inv, weights=risk_ev, minlength=m)
            d_s1 = _bincount_columns(inv, risk_ev[:, None] * part["x_ev"], m)
        k, frac = part["pair_time"], part["frac"]
        denom = s0[k] - frac * d_s0[k]
        xbar = (s1[k] - frac[:, None] * d_s1[k]) / denom[:, None]
        pc = {"eta": eta, "rel": rel, "risk": risk, "shift": shift, "w_ev": part["w_ev"],
              "x_ev": part["x_ev"], "rel_ev": rel_ev, "risk_ev": risk_ev, "meanwt": part["meanwt"],
              "k": k, "frac": frac, "denom": denom, "xbar": xbar}
        big = part["big"]
        if big.size:
            nd = part["nd_big"]
            a, A = s0[big], s1[big]
            if self.efron:
                b, B = d_s0[big] / nd, d_s1[big] / nd[:, None]
            else:
                b, B = np.zeros(big.size), np.zeros_like(A)
            pc["closed"] = dict(a=a, A=A, b=b, B=B, nd=nd, **_efron_sums(a, b, nd))
        return pc

    def evaluate(self, beta, need_derivatives: bool = True):
        loglik = 0.0
        grad = np.zeros(self.p)
        info = np.zeros((self.p, self.p))
        for part in self.parts:
            pc = self._pieces(part, beta)
            mk = part["meanwt_k"]
            loglik += float(part["wx_ev"] @ beta - mk @ (np.log(pc["denom"]) + pc["shift"]))
            closed = pc.get("closed")
            if closed is not None:
                mb = part["meanwt_big"]
                loglik -= float(mb @ (closed["L"] + closed["nd"] * pc["shift"]))
            if not need_derivatives:
                continue
            grad += part["wx_ev"] - mk @ pc["xbar"]
            if closed is not None:
                grad -= part["meanwt_big"] @ _closed_xbar_sum(closed)
            info += self._information(part, pc)
        if not need_derivatives:
            return loglik, None, None
        return loglik, grad, info

    @staticmethod
    def _information(part, pc, time_weight: np.ndarray | None = None) -> np.ndarray:
        """sum over (time, r) of meanwt * [ (S2 - frac D2) / denom - xbar xbar' ], each event
        time's term multiplied by ``time_weight`` if given (cox.zph's sums of g(t)-weighted
        information), without forming S2 per time: sum_k c_k S2_k = X' diag(risk * sum of c
        over the row's risk interval) X."""
        k, denom, frac, m = pc["k"], pc["denom"], pc["frac"], part["m"]
        mk = part["meanwt_k"] if time_weight is None else part["meanwt_k"] * time_weight[k]
        mk_over = mk / denom
        c = np.bincount(k, weights=mk_over, minlength=m)
        c_frac = np.bincount(k, weights=mk_over * frac, minlength=m)
        closed = pc.get("closed")
        if closed is not None:  # sum_r 1/denom = H1 and sum_r (r/d)/denom = R1/d at many ties
            mb = part["meanwt_big"] if time_weight is None else part["meanwt_big"] * time_weight[part["big"]]
            c[part["big"]] += mb * closed["H1"]
            c_frac[part["big"]] += mb * closed["R1"] / closed["nd"]
        if part["at_risk"] is not None:
            a = pc["risk"] * (part["at_risk"] @ c)
        else:
            cum_c = np.concatenate([[0.0], np.cumsum(c)])
            a = pc["risk"] * (cum_c[part["hi"]] - cum_c[part["lo"]])
        x = part["x"]
        info = x.T @ (x * a[:, None])
        b = pc["risk_ev"] * c_frac[part["inv"]]
        info -= pc["x_ev"].T @ (pc["x_ev"] * b[:, None])
        xbar = pc["xbar"]
        info -= xbar.T @ (xbar * mk[:, None])
        if closed is not None:
            info -= _closed_xbar_outer_sum(closed, mb)
        return info

    # ---- score residuals (coxscore2.c / agscore2.c), used by the robust variance ----
    def score_residuals(self, beta, n: int) -> np.ndarray:
        """Unweighted score residuals (n x p); multiply by the case weights for dfbeta."""
        if self.aggregated:
            raise RuntimeError("score residuals need the unaggregated rows")
        resid = np.zeros((n, self.p))
        for part in self.parts:
            pc = self._pieces(part, beta)
            H, G, Hd, Gd = self._hazard_sums(part, pc)
            cumH = np.concatenate([[0.0], np.cumsum(H)])
            cumG = np.concatenate([np.zeros((1, self.p)), np.cumsum(G, axis=0)])
            lo, hi, x = part["lo"], part["hi"], part["x"]
            local = -(pc["rel"][:, None] * (x * (cumH[hi] - cumH[lo])[:, None] - (cumG[hi] - cumG[lo])))
            # dying rows at their own event time: Efron weights (1 - r/d) and the x - mean term
            inv, ev = part["inv"], part["ev"]
            k, m = pc["k"], part["m"]
            M = _bincount_columns(k, pc["xbar"] / part["ndead"][k][:, None], m)
            x_ev, rel_ev = pc["x_ev"], pc["rel_ev"]
            fix = rel_ev[:, None] * (x_ev * (H - Hd)[inv][:, None] - (G - Gd)[inv])
            fix += x_ev - M[inv]
            local[ev] += fix
            resid[part["row_map"]] = local
        return resid

    def _hazard_sums(self, part, pc):
        k, m, frac, xbar = pc["k"], part["m"], pc["frac"], pc["xbar"]
        haz = pc["meanwt"][k] / pc["denom"]
        H = np.bincount(k, weights=haz, minlength=m)
        G = _bincount_columns(k, haz[:, None] * xbar, m)
        Hd = np.bincount(k, weights=(1 - frac) * haz, minlength=m)
        Gd = _bincount_columns(k, ((1 - frac) * haz)[:, None] * xbar, m)
        return H, G, Hd, Gd

    # ---- pieces for cox.zph: g(t)-weighted sums of information and score ----
    def event_times(self) -> np.ndarray:
        """The event times of all strata, in the order :meth:`zph_sums` takes ``g``."""
        return np.concatenate([part["etimes"] for part in self.parts])

    def zph_sums(self, beta, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """sum_k I_k, sum_k g_k I_k, sum_k g_k^2 I_k and sum_k g_k U_k over the event times k,
        with I_k and U_k the information and score contributions at time k (cox.zph's imat and
        u, survival 3.x zph.c), g given per :meth:`event_times`."""
        p = self.p
        v0, v1, v2, ug = np.zeros((p, p)), np.zeros((p, p)), np.zeros((p, p)), np.zeros(p)
        offset = 0
        for part in self.parts:
            pc = self._pieces(part, beta)
            gp = g[offset:offset + part["m"]]
            offset += part["m"]
            v0 += self._information(part, pc)
            v1 += self._information(part, pc, gp)
            v2 += self._information(part, pc, gp ** 2)
            k = pc["k"]
            ug += (pc["w_ev"] * gp[part["inv"]]) @ pc["x_ev"] - (part["meanwt_k"] * gp[k]) @ pc["xbar"]
            closed = pc.get("closed")
            if closed is not None:
                ug -= (part["meanwt_big"] * gp[part["big"]]) @ _closed_xbar_sum(closed)
        return v0, v1, v2, ug


def _combine_codes(codes: list) -> tuple[np.ndarray | None, int]:
    """One int64 key per row from several non-negative integer code arrays (mixed radix),
    re-factorising when the radix product would overflow; also the key's range."""
    key = np.zeros(codes[0].shape[0], dtype=np.int64)
    span = 1
    for c in codes:
        c = np.asarray(c, dtype=np.int64)
        if c.size and c.min() < 0:
            return None, 0
        card = int(c.max()) + 1 if c.size else 1
        if span * card >= 2 ** 62:
            key, uniques = pd.factorize(key)
            span = len(uniques)
        key = key * card + c
        span *= card
    return key, span


def _binary_key(x: np.ndarray) -> tuple[np.ndarray, int] | None:
    """When every covariate is 0/1 (the dashboard's dummies, before centring), each row's
    covariate pattern as one integer (column j adds 2^j), from whole-matrix passes instead of one
    factorisation per column; None otherwise."""
    n, p = x.shape
    if n == 0 or p == 0 or p > 52 or not np.all((x == 0) | (x == 1)):
        return None
    return (x @ (2.0 ** np.arange(p))).astype(np.int64), 2 ** p  # exact: integers below 2^53


def _value_codes(column: np.ndarray) -> np.ndarray:
    """Integer codes of a covariate's values: a comparison for two-valued columns (the centred
    dummies of the dashboard), a hash factorisation otherwise."""
    if column.size:
        second = column != column[0]
        others = column[second]
        if others.size == 0 or np.all(others == others[0]):
            return second.astype(np.int64)
    return pd.factorize(column)[0]


def _death_matrix(weight: np.ndarray, time: np.ndarray, pattern: np.ndarray, m: int, n_patterns: int):
    """Sparse (event time x pattern) matrix of the deaths' summed weights: its product with
    per-pattern values gives the death sums at every event time."""
    return sparse.csr_matrix((weight, (time, pattern)), shape=(m, n_patterns))


def _first_of_groups(inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of the first row of each group 0..n_groups-1."""
    first = np.zeros(n_groups, dtype=np.int64)
    first[inverse[::-1]] = np.arange(inverse.size)[::-1]
    return first


def _dense_codes(key: np.ndarray, span: int, values: bool = False) -> tuple[np.ndarray, int | np.ndarray]:
    """Group number of each key, 0..G-1: by counting when the key range is small (a registry's
    time grid times a few dummies), by hashing otherwise. Returns (group numbers, G), or with
    ``values`` (group numbers, each group's key)."""
    if span <= 4 * key.size + 1_000_000:
        present = np.bincount(key, minlength=span) > 0
        lookup = np.cumsum(present) - 1
        return lookup[key], (np.nonzero(present)[0] if values else int(present.sum()))
    inverse, uniques = pd.factorize(key)
    return inverse, (uniques if values else len(uniques))


def _efron_sums(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> dict:
    """Efron's sums over r = 0..d-1 of the tied-death denominators a - r b, in closed form.

    With z = a / b: sum 1/(a - rb) = (psi(z+1) - psi(z-d+1)) / b, sum 1/(a - rb)^2 =
    (psi1(z-d+1) - psi1(z+1)) / b^2 and sum log(a - rb) = d log b + lgamma(z+1) - lgamma(z-d+1)
    (telescoping sums of the digamma / trigamma / log-gamma recurrences, Abramowitz & Stegun
    6.3.5, 6.4.6, 6.1.15); the r-weighted sums follow from r = (a - (a - rb)) / b. z >= d always,
    because the risk set contains the dying. b = 0 (Breslow, or dying with zero weight) gives
    d/a, d/a^2 and d log a.

    Returns H1 = sum 1/den, H2 = sum 1/den^2, R1 = sum r/den, R2 = sum r/den^2,
    R3 = sum r^2/den^2 and L = sum log den.
    """
    d = d.astype(float)
    H1 = d / a
    H2 = d / a ** 2
    R1 = np.zeros_like(a)
    R2 = np.zeros_like(a)
    R3 = np.zeros_like(a)
    L = d * np.log(a)
    tied = b > 0
    if tied.any():
        at, bt, dt = a[tied], b[tied], d[tied]
        z = at / bt
        h1 = (special.digamma(z + 1) - special.digamma(z - dt + 1)) / bt
        h2 = (_trigamma(z - dt + 1) - _trigamma(z + 1)) / bt ** 2
        H1[tied], H2[tied] = h1, h2
        R1[tied] = (at * h1 - dt) / bt
        R2[tied] = (at * h2 - h1) / bt
        R3[tied] = (at ** 2 * h2 - 2 * at * h1 + dt) / bt ** 2
        L[tied] = dt * np.log(bt) + special.gammaln(z + 1) - special.gammaln(z - dt + 1)
    return {"H1": H1, "H2": H2, "R1": R1, "R2": R2, "R3": R3, "L": L}


# Bernoulli numbers B_2k for the asymptotic trigamma series, k = 1..8
_TRIGAMMA_SERIES = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)


def _trigamma(z: np.ndarray) -> np.ndarray:
    """psi'(z) for z >= 1: the recurrence psi'(z) = psi'(z + 1) + 1/z^2 up to z >= 10, then
    the asymptotic series 1/z + 1/(2z^2) + sum_k B_2k / z^(2k+1) (Abramowitz & Stegun 6.4.12;
    the first omitted term is below 1e-16 of the value at z = 10). scipy's polygamma(1, z) goes
    through the Hurwitz zeta function and is ten times slower; equal to it within 1e-14
    relative (tested)."""
    z = np.array(z, dtype=float)
    total = np.zeros_like(z)
    small = z < 10
    while small.any():
        total[small] += 1 / z[small] ** 2
        z[small] += 1
        small = z < 10
    inv = 1 / z
    inv2 = inv * inv
    series = np.zeros_like(z)
    for coefficient in reversed(_TRIGAMMA_SERIES):
        series = series * inv2 + coefficient
    return total + inv + inv2 / 2 + series * inv2 * inv


def _closed_xbar_sum(c: dict) -> np.ndarray:
    """sum_r xbar_r = sum_r (A - rB)/(a - rb) = A H1 - B R1, per time (rows) and covariate."""
    return c["A"] * c["H1"][:, None] - c["B"] * c["R1"][:, None]


def _closed_xbar_outer_sum(c: dict, weight: np.ndarray) -> np.ndarray:
    """sum over times of weight * sum_r xbar_r xbar_r', with sum_r xbar_r xbar_r' = A A' H2 -
    (A B' + B A') R2 + B B' R3 per time: four p x p products over the times."""
    A, B = c["A"], c["B"]
    AB = A.T @ (B * (weight * c["R2"])[:, None])
    return A.T @ (A * (weight * c["H2"])[:, None]) - AB - AB.T + B.T @ (B * (weight * c["R3"])[:, None])


def _bincount_columns(index: np.ndarray, values: np.ndarray, m: int) -> np.ndarray:
    """Column-wise bincount: out[k, j] = sum of values[i, j] with index[i] == k."""
    if values.shape[1] == 0:
        return np.zeros((m, 0))
    return np.column_stack([np.bincount(index, weights=values[:, j], minlength=m)
                            for j in range(values.shape[1])])


# ----------------------------------------------------------------------------------------------
# Concordance
# ----------------------------------------------------------------------------------------------
def _concordance(t, d, e, w, s, lp) -> float:
    """Weighted Harrell's C as ``coxph``: for each event i, every j at risk at t_i that is not an
    event at t_i is comparable; concordant if lp_i > lp_j, ties in lp count 1/2. Pair weight
    w_i * w_j. Computed per stratum with O(n log^2 n) dominance counting."""
    concordant = discordant = tied = 0.0
    for stratum in np.unique(s):
        sel = s == stratum
        c, dsc, tie = _concordance_counts(t[sel], d[sel], None if e is None else e[sel], w[sel], lp[sel])
        concordant += c
        discordant += dsc
        tied += tie
    total = concordant + discordant + tied
    return float((concordant + tied / 2) / total) if total > 0 else float("nan")


def _concordance_counts(t, d, e, w, lp):
    ev = d > 0
    if not ev.any():
        return 0.0, 0.0, 0.0
    # Points: every subject; "comparable" to event i if entry_j < t_i and
    # (t_j > t_i or (t_j == t_i and j censored)). Compute sums of w_j with lp_j < lp_i and lp_j == lp_i.
    lp_rank = np.unique(lp, return_inverse=True)[1]
    qt, qr, qw = t[ev], lp_rank[ev], w[ev]
    # ordering key for "later than query": time desc; at equal time censored points count, events not.
    less_a, eq_a, all_a = _dominance(point_time=t, point_tie=np.where(d > 0, 0, 2), point_rank=lp_rank,
                                     point_w=w, query_time=qt, query_rank=qr, query_tie=1)
    if e is not None:
        # subtract points not yet entered: entry_j >= t_i (those have t_j > t_i, all counted above)
        less_b, eq_b, all_b = _dominance(point_time=e, point_tie=np.full(e.size, 2), point_rank=lp_rank,
                                         point_w=w, query_time=qt, query_rank=qr, query_tie=0)
        less_a, eq_a, all_a = less_a - less_b, eq_a - eq_b, all_a - all_b
    concordant = float(np.sum(qw * less_a))
    tied = float(np.sum(qw * eq_a))
    discordant = float(np.sum(qw * (all_a - less_a - eq_a)))
    return concordant, discordant, tied


def _dominance(point_time, point_tie, point_rank, point_w, query_time, query_rank, query_tie):
    """For each query: sums of point weights with (time, tie) ranked above the query's (time, tie),
    split into rank < query rank, rank == query rank, and all. Sorting-based, vectorised."""
    n_p = point_time.size
    n_q = query_time.size
    # Sequence order: by time descending, then by tie code descending (higher code = earlier).
    times = np.concatenate([point_time, query_time])
    ties = np.concatenate([point_tie, np.full(n_q, query_tie)])
    is_query = np.concatenate([np.zeros(n_p, bool), np.ones(n_q, bool)])
    ranks = np.concatenate([point_rank, query_rank])
    weights = np.concatenate([point_w, np.zeros(n_q)])
    order = np.lexsort((is_query, -ties, -times))  # points before queries at identical keys
    # a point at the identical (time, tie) as a query must not count: handled by tie codes that
    # never coincide (points use 0 or 2, queries use 1).
    ranks, weights, is_query = ranks[order], weights[order], is_query[order]
    pos_query = np.nonzero(is_query)[0]
    less = _prefix_rank_sums(ranks, weights, strict=True)
    less_eq = _prefix_rank_sums(ranks, weights, strict=False)
    total = np.cumsum(weights) - weights  # strictly before
    original = order[pos_query] - n_p
    q_less, q_le, q_all = np.empty(n_q), np.empty(n_q), np.empty(n_q)
    q_less[original] = less[pos_query]
    q_le[original] = less_eq[pos_query]
    q_all[original] = total[pos_query]
    return q_less, q_le - q_less, q_all


def _prefix_rank_sums(ranks: np.ndarray, weights: np.ndarray, strict: bool) -> np.ndarray:
    """out[i] = sum of weights[j] for j < i with ranks[j] < ranks[i] (or <= when not strict).

    Bottom-up merge counting: at each level, elements of a right half-block count the left
    half-block's elements by binary search in (block, rank) keys. O(n log^2 n), no Python loop
    over elements.
    """
    n = ranks.size
    out = np.zeros(n)
    if n < 2:
        return out
    pos = np.arange(n)
    big = int(ranks.max()) + 2
    size = 1
    while size < n:
        block = pos // (2 * size)
        right = (pos // size) % 2 == 1
        left_idx = np.nonzero(~right)[0]
        right_idx = np.nonzero(right)[0]
        if right_idx.size:
            keys_left = block[left_idx].astype(np.int64) * big + ranks[left_idx]
            order = np.argsort(keys_left, kind="stable")
            sorted_keys = keys_left[order]
            cum = np.concatenate([[0.0], np.cumsum(weights[left_idx][order])])
            q = block[right_idx].astype(np.int64) * big + ranks[right_idx]
            side = "left" if strict else "right"
            hi = np.searchsorted(sorted_keys, q, side=side)
            lo = np.searchsorted(sorted_keys, block[right_idx].astype(np.int64) * big, side="left")
            out[right_idx] += cum[hi] - cum[lo]
        size *= 2
    return out


# ----------------------------------------------------------------------------------------------
# RMST
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RMSTResult:
    """Restricted mean survival time up to ``tau`` and its standard error.

    Attributes
    ----------
    estimate, se, tau : float
    """

    estimate: float
    se: float
    tau: float


def rmst(time, event, tau: float, *, entry=None, weights=None) -> RMSTResult:
    """Restricted mean survival time, as R's ``print(survfit(...), rmean = tau)``.

    The area under the Kaplan-Meier curve from 0 to tau; the variance is
    sum_j (area from t_j to tau)^2 * d_j / (n_j (n_j - d_j)) over times t_j <= tau
    (Klein & Moeschberger section 4.5; R's ``survmean``).

    Returns
    -------
    RMSTResult
        ``.estimate``, ``.se``, ``.tau``.
    """
    km = kaplan_meier(time, event, entry=entry, weights=weights)
    tab = km.table
    times = tab["time"].to_numpy()
    surv = tab["survival"].to_numpy()
    n_risk = tab["at_risk"].to_numpy()
    n_event = tab["events"].to_numpy()
    tau = float(tau)
    start = min(0.0, float(times.min()))
    with np.errstate(divide="ignore", invalid="ignore"):
        hh = np.where(n_risk - n_event == 0, 0.0, n_event / (n_risk * (n_risk - n_event)))
    keep = times <= tau
    if not keep.any():
        return RMSTResult(estimate=tau, se=0.0, tau=tau)
    temptime = np.concatenate([times[keep], [tau]])
    tempsurv = np.concatenate([surv[keep], [surv[keep][-1]]])
    hh = np.concatenate([hh[keep], [0.0]])
    delta = np.diff(np.concatenate([[start], temptime]))
    rectangles = delta * np.concatenate([[1.0], tempsurv[:-1]])
    area_after = np.cumsum(rectangles[1:][::-1])
    varmean = float(np.sum(area_after ** 2 * hh[::-1][1:]))
    return RMSTResult(estimate=float(rectangles.sum() + start), se=float(np.sqrt(varmean)), tau=tau)


# ----------------------------------------------------------------------------------------------
# Proportional-hazards test (cox.zph)
# ----------------------------------------------------------------------------------------------
def proportional_hazards_test(fit: CoxResult, transform: str = "km", *,
                              terms: dict | None = None) -> pd.DataFrame:
    """Test of proportional hazards on scaled Schoenfeld residuals, as R's ``cox.zph``.

    Survival 3.x computes a score test for adding x * g(t) to the model at the fitted beta,
    with g(t) = transformed time minus its mean over the events (Therneau & Grambsch ch. 6).

    Parameters
    ----------
    fit : CoxResult
    transform : {"km", "identity", "log", "rank"}
        "km" uses 1 - S(t-) from the unweighted Kaplan-Meier of all rows (R's default).
    terms : dict, optional
        Groups of covariate columns tested together, e.g. ``{"site": ["site_liver",
        "site_multiple"]}`` (R's ``cox.zph(terms = TRUE)`` for a factor). Default: one test per
        covariate column.

    Returns
    -------
    DataFrame
        Indexed by covariate (or term) and ``GLOBAL``, columns ``chisq, df, p``.
    """
    dd = fit._data
    problem = _CoxProblem(dd["time"], dd["event"], dd["entry"], dd["weights"], dd["strata"],
                          dd["x"], dd["ties"])
    table = _zph_table(problem, dd["time"], dd["event"], dd["entry"], fit.coef, fit.covariates,
                       terms, transform)
    return pd.DataFrame(list(table.values()), columns=["chisq", "df", "p"],
                        index=pd.Index(list(table), name="covariate"))


def _zph_table(problem: "_CoxProblem", t: np.ndarray, d: np.ndarray, e: np.ndarray | None,
               coef: np.ndarray, covariates: list, terms: dict | None, transform: str,
               g_grid: np.ndarray | None = None) -> dict:
    """cox.zph's score test (survival 3.x) from a fitted problem; see proportional_hazards_test.
    Returns {term: (chisq, df, p)} with "GLOBAL" last."""
    if g_grid is not None:  # precomputed on a time grid (cox_fit_arrays with time codes)
        g = g_grid[problem.parts[0]["event_grid"]]
        return _zph_from_sums(problem.zph_sums(coef, g), coef, covariates, terms)
    if transform == "km":
        ktimes, ksurv = _km_curve(t, d, e)
        idx = np.searchsorted(ktimes, t, side="left")  # number of KM times strictly below t
        ttimes = 1 - np.concatenate([[1.0], ksurv])[idx]
    elif transform == "identity":
        ttimes = t.copy()
    elif transform == "log":
        ttimes = np.log(t)
    elif transform == "rank":
        ttimes = stats.rankdata(t)
    else:
        raise SurvivalInputError(f"Unknown transform {transform!r}.")
    gmean = ttimes[d > 0].mean()
    etimes = problem.event_times()
    # g at each event time (the same for all tied events at that time)
    event_t = t[d > 0]
    event_g = ttimes[d > 0] - gmean
    order = np.argsort(event_t, kind="stable")
    g = event_g[order][np.searchsorted(event_t[order], etimes)]
    return _zph_from_sums(problem.zph_sums(coef, g), coef, covariates, terms)


def _zph_from_sums(sums: tuple, coef: np.ndarray, covariates: list, terms: dict | None) -> dict:
    """The score test of x * g(t) terms (cox.zph) from :meth:`_CoxProblem.zph_sums`."""
    v0, v1, v2, u2 = sums
    p = coef.size
    imat = np.zeros((2 * p, 2 * p))
    imat[:p, :p] = v0
    imat[:p, p:] = v1
    imat[p:, :p] = v1.T
    imat[p:, p:] = v2
    if terms is None:
        terms = {name: [name] for name in covariates}
    position = {name: j for j, name in enumerate(covariates)}
    rows, names = [], []
    for term, columns in terms.items():
        jj = [position[c] for c in columns]
        kk = list(range(p)) + [p + j for j in jj]
        uu = np.concatenate([np.zeros(p), u2[jj]])
        chisq = float(uu @ _solve(imat[np.ix_(kk, kk)], uu))
        rows.append((chisq, len(jj), float(_chi2_sf(chisq, len(jj)))))
        names.append(term)
    uu = np.concatenate([np.zeros(p), u2])
    chisq = float(uu @ _solve(imat, uu))
    rows.append((chisq, p, float(_chi2_sf(chisq, p))))
    return dict(zip(names + ["GLOBAL"], rows))


def _km_curve(t: np.ndarray, d: np.ndarray, e: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct times and unweighted Kaplan-Meier survival (no intervals): the cheap core of
    :func:`kaplan_meier` for internal uses such as cox.zph's time transform."""
    utime, inverse = np.unique(t, return_inverse=True)
    at_risk = _risk_set_sums(utime, t, e, np.ones(t.size))
    events = np.bincount(inverse, weights=d, minlength=utime.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(events > 0, (at_risk - events) / at_risk, 1.0)
    return utime, np.cumprod(factor)


def _solve(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(matrix, vector)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(matrix, vector, rcond=None)[0]
