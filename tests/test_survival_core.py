"""Core survival checks that R's reference files do not cover: internal fast paths agree with
the plain computation, and helper functions (risk table) count as R's summary.survfit does."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imet_core import survival as sv


def _registry_like(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "time": np.round(rng.exponential(40, n), 0) / 4 + 0.25,  # heavy ties, like months from days
        "event": (rng.random(n) < 0.55).astype(float),
        "arm": (rng.random(n) < 0.5).astype(float),
        "site": rng.integers(0, 3, n).astype(float),
    })
    frame["entry"] = np.floor(frame["time"] * rng.random(n) * 0.5)
    return frame


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("with_entry", [False, True])
def test_aggregated_cox_equals_row_level_fit(monkeypatch, ties, with_entry):
    """Merging identical rows (used above 20,000 rows) must not change any estimate.

    Tolerance: 1e-9 absolute on coef/se/p and on the log-likelihood (floating-point summation
    order is the only difference)."""
    frame = _registry_like(30_000, seed=3)
    kwargs = dict(time="time", event="event", covariates=["arm", "site"], ties=ties,
                  entry="entry" if with_entry else None)
    aggregated = sv.cox_regression(frame, **kwargs)
    monkeypatch.setattr(sv._CoxProblem, "AGGREGATE_ABOVE", 10**12)
    row_level = sv.cox_regression(frame, **kwargs)
    diff = (aggregated.summary - row_level.summary).abs().to_numpy().max()
    assert diff < 1e-9
    assert abs(aggregated.log_likelihood - row_level.log_likelihood) < 1e-9 * abs(row_level.log_likelihood)


def test_risk_table_counts_as_summary_survfit():
    """At risk at t = #(time >= t); events and censored cumulative up to and including t.

    R: summary(survfit(Surv(time, status) ~ 1), times = c(0, 2, 5, 9), extend = TRUE)
    gives n.risk 6 5 2 0 for these six times (hand-checkable)."""
    time = np.array([1, 2, 2, 4, 5, 8])
    event = np.array([1, 0, 1, 1, 0, 1])
    table = sv.risk_table(time, event, [0, 2, 5, 9])
    assert table["at_risk"].tolist() == [6, 5, 2, 0]
    assert table["events"].tolist() == [0, 2, 3, 4]
    assert table["censored"].tolist() == [0, 1, 2, 2]


def test_survival_at_is_right_continuous_step():
    km = sv.kaplan_meier([1, 2, 3, 4], [1, 1, 0, 1])
    assert km.survival_at(0.5) == 1.0
    assert km.survival_at(1.0) == pytest.approx(0.75, abs=1e-12)
    assert km.survival_at(3.5) == pytest.approx(0.5, abs=1e-12)
    assert km.survival_at(10) == pytest.approx(0.0, abs=1e-12)


def test_bad_input_raises_clear_error():
    with pytest.raises(sv.SurvivalInputError, match="missing"):
        sv.kaplan_meier([1, np.nan], [1, 0])
    with pytest.raises(sv.SurvivalInputError, match="entry must be before time"):
        sv.kaplan_meier([1, 2], [1, 0], entry=[1, 0])
    with pytest.raises(sv.SurvivalInputError, match="0/1"):
        sv.kaplan_meier([1, 2], [2, 0])


def test_thinned_km_curve_is_the_same_picture():
    """A long curve is drawn with a few thousand points, off by less than 1/2000 of the axis
    anywhere (tolerance: 1/2000 in survival at every original time)."""
    from imet_core.figures import MAX_CURVE_POINTS, thin_curve
    rng = np.random.default_rng(0)
    n = 100_000
    time = np.round(rng.exponential(60, n) * 30.4375) / 30.4375
    km = sv.kaplan_meier(time, (rng.random(n) < 0.5).astype(float))
    thinned = thin_curve(km.table)
    assert len(km.table) > MAX_CURVE_POINTS
    assert len(thinned) <= 1.5 * MAX_CURVE_POINTS
    full_t, full_s = km.table["time"].to_numpy(), km.table["survival"].to_numpy()
    drawn = thinned["survival"].to_numpy()[np.searchsorted(thinned["time"].to_numpy(), full_t, side="right") - 1]
    assert np.abs(drawn - full_s).max() < 1 / 2000
    assert thinned["time"].iloc[-1] == full_t[-1]


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_closed_form_tied_deaths_equal_the_term_by_term_sums(monkeypatch, ties):
    """Times with many tied deaths use Efron's sums in closed form (digamma/trigamma/lgamma);
    they must equal the term-by-term expansion. Tolerance: 1e-9 relative on coef and se, 1e-9
    absolute on the cox.zph chi-square."""
    rng = np.random.default_rng(1)
    n = 20_000
    time = np.round(rng.exponential(30, n)) + 1  # whole months: dozens of deaths per time
    event = (rng.random(n) < 0.6).astype(float)
    x = np.column_stack([rng.random(n) < 0.5, rng.normal(size=n)]).astype(float)
    closed = sv.cox_fit_arrays(time, event, x, ties=ties, ph_terms={"a": [0], "b": [1]})
    monkeypatch.setattr(sv._CoxProblem, "SMALL_TIES", 10**9)
    expanded = sv.cox_fit_arrays(time, event, x, ties=ties, ph_terms={"a": [0], "b": [1]})
    np.testing.assert_allclose(closed.coef, expanded.coef, rtol=1e-9)
    np.testing.assert_allclose(closed.se, expanded.se, rtol=1e-9)
    for term in ("a", "b", "GLOBAL"):
        assert abs(closed.ph[term][0] - expanded.ph[term][0]) < 1e-9


def test_time_codes_give_the_same_fit():
    """cox_fit_arrays with the rows' times as codes into a grid (the dashboard's fast path)
    equals the plain call. Tolerance: 1e-12 relative."""
    rng = np.random.default_rng(2)
    n = 5_000
    time = np.round(rng.exponential(40, n) * 30.4375) / 30.4375 + 0.01
    event = (rng.random(n) < 0.5).astype(float)
    x = np.column_stack([rng.random(n) < 0.5, rng.integers(0, 3, n) == 1]).astype(float)
    grid, codes = np.unique(time, return_inverse=True)
    plain = sv.cox_fit_arrays(time, event, x, ph_terms={"t": [0, 1]})
    coded = sv.cox_fit_arrays(time, event, x, ph_terms={"t": [0, 1]}, time_codes=codes, time_grid=grid)
    np.testing.assert_allclose(coded.coef, plain.coef, rtol=1e-12)
    np.testing.assert_allclose(coded.se, plain.se, rtol=1e-12)
    np.testing.assert_allclose(coded.ph["t"][0], plain.ph["t"][0], rtol=1e-9)


def _count_pattern_parts(monkeypatch) -> list:
    """Record which covariate-pattern path fitted each stratum ("grid" or "rows", None when the
    rows were merged instead), so a test can insist on the path it checks."""
    used = []
    for name, label in (("_pattern_part", "rows"), ("_grid_pattern_part", "grid")):
        original = getattr(sv._CoxProblem, name)

        def spy(self, *args, _original=original, _label=label, **kwargs):
            part = _original(self, *args, **kwargs)
            used.append(_label if part is not None else None)
            return part

        monkeypatch.setattr(sv._CoxProblem, name, spy)
    return used


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("with_entry", [False, True])
@pytest.mark.parametrize("with_weights", [False, True])
@pytest.mark.parametrize("with_strata", [False, True])
def test_pattern_cox_equals_merged_and_row_level_fits(monkeypatch, ties, with_entry, with_weights, with_strata):
    """Large fits with categorical covariates run on covariate patterns (a patterns x event
    times at-risk matrix); the estimates must equal those of merged rows and of the plain
    row-level fit. Tolerance: 1e-9 absolute on coef/se/hr/z/p and 1e-9 relative on the
    log-likelihood (summation order is the only difference)."""
    frame = _registry_like(30_000, seed=5)
    frame["w"] = np.random.default_rng(6).uniform(0.5, 2.0, len(frame))
    frame["stratum"] = (frame["site"] == 2).astype(int)
    kwargs = dict(time="time", event="event", covariates=["arm", "site"], ties=ties, robust=False,
                  entry="entry" if with_entry else None, weights="w" if with_weights else None,
                  strata="stratum" if with_strata else None)
    used = _count_pattern_parts(monkeypatch)
    patterns = sv.cox_regression(frame, **kwargs)
    assert used and all(path == "rows" for path in used)
    monkeypatch.setattr(sv._CoxProblem, "PATTERN_CELLS", 0)
    merged = sv.cox_regression(frame, **kwargs)
    monkeypatch.setattr(sv._CoxProblem, "AGGREGATE_ABOVE", 10**12)
    row_level = sv.cox_regression(frame, **kwargs)
    for other in (merged, row_level):
        assert (patterns.summary - other.summary).abs().to_numpy().max() < 1e-9
        assert abs(patterns.log_likelihood - other.log_likelihood) < 1e-9 * abs(other.log_likelihood)


@pytest.mark.parametrize("levels", [2, 13])
def test_pattern_cox_zph_equals_row_level(monkeypatch, levels):
    """Dashboard-like fits (0/1 dummies, time codes, heavy ties) run on covariate patterns
    counted on the time grid. Coefficients, standard errors and cox.zph's chi-squares (from the
    g(t)-weighted information sums) must equal those of the patterns counted from the rows'
    risk intervals, of merged rows and of the row-level fit. A 13-level factor gives 2^15
    possible keys, so the grid path numbers the patterns present instead of using the key.
    Tolerance: 1e-10 absolute on coef (log hazard ratios near 0, where a relative tolerance
    means nothing), 1e-9 relative on se, 1e-8 relative on every chi-square."""
    rng = np.random.default_rng(7)
    n = 40_000
    time = np.round(rng.exponential(40, n)) + 1.0  # whole months: dozens of deaths per time
    event = (rng.random(n) < 0.6).astype(float)
    site = rng.integers(0, 3, n)
    factor = rng.integers(0, levels, n)
    columns = [rng.random(n) < 0.4, site == 1, site == 2] + [factor == j for j in range(1, levels)]
    x = np.column_stack(columns).astype(float)
    grid, codes = np.unique(time, return_inverse=True)
    terms = {"a": [0], "site": [1, 2], "factor": list(range(3, 2 + levels))}
    if levels == 13:  # the key's range times the grid exceeds the matrix budget: numbered patterns
        assert 2 ** x.shape[1] * grid.size > sv._CoxProblem.PATTERN_CELLS
    kwargs = dict(ph_terms=terms, time_codes=codes, time_grid=grid)
    used = _count_pattern_parts(monkeypatch)
    on_grid = sv.cox_fit_arrays(time, event, x, **kwargs)
    assert used == ["grid"]
    monkeypatch.setattr(sv._CoxProblem, "_grid_pattern_part", lambda *args, **kwargs: None)
    from_rows = sv.cox_fit_arrays(time, event, x, **kwargs)
    assert used[-1] == "rows"
    monkeypatch.setattr(sv._CoxProblem, "PATTERN_CELLS", 0)
    merged = sv.cox_fit_arrays(time, event, x, **kwargs)
    monkeypatch.setattr(sv._CoxProblem, "AGGREGATE_ABOVE", 10**12)
    row_level = sv.cox_fit_arrays(time, event, x, **kwargs)
    for other in (from_rows, merged, row_level):
        np.testing.assert_allclose(on_grid.coef, other.coef, rtol=0, atol=1e-10)
        np.testing.assert_allclose(on_grid.se, other.se, rtol=1e-9)
        for term in (*terms, "GLOBAL"):
            np.testing.assert_allclose(on_grid.ph[term][0], other.ph[term][0], rtol=1e-8)


def test_continuous_covariate_falls_back_to_merged_rows(monkeypatch):
    """A continuous covariate has as many patterns as rows: no pattern matrix is built (memory),
    and the fit equals the row-level one. Tolerance: 1e-9 relative on coef and se."""
    rng = np.random.default_rng(8)
    n = 25_000
    time = np.round(rng.exponential(30, n)) + 1
    event = (rng.random(n) < 0.6).astype(float)
    x = np.column_stack([rng.random(n) < 0.5, rng.normal(size=n)]).astype(float)
    used = _count_pattern_parts(monkeypatch)
    fast = sv.cox_fit_arrays(time, event, x)
    assert used == [None]
    monkeypatch.setattr(sv._CoxProblem, "AGGREGATE_ABOVE", 10**12)
    plain = sv.cox_fit_arrays(time, event, x)
    np.testing.assert_allclose(fast.coef, plain.coef, rtol=1e-9)
    np.testing.assert_allclose(fast.se, plain.se, rtol=1e-9)


def test_trigamma_equals_scipy():
    """The series trigamma of the closed-form Efron sums equals scipy's polygamma(1, z) from
    z = 1 to 1e9. Tolerance: 1e-14 relative."""
    from scipy import special
    z = np.concatenate([np.linspace(1, 12, 1001), np.geomspace(12, 1e9, 2000), [1.0, 9.999999, 10.0]])
    np.testing.assert_allclose(sv._trigamma(z), special.polygamma(1, z), rtol=1e-14, atol=0)


@pytest.mark.parametrize("weights", [None, "integer", "fractional"])
def test_large_km_and_risk_table_equal_the_sorted_path(monkeypatch, weights):
    """Above 50,000 rows Kaplan-Meier, the risk table and risk-set sums hash the distinct times
    instead of sorting the rows; the results must equal the sorted path's. Tolerance: 1e-12
    relative on every column (summation order is the only difference)."""
    rng = np.random.default_rng(9)
    n = 60_000
    time = np.round(rng.exponential(40, n) * 30.4375) / 30.4375 + 0.01
    event = (rng.random(n) < 0.5).astype(float)
    w = {None: None, "integer": rng.integers(1, 4, n).astype(float),
         "fractional": rng.uniform(0.5, 2.0, n)}[weights]
    at = [0.0, 12.0, 24.0, 60.0, 500.0]
    hashed_km = sv.kaplan_meier(time, event, weights=w)
    hashed_risk = sv.risk_table(time, event, at, weights=w)
    monkeypatch.setattr(sv, "_HASH_ABOVE", 10**12)
    sorted_km = sv.kaplan_meier(time, event, weights=w)
    sorted_risk = sv.risk_table(time, event, at, weights=w)
    pd.testing.assert_frame_equal(hashed_km.table, sorted_km.table, rtol=1e-12, atol=0)
    np.testing.assert_allclose(hashed_km.std_err, sorted_km.std_err, rtol=1e-12)
    assert (hashed_km.median, hashed_km.median_lower, hashed_km.median_upper) == pytest.approx(
        (sorted_km.median, sorted_km.median_lower, sorted_km.median_upper), rel=1e-12)
    pd.testing.assert_frame_equal(hashed_risk, sorted_risk, rtol=1e-12, atol=0)
