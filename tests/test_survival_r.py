"""``imet_core.survival`` judged by R's survival package.

Every case in ``tests/r_reference/shared`` (made by ``shared/make_refs.R``) and ``tests/r_reference/more``
(made by ``make_more_refs.R``) is a CSV of data plus ``NAME.expected.json``, what R 4.2 / survival 3.5-3
computed on exactly that CSV; ``tests/r_reference/README.md`` describes the layout. Each test id ends with
the R call that produced its expected numbers (``data = NAME`` is the case's CSV); the blocks of the shared
files carry no call, so theirs is rebuilt from ``shared/make_refs.R``.

Tolerances (the issue's; a failing case is reported, never "fixed" by loosening them):

- Kaplan-Meier ``time, at_risk, events, censored, survival, lower, upper`` for the three conf types, and
  the medians with their limits: absolute ``KM_ABS_TOL``. NaN (R's NA: not reached, not defined) must be
  NaN on both sides.
- Log-rank (any rho, stratified or not): statistic and p relative ``LOGRANK_REL_TOL``; dof exactly.
- Cox: coef, se, hr, hr_lower, hr_upper, z relative ``COX_REL_TOL``; p by ``P_RULE`` (absolute
  ``P_ABS_TOL`` when R's p >= ``P_TINY``, relative ``P_REL_TOL`` below); loglik and concordance relative
  ``FIT_REL_TOL``; n and number of events exactly. Robust SE of *weighted* fits: relative
  ``ROBUST_WEIGHTED_SE_REL_TOL``; the columns computed from that SE then get the tolerance it implies
  (z relative ``ROBUST_WEIGHTED_SE_REL_TOL + COX_REL_TOL``; each CI limit within
  ``z_0.975 * se * ROBUST_WEIGHTED_SE_REL_TOL`` of R's on the log scale, plus ``COX_REL_TOL``) and p must be
  the two-sided normal p of Python's own z (relative ``SELF_CONSISTENCY_REL_TOL``).
- RMST estimate and se: relative ``RMST_REL_TOL``.
- cox.zph chisq and p: relative ``ZPH_REL_TOL``; df exactly.

Relative comparisons allow an absolute ``ZERO_FLOOR`` so that an exact zero in R (the RMST se of a group
without events) can be matched by a floating-point zero computed in another order.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import imet_core.survival as survival

REFERENCE_ROOT = Path(__file__).resolve().parent / "r_reference"
REFERENCE_DIRS = (REFERENCE_ROOT / "shared", REFERENCE_ROOT / "more")

KM_ABS_TOL = 1e-6
LOGRANK_REL_TOL = 1e-6
COX_REL_TOL = 1e-4
P_ABS_TOL = 1e-4
P_TINY = 1e-2
P_REL_TOL = 1e-4
ROBUST_WEIGHTED_SE_REL_TOL = 1e-2
SELF_CONSISTENCY_REL_TOL = 1e-9
FIT_REL_TOL = 1e-6
RMST_REL_TOL = 1e-4
ZPH_REL_TOL = 1e-4
ZERO_FLOOR = 1e-12
ALPHA = 0.05

CONF_TYPES = ("log", "log-log", "plain")
KM_SCOPES = ("km_overall", "km_by_group")
KM_COLUMNS = ("time", "at_risk", "events", "censored", "survival", "lower", "upper")
COX_BLOCKS = ("cox_univariable", "cox_multivariable", "cox_multivariable_breslow", "cox_stratified",
              "cox_counting_process")
LOGRANK_BLOCKS = ("logrank", "logrank_rho1", "logrank_stratified")
KNOWN_KEYS = frozenset({"name", "note", "time", "event", "group", "group_terms", "covariates", "entry",
                        "weights", "r_version", "survival_version", *KM_SCOPES, *COX_BLOCKS, *LOGRANK_BLOCKS,
                        "cox_zph", "rmst"})


# ---- reading the reference cases --------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One reference case: R's JSON and the path of the CSV it was computed on."""

    name: str
    ref: dict
    csv: Path
    source: str  # "shared" or "more"

    def role(self, key: str, block: dict | None = None) -> str | None:
        """Column name for ``key`` (time, event, entry, weights, strata, cluster, group): the block's own
        role when it names one (even as null), else the case's. R writes a missing role as null or {}."""
        value = block[key] if block is not None and key in block else self.ref.get(key)
        return value if isinstance(value, str) and value else None

    @property
    def lhs(self) -> str:
        time, event, entry = self.role("time"), self.role("event"), self.role("entry")
        return f"Surv({entry}, {time}, {event})" if entry else f"Surv({time}, {event})"

    def weights_arg(self) -> str:
        weights = self.role("weights")
        return f", weights = {weights}" if weights else ""


