"""Propensity score, stabilised inverse-probability-of-treatment weights (IPTW) and balance.

The IMET arms were chosen by tumour boards, not at random: patients selected for an
intervention may differ from the others in ways that also affect survival.  Weighting each
patient by the inverse of the probability of the treatment she received, given her baseline
covariates, builds a pseudo-population in which those covariates are balanced between the
arms (Rosenbaum & Rubin, *Biometrika* 1983;70:41-55; Austin, *Multivariate Behav Res*
2011;46:399-424).  Only *measured* covariates can be balanced; the E-value
(:mod:`imet_core.bias.evalue`) says how strong an unmeasured one would have to be.

* Propensity score: logistic regression of IT on the covariates, fitted by iteratively
  reweighted least squares (Newton-Raphson; McCullagh & Nelder, *Generalized Linear Models*
  2nd ed. 1989, section 2.5), the algorithm of R's ``glm(..., family = binomial)``.
* Stabilised weights: ``P(IT) / e(x)`` for IT and ``P(ST) / (1 - e(x))`` for ST (Robins,
  Hernán & Brumback, *Epidemiology* 2000;11:550-60; Xu et al., *Value Health* 2010;13:273-7).
  Optional truncation at the p-th and (100 - p)-th percentiles of the weights (Cole & Hernán,
  *Am J Epidemiol* 2008;168:656-64): extreme weights are set to the percentile, nobody is
  dropped.
* Balance: standardized mean differences (SMD) before and after weighting, with weighted means
  and variances (Austin & Stuart, *Stat Med* 2015;34:3661-79); |SMD| < 0.1 is the usual mark
  of balance.
* Outcome: weighted Kaplan-Meier (R's infinitesimal-jackknife variance for non-integer
  weights) and a weighted Cox model with robust sandwich SE (R's ``coxph(..., weights = w,
  robust = TRUE)``), which ignores the estimation of the propensity score and is therefore
  somewhat conservative (Austin, *Stat Med* 2016;35:5642-55).  Survival differences at chosen
  times get seeded bootstrap intervals that refit the propensity model in every replicate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from imet_core import schema
from imet_core.bias._common import (
    ArmLabels, cox_effect, effect_frame, endpoint_spec, event_indicator, join_notes, km_long,
    km_table, missing_columns, nan_effect, plural, treatment_status,
)
from imet_core.survival import kaplan_meier, risk_table

__all__ = [
    "DEFAULT_COVARIATES",
    "BALANCE_THRESHOLD",
    "BALANCE_COLUMNS",
    "Design",
    "PropensityModel",
    "IPTWResult",
    "design_matrix",
    "fit_propensity",
    "iptw_weights",
    "balance_table",
    "iptw_analysis",
    "bootstrap_survival_difference",
    "analysis_rows",
]

DEFAULT_COVARIATES: tuple[str, ...] = (
    "age_lt_55", "hr_positive", "her2_positive", "mdfi_gt_24", "site", "nodal_status",
)
"""Baseline covariates of the default propensity and multivariable models: the paper's
prognostic factors (age < 55, ER/PR+, HER2+, MDFI > 24 months, metastasis site) and nodal status."""

BALANCE_THRESHOLD = 0.1
"""|SMD| below this is conventionally read as balanced (Austin 2009, *Stat Med* 28:3083-107)."""

BALANCE_COLUMNS: tuple[str, ...] = (
    "variable", "level", "label", "kind", "mean_treated_before", "mean_control_before",
    "smd_before", "mean_treated_after", "mean_control_after", "smd_after",
)
"""Columns of :func:`balance_table`."""

MISSING_LEVEL = "missing"
"""Level given to an empty cell of a categorical covariate (its own indicator, never dropped)."""

_SEPARATION_EPS = 1e-8


# ----------------------------------------------------------------------------------------------
# Design matrix
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Design:
    """Numeric encoding of baseline covariates.

    Attributes
    ----------
    covariates : tuple of str
        The frame columns encoded.
    rows : ndarray of bool
        Rows of the frame kept (a missing value of a numeric covariate drops the row; a missing
        category is its own level).
    model : DataFrame
        Columns entering the models (index = the kept rows' labels): yes/no and numeric
        covariates as they are, categories as 0/1 indicators of every level except the
        reference (the most frequent level); constant or aliased columns are left out.
    balance : DataFrame
        Columns for the balance table: every level of every category (reference included).
    terms : DataFrame
        Indexed by the ``balance`` column names, columns ``variable, level, label, kind``
        (``binary``, ``level`` or ``continuous``) and ``in_model`` (bool).
    notes : tuple of str
    """

    covariates: tuple
    rows: np.ndarray
    model: pd.DataFrame
    balance: pd.DataFrame
    terms: pd.DataFrame
    notes: tuple


def design_matrix(frame: pd.DataFrame, covariates: Sequence[str] | None = None) -> Design:
    """Encode baseline covariates for a propensity or multivariable model.

    Parameters
    ----------
    frame : DataFrame
        Registry frame.
    covariates : sequence of str, optional
        Frame columns; default :data:`DEFAULT_COVARIATES` (those present in the frame).
        Yes/no (bool) columns give one 0/1 column; numeric columns are used as numbers;
        anything else is a category (levels in the schema's order, the most frequent level as
        reference, empty cells as the level ``missing``).

    Returns
    -------
    Design

    Raises
    ------
    ValueError
        When a covariate asked for by name is not a column of the frame.
    """
    notes: list[str] = []
    if covariates is None:
        covariates = [c for c in DEFAULT_COVARIATES if c in frame.columns]
        absent = [c for c in DEFAULT_COVARIATES if c not in frame.columns]
        if absent:
            notes.append(f"Default covariate(s) {', '.join(absent)} not in the data, left out")
    else:
        covariates = list(dict.fromkeys(covariates))
        absent = missing_columns(frame, covariates)
        if absent:
            raise ValueError(f"covariate column(s) not in the data: {', '.join(absent)}")
    rows = np.ones(len(frame), bool)
    encoded: list[tuple[str, str, str, str, np.ndarray]] = []  # name, variable, level, kind, values
    references: dict[str, str] = {}
    for variable in covariates:
        column = frame[variable]
        if column.dtype == bool:
            encoded.append((variable, variable, "yes", "binary", column.to_numpy(dtype=float)))
        elif pd.api.types.is_numeric_dtype(column.dtype):
            values = column.to_numpy(dtype=float)
            bad = ~np.isfinite(values)
            if bad.any():
                notes.append(f"{plural(int(bad.sum()), 'patient')} without {variable} left out")
                rows &= ~bad
            encoded.append((variable, variable, "", "continuous", values))
        else:
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            names = np.array([str(u) for u in uniques] + [MISSING_LEVEL], dtype=object)
            text_codes = np.where(codes < 0, len(uniques), codes)
            present = names[np.unique(text_codes)]
            levels = _category_levels(variable, present)
            counts = np.bincount(text_codes, minlength=len(names))
            by_name = {name: int(counts[i]) for i, name in enumerate(names)}
            if levels:
                references[variable] = levels[int(np.argmax([by_name[level] for level in levels]))]
            for level in levels:
                code = int(np.nonzero(names == level)[0][0])
                encoded.append((f"{variable}={level}", variable, level, "level",
                                (text_codes == code).astype(float)))
    index = frame.index[rows]
    balance = pd.DataFrame({name: values[rows] for name, _, _, _, values in encoded}, index=index)
    terms = pd.DataFrame(
        [{"term": name, "variable": variable, "level": level, "kind": kind,
          "label": _term_label(variable, level, kind)}
         for name, variable, level, kind, _ in encoded],
        columns=["term", "variable", "level", "label", "kind"]).set_index("term")
    candidates = [name for name, variable, level, kind, _ in encoded
                  if not (kind == "level" and references.get(variable) == level)]
    constant = [c for c in candidates if _is_constant(balance[c].to_numpy())]
    if constant:
        notes.append(f"Constant in these patients, left out of the models: {', '.join(constant)}")
    candidates = [c for c in candidates if c not in constant]
    kept, aliased = _independent_columns(balance[candidates].to_numpy(dtype=float), candidates)
    if aliased:
        notes.append(f"Determined by other covariates, left out of the models: {', '.join(aliased)}")
    terms["in_model"] = terms.index.isin(kept)
    return Design(covariates=tuple(covariates), rows=rows, model=balance[kept].copy(), balance=balance,
                  terms=terms[["variable", "level", "label", "kind", "in_model"]], notes=tuple(notes))


def _is_constant(values: np.ndarray) -> bool:
    return values.size == 0 or bool(values.min() == values.max())


def _category_levels(variable: str, present_levels: np.ndarray) -> list[str]:
    present = set(present_levels)
    known = schema.COLUMNS_BY_NAME[variable].levels if variable in schema.COLUMNS_BY_NAME else ()
    ordered = [level for level in known if level in present]
    others = sorted(present - set(ordered) - {MISSING_LEVEL})
    return ordered + others + ([MISSING_LEVEL] if MISSING_LEVEL in present else [])


def _term_label(variable: str, level: str, kind: str) -> str:
    label = schema.LABELS.get(variable, variable)
    if kind != "level":
        return label
    level_label = schema.LEVEL_LABELS.get(variable, {}).get(level, level)
    return f"{label}: {level_label}"


def _independent_columns(x: np.ndarray, names: list[str]) -> tuple[list[str], list[str]]:
    """Keep columns in order while they add rank (with an intercept), as R drops aliased terms."""
    if not names:
        return [], []
    centred = x - x.mean(axis=0)
    gram = centred.T @ centred
    scale = np.sqrt(np.maximum(np.diag(gram), 1e-300))
    corr = gram / np.outer(scale, scale)
    kept_idx: list[int] = []
    aliased: list[str] = []
    for j in range(len(names)):
        trial = kept_idx + [j]
        sub = corr[np.ix_(trial, trial)]
        if np.linalg.eigvalsh(sub).min() > 1e-9:
            kept_idx.append(j)
        else:
            aliased.append(names[j])
    return [names[j] for j in kept_idx], aliased


# ----------------------------------------------------------------------------------------------
# Logistic regression (IRLS)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Logistic:
    coef: np.ndarray
    cov: np.ndarray
    fitted: np.ndarray
    converged: bool
    iterations: int


def _logistic_irls(x: np.ndarray, y: np.ndarray, *, start: np.ndarray | None = None,
                   max_iter: int = 50, tol: float = 1e-12) -> _Logistic:
    """Maximum-likelihood logistic regression by IRLS (R's glm.fit for the binomial family).

    ``x`` includes the intercept column.  Starts, as R does, from ``mu = (y + 0.5) / 2`` unless
    ``start`` is given; stops when the relative change of the deviance is below ``tol``
    (R: ``|dev - dev_old| / (|dev| + 0.1) < epsilon``).
    """
    if start is None:
        mu = (y + 0.5) / 2
        eta = special.logit(mu)
    else:
        eta = x @ start
        mu = special.expit(eta)
    dev_old = math.inf
    coef = np.zeros(x.shape[1]) if start is None else start.copy()
    converged = False
    iterations = 0
    xtwx = np.eye(x.shape[1])
    for iterations in range(1, max_iter + 1):
        w = np.maximum(mu * (1 - mu), 1e-300)
        z = eta + (y - mu) / w
        xtwx = x.T @ (x * w[:, None])
        xtwz = x.T @ (w * z)
        try:
            coef = np.linalg.solve(xtwx, xtwz)
        except np.linalg.LinAlgError:
            coef = np.linalg.lstsq(xtwx, xtwz, rcond=None)[0]
        eta = x @ coef
        mu = special.expit(eta)
        dev = _binomial_deviance(y, mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            converged = True
            break
        dev_old = dev
    w = mu * (1 - mu)
    xtwx = x.T @ (x * w[:, None])
    try:
        cov = np.linalg.inv(xtwx)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(xtwx)
    return _Logistic(coef=coef, cov=cov, fitted=mu, converged=converged, iterations=iterations)


def _binomial_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    # -2 log-likelihood; y is 0/1 so the saturated log-likelihood is 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(y > 0, np.log(mu), np.log1p(-mu))
    return float(-2 * np.sum(ll))


@dataclass(frozen=True)
class PropensityModel:
    """A fitted propensity model for IT vs ST.

    Attributes
    ----------
    design : Design
    coefficients : DataFrame
        Indexed by term (``(Intercept)`` first), columns ``coef, se, z, p`` (log odds of IT).
    scores : Series
        Propensity score P(IT | covariates), aligned with the frame's index; NaN for rows not
        used (unknown arm or a missing numeric covariate).
    treated : Series
        bool, IT, aligned with the frame's index (False where not used).
    used : ndarray of bool
        Rows used.
    converged : bool
    iterations : int
    notes : tuple of str
        E.g. signs of separation (a covariate pattern always or never treated).
    """

    design: Design
    coefficients: pd.DataFrame
    scores: pd.Series
    treated: pd.Series
    used: np.ndarray
    converged: bool
    iterations: int
    notes: tuple


def fit_propensity(frame: pd.DataFrame, covariates: Sequence[str] | None = None, *,
                   rows: np.ndarray | None = None) -> PropensityModel:
    """Propensity score of IT by logistic regression on baseline covariates.

    Parameters
    ----------
    frame : DataFrame
        Registry frame with ``group`` and the covariates.
    covariates : sequence of str, optional
        Default :data:`DEFAULT_COVARIATES`; see :func:`design_matrix` for the encoding.
    rows : ndarray of bool, optional
        Restrict the fit to these rows (e.g. patients with a usable outcome).

    Returns
    -------
    PropensityModel
        As R's ``glm(it ~ covariates, family = binomial)``; ``scores`` are its fitted values.
    """
    design = design_matrix(frame, covariates)
    treated, known = treatment_status(frame)
    used = design.rows & known
    if rows is not None:
        used &= np.asarray(rows, bool)
    notes = list(design.notes)
    model = design.model.loc[used[design.rows]]
    # columns that became constant in the used rows cannot be estimated
    keep = [c for c in model.columns if not _is_constant(model[c].to_numpy())]
    model = model[keep]
    x = np.column_stack([np.ones(int(used.sum())), model.to_numpy(dtype=float)])
    y = treated[used].astype(float)
    names = ["(Intercept)", *keep]
    scores = pd.Series(np.nan, index=frame.index, name="propensity")
    if used.sum() == 0 or y.min(initial=1) == y.max(initial=0):
        notes.append("Propensity model not fitted: one arm is empty")
        coefficients = pd.DataFrame(np.nan, index=pd.Index(names, name="term"), columns=["coef", "se", "z", "p"])
        return PropensityModel(design=design, coefficients=coefficients, scores=scores,
                               treated=pd.Series(treated & used, index=frame.index, name="treated"),
                               used=used, converged=False, iterations=0, notes=tuple(notes))
    fit = _logistic_irls(x, y)
    se = np.sqrt(np.maximum(np.diag(fit.cov), 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = fit.coef / se
    coefficients = pd.DataFrame({"coef": fit.coef, "se": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z))},
                                index=pd.Index(names, name="term"))
    if not fit.converged:
        notes.append("The propensity model did not converge")
    extreme = int(((fit.fitted < _SEPARATION_EPS) | (fit.fitted > 1 - _SEPARATION_EPS)).sum())
    if extreme:
        notes.append(f"{plural(extreme, 'patient')} with a propensity score of almost 0 or 1: some "
                     "covariate pattern is (almost) always or never treated, so the weights are extreme")
    scores[used] = fit.fitted
    return PropensityModel(design=design, coefficients=coefficients, scores=scores,
                           treated=pd.Series(treated & used, index=frame.index, name="treated"),
                           used=used, converged=fit.converged, iterations=fit.iterations,
                           notes=tuple(notes))


# ----------------------------------------------------------------------------------------------
# Weights and balance
# ----------------------------------------------------------------------------------------------
def iptw_weights(propensity, treated, *, stabilised: bool = True,
                 trim_percentile: float | None = None) -> np.ndarray:
    """Inverse-probability-of-treatment weights.

    Parameters
    ----------
    propensity : array-like
        P(IT | covariates) of each patient, in (0, 1).
    treated : array-like of bool
        IT (True) or ST (False).
    stabilised : bool
        Multiply by the marginal probability of the arm received (``P(IT)`` = share of IT
        patients): weights average about 1 and the pseudo-population keeps the sample size.
    trim_percentile : float, optional
        p in (0, 50): truncate the weights at their p-th and (100 - p)-th percentiles (numpy's
        default linear interpolation, R's ``quantile`` type 7).  None = no truncation.

    Returns
    -------
    ndarray of float
    """
    e = np.asarray(propensity, dtype=float)
    a = np.asarray(treated, dtype=bool)
    if e.shape != a.shape:
        raise ValueError("propensity and treated have different lengths")
    with np.errstate(divide="ignore"):
        w = np.where(a, 1 / e, 1 / (1 - e))
    if stabilised and a.size:
        share = a.mean()
        w = w * np.where(a, share, 1 - share)
    if trim_percentile is not None:
        p = float(trim_percentile)
        if not 0 < p < 50:
            raise ValueError(f"trim_percentile must be between 0 and 50 (exclusive), not {trim_percentile!r}")
        low, high = np.percentile(w, [p, 100 - p])
        w = np.clip(w, low, high)
    return w


def _smd(values: np.ndarray, treated: np.ndarray, weights: np.ndarray, binary: np.ndarray) -> tuple:
    """Weighted means per arm and the signed SMD (treated - control) of each column.

    Binary columns: variance p(1 - p).  Continuous: weighted variance with the reliability-weight
    correction sum(w) / (sum(w)^2 - sum(w^2)) (Austin & Stuart 2015, table 1).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _smd_unguarded(values, treated, weights, binary)


def _smd_unguarded(values, treated, weights, binary) -> tuple:
    out_means, out_vars = [], []
    for arm in (treated, ~treated):
        x, w = values[arm], weights[arm]
        sw = w.sum()
        if x.shape[0] == 0 or sw <= 0:
            out_means.append(np.full(values.shape[1], np.nan))
            out_vars.append(np.full(values.shape[1], np.nan))
            continue
        mean = (w[:, None] * x).sum(axis=0) / sw
        denom = sw ** 2 - (w ** 2).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            var_c = sw * (w[:, None] * (x - mean) ** 2).sum(axis=0) / denom
        var = np.where(binary, mean * (1 - mean), var_c)
        out_means.append(mean)
        out_vars.append(var)
    diff = out_means[0] - out_means[1]
    pooled = np.sqrt((out_vars[0] + out_vars[1]) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(pooled > 0, diff / pooled, np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
    smd = np.where(np.isnan(diff) | np.isnan(pooled), np.nan, smd)
    return out_means[0], out_means[1], smd


def balance_table(frame: pd.DataFrame, weights, *, covariates: Sequence[str] | None = None) -> pd.DataFrame:
    """Covariate balance between IT and ST before and after weighting.

    Parameters
    ----------
    frame : DataFrame
        Registry frame.
    weights : array-like or Series
        One weight per row of ``frame`` (a Series is aligned on the index); rows with a NaN
        weight are left out of both columns ("before" and "after" use the same patients).
    covariates : sequence of str, optional
        Default :data:`DEFAULT_COVARIATES`.

    Returns
    -------
    DataFrame
        Indexed by ``term`` (``variable`` or ``variable=level``), columns
        :data:`BALANCE_COLUMNS`: ``variable, level, label, kind`` (``binary``, ``level``,
        ``continuous``), ``mean_treated_before, mean_control_before, smd_before,
        mean_treated_after, mean_control_after, smd_after``.  Means of 0/1 terms are
        proportions; SMDs are signed (IT minus ST) and ±inf when the arms differ but neither
        varies.
    """
    design = design_matrix(frame, covariates)
    w_all = (weights.reindex(frame.index) if isinstance(weights, pd.Series)
             else pd.Series(np.asarray(weights, dtype=float), index=frame.index)).to_numpy(dtype=float)
    treated, known = treatment_status(frame)
    used = design.rows & known & np.isfinite(w_all)
    return _balance(design, used, treated, w_all)


def _balance(design: Design, used: np.ndarray, treated: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    values = design.balance.loc[used[design.rows]].to_numpy(dtype=float)
    a = treated[used]
    w = weights[used]
    binary = (design.terms["kind"] != "continuous").to_numpy()
    before = _smd(values, a, np.ones_like(w), binary)
    after = _smd(values, a, w, binary)
    table = design.terms[["variable", "level", "label", "kind"]].copy()
    table["mean_treated_before"], table["mean_control_before"], table["smd_before"] = before
    table["mean_treated_after"], table["mean_control_after"], table["smd_after"] = after
    return table[list(BALANCE_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# The weighted analysis
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Outcome:
    time: np.ndarray
    event: np.ndarray
    entry: np.ndarray | None
    usable: np.ndarray
    notes: tuple


def analysis_rows(frame: pd.DataFrame, endpoint: str) -> _Outcome:
    """Outcome arrays of an endpoint and the rows that can enter a (delayed-entry) analysis.

    For ``"os"`` the analysis uses delayed entry at the metastasis (``entry_months``); rows
    without it or without follow-up after it are not usable.  Internal helper shared by the
    IPTW and multivariable analyses.
    """
    spec = endpoint_spec(endpoint)
    n = len(frame)
    needed = ["group", spec.time_column, spec.event_column] + (
        [spec.delayed_entry_column] if spec.delayed_entry_column else [])
    absent = missing_columns(frame, needed)
    if absent:
        return _Outcome(np.zeros(n), np.zeros(n), None, np.zeros(n, bool),
                        (f"Not estimable: the data has no column {', '.join(absent)}",))
    _, known = treatment_status(frame)
    event, event_known = event_indicator(frame, spec.event_column)
    time = pd.to_numeric(frame[spec.time_column], errors="coerce").to_numpy(dtype=float)
    usable = known & event_known & np.isfinite(time) & (time >= 0)
    notes = []
    if (~usable).any():
        notes.append(f"{plural(int((~usable).sum()), 'patient')} without arm, time or vital status left out")
    entry = None
    if spec.delayed_entry_column:
        entry = pd.to_numeric(frame[spec.delayed_entry_column], errors="coerce").to_numpy(dtype=float)
        ok = usable & np.isfinite(entry) & (entry >= 0) & (entry < time)
        dropped = int((usable & ~ok).sum())
        if dropped:
            notes.append(f"{plural(dropped, 'patient')} without follow-up after the metastasis diagnosis "
                         "(or without its date) left out of the delayed-entry analysis")
        usable = ok
    return _Outcome(time, event, entry, usable, tuple(notes))


@dataclass(frozen=True)
class IPTWResult:
    """Propensity-weighted comparison of IT and ST.

    Attributes
    ----------
    endpoint : str
        ``"os"`` (from diagnosis, with delayed entry at metastasis) or ``"pdrs"``.
    propensity : PropensityModel
    weights : Series
        Stabilised (and possibly truncated) weight of each row of the frame; NaN for rows not
        analysed.
    balance : DataFrame
        :func:`balance_table` columns, before and after weighting.
    estimate : DataFrame
        One row indexed ``iptw``, :data:`imet_core.bias.EFFECT_COLUMNS`: weighted Cox HR of IT
        with robust SE (``n``/``events`` unweighted).
    km : DataFrame
        Weighted Kaplan-Meier curves: ``arm, time, at_risk, events, censored, survival, lower,
        upper`` (weighted counts).
    risk_table : DataFrame
        Weighted numbers at risk, cumulative events and censored: ``arm, time, at_risk, events,
        censored``.
    weight_summary : DataFrame
        Indexed by arm: ``n, sum_weights, min, median, max, effective_n`` (Kish's effective
        sample size, (sum w)^2 / sum w^2).
    trim_percentile : float or None
    notes : tuple of str
    """

    endpoint: str
    propensity: PropensityModel
    weights: pd.Series
    balance: pd.DataFrame
    estimate: pd.DataFrame
    km: pd.DataFrame
    risk_table: pd.DataFrame
    weight_summary: pd.DataFrame
    trim_percentile: float | None
    notes: tuple


def iptw_analysis(frame: pd.DataFrame, *, covariates: Sequence[str] | None = None, endpoint: str = "os",
                  trim_percentile: float | None = None, risk_times: Sequence[float] | None = None,
                  alpha: float = 0.05, curves: bool = True) -> IPTWResult:
    """Stabilised-IPTW comparison of IT vs ST: weights, balance, weighted KM and Cox.

    Parameters
    ----------
    frame : DataFrame
        Registry frame (or a subgroup).
    covariates : sequence of str, optional
        Propensity-model covariates; default :data:`DEFAULT_COVARIATES`.
    endpoint : {"os", "pdrs"}
        ``"os"`` uses delayed entry at the metastasis diagnosis (no immortal time from
        diagnosis); ``"pdrs"`` counts from the metastasis diagnosis.
    trim_percentile : float, optional
        Truncate weights at this percentile and its mirror (see :func:`iptw_weights`).
    risk_times : sequence of float, optional
        Times of the weighted risk table (default every 12 months to the last follow-up).
    alpha : float
        1 - confidence level.
    curves : bool
        Compute the weighted Kaplan-Meier curves and risk table (False leaves them empty).

    Returns
    -------
    IPTWResult
    """
    outcome = analysis_rows(frame, endpoint)
    notes = list(outcome.notes)
    model = fit_propensity(frame, covariates, rows=outcome.usable)
    notes.extend(model.notes)
    used = model.used
    treated = model.treated.to_numpy()
    weights = pd.Series(np.nan, index=frame.index, name="weight")
    labels = ArmLabels()
    if not np.isfinite(model.scores.to_numpy()[used]).all() or used.sum() == 0 or \
            treated[used].all() or not treated[used].any():
        note = join_notes(["Not estimable: the propensity model could not be fitted", *notes])
        estimate = effect_frame({"iptw": nan_effect(note)}, "method")
        empty_w = np.full(len(frame), np.nan)
        return IPTWResult(endpoint=endpoint, propensity=model, weights=weights,
                          balance=_balance(model.design, used & False, treated, empty_w),
                          estimate=estimate, km=km_long({}, ("arm",)),
                          risk_table=pd.DataFrame(columns=["arm", "time", "at_risk", "events", "censored"]),
                          weight_summary=_weight_summary(np.array([]), np.array([], bool)),
                          trim_percentile=trim_percentile, notes=tuple(notes))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = iptw_weights(model.scores.to_numpy()[used], treated[used], trim_percentile=trim_percentile)
    if not np.isfinite(w).all():
        note = join_notes(["Not estimable: some propensity scores are exactly 0 or 1 (a covariate pattern "
                           "in which every patient had the same treatment), so their weights are infinite; "
                           "use fewer covariates or a larger group", *notes])
        return IPTWResult(endpoint=endpoint, propensity=model, weights=weights,
                          balance=_balance(model.design, used & False, treated, np.full(len(frame), np.nan)),
                          estimate=effect_frame({"iptw": nan_effect(note)}, "method"), km=km_long({}, ("arm",)),
                          risk_table=pd.DataFrame(columns=["arm", "time", "at_risk", "events", "censored"]),
                          weight_summary=_weight_summary(np.array([]), np.array([], bool)),
                          trim_percentile=trim_percentile, notes=tuple(notes))
    weights[used] = w
    w_all = weights.to_numpy()
    balance = _balance(model.design, used, treated, w_all)
    t, d = outcome.time[used], outcome.event[used]
    e = None if outcome.entry is None else outcome.entry[used]
    a = treated[used]
    row = cox_effect(t, d, a, entry=e, weights=w, robust=True, alpha=alpha, labels=labels)
    row["note"] = join_notes([*notes, row["note"]])
    estimate = effect_frame({"iptw": row}, "method")
    tables, risks = {}, []
    grid = (np.arange(0, np.nanmax(t) + 12, 12.0) if risk_times is None
            else np.asarray(risk_times, dtype=float)) if t.size else np.array([0.0])
    for arm, mask in ((labels.treated, a), (labels.control, ~a)) if curves else ():
        tables[(arm,)] = km_table(t[mask], d[mask], entry=None if e is None else e[mask],
                                  weights=w[mask], alpha=alpha)[0]
        if mask.any():
            rt = risk_table(t[mask], d[mask], grid, entry=None if e is None else e[mask], weights=w[mask])
            rt.insert(0, "arm", arm)
            risks.append(rt)
    risk = pd.concat(risks, ignore_index=True) if risks else pd.DataFrame(
        columns=["arm", "time", "at_risk", "events", "censored"])
    return IPTWResult(endpoint=endpoint, propensity=model, weights=weights, balance=balance,
                      estimate=estimate, km=km_long(tables, ("arm",)), risk_table=risk,
                      weight_summary=_weight_summary(w, a), trim_percentile=trim_percentile,
                      notes=tuple(notes))


def _weight_summary(w: np.ndarray, a: np.ndarray) -> pd.DataFrame:
    rows = {}
    for arm, mask in (("IT", a), ("ST", ~a), ("All", np.ones(a.size, bool))):
        x = w[mask]
        rows[arm] = {
            "n": int(x.size), "sum_weights": float(x.sum()),
            "min": float(x.min()) if x.size else math.nan,
            "median": float(np.median(x)) if x.size else math.nan,
            "max": float(x.max()) if x.size else math.nan,
            "effective_n": float(x.sum() ** 2 / (x ** 2).sum()) if x.size else math.nan,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "arm"
    return table


# ----------------------------------------------------------------------------------------------
# Bootstrap of weighted survival differences
# ----------------------------------------------------------------------------------------------
BOOTSTRAP_COLUMNS: tuple[str, ...] = (
    "survival_treated", "survival_control", "difference", "lower", "upper", "se", "replicates",
)


def bootstrap_survival_difference(
        frame: pd.DataFrame, times: Sequence[float], *, covariates: Sequence[str] | None = None,
        endpoint: str = "os", trim_percentile: float | None = None, n_boot: int = 500,
        seed: int = 2024, alpha: float = 0.05,
        progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Bootstrap confidence intervals for IPTW-weighted survival differences (IT - ST).

    Each replicate resamples patients with replacement within each arm (so both arms keep
    their size), refits the propensity model, recomputes the stabilised weights and the two
    weighted Kaplan-Meier curves, and records S_IT(t) - S_ST(t) at each time (Austin, *Stat
    Med* 2016;35:5642-55, recommends the bootstrap for IPTW survival).  Intervals are
    percentile intervals.

    Parameters
    ----------
    frame : DataFrame
        Registry frame.
    times : sequence of float
        Months (from diagnosis for ``"os"``, from metastasis for ``"pdrs"``).
    covariates, endpoint, trim_percentile :
        As :func:`iptw_analysis`.
    n_boot : int
        Number of replicates.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same intervals.
    alpha : float
        1 - confidence level.
    progress : callable, optional
        Called as ``progress(done, n_boot)`` after each replicate (e.g. to move a progress bar).

    Returns
    -------
    DataFrame
        Indexed by ``time``, columns ``survival_treated, survival_control, difference`` (full
        data), ``lower, upper`` (percentile interval), ``se`` (bootstrap SD), ``replicates``
        (replicates in which the difference was defined at that time).  A time beyond the last
        follow-up of an arm gives NaN.
    """
    grid = np.asarray(times, dtype=float).reshape(-1)
    n_boot = int(n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, not {n_boot}")
    result = pd.DataFrame(np.nan, index=pd.Index(grid, name="time"), columns=list(BOOTSTRAP_COLUMNS))
    outcome = analysis_rows(frame, endpoint)
    model = fit_propensity(frame, covariates, rows=outcome.usable)
    used = model.used
    treated = model.treated.to_numpy()[used]
    if used.sum() == 0 or treated.all() or not treated.any() or \
            not np.isfinite(model.scores.to_numpy()[used]).all():
        result["replicates"] = 0.0
        return result
    keep = [c for c in model.coefficients.index if c != "(Intercept)"]
    x = np.column_stack([np.ones(int(used.sum())),
                         model.design.model.loc[used[model.design.rows], keep].to_numpy(dtype=float)])
    t, d = outcome.time[used], outcome.event[used]
    e = None if outcome.entry is None else outcome.entry[used]
    start = model.coefficients["coef"].to_numpy()

    def differences(idx: np.ndarray, beta0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = treated[idx]
        fit = _logistic_irls(x[idx], a.astype(float), start=beta0)
        w = iptw_weights(fit.fitted, a, trim_percentile=trim_percentile)
        if not np.isfinite(w).all():  # separation in this resample: no defined difference
            nan = np.full(grid.size, np.nan)
            return nan, nan, nan
        surv = []
        for mask in (a, ~a):
            tt = t[idx][mask]
            km = kaplan_meier(tt, d[idx][mask], entry=None if e is None else e[idx][mask], weights=w[mask])
            s = np.asarray(km.survival_at(grid), dtype=float).reshape(-1)
            surv.append(np.where(grid <= tt.max(), s, np.nan))
        return surv[0], surv[1], surv[0] - surv[1]

    with np.errstate(all="ignore"):
        full = differences(np.arange(t.size), start)
    result["survival_treated"], result["survival_control"], result["difference"] = full
    rng = np.random.default_rng(seed)
    arm_index = (np.nonzero(treated)[0], np.nonzero(~treated)[0])
    draws = np.full((n_boot, grid.size), np.nan)
    for b in range(n_boot):
        idx = np.concatenate([members[rng.integers(0, members.size, members.size)] for members in arm_index])
        with np.errstate(all="ignore"):
            draws[b] = differences(idx, start)[2]
        if progress is not None:
            progress(b + 1, n_boot)
    defined = np.isfinite(draws)
    counts = defined.sum(axis=0)
    with np.errstate(all="ignore"):
        lower = np.array([np.quantile(draws[defined[:, j], j], alpha / 2) if counts[j] else np.nan
                          for j in range(grid.size)])
        upper = np.array([np.quantile(draws[defined[:, j], j], 1 - alpha / 2) if counts[j] else np.nan
                          for j in range(grid.size)])
        se = np.array([np.std(draws[defined[:, j], j], ddof=1) if counts[j] > 1 else np.nan
                       for j in range(grid.size)])
    result["lower"], result["upper"], result["se"] = lower, upper, se
    result["replicates"] = counts.astype(float)
    return result
