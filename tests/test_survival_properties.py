"""Property tests (hypothesis) of ``kaplan_meier`` and ``cox_regression``.

These hold for any data, not only the R reference cases of ``test_survival_r.py``: probabilities stay in
[0, 1] and never increase, confidence limits bracket the estimate, the risk set loses exactly the events
and censorings of each time, results do not depend on row order or on the unit of time, inputs are never
modified, and the median is the one R reads off the table. For Cox: row order and a covariate shift
change nothing; scaling a covariate by c divides its coefficient and SE by c (HR becomes HR^(1/c)).

Example counts are kept modest (``KM_EXAMPLES``, ``COX_EXAMPLES``) so the suite stays fast.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from imet_core.survival import cox_regression, kaplan_meier

KM_EXAMPLES = 60
COX_EXAMPLES = 20
EXACT_TOL = 1e-12     # same arithmetic on the same counts: only rounding may differ
ACCOUNTING_TOL = 1e-9  # sums of (possibly non-integer) weights subtracted step by step
COX_TOL = 1e-6        # relative; Newton-Raphson converged to far better than this
CONF_TYPES = ("log", "log-log", "plain")
MEDIAN_TOL = math.sqrt(np.finfo(float).eps)  # survival:::survmean's tolerance

# Found by hypothesis: the whole risk set fails at one time with non-integer weights. R gives S = 0 exactly
# (and, with its robust std.err of 0, plain limits 0, 0); a rounding residue gives -2e-16 or +2e-16
# depending on the row order, and with it NaN or finite limits.
ALL_FAIL_WEIGHTED = {"time": np.full(7, 0.25), "event": np.ones(7, dtype=int),
                     "weights": np.array([1, 1, 1, 1, 1, 2, 4 / 3])}
ALL_FAIL_WEIGHTED_10 = {"time": np.full(10, 0.25), "event": np.ones(10, dtype=int),
                        "weights": np.array([1.55370368, 1.6441993, 1.52714337, 1.52714337, 3.0, 4.2594067, 5.0,
                                             1.0, 1.0, 1.0])}

km_settings = settings(max_examples=KM_EXAMPLES, deadline=None,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
cox_settings = settings(max_examples=COX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- data -------------------------------------------------------------------------------------------

@st.composite
def survival_data(draw, weighted: bool | None = None) -> dict:
    """time (on a grid of 0.25: heavy ties when the range is small, none to speak of when it is large;
    never two times closer than 0.25, so R's near-tie rule never merges them), event 0/1 and, sometimes,
    non-integer case weights."""
    n = draw(st.integers(1, 40))
    top = draw(st.sampled_from([4, 30, 100_000]))
    time = np.array(draw(st.lists(st.integers(1, top), min_size=n, max_size=n)), dtype=float) * 0.25
    event = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=int)
    use_weights = draw(st.booleans()) if weighted is None else weighted
    weights = None
    if use_weights:
        weights = np.array(draw(st.lists(st.floats(0.05, 5.0, allow_nan=False, allow_infinity=False),
                                         min_size=n, max_size=n)))
    return {"time": time, "event": event, "weights": weights}


def km(data: dict, conf_type: str = "log", **changes):
    arguments = {**data, **changes}
    return kaplan_meier(arguments["time"], arguments["event"], weights=arguments["weights"], conf_type=conf_type)


def r_median(curve: np.ndarray, times: np.ndarray) -> float:
    """``minmin`` of survival:::survmean (survival 3.5-3): the first time the curve is below 0.5; when it is
    exactly 0.5 there and drops later, the midpoint to the next drop; NaN when never reached."""
    keep = ~np.isnan(curve) & (curve < 0.5 + MEDIAN_TOL)
    if not keep.any():
        return math.nan
    x, y = times[keep], curve[keep]
    if abs(y[0] - 0.5) < MEDIAN_TOL and (y < y[0]).any():
        return (x[0] + x[np.argmax(y < y[0])]) / 2
    return float(x[0])


def assert_same(actual, expected, tol: float, what: str) -> None:
    """Element-wise |a - e| <= tol * max(1, |e|), NaN meeting NaN."""
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert a.shape == e.shape, f"{what}: shapes {a.shape} vs {e.shape}"
    assert np.array_equal(np.isnan(a), np.isnan(e)), f"{what}: NaN positions differ\n{a}\n{e}"
    ok = ~np.isnan(e)
    error = np.abs(a[ok] - e[ok]) / np.maximum(1.0, np.abs(e[ok]))
    assert error.size == 0 or error.max() <= tol, f"{what}: max scaled error {error.max():.3g} > {tol}"


# ---- Kaplan-Meier -------------------------------------------------------------------------------------

@km_settings
@given(data=survival_data(), conf_type=st.sampled_from(CONF_TYPES))
@example(data=ALL_FAIL_WEIGHTED, conf_type="log")
def test_km_survival_is_a_non_increasing_probability(data, conf_type):
    table = km(data, conf_type).table
    survival = table["survival"].to_numpy()
    assert np.all((survival >= 0) & (survival <= 1)), survival
    assert np.all(np.diff(survival) <= EXACT_TOL), survival


@km_settings
@given(data=survival_data(), conf_type=st.sampled_from(CONF_TYPES))
def test_km_limits_bracket_survival(data, conf_type):
    """lower <= S <= upper and both within [0, 1], wherever the limit is defined (R leaves NA at S = 0,
    and for log-log at S = 1)."""
    table = km(data, conf_type).table
    s, lower, upper = (table[c].to_numpy() for c in ("survival", "lower", "upper"))
    defined_lower, defined_upper = ~np.isnan(lower), ~np.isnan(upper)
    assert np.all(lower[defined_lower] <= s[defined_lower] + EXACT_TOL), table
    assert np.all(upper[defined_upper] >= s[defined_upper] - EXACT_TOL), table
    assert np.all((lower[defined_lower] >= 0) & (upper[defined_upper] <= 1 + EXACT_TOL)), table
    assert not np.isnan(lower[s > 0]).any() or conf_type == "log-log", "a limit is missing where S > 0"


@km_settings
@given(data=survival_data())
def test_km_at_risk_accounting(data):
    """Without delayed entry everyone is at risk at the first time, and the risk set then loses exactly
    the (weighted) events and censorings of each time, down to nobody after the last."""
    table = km(data).table
    weights = np.ones(len(data["time"])) if data["weights"] is None else data["weights"]
    at_risk, events, censored = (table[c].to_numpy() for c in ("at_risk", "events", "censored"))
    np.testing.assert_array_equal(table["time"].to_numpy(), np.unique(data["time"]))
    assert_same(at_risk[0], weights.sum(), ACCOUNTING_TOL, "at_risk at the first time")
    assert_same(at_risk[1:], (at_risk - events - censored)[:-1], ACCOUNTING_TOL, "at_risk[i+1]")
    assert_same(at_risk[-1] - events[-1] - censored[-1], 0.0, ACCOUNTING_TOL, "left after the last time")
    assert_same(events.sum(), (weights * data["event"]).sum(), ACCOUNTING_TOL, "total events")
    assert_same(censored.sum(), (weights * (1 - data["event"])).sum(), ACCOUNTING_TOL, "total censorings")


@km_settings
@given(data=survival_data())
def test_km_is_the_product_limit(data):
    table = km(data).table
    factors = 1 - table["events"].to_numpy() / table["at_risk"].to_numpy()
    assert_same(table["survival"], np.cumprod(factors), EXACT_TOL, "S = prod(1 - d/n)")


@km_settings
@given(data=survival_data(), conf_type=st.sampled_from(CONF_TYPES), seed=st.integers(0, 2**32 - 1))
@example(data=ALL_FAIL_WEIGHTED_10, conf_type="plain", seed=0)
@example(data=ALL_FAIL_WEIGHTED_10, conf_type="log", seed=0)
def test_km_does_not_depend_on_row_order(data, conf_type, seed):
    order = np.random.default_rng(seed).permutation(len(data["time"]))
    shuffled = {k: None if v is None else v[order] for k, v in data.items()}
    first, second = km(data, conf_type), km(shuffled, conf_type)
    for column in first.table.columns:
        assert_same(second.table[column], first.table[column], EXACT_TOL, column)
    for name in ("median", "median_lower", "median_upper"):
        assert_same(getattr(second, name), getattr(first, name), EXACT_TOL, name)


@km_settings
@given(data=survival_data(), as_series=st.booleans())
def test_km_leaves_its_inputs_alone(data, as_series):
    inputs = {k: v for k, v in data.items() if v is not None}
    if as_series:
        inputs = {k: pd.Series(v, index=np.arange(len(v))[::-1]) for k, v in inputs.items()}
    copies = {k: v.copy() for k, v in inputs.items()}
    kaplan_meier(inputs["time"], inputs["event"], weights=inputs.get("weights"))
    for k, v in inputs.items():
        if as_series:
            pd.testing.assert_series_equal(v, copies[k])
        else:
            np.testing.assert_array_equal(v, copies[k])
            assert v.dtype == copies[k].dtype


@km_settings
@given(data=survival_data(), conf_type=st.sampled_from(CONF_TYPES),
       factor=st.sampled_from([0.5, 2.0, 1 / 7, 30.4375, 1 / 30.4375, 365.25]))
def test_km_does_not_depend_on_the_unit_of_time(data, conf_type, factor):
    """Times x c: the same survival column and limits, table times x c, medians x c."""
    first = km(data, conf_type)
    second = km(data, conf_type, time=data["time"] * factor)
    assert_same(second.table["time"], first.table["time"] * factor, EXACT_TOL, "time")
    for column in ("at_risk", "events", "censored", "survival", "lower", "upper"):
        assert_same(second.table[column], first.table[column], EXACT_TOL, column)
    for name in ("median", "median_lower", "median_upper"):
        assert_same(getattr(second, name), getattr(first, name) * factor, EXACT_TOL, name)


@km_settings
@given(data=survival_data(), conf_type=st.sampled_from(CONF_TYPES))
def test_km_median_is_read_off_the_table_as_r_does(data, conf_type):
    """median from the survival column, median_lower from the lower limits, median_upper from the upper
    ones, by survival:::survmean's rule (which reproduces every median of the R reference cases)."""
    result = km(data, conf_type)
    table = result.table
    times = table["time"].to_numpy()
    assert_same(result.median, r_median(table["survival"].to_numpy(), times), EXACT_TOL, "median")
    assert_same(result.median_lower, r_median(table["lower"].to_numpy(), times), EXACT_TOL, "median_lower")
    assert_same(result.median_upper, r_median(table["upper"].to_numpy(), times), EXACT_TOL, "median_upper")
    if not math.isnan(result.median):
        assert result.survival_at(result.median) <= 0.5 + MEDIAN_TOL


def test_km_median_midpoint_example():
    """The rule the property relies on, on a case done by hand: S = 0.5 exactly on [5, 6) -> median 5.5."""
    result = kaplan_meier(np.arange(1.0, 11.0), np.ones(10))
    assert result.median == pytest.approx(5.5, abs=EXACT_TOL)


# ---- Cox ------------------------------------------------------------------------------------------------

@st.composite
def cox_data(draw) -> pd.DataFrame:
    """A Cox data set from a seed: x1 continuous, x2 binary, exponential times with log-HR 0.5 and -0.7,
    on a grid so that ties occur, about a third censored; at least 8 events in each arm of x2."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(40, 120))
    grid = draw(st.sampled_from([0.01, 0.5, 2.0]))
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.integers(0, 2, n).astype(float)
    time = np.ceil(rng.exponential(1 / np.exp(0.5 * x1 - 0.7 * x2)) * 10 / grid) * grid
    event = (rng.uniform(size=n) < 0.67).astype(int)
    frame = pd.DataFrame({"time": time, "event": event, "x1": x1, "x2": x2})
    assume(min(frame.loc[frame.x2 == arm, "event"].sum() for arm in (0, 1)) >= 8)
    return frame


def fit(frame: pd.DataFrame, ties: str):
    result = cox_regression(frame, time="time", event="event", covariates=["x1", "x2"], ties=ties)
    assume(result.converged and not result.warnings)
    return result


@cox_settings
@given(frame=cox_data(), ties=st.sampled_from(["efron", "breslow"]), seed=st.integers(0, 2**32 - 1))
def test_cox_does_not_depend_on_row_order(frame, ties, seed):
    first = fit(frame, ties)
    shuffled = frame.sample(frac=1.0, random_state=np.random.default_rng(seed)).reset_index(drop=True)
    second = fit(shuffled, ties)
    for column in ("coef", "se", "p"):
        assert_same(second.summary[column], first.summary[column], COX_TOL, column)
    assert_same(second.log_likelihood, first.log_likelihood, COX_TOL, "log_likelihood")
    assert_same(second.concordance, first.concordance, COX_TOL, "concordance")


@cox_settings
@given(frame=cox_data(), ties=st.sampled_from(["efron", "breslow"]),
       shift=st.floats(-1000, 1000, allow_nan=False, allow_infinity=False))
def test_cox_coefficients_ignore_a_covariate_shift(frame, ties, shift):
    first = fit(frame, ties)
    copy = frame.copy()
    second = fit(copy.assign(x1=copy["x1"] + shift), ties)
    pd.testing.assert_frame_equal(copy, frame)  # the caller's frame is untouched
    for column in ("coef", "se", "hr", "hr_lower", "hr_upper", "z"):
        assert_same(second.summary[column], first.summary[column], COX_TOL, column)
    assert_same(second.log_likelihood, first.log_likelihood, COX_TOL, "log_likelihood")


@cox_settings
@given(frame=cox_data(), ties=st.sampled_from(["efron", "breslow"]),
       factor=st.sampled_from([0.01, 0.5, 3.0, 12.0, 365.25, -2.0]))
def test_cox_scaling_a_covariate_divides_its_coefficient(frame, ties, factor):
    """x1 * c: coef / c, se / |c|, HR^(1/c); z up to sign, p and the other covariate unchanged."""
    first = fit(frame, ties)
    second = fit(frame.assign(x1=frame["x1"] * factor), ties)
    a, b = first.summary, second.summary
    assert_same(b.loc["x1", "coef"], a.loc["x1", "coef"] / factor, COX_TOL, "coef / c")
    assert_same(b.loc["x1", "se"], a.loc["x1", "se"] / abs(factor), COX_TOL, "se / |c|")
    assert_same(math.log(b.loc["x1", "hr"]), math.log(a.loc["x1", "hr"]) / factor, COX_TOL, "log HR^(1/c)")
    assert_same(b.loc["x1", "z"], a.loc["x1", "z"] * math.copysign(1, factor), COX_TOL, "z")
    assert_same(b.loc["x1", "p"], a.loc["x1", "p"], COX_TOL, "p")
    assert_same(b.loc["x2"], a.loc["x2"], COX_TOL, "x2 row")
    assert_same(second.log_likelihood, first.log_likelihood, COX_TOL, "log_likelihood")