def load_cases() -> list[Case]:
    cases = []
    for folder in REFERENCE_DIRS:
        for path in sorted(folder.glob("*.expected.json")):
            ref = json.loads(path.read_text())
            cases.append(Case(name=ref["name"], ref=ref, csv=path.with_name(f"{ref['name']}.csv"),
                              source=folder.name))
    return cases


CASES = load_cases()


@lru_cache(maxsize=None)
def _read_frame(csv: Path) -> pd.DataFrame:
    return pd.read_csv(csv)


def frame_of(case: Case) -> pd.DataFrame:
    """A fresh copy of the case's CSV, so no test can see another test's changes."""
    return _read_frame(case.csv).copy()


def as_list(value: Any) -> list:
    """R's jsonlite writes a length-one vector as a scalar; make it a list again."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def per_stratum(value: Any, k: int) -> Any:
    """The k-th stratum's value of a per-stratum R vector (a scalar, possibly null, when there is one)."""
    return value[k] if isinstance(value, list) else value


def as_floats(values: Any) -> np.ndarray:
    """Float array with None/NA as NaN (R's NA is null in the JSON)."""
    if values is None:
        return np.array([np.nan])
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.tolist()
    elif isinstance(values, np.ndarray):
        values = values.ravel().tolist()
    return np.array([np.nan if v is None else float(v) for v in as_list(values)], dtype=float)


def level_mask(series: pd.Series, level: str) -> np.ndarray:
    """Rows of group ``level`` as R names it (``sub(".*=", "", names(fit$strata))``)."""
    if pd.api.types.is_numeric_dtype(series):
        return (series.astype(float) == float(level)).to_numpy()
    return (series.astype(str) == level).to_numpy()


# ---- comparing ----------------------------------------------------------------------------------------

class Comparison:
    """Collects every mismatch of one test, so a failure reports all of them (with the R call)."""

    def __init__(self, call: str):
        self.call = call
        self.problems: list[str] = []

    def close(self, what: str, actual: Any, expected: Any, *, abs_tol: float = 0.0, rel_tol: float = 0.0,
              allowed: np.ndarray | None = None) -> None:
        """``|actual - expected| <= max(abs_tol, rel_tol * |expected|)`` (or ``<= allowed`` element-wise);
        NaN must meet NaN."""
        a, e = as_floats(actual), as_floats(expected)
        if a.shape != e.shape:
            self.problems.append(f"{what}: Python gives {a.size} values, R {e.size}")
            return
        nan_differs = np.flatnonzero(np.isnan(a) != np.isnan(e))
        if nan_differs.size:
            i = nan_differs[:4]
            self.problems.append(f"{what}: NaN/not-reached differs at {nan_differs.size} position(s), first "
                                 f"{i.tolist()}: Python {a[i].tolist()} vs R {e[i].tolist()}")
        both = ~np.isnan(e) & ~np.isnan(a)
        limit = np.maximum(abs_tol, rel_tol * np.abs(e)) if allowed is None else as_floats(allowed)
        error = np.abs(a - e)
        bad = np.flatnonzero(both & ~(error <= limit))
        if bad.size:
            worst = bad[np.argmax(error[bad] / np.maximum(limit[bad], 1e-300))]
            relative = error[worst] / abs(e[worst]) if e[worst] else math.inf
            self.problems.append(
                f"{what}: {bad.size} of {a.size} outside tolerance; worst at {worst}: Python {a[worst]!r} vs "
                f"R {e[worst]!r} (abs err {error[worst]:.3g}, rel err {relative:.3g}, allowed {limit[worst]:.3g})")

    def relative(self, what: str, actual: Any, expected: Any, rel_tol: float) -> None:
        self.close(what, actual, expected, abs_tol=ZERO_FLOOR, rel_tol=rel_tol)

    def equal(self, what: str, actual: Any, expected: Any) -> None:
        if actual != expected:
            self.problems.append(f"{what}: Python {actual!r} vs R {expected!r}")

    def verify(self) -> None:
        assert not self.problems, "\n  ".join([f"R call: {self.call}", *self.problems])


