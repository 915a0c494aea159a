"""The synthetic IMET cohort: determinism, exact structure, clinical coherence, scaling, CLI."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imet_core import synthetic
from imet_core.io import load_registry
from imet_core.reproduce import CoreEngine, survival_statistics

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "imet_synthetic.csv"
PARQUET = ROOT / "data" / "imet_synthetic.parquet"
PARAMS = ROOT / "data" / "synthetic_params.json"
LUNG_CODES = {"lung_metastasectomy", "lung_radiosurgery"}
LIVER_CODES = {"liver_metastasectomy", "liver_rfa", "liver_radiosurgery", "liver_tare"}


@pytest.fixture(scope="module")
def params() -> dict:
    return synthetic.load_params(PARAMS)


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return load_registry(CSV)


@pytest.fixture(scope="module")
def large(params, tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("large") / "large.csv"
    synthetic.write_cohort(synthetic.generate_cohort(5000, 11, params), path)
    return load_registry(path)


# --- determinism ------------------------------------------------------------------------
def test_regeneration_with_committed_parameters_is_byte_identical(params, tmp_path):
    out = tmp_path / "again.csv"
    assert synthetic.main(["generate", "--params", str(PARAMS), "--out", str(out)]) == 0
    assert out.read_bytes() == CSV.read_bytes()


def test_committed_parquet_holds_the_same_registry(committed):
    from_parquet = load_registry(PARQUET)
    pd.testing.assert_frame_equal(from_parquet, committed, check_dtype=False)


def test_same_arguments_give_the_same_bytes_and_another_seed_differs(params, tmp_path):
    paths = [tmp_path / f"{name}.csv" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (7, 7, 8)):
        synthetic.write_cohort(synthetic.generate_cohort(500, seed, params), path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    p1, p2 = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (p1, p2):
        synthetic.write_cohort(synthetic.generate_cohort(500, 7, params), path)
    assert p1.read_bytes() == p2.read_bytes()


# --- exact structure of the reference cohort ----------------------------------------------
def test_reference_cohort_has_the_published_structure(committed, params):
    structure = params["structure"]
    f = committed
    assert len(f) == structure["n"]
    assert f["patient_id"].tolist() == [f"IMET-{i:04d}" for i in range(1, len(f) + 1)]
    assert f["center"].nunique() == structure["centres"]
    for arm in ("IT", "ST"):
        g = f[f["group"] == arm]
        assert len(g) == structure["arms"][arm]
        assert int(g["dead"].sum()) == structure["deaths"][arm]
        assert int(g["date_progression"].notna().sum()) == structure["progressions"][arm]
        assert int((g["menopause"] == "post").sum()) == structure["menopause_post"][arm]
        assert round(g["age"].mean(), 1) == structure["age"][arm]["mean"]
        assert round(g["age"].std(ddof=1), 1) == structure["age"][arm]["sd"]
        site_counts = g["site"].value_counts().to_dict()
        assert site_counts == structure["site"][arm]
        quartiles = np.quantile(g["mdfi_months"], [0.25, 0.5, 0.75])
        np.testing.assert_allclose(quartiles, structure["mdfi_quartiles"][arm], atol=0.5)  # tolerance: 0.5 months
    assert f["age"].min() == structure["age"]["min"] and f["age"].max() == structure["age"]["max"]
    assert (f["age"] == f["age"].round()).all()
    first, last = structure["metastasis_window"]
    assert f["date_metastasis"].min() >= pd.Timestamp(first) and f["date_metastasis"].max() <= pd.Timestamp(last)
    counts = f.loc[f["group"] == "IT", "intervention"].value_counts().to_dict()
    assert counts == structure["intervention"]


# --- clinical coherence ---------------------------------------------------------------
def assert_coherent(f: pd.DataFrame) -> None:
    """Clinical and temporal coherence of a loaded synthetic registry."""
    triple_negative = (f["er"] == "negative") & (f["pr"] == "negative") & (f["her2"] == "negative")
    assert not triple_negative.any()
    assert not ((f["menopause"] == "post") & (f["age"] < 40)).any()
    assert not ((f["menopause"] == "pre") & (f["age"] >= 62)).any()
    it = f["group"] == "IT"
    assert f.loc[it, "intervention"].notna().all() and f.loc[~it, "intervention"].isna().all()
    lung_iv = f["intervention"].isin(LUNG_CODES)
    liver_iv = f["intervention"].isin(LIVER_CODES)
    assert f.loc[lung_iv, "mets_lung"].all() and f.loc[liver_iv, "mets_liver"].all()
    assert (f["mets_lung"] | f["mets_liver"]).all()
    assert not (f["axillary_surgery"].eq("SLNB") & f["nodal_status"].isin(["N2", "N3"])).any()
    assert (f["date_diagnosis"] < f["date_surgery"]).all()
    assert (f["mdfi_months"] > 3.0).all()  # metachronous: more than 3 months after surgery
    assert (f["date_metastasis"] < f["date_last_followup"]).all()
    assert (f.loc[it, "date_intervention"] > f.loc[it, "date_metastasis"]).all()
    assert (f.loc[it, "date_intervention"] <= f.loc[it, "date_last_followup"]).all()
    assert f.loc[~it, "date_intervention"].isna().all()
    prog = f["date_progression"].notna()
    assert (f.loc[prog, "date_progression"] > f.loc[prog, "date_metastasis"]).all()
    assert (f.loc[prog, "date_progression"] < f.loc[prog, "date_last_followup"]).all()
    assert (f.loc[prog & it, "date_progression"] > f.loc[prog & it, "date_intervention"]).all()
    for column in ("er_met", "pr_met", "her2_met"):
        assert (f[column].notna() == f["mets_biopsy"]).all()
    assert (f.loc[f["site"] == "multiple", "mets_bone"]).all()  # the paper's "lung + liver + bone"


def test_reference_cohort_is_clinically_coherent(committed):
    assert_coherent(committed)


def test_receptor_conversions_are_near_the_published_rates(committed, params):
    conv = params["structure"]["receptor_conversion"]
    f = committed[committed["mets_biopsy"]]
    er_pos = f[f["er"] == "positive"]
    her2_pos, her2_neg = f[f["her2"] == "positive"], f[f["her2"] == "negative"]
    assert abs((er_pos["er_met"] == "negative").mean() - conv["er_pos_to_neg"]) <= 0.03  # tolerance: 3 points
    assert abs((her2_pos["her2_met"] == "negative").mean() - conv["her2_pos_to_neg"]) <= 0.03
    assert abs((her2_neg["her2_met"] == "positive").mean() - conv["her2_neg_to_pos"]) <= 0.03
    assert int(((f["er"] == "negative") & (f["er_met"] == "positive")).sum()) == conv["er_neg_to_pos_n"]
    assert int(((f["pr"] == "negative") & (f["pr_met"] == "positive")).sum()) == conv["pr_neg_to_pos_n"]


# --- scaling -----------------------------------------------------------------------------
def test_scaled_cohort_loads_keeps_the_structure_and_is_coherent(large, params):
    structure = params["structure"]
    assert len(large) == 5000
    assert_coherent(large)
    assert large["center"].nunique() == structure["centres"]
    share_it = structure["arms"]["IT"] / structure["n"]
    assert abs((large["group"] == "IT").mean() - share_it) <= 0.001  # tolerance: rounding of 5000 * share
    for arm in ("IT", "ST"):
        g = large[large["group"] == arm]
        death_share = structure["deaths"][arm] / structure["arms"][arm]
        assert abs(g["dead"].mean() - death_share) <= 0.002  # tolerance: rounding of the scaled count
        assert abs(g["age"].mean() - structure["age"][arm]["mean"]) <= 0.2  # tolerance: 0.2 years (clipping)
        q = np.quantile(g["mdfi_months"], [0.25, 0.5, 0.75])
        np.testing.assert_allclose(q, structure["mdfi_quartiles"][arm], rtol=0.05)  # tolerance: 5% (sampling)
        for site, count in structure["site"][arm].items():
            assert abs((g["site"] == site).mean() - count / structure["arms"][arm]) <= 0.001


def test_generation_scales_to_large_registries(params):
    """200,000 patients in one call (generation speed is measured by `make bench`)."""
    cohort = synthetic.generate_cohort(200_000, 3, params)
    assert cohort.n == 200_000


# --- the calibration's shortcuts agree with the core --------------------------------------
def test_cohort_frame_matches_the_loader(committed, params):
    frame = synthetic.cohort_frame(synthetic.generate_cohort(params=params))
    for column in frame.columns:
        left, right = frame[column], committed[column]
        if left.dtype == object:
            assert left.fillna("").tolist() == right.fillna("").tolist(), column
        else:
            np.testing.assert_allclose(left.astype(float), right.astype(float), rtol=0, atol=1e-12, err_msg=column)


def test_fast_engine_agrees_with_the_core(committed):
    fast = survival_statistics(synthetic.cohort_frame(synthetic.generate_cohort()), synthetic.FastEngine())
    core = survival_statistics(committed, CoreEngine())
    for key, value in core.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(fast[key]), key
        elif key.endswith(".p"):
            assert fast[key] == pytest.approx(value, rel=0.05), key  # tolerance: Breslow vs Efron, 5% on p
        else:
            assert fast[key] == pytest.approx(value, rel=0.01, abs=1e-9), key  # tolerance: 1% (ties)


# --- building blocks -----------------------------------------------------------------------
@pytest.mark.parametrize("total,weights", [(119, [47, 46, 5, 5, 16]), (5000, [0.2, 0.3, 0.5]), (7, [1, 1, 1]), (0, [1, 2])])
def test_allocate_sums_to_the_total_and_keeps_integer_counts(total, weights):
    counts = synthetic.allocate(total, weights)
    assert counts.sum() == total
    if sum(weights) == total:
        assert counts.tolist() == list(weights)
    quota = np.asarray(weights, float) * total / sum(weights)
    assert np.all(np.abs(counts - quota) < 1.0)


def test_solved_baseline_rate_gives_exactly_the_wanted_deaths():
    rng = np.random.Generator(np.random.PCG64(5))
    exp1 = -np.log(rng.random(300))
    risk = np.exp(rng.normal(size=300))
    censor = rng.uniform(1, 80, 300)
    for deaths in (0, 1, 29, 150, 300):
        rate = synthetic.solve_baseline_rate(exp1, risk, censor, 0.9, deaths)
        times = (exp1 / (rate * risk)) ** (1 / 0.9)
        assert int(np.sum(times <= censor)) == deaths


def test_age_targets_reproduce_means_sds_and_t_test(params):
    structure = params["structure"]
    sizes = structure["arms"]
    targets = synthetic.exact_age_targets(structure, sizes)
    means = {arm: targets[arm][0] / sizes[arm] for arm in sizes}
    p = synthetic.student_t_p(sizes["IT"], means["IT"], structure["age"]["IT"]["sd"], sizes["ST"], means["ST"], structure["age"]["ST"]["sd"])
    assert round(p, 2) == structure["age"]["p"]
    assert all(round(means[arm], 1) == structure["age"][arm]["mean"] for arm in sizes)


# --- command line -----------------------------------------------------------------------
def test_generate_command_writes_parquet_and_csv(tmp_path):
    for name in ("x.parquet", "x.csv"):
        out = tmp_path / name
        assert synthetic.main(["generate", "--n", "300", "--seed", "4", "--out", str(out)]) == 0
        assert len(load_registry(out)) == 300


def test_generate_command_rejects_a_broken_parameter_file(params, tmp_path, capsys):
    broken = json.loads(json.dumps(params))
    del broken["model"]["weibull_shape"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert synthetic.main(["generate", "--params", str(path), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "weibull_shape" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["generate", "--n", "1", "--out", "{tmp}/a.csv"],
    ["generate", "--out", "{tmp}/a.xlsx"],
    ["generate", "--params", "{tmp}/missing.json", "--out", "{tmp}/a.csv"],
    ["generate", "--out", "{tmp}/no/such/dir/a.csv"],
    ["generate", "--seed", "-3", "--out", "{tmp}/a.csv"],
    ["generate"],
    ["calibrate", "--seeds", "5"],
])
def test_generate_command_rejects_bad_arguments_with_one_line(argv, tmp_path, capsys):
    code = synthetic.main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err and "Traceback" not in err


def test_calibrated_parameters_stay_within_their_clinical_bounds(params):
    structure = params["structure"]
    for path, lo, hi in synthetic.PARAMETER_SPACE:
        value = synthetic.get_parameter(params["model"], path, structure)
        assert lo - 1e-9 <= value <= hi + 1e-9, path


def test_true_effects_lists_every_term_and_the_intervention_patterns(params):
    effects = synthetic.true_effects(params)
    assert list(effects.columns) == ["term", "hazard_ratio", "description"]
    terms = set(effects["term"])
    assert set(params["model"]["log_hazard_ratios"]) <= terms
    it_rows = effects[effects["term"].str.startswith("IT vs ST")]
    assert len(it_rows) == 12  # 2 ages x 3 receptor classes x 2 liver states
    assert (effects["hazard_ratio"] > 0).all()


def test_parameter_file_documents_the_model(params):
    model = params["model"]
    assert set(model["log_hazard_ratios"]) == {name.split(".", 1)[1] for name, _, _ in synthetic.PARAMETER_SPACE if name.startswith("log_hazard_ratios.")}
    assert math.log(0.4) <= model["log_hazard_ratios"]["mdfi_gt_24"] <= 0.0  # a modest true MDFI effect
    assert "2020-11-01" <= model["administrative_cut"] <= "2021-06-30"
    assert params["calibration"]["seeds_searched"] >= 100
    assert json.loads(json.dumps(params)) == params