def p_value_limits(p_r: np.ndarray) -> np.ndarray:
    """P_RULE: absolute P_ABS_TOL when R's p >= P_TINY, relative P_REL_TOL below (tiny p values)."""
    return np.where(p_r >= P_TINY, P_ABS_TOL, np.maximum(P_REL_TOL * p_r, 1e-300))


# ---- calls for blocks that do not record one (the shared files) -----------------------------------------

def km_call(case: Case, scope: str, conf: str) -> str:
    block = case.ref[scope][conf]
    if "call" in block:
        return block["call"]
    rhs = "1" if scope == "km_overall" else case.role("group")
    return f'survfit({case.lhs} ~ {rhs}, data = {case.name}, conf.type = "{conf}"{case.weights_arg()})'


def cox_call(case: Case, block: dict) -> str:
    if "call" in block:
        return block["call"]
    robust = "TRUE" if block.get("robust") else "FALSE"
    return (f'coxph({case.lhs} ~ {" + ".join(as_list(block["terms"]))}, data = {case.name}, '
            f'ties = "{block.get("ties", "efron")}"{case.weights_arg()}, robust = {robust})')


def logrank_call(case: Case, block: dict) -> str:
    return block.get("call") or f"survdiff({case.lhs} ~ {case.role('group')}, data = {case.name})"


# ---- running the Python side like R ran ----------------------------------------------------------------

def column(frame: pd.DataFrame, name: str | None, mask: np.ndarray | None = None) -> np.ndarray | None:
    if name is None:
        return None
    values = frame[name].to_numpy()
    return values if mask is None else values[mask]


def python_km(case: Case, frame: pd.DataFrame, mask: np.ndarray | None, conf: str):
    return survival.kaplan_meier(
        column(frame, case.role("time"), mask), column(frame, case.role("event"), mask),
        entry=column(frame, case.role("entry"), mask), weights=column(frame, case.role("weights"), mask),
        conf_type=conf, alpha=ALPHA)


def km_strata(case: Case, scope: str, conf: str, frame: pd.DataFrame) -> Iterator[tuple[str, np.ndarray | None]]:
    """(R's stratum name, row mask) in R's strata order; the overall curve has one stratum, 'all'."""
    strata = as_list(case.ref[scope][conf]["strata"])
    if scope == "km_overall":
        yield strata[0], None
        return
    group = frame[case.role("group")]
    masks = [level_mask(group, level) for level in strata]
    assert np.all(np.sum(masks, axis=0) == 1), f"R's strata {strata} do not partition the rows of {case.csv}"
    yield from zip(strata, masks)


def fit_cox(case: Case, frame: pd.DataFrame, block: dict):
    """cox_regression with the roles, ties and robustness of R's call."""
    options = {key: case.role(key, block) for key in ("entry", "weights", "strata", "cluster")}
    return survival.cox_regression(
        frame, time=case.role("time", block), event=case.role("event", block),
        covariates=as_list(block["terms"]), ties=block.get("ties", "efron"),
        robust=bool(block.get("robust", False)), alpha=ALPHA,
        **{key: value for key, value in options.items() if value is not None})


# ---- parameter lists ---------------------------------------------------------------------------------------

def km_params() -> list:
    return [pytest.param(case, scope, conf, id=f"{case.name}-{scope}-{conf} {km_call(case, scope, conf)}")
            for case in CASES for scope in KM_SCOPES for conf in CONF_TYPES]


def cox_blocks(case: Case) -> Iterator[tuple[str, dict]]:
    for key in COX_BLOCKS:
        value = case.ref.get(key)
        if isinstance(value, list):
            for i, block in enumerate(value):
                yield f"{key}-{i}", block
        elif value is not None:
            yield key, value


def cox_params() -> list:
    return [pytest.param(case, block, id=f"{case.name}-{label} {cox_call(case, block)}")
            for case in CASES for label, block in cox_blocks(case)]


def logrank_params() -> list:
    return [pytest.param(case, case.ref[key], id=f"{case.name}-{key} {logrank_call(case, case.ref[key])}")
            for case in CASES for key in LOGRANK_BLOCKS if key in case.ref]


@dataclass(frozen=True)
class RmstReference:
    scope: str
    tau: float
    strata: list
    estimate: list
    se: list
    call: str


def rmst_references(case: Case) -> Iterator[RmstReference]:
    """The shared layout (``km_*.rmst``, one tau) and the new one (``rmst``: a list over scope and tau)."""
    for scope in KM_SCOPES:
        block = case.ref[scope].get("rmst")
        if block:
            rhs = "1" if scope == "km_overall" else case.role("group")
            call = (f"summary(survfit({case.lhs} ~ {rhs}, data = {case.name}{case.weights_arg()}), "
                    f"rmean = {block['tau']})$table")
            yield RmstReference(scope.removeprefix("km_"), block["tau"], as_list(case.ref[scope]["log"]["strata"]),
                                as_list(block["estimate"]), as_list(block["se"]), call)
    for block in case.ref.get("rmst", []):
        yield RmstReference(block["scope"], block["tau"], as_list(block["strata"]), as_list(block["estimate"]),
                            as_list(block["se"]), block["call"])


def rmst_params() -> list:
    return [pytest.param(case, reference, id=f"{case.name}-rmst-{reference.scope}-tau{reference.tau:g} {reference.call}")
            for case in CASES for reference in rmst_references(case)]


def zph_params() -> list:
    return [pytest.param(case, id=f"{case.name}-cox_zph {case.ref['cox_zph']['call']}")
            for case in CASES if "cox_zph" in case.ref]


# ---- the reference set itself -------------------------------------------------------------------------

def test_reference_cases_are_complete_and_consistent():
    """Every JSON has its CSV, names are unique, no block is unknown to this harness (so none is silently
    skipped), and R saw as many rows as the CSV holds."""
    check = Comparison("(reference files)")
    names = [case.name for case in CASES]
    check.equal("duplicate case names", sorted({n for n in names if names.count(n) > 1}), [])
    check.equal("cases in shared/", sorted(c.name for c in CASES if c.source == "shared"),
                ["gbsg", "gbsg_delayed_entry", "gbsg_iptw"])
    for case in CASES:
        check.equal(f"{case.name}: CSV present", case.csv.exists(), True)
        check.equal(f"{case.name}: unknown blocks", sorted(set(case.ref) - KNOWN_KEYS), [])
        if not case.csv.exists():
            continue
        frame = frame_of(case)
        for label, block in cox_blocks(case):
            check.equal(f"{case.name} {label}: R's n vs CSV rows", block["n"], len(frame))
        for conf in CONF_TYPES:
            table = case.ref["km_overall"][conf]["table"]
            if case.role("entry") is None and case.role("weights") is None:
                check.equal(f"{case.name} {conf}: R's first at_risk vs CSV rows", table["at_risk"][0], len(frame))
    check.verify()


def test_more_cases_cover_what_can_go_wrong():
    """The generated set still holds the situations it was made for (guards a careless regeneration)."""
    more = {case.name: case for case in CASES if case.source == "more"}
    check = Comparison("Rscript tests/r_reference/make_more_refs.R tests/r_reference/more")
    check.equal("at least 17 cases", len(more) >= 17, True)
    has = {
        "a 4-group log-rank": any(c.ref.get("logrank", {}).get("dof") == 3 for c in more.values()),
        "rho = 1": any("logrank_rho1" in c.ref for c in more.values()),
        "stratified log-rank": any("logrank_stratified" in c.ref for c in more.values()),
        "stratified Cox": any("cox_stratified" in c.ref for c in more.values()),
        "cluster-robust counting process": any(
            any(b.get("cluster") for b in c.ref.get("cox_counting_process", [])) for c in more.values()),
        "weights with delayed entry": any(c.role("weights") and c.role("entry") for c in more.values()),
        "cox.zph": sum("cox_zph" in c.ref for c in more.values()) >= 10,
        "median not reached": any(None in as_list(c.ref["km_by_group"]["log"]["median_upper"]) for c in more.values()),
        "survival reaching 0": any(0 in c.ref["km_overall"]["log"]["table"]["survival"] for c in more.values()),
        "a group without events": any(
            not any(e for s, e in zip(t["stratum"], t["events"]) if s == level)
            for c in more.values() for t in [c.ref["km_by_group"]["log"]["table"]]
            for level in as_list(c.ref["km_by_group"]["log"]["strata"])),
        "rmst beyond the last time": any(
            r.tau > max(c.ref["km_overall"]["log"]["table"]["time"]) for c in more.values() for r in rmst_references(c)),
    }
    for what, present in has.items():
        check.equal(f"a case with {what}", present, True)
    check.verify()


# ---- Kaplan-Meier ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, scope, conf", km_params())
def test_km_table_matches_r(case: Case, scope: str, conf: str):
    """kaplan_meier(...).table vs survfit(Surv(...) ~ 1 | group, conf.type = conf): time, at_risk, events,
    censored, survival, lower, upper to absolute KM_ABS_TOL; by group, one call per level in R's order."""
    frame = frame_of(case)
    reference = case.ref[scope][conf]
    table = pd.DataFrame(reference["table"])
    check = Comparison(km_call(case, scope, conf))
    for stratum, mask in km_strata(case, scope, conf, frame):
        expected = table[table["stratum"] == stratum]
        result = python_km(case, frame, mask, conf).table
        check.equal(f"[{stratum}] columns", [c for c in KM_COLUMNS if c not in result.columns], [])
        if len(result) != len(expected):
            only_py = sorted(set(result["time"]) - set(expected["time"]))[:5]
            only_r = sorted(set(expected["time"]) - set(result["time"]))[:5]
            check.problems.append(f"[{stratum}] {len(result)} rows in Python, {len(expected)} in R; times only in "
                                  f"Python {only_py}, only in R {only_r}")
            continue
        for name in KM_COLUMNS:
            if name in result.columns:
                check.close(f"[{stratum}] {name}", result[name], expected[name], abs_tol=KM_ABS_TOL)
    check.verify()


@pytest.mark.parametrize("case, scope, conf", km_params())
def test_km_median_matches_r(case: Case, scope: str, conf: str):
    """.median, .median_lower, .median_upper vs summary(survfit(...))$table[, c("median", "0.95LCL",
    "0.95UCL")] to absolute KM_ABS_TOL; not reached (NA) must be NaN."""
    frame = frame_of(case)
    reference = case.ref[scope][conf]
    check = Comparison(km_call(case, scope, conf))
    for k, (stratum, mask) in enumerate(km_strata(case, scope, conf, frame)):
        result = python_km(case, frame, mask, conf)
        for name in ("median", "median_lower", "median_upper"):
            check.close(f"[{stratum}] {name}", getattr(result, name), per_stratum(reference[name], k), abs_tol=KM_ABS_TOL)
    check.verify()


@pytest.mark.parametrize("case, scope, conf", [p for p in km_params() if p.values[2] == "log"])
def test_km_survival_at_follows_r_step_function(case: Case, scope: str, conf: str):
    """.survival_at(t) is R's right-continuous step function (summary(survfit(...), times = t)): 1 before
    the first time, S_i at t_i and anywhere up to t_{i+1}; absolute KM_ABS_TOL."""
    frame = frame_of(case)
    table = pd.DataFrame(case.ref[scope][conf]["table"])
    check = Comparison(km_call(case, scope, conf))
    for stratum, mask in km_strata(case, scope, conf, frame):
        expected = table[table["stratum"] == stratum]
        times, surv = expected["time"].to_numpy(float), expected["survival"].to_numpy(float)
        midpoints = (times[:-1] + times[1:]) / 2
        points = np.concatenate([[times[0] / 2], times, midpoints])
        values = np.concatenate([[1.0], surv, surv[:-1]])
        result = python_km(case, frame, mask, conf)
        check.close(f"[{stratum}] survival_at", [result.survival_at(t) for t in points], values, abs_tol=KM_ABS_TOL)
    check.verify()


# ---- log-rank ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, block", logrank_params())
def test_logrank_matches_r(case: Case, block: dict):
    """logrank_test(time, event, group, strata=..., rho=...) vs survdiff(Surv(...) ~ group [+ strata(s)],
    rho = rho): statistic and p relative LOGRANK_REL_TOL, dof exactly (p = pchisq(chisq, dof, lower = FALSE))."""
    frame = frame_of(case)
    group, strata = case.role("group", block), case.role("strata", block)
    options: dict[str, Any] = {"rho": float(block.get("rho", 0.0))}
    if strata is not None:
        options["strata"] = column(frame, strata)
    result = survival.logrank_test(column(frame, case.role("time")), column(frame, case.role("event")),
                                   column(frame, group), **options)
    check = Comparison(logrank_call(case, block))
    check.relative("statistic", result.statistic, block["statistic"], LOGRANK_REL_TOL)
    check.relative("p_value", result.p_value, block["p"], LOGRANK_REL_TOL)
    check.equal("dof", int(result.dof), block["dof"])
    check.verify()


# ---- Cox ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, block", cox_params())
def test_cox_matches_r(case: Case, block: dict):
    """cox_regression(frame, time, event, covariates=terms, entry, weights, strata, cluster, ties, robust) vs
    summary(coxph(...)): see the module docstring for the tolerances (COX_REL_TOL, P_RULE, FIT_REL_TOL and
    ROBUST_WEIGHTED_SE_REL_TOL for the sandwich SE of weighted fits)."""
    frame = frame_of(case)
    result = fit_cox(case, frame, block)
    terms = as_list(block["terms"])
    check = Comparison(cox_call(case, block))
    summary = result.summary
    check.equal("summary index", list(summary.index), terms)
    if list(summary.index) != terms:
        check.verify()
    summary = summary.loc[terms]
    robust_weighted = bool(block.get("robust")) and case.role("weights", block) is not None
    for name in ("coef", "hr"):
        check.relative(name, summary[name], block[name], COX_REL_TOL)
    if robust_weighted:
        se_r = as_floats(block["se"])
        check.relative("se (robust, weighted)", summary["se"], se_r, ROBUST_WEIGHTED_SE_REL_TOL)
        check.relative("z (from the robust SE)", summary["z"], block["z"], ROBUST_WEIGHTED_SE_REL_TOL + COX_REL_TOL)
        band = norm.ppf(1 - ALPHA / 2) * se_r * ROBUST_WEIGHTED_SE_REL_TOL + COX_REL_TOL
        for name in ("hr_lower", "hr_upper"):
            check.close(f"log {name} (from the robust SE)", np.log(as_floats(summary[name])),
                        np.log(as_floats(block[name])), allowed=band)
        own_p = 2 * norm.sf(np.abs(as_floats(summary["z"])))
        check.relative("p vs Python's own z", summary["p"], own_p, SELF_CONSISTENCY_REL_TOL)
    else:
        for name in ("se", "hr_lower", "hr_upper", "z"):
            check.relative(name, summary[name], block[name], COX_REL_TOL)
        p_r = as_floats(block["p"])
        check.close("p (P_RULE)", summary["p"], p_r, allowed=p_value_limits(p_r))
    check.relative("log_likelihood", result.log_likelihood, block["loglik"], FIT_REL_TOL)
    check.relative("concordance", result.concordance, block["concordance"], FIT_REL_TOL)
    check.equal("n", int(result.n), block["n"])
    check.equal("n_events", int(result.n_events), block["events"])
    check.verify()


@pytest.mark.parametrize("case", zph_params())
def test_cox_zph_matches_r(case: Case):
    """proportional_hazards_test(cox_regression(<the cox_multivariable model>), transform="km") vs
    cox.zph(coxph(...), transform = "km")$table: chisq and p relative ZPH_REL_TOL, df exactly, for each
    covariate and GLOBAL."""
    block = case.ref["cox_zph"]
    frame = frame_of(case)
    fit = fit_cox(case, frame, case.ref["cox_multivariable"])
    result = survival.proportional_hazards_test(fit, transform="km")
    terms = as_list(block["terms"])
    check = Comparison(block["call"])
    check.equal("rows", list(result.index), terms)
    if list(result.index) == terms:
        check.relative("chisq", result["chisq"], block["chisq"], ZPH_REL_TOL)
        check.relative("p", result["p"], block["p"], ZPH_REL_TOL)
        check.equal("df", [int(v) for v in result["df"]], [int(v) for v in as_list(block["df"])])
    check.verify()


# ---- RMST --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, reference", rmst_params())
def test_rmst_matches_r(case: Case, reference: RmstReference):
    """rmst(time, event, tau, entry=..., weights=...) vs summary(survfit(...), rmean = tau)$table
    [, c("rmean", "se(rmean)")]: estimate and se relative RMST_REL_TOL, per group in R's order."""
    frame = frame_of(case)
    check = Comparison(reference.call)
    scope = "km_overall" if reference.scope == "overall" else "km_by_group"
    masks: Iterable[np.ndarray | None]
    if scope == "km_overall":
        masks = [None]
    else:
        group = frame[case.role("group")]
        masks = [level_mask(group, level) for level in reference.strata]
    for stratum, mask, estimate, se in zip(reference.strata, masks, reference.estimate, reference.se):
        result = survival.rmst(column(frame, case.role("time"), mask), column(frame, case.role("event"), mask),
                               reference.tau, entry=column(frame, case.role("entry"), mask),
                               weights=column(frame, case.role("weights"), mask))
        check.relative(f"[{stratum}] estimate", result.estimate, estimate, RMST_REL_TOL)
        check.relative(f"[{stratum}] se", result.se, se, RMST_REL_TOL)
    check.verify()
