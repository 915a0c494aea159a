"""Seeded synthetic IMET cohort: the app's embedded default registry.

No patient-level IMET data is public. This module writes a *synthetic* registry in the
contract's dates form (``../shared/docs/contract.md``) whose analyses reproduce the numbers
the IMET paper publishes (``data/reference/imet_published.json``). Nothing in it describes a
real patient.

Command line::

    python -m imet_core.synthetic generate [--n N] [--seed S] [--params FILE] --out FILE
    python -m imet_core.synthetic calibrate [--seeds K] [--out data/synthetic_params.json]

``generate`` is a pure function of (n, seed, parameters): the same arguments give a
byte-identical file (CSV, or Parquet when the name ends in ``.parquet``). Every random number
comes from ``numpy.random.PCG64`` uniforms (``Generator.random``), whose stream NumPy keeps
stable, turned into other distributions by explicit inverse CDFs, so no NumPy distribution
algorithm can change the output. ``calibrate`` is slow and offline (see
:func:`calibrate`); it is never run at app start or in tests.

The generating model
--------------------
Cohort structure (exact at the reference size of 200, proportional at any other size, by
largest-remainder apportionment): the arm sizes; every Table 1 count per arm including the
unknown values; the six intervention types, each matched to an organ the patient has
metastases in; 29 centre codes; receptor classes (every ER-/PR- tumour is HER2+: the study
excluded triple-negative disease); deaths and progressions per arm; receptor conversions on
the metastasis biopsy at the published rates. Ages are whole years with each arm's mean and SD
(to 0.1) and the 23-88 range; menopause follows age. MDFI (surgery to metastasis) follows a
log-linear quantile curve through each arm's published quartiles; metastases are diagnosed
between October 2014 and June 2020, intervention-arm ones earlier in the window.

Time line of each patient::

    diagnosis --(diagnosis to surgery)--> surgery --(MDFI)--> metastasis --(T)--> death
                                                                  `--(C)--> last contact

so OS (diagnosis to death or last contact, the paper's definition) contains the MDFI: a
patient must survive until her metastasis to enter the registry. That *immortal time* is
what makes the naive "MDFI > 24 months" OS hazard ratio so small; the true effect of MDFI
after metastasis is the modest ``mdfi_gt_24`` term below.

Post-metastasis survival T is Weibull with proportional hazards (time in months since the
metastasis diagnosis)::

    h(t | x) = lambda_arm * k * t**(k - 1) * exp(beta . x)

with the terms listed in ``model["log_hazard_ratios"]`` of the parameter file: MDFI > 24
months, metastasis site (reference lung only), age < 55, premenopausal, HER2+,
hormone-receptor positive (ER+ or PR+), mastectomy, nodal status (reference N0), and the
interactions of age < 55, HER2+, HR+ and liver involvement with the intervention arm.
``lambda_arm`` is solved per arm, in closed form, so that exactly the published number of
patients die before censoring (:func:`solve_baseline_rate`); the true intervention hazard
ratio for a patient is therefore ``lambda_IT / lambda_ST * exp(interaction terms)``. Both are
reported by :func:`true_effects` and in ``data/README.md``: the naive "MDFI > 24 months" OS
hazard ratio is mostly immortal time, the true post-metastasis one is the modest
``mdfi_gt_24`` term. Censoring C is the earlier of an administrative cut (last contacts spread
over the months before it) and an exponential loss to follow-up with a per-arm rate.

Calibration (:func:`calibrate`) tunes the parameters of ``PARAMETER_SPACE`` within
clinically sensible bounds and searches the seed, with a fast numpy stand-in for the core's
statistics (:class:`FastEngine`) and the report's own target definitions
(:func:`imet_core.reproduce.build_targets`); the result is verified with the core.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from imet_core import MONTH_DAYS

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PARAMS_PATH = REPO_ROOT / "data" / "synthetic_params.json"
PUBLISHED_PATH = REPO_ROOT / "data" / "reference" / "imet_published.json"

ARMS = ("IT", "ST")
SITES = ("lung", "liver", "lung+bone", "liver+bone", "multiple")
NODAL_LEVELS = ("NX", "N0", "N1", "N2", "N3")
RECEPTOR_CLASSES = ("HR+HER2-", "HR+HER2+", "HR-HER2+")
HORMONE_SPLITS = ("ER+PR+", "ER+PR-", "ER-PR+")
LUNG_INTERVENTIONS = ("lung_metastasectomy", "lung_radiosurgery")
LIVER_INTERVENTIONS = ("liver_metastasectomy", "liver_rfa", "liver_radiosurgery", "liver_tare")
INTERVENTIONS = LUNG_INTERVENTIONS + LIVER_INTERVENTIONS
HISTOLOGY_LEVELS = ("IDC", "ILC", "IDC+ILC", "metaplastic", "other")
BREAST_SURGERY_LEVELS = ("mastectomy", "segmental")
AXILLARY_LEVELS = ("SLNB", "ALND")
RECEPTOR_LEVELS = ("negative", "positive")
MENOPAUSE_LEVELS = ("pre", "post")
UNKNOWN = "unknown"
"""Key of the unknown (blank) level in the structure's count tables."""

REGISTRY_COLUMNS = (
    "patient_id", "center", "age", "menopause", "er", "pr", "her2", "histology",
    "nodal_status", "breast_surgery", "axillary_surgery", "mets_lung", "mets_liver",
    "mets_bone", "mets_biopsy", "group", "intervention", "date_diagnosis", "date_surgery",
    "date_metastasis", "date_intervention", "date_progression", "date_last_followup", "dead",
    "er_met", "pr_met", "her2_met",
)
"""Columns of the written registry, in the contract's order (dates form)."""

EPOCH = np.datetime64("1970-01-01", "D")

# Independent random streams: one per component, so that changing one parameter never
# shifts the random numbers another component sees (common random numbers in calibration).
STREAMS = (
    "arm", "site", "receptor", "hormone_split", "nodal", "breast_surgery", "axillary",
    "histology", "biopsy", "centre", "age", "menopause", "mdfi", "diagnosis_to_surgery",
    "metastasis_date", "event", "last_contact", "loss_to_follow_up", "intervention",
    "intervention_lag", "progression", "conversion", "order",
)


class SyntheticError(ValueError):
    """Bad generator arguments or parameter file (message is meant for the user)."""


# ---------------------------------------------------------------------------------------
# Small deterministic building blocks
# ---------------------------------------------------------------------------------------
def allocate(total: int, weights: Sequence[float]) -> np.ndarray:
    """Split ``total`` into integer counts proportional to ``weights``.

    Largest-remainder (Hamilton) apportionment; ties go to the earlier weight. When the
    weights are integer counts summing to ``total`` the counts are returned unchanged.

    Parameters
    ----------
    total : int
        Number to split (>= 0).
    weights : sequence of float
        Non-negative weights, not all zero unless ``total`` is 0.

    Returns
    -------
    numpy.ndarray
        Integer counts (int64), one per weight, summing to ``total``.
    """
    w = np.asarray(weights, dtype=float)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=np.int64)
    quota = total * w / w.sum()
    counts = np.floor(quota + 1e-9).astype(np.int64)
    remainder = int(total - counts.sum())
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts


def random_streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent PCG64 generator per model component, all derived from ``seed``.

    Parameters
    ----------
    seed : int
        Non-negative integer seed.

    Returns
    -------
    dict
        Stream name (see ``STREAMS``) -> ``numpy.random.Generator``.
    """
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    return {name: np.random.Generator(np.random.PCG64(child)) for name, child in zip(STREAMS, children)}


def smallest(keys: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest keys (as a set, in increasing index order), in linear time."""
    m = len(keys)
    k = max(0, min(int(k), m))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k == m:
        return np.arange(m)
    return np.sort(np.argpartition(keys, k - 1)[:k])


def shuffled_codes(rng: np.random.Generator, codes: Sequence[int], counts: Sequence[int]) -> np.ndarray:
    """Exactly ``counts[j]`` copies of ``codes[j]`` in random order (int16), in linear time.

    Each position draws a uniform; the ``counts[0]`` smallest get ``codes[0]``, the next
    ``counts[1]`` get ``codes[1]``, and so on. Which positions fall in each block depends
    only on the uniforms (they are distinct), not on the partition algorithm.
    """
    counts = np.asarray(counts, dtype=np.int64)
    m = int(counts.sum())
    u = rng.random(m)
    out = np.empty(m, dtype=np.int16)
    bounds = np.cumsum(counts)
    inner = [int(b) - 1 for b in bounds[:-1] if 0 < b < m]
    order = np.argpartition(u, inner) if inner else np.arange(m)
    start = 0
    for code, stop in zip(codes, bounds):
        out[order[start:stop]] = code
        start = int(stop)
    return out


def months_to_days(months: np.ndarray) -> np.ndarray:
    """Whole days in ``months`` months (1 month = ``MONTH_DAYS`` days, the contract's unit)."""
    return np.rint(np.asarray(months, dtype=float) * MONTH_DAYS).astype(np.int64)


def day_number(iso_date: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return int((np.datetime64(iso_date, "D") - EPOCH).astype(np.int64))


def quantile_type7(values: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Sample quantiles by linear interpolation (R's type 7, numpy's and pandas' default)."""
    return np.quantile(np.asarray(values, dtype=float), probs)


def student_t_p(n1: int, mean1: float, sd1: float, n2: int, mean2: float, sd2: float) -> float:
    """Two-sided p of Student's equal-variance t-test from group summaries.

    Formula: pooled variance ((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2), t = (m1 - m2) /
    sqrt(pooled (1/n1 + 1/n2)), n1 + n2 - 2 degrees of freedom (R's ``t.test(var.equal=TRUE)``).
    """
    pooled = ((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2)
    t = (mean1 - mean2) / math.sqrt(pooled * (1.0 / n1 + 1.0 / n2))
    return float(2.0 * special.stdtr(n1 + n2 - 2, -abs(t)))


# ---------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------
def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Read a parameter file (default ``data/synthetic_params.json``).

    Parameters
    ----------
    path : str or Path, optional
        JSON file written by ``calibrate``.

    Returns
    -------
    dict
        Keys ``seed`` (int), ``structure`` (the cohort's counts, see
        :func:`structure_from_published`), ``model`` (generating-model parameters) and
        ``calibration`` (how they were found).
    """
    source = Path(path) if path is not None else DEFAULT_PARAMS_PATH
    try:
        params = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SyntheticError(f"parameter file not found: {source}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise SyntheticError(f"cannot read parameter file {source}: {exc}") from None
    missing = [key for key in ("seed", "structure", "model") if key not in params]
    if missing:
        raise SyntheticError(f"parameter file {source} lacks {', '.join(missing)}")
    return params


def structure_from_published(published: Mapping[str, Any]) -> dict[str, Any]:
    """The cohort structure the generator reproduces, read from the paper's numbers.

    Parameters
    ----------
    published : mapping
        Contents of ``imet_published.json``.

    Returns
    -------
    dict
        JSON-ready structure: ``n``, ``arms``, ``centres``, ``metastasis_window`` (first and
        last ISO day), ``age`` (per-arm mean/sd, overall min/max, Table 1 p), per-arm count
        tables (level -> count, ``"unknown"`` for blanks) for ``menopause_post``,
        ``receptor_class``, ``nodal_status``, ``breast_surgery``, ``axillary_surgery``,
        ``histology``, ``mets_biopsy``, ``site``; ``intervention`` (IT counts);
        ``mdfi_quartiles`` per arm (months); ``deaths`` and ``progressions`` per arm;
        ``receptor_conversion`` (rates and counts on the metastasis biopsy).
    """
    cohort, t1, fu = published["cohort"], published["table1"], published["follow_up"]
    arms = {"IT": int(cohort["n_IT"]), "ST": int(cohort["n_ST"])}

    def with_unknown(levels: Mapping[str, Mapping[str, int]], arm: str, rename: Mapping[str, str] | None = None) -> dict[str, int]:
        rename = rename or {}
        table = {rename.get(level, level): int(counts[arm]) for level, counts in levels.items()}
        table = {level: count for level, count in table.items() if count > 0}
        known = sum(table.values())
        if known < arms[arm]:
            table[UNKNOWN] = arms[arm] - known
        return table

    receptor_class = {}
    for arm in ARMS:
        hr_pos, her2_pos = int(t1["er_or_pr_positive"][arm]), int(t1["her2_positive"][arm])
        hr_neg = arms[arm] - hr_pos  # every HR- patient is HER2+ (no triple negative)
        receptor_class[arm] = {"HR+HER2-": hr_pos - (her2_pos - hr_neg), "HR+HER2+": her2_pos - hr_neg, "HR-HER2+": hr_neg}
        if min(receptor_class[arm].values()) < 0:
            raise SyntheticError(f"published counts imply triple-negative {arm} patients")
    site_rename = {"lung+liver+bone": "multiple"}
    window = cohort["metastasis_diagnosis_window"]
    last_month = pd.Period(window[1], freq="M")
    conv = published["receptor_conversion_at_metastasis"]
    return {
        "n": int(cohort["n"]),
        "arms": arms,
        "centres": int(cohort["centers"]),
        "metastasis_window": [f"{window[0]}-01", str(last_month.end_time.date())],
        "age": {
            **{arm: {"mean": float(t1["age"][arm]["mean"]), "sd": float(t1["age"][arm]["sd"])} for arm in ARMS},
            "min": int(cohort["age_min"]), "max": int(cohort["age_max"]), "p": float(t1["age"]["p"]),
        },
        "menopause_post": {arm: int(t1["postmenopausal"][arm]) for arm in ARMS},
        "receptor_class": receptor_class,
        "nodal_status": {arm: with_unknown(t1["nodal_status"]["levels"], arm) for arm in ARMS},
        "breast_surgery": {arm: with_unknown(t1["breast_surgery"]["levels"], arm, {"segmental_mastectomy": "segmental"}) for arm in ARMS},
        "axillary_surgery": {arm: with_unknown(t1["axillary_surgery"]["levels"], arm) for arm in ARMS},
        "histology": {arm: with_unknown(t1["histology"]["levels"], arm) for arm in ARMS},
        "mets_biopsy": {arm: {"yes": int(t1["metastasis_biopsy"][arm]), "no": arms[arm] - int(t1["metastasis_biopsy"][arm])} for arm in ARMS},
        "site": {arm: with_unknown(t1["metastasis_site"]["levels"], arm, site_rename) for arm in ARMS},
        "intervention": {("liver_rfa" if k == "liver_rf_ablation" else k): int(v) for k, v in t1["intervention_type_IT_only"].items()},
        "mdfi_p": float(fu["mdfi_median"]["p"]),
        "mdfi_quartiles": {arm: [float(fu["mdfi_median"][f"{arm}_range"][0]), float(fu["mdfi_median"][arm]), float(fu["mdfi_median"][f"{arm}_range"][1])] for arm in ARMS},
        "deaths": {arm: int(fu["deaths"][arm]) for arm in ARMS},
        "progressions": {arm: int(fu["progression"][arm]) for arm in ARMS},
        "receptor_conversion": {
            "er_pos_to_neg": conv["er_pos_to_neg"][0] / conv["er_pos_to_neg"][1],
            "pr_pos_to_neg": conv["pr_pos_to_neg_pct"] / 100.0,
            "her2_pos_to_neg": conv["her2_pos_to_neg"][0] / conv["her2_pos_to_neg"][1],
            "her2_neg_to_pos": conv["her2_neg_to_pos"][0] / conv["her2_neg_to_pos"][1],
            "er_neg_to_pos_n": int(conv["er_neg_to_pos_n"]),
            "pr_neg_to_pos_n": int(conv["pr_neg_to_pos_n"]),
        },
    }


def default_model() -> dict[str, Any]:
    """Starting values of the generating model (clinically plausible; ``calibrate`` refines them).

    Returns
    -------
    dict
        JSON-ready model parameters; see the module docstring for their meaning.
    """
    return {
        "hormone_split_of_hr_positive": {"ER+PR+": 0.72, "ER+PR-": 0.24, "ER-PR+": 0.04},
        "centre_size_exponent": 0.8,
        "menopause_age_noise_sd": 2.5,
        "mdfi_shape": {"IT": {"min_months": 4.0, "p95_over_q3": 2.0, "max_over_q3": 3.4},
                       "ST": {"min_months": 4.0, "p95_over_q3": 2.0, "max_over_q3": 3.4}},
        "diagnosis_to_surgery_months": {"neoadjuvant_fraction": 0.25, "neoadjuvant": [4.0, 7.5], "upfront": [0.4, 1.6]},
        "metastasis_date_power": {"IT": 1.5, "ST": 0.8},
        "administrative_cut": "2021-03-31",
        "last_contact_spread_months": 4.0,
        "loss_to_follow_up_per_month": {"IT": 0.002, "ST": 0.004},
        "intervention_lag_months": {"median": 1.3, "sd_log": 0.55},
        "weibull_shape": 1.1,
        "log_hazard_ratios": {
            "mdfi_gt_24": math.log(0.7),
            "site_liver": math.log(2.0),
            "site_lung+bone": math.log(1.2),
            "site_liver+bone": math.log(2.0),
            "site_multiple": math.log(0.9),
            "age_lt_55": math.log(1.3),
            "age_lt_55_x_IT": math.log(0.6),
            "her2_positive": math.log(1.0),
            "her2_positive_x_IT": math.log(0.6),
            "hr_positive": math.log(1.2),
            "hr_positive_x_IT": math.log(1.3),
            "premenopausal": 0.0,
            "mastectomy": 0.0,
            "liver_x_IT": math.log(1.5),
            "nodal_N1": math.log(0.65),
            "nodal_N2": math.log(1.0),
            "nodal_N3": math.log(1.4),
            "nodal_NX": 0.0,
        },
    }


# ---------------------------------------------------------------------------------------
# Cohort arrays
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cohort:
    """One synthetic cohort as arrays, one entry per patient in registry order.

    Category attributes are ``pandas.Categorical`` holding the contract's text levels (NaN =
    blank); ``site`` is one of ``SITES``; ``day_*`` are integer days since 1970-01-01 (``-1``
    where there is no date); ``baseline_rate`` maps each arm to the solved Weibull rate.
    """

    group: pd.Categorical
    centre: pd.Categorical
    age: np.ndarray
    menopause: pd.Categorical
    er: pd.Categorical
    pr: pd.Categorical
    her2: pd.Categorical
    histology: pd.Categorical
    nodal_status: pd.Categorical
    breast_surgery: pd.Categorical
    axillary_surgery: pd.Categorical
    site: pd.Categorical
    mets_biopsy: np.ndarray
    intervention: pd.Categorical
    day_diagnosis: np.ndarray
    day_surgery: np.ndarray
    day_metastasis: np.ndarray
    day_intervention: np.ndarray
    day_progression: np.ndarray
    day_last_followup: np.ndarray
    dead: np.ndarray
    er_met: pd.Categorical
    pr_met: pd.Categorical
    her2_met: pd.Categorical
    baseline_rate: dict

    @property
    def n(self) -> int:
        return len(self.age)


def arm_sizes(n: int, structure: Mapping[str, Any]) -> dict[str, int]:
    """Patients per arm for a cohort of ``n`` (the published split exactly at the reference size)."""
    counts = allocate(n, [structure["arms"][arm] for arm in ARMS])
    return {arm: int(c) for arm, c in zip(ARMS, counts)}


def scaled_count(count: float, reference_size: int, size: int) -> int:
    """A published count scaled from the reference arm size to ``size`` (unchanged at the reference)."""
    return int(round(count * size / reference_size)) if reference_size else 0


def table_codes(rng: np.random.Generator, table: Mapping[str, int], levels: Sequence[str], size: int) -> np.ndarray:
    """Codes (index into ``levels``; -1 = unknown) with the table's counts scaled to ``size``, shuffled."""
    names = list(table)
    counts = allocate(size, [table[name] for name in names])
    codes = [-1 if name == UNKNOWN else levels.index(name) for name in names]
    return shuffled_codes(rng, codes, counts)


def exact_age_targets(structure: Mapping[str, Any], sizes: Mapping[str, int]) -> dict[str, tuple[int, float]]:
    """Per-arm integer age sum and sum of squares giving the published means, SDs and t-test p.

    Among the age sums whose means round to the published ones, picks the pair whose Student
    t-test p is nearest the published p (SDs at their published values): Student's p depends
    on the summaries only.

    Returns
    -------
    dict
        arm -> (sum of ages, sum of squared ages).
    """
    age = structure["age"]
    candidates = {}
    for arm in ARMS:
        n, mean = sizes[arm], age[arm]["mean"]
        low, high = math.ceil(n * (mean - 0.05) + 1e-9), math.floor(n * (mean + 0.05) - 1e-9)
        candidates[arm] = range(low, high + 1)
    best = None
    for s_it in candidates["IT"]:
        for s_st in candidates["ST"]:
            p = student_t_p(sizes["IT"], s_it / sizes["IT"], age["IT"]["sd"], sizes["ST"], s_st / sizes["ST"], age["ST"]["sd"])
            distance = (abs(round(p, 2) - age["p"]) > 1e-9, abs(p - age["p"]),
                        abs(s_it / sizes["IT"] - age["IT"]["mean"]) + abs(s_st / sizes["ST"] - age["ST"]["mean"]))
            if best is None or distance < best[0]:
                best = (distance, {"IT": s_it, "ST": s_st})
    sums = best[1]
    return {arm: (sums[arm], (sizes[arm] - 1) * age[arm]["sd"] ** 2 + sums[arm] ** 2 / sizes[arm]) for arm in ARMS}


def adjust_integer_sample(values: np.ndarray, target_sum: int, target_sumsq: float, frozen: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Nudge integers by +-1 until their sum is ``target_sum`` and their sum of squares is nearest ``target_sumsq``.

    Moves never touch ``frozen`` entries nor leave [lo, hi]. The sum is fixed first by single
    moves of the values nearest the mean; the sum of squares then by pairs (one value up, one
    down), which keep the sum: raising a and lowering b changes the sum of squares by
    2 (a - b) + 2.
    """
    x = values.astype(np.int64).copy()
    free = np.flatnonzero(~frozen)
    centre = target_sum / len(x)
    for _ in range(10 * len(x)):
        gap = target_sum - int(x.sum())
        if gap == 0:
            break
        step = 1 if gap > 0 else -1
        movable = free[(x[free] + step >= lo) & (x[free] + step <= hi)]
        j = movable[np.argmin(np.abs(x[movable] - centre))]
        x[j] += step
    for _ in range(10 * len(x)):
        gap = target_sumsq - float(np.sum(x.astype(float) ** 2))
        if abs(gap) <= 2.0:
            break
        ordered = free[np.argsort(x[free], kind="stable")]
        ups, downs = (ordered[::-1], ordered) if gap > 0 else (ordered, ordered[::-1])
        ups = ups[(x[ups] + 1 <= hi)][:25]
        downs = downs[(x[downs] - 1 >= lo)][:60]
        if ups.size == 0 or downs.size == 0:
            break
        err = np.abs(gap - (2.0 * (x[ups][:, None] - x[downs][None, :]) + 2.0))
        err[ups[:, None] == downs[None, :]] = np.inf
        i, j = np.unravel_index(int(np.argmin(err)), err.shape)
        if err[i, j] >= abs(gap):
            break
        x[ups[i]] += 1
        x[downs[j]] -= 1
    return x


def draw_ages(rng: np.random.Generator, structure: Mapping[str, Any], is_it: np.ndarray, exact: bool) -> np.ndarray:
    """Whole-year ages per arm (normal shape; the published summaries exactly at the reference size).

    At the reference size the youngest IT patient is set to the cohort minimum and the
    oldest ST patient to the maximum, then ages are nudged to the targets of
    :func:`exact_age_targets`.
    """
    age = structure["age"]
    lo, hi = int(age["min"]), int(age["max"])
    ages = np.zeros(len(is_it), dtype=np.int64)
    masks = {"IT": is_it, "ST": ~is_it}
    targets = exact_age_targets(structure, {arm: int(m.sum()) for arm, m in masks.items()}) if exact else None
    z_all = special.ndtri(rng.random(len(is_it)))
    for arm in ARMS:
        idx = np.flatnonzero(masks[arm])
        z = z_all[idx]
        if len(idx) > 1:
            z = (z - z.mean()) / z.std(ddof=1)
        x = np.clip(np.rint(age[arm]["mean"] + age[arm]["sd"] * z), lo, hi).astype(np.int64)
        if exact:
            frozen = np.zeros(len(idx), dtype=bool)
            j = int(np.argmin(x)) if arm == "IT" else int(np.argmax(x))
            x[j] = lo if arm == "IT" else hi
            frozen[j] = True
            x = adjust_integer_sample(x, targets[arm][0], targets[arm][1], frozen, lo, hi)
        ages[idx] = x
    return ages


def assign_menopause(rng: np.random.Generator, ages: np.ndarray, is_it: np.ndarray, post_counts: Mapping[str, int], noise_sd: float) -> np.ndarray:
    """Postmenopausal (True) = the oldest patients of each arm, ranked by age plus a little noise."""
    post = np.zeros(len(ages), dtype=bool)
    score = ages + noise_sd * special.ndtri(rng.random(len(ages)))
    for arm, mask in (("IT", is_it), ("ST", ~is_it)):
        idx = np.flatnonzero(mask)
        post[idx[smallest(-score[idx], post_counts[arm])]] = True
    return post


def mdfi_quantile_function(quartiles: Sequence[float], shape: Mapping[str, float]):
    """MDFI quantile function (months): log-linear between knots at p = 0, .25, .5, .75, .95, 1.

    Knots: ``shape["min_months"]`` (at most 0.9 q1), the three published quartiles,
    ``q3 * shape["p95_over_q3"]`` and ``q3 * shape["max_over_q3"]``.
    """
    q1, q2, q3 = quartiles
    probs = np.array([0.0, 0.25, 0.5, 0.75, 0.95, 1.0])
    p95 = max(shape["p95_over_q3"], 1.01)
    values = np.log([min(shape["min_months"], q1 * 0.9), q1, q2, q3, q3 * p95, q3 * max(shape["max_over_q3"], p95 * 1.01)])

    def quantile(u: np.ndarray) -> np.ndarray:
        return np.exp(np.interp(u, probs, values))

    return quantile


def draw_mdfi_days(rng: np.random.Generator, structure: Mapping[str, Any], model: Mapping[str, Any], is_it: np.ndarray, exact: bool) -> np.ndarray:
    """MDFI in whole days: stratified draws from each arm's quantile curve.

    At the reference size the sample quartiles are then mapped onto the published ones
    (piecewise-linear correction with knots at the sample quartiles, repeated three times),
    so each arm's type-7 quartiles match to within a day or two. Every MDFI exceeds 3 months
    (the paper's definition of metachronous metastasis).
    """
    days = np.zeros(len(is_it), dtype=np.int64)
    u_strata, u_within = rng.random(len(is_it)), rng.random(len(is_it))
    minimum_days = months_to_days(np.array([3.0]))[0] + 1
    for arm, mask in (("IT", is_it), ("ST", ~is_it)):
        idx = np.flatnonzero(mask)
        m = len(idx)
        if m == 0:
            continue
        quartiles = structure["mdfi_quartiles"][arm]
        quantile = mdfi_quantile_function(quartiles, model["mdfi_shape"][arm])
        stratum = np.empty(m, dtype=np.int64)
        stratum[np.argsort(u_strata[idx])] = np.arange(m)
        u = (stratum + u_within[idx]) / m
        months = quantile(u)
        if exact and m >= 8:
            for _ in range(3):
                sample_q = quantile_type7(months, [0.25, 0.5, 0.75])
                knots_from = np.concatenate([[months.min() - 1e-9], sample_q, [months.max() + 1e-9]])
                knots_to = np.concatenate([[months.min() - 1e-9], quartiles, [months.max() + 1e-9]])
                if np.all(np.diff(knots_from) > 0) and np.all(np.diff(knots_to) > 0):
                    months = np.interp(months, knots_from, knots_to)
        days[idx] = np.maximum(months_to_days(months), minimum_days)
    if exact and structure.get("mdfi_p") is not None and is_it.any() and (~is_it).any():
        days[~is_it] = match_rank_sum_p(days[is_it], days[~is_it], structure["mdfi_quartiles"]["ST"][2], structure["mdfi_p"])
    return days


def rank_sum_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided Wilcoxon rank-sum p, normal approximation with continuity and tie corrections.

    R's ``wilcox.test`` for samples of 50 or more (the core's Table 1 rule for such groups).
    """
    return float(stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True).pvalue)


def match_rank_sum_p(it_days: np.ndarray, st_days: np.ndarray, st_q3_months: float, target_p: float) -> np.ndarray:
    """ST MDFI days with the part above the ST upper quartile stretched so the IT-vs-ST rank-sum p hits ``target_p``.

    Values above the upper quartile become q3 + c (v - q3); the quartiles do not move. The
    factor c in [0.3, 4] is found by bisection (p rises with c while IT ranks higher);
    the result is the first c whose p equals ``target_p`` at two decimals, else the closest.
    """
    q3 = st_q3_months * MONTH_DAYS
    above = st_days > q3

    def stretched(c: float) -> np.ndarray:
        out = st_days.astype(float).copy()
        out[above] = q3 + c * (st_days[above] - q3)
        return np.rint(out).astype(np.int64)

    lo, hi = 0.3, 4.0
    best = (math.inf, st_days)
    for _ in range(40):
        c = 0.5 * (lo + hi)
        candidate = stretched(c)
        p = rank_sum_p(it_days, candidate)
        gap = abs(p - target_p)
        if gap < best[0]:
            best = (gap, candidate)
        if round(p, 2) == round(target_p, 2) and gap < 0.002:
            return candidate
        if p < target_p:
            lo = c
        else:
            hi = c
    return best[1]


def metastasis_days(rng: np.random.Generator, structure: Mapping[str, Any], model: Mapping[str, Any], is_it: np.ndarray) -> np.ndarray:
    """Metastasis diagnosis days in the window; position in it = U ** power_arm (power > 1: earlier)."""
    first, last = (day_number(d) for d in structure["metastasis_window"])
    power = np.where(is_it, model["metastasis_date_power"]["IT"], model["metastasis_date_power"]["ST"])
    position = rng.random(len(is_it)) ** power
    return np.minimum(first + np.floor(position * (last - first + 1)).astype(np.int64), last)


def diagnosis_to_surgery_days(rng: np.random.Generator, model: Mapping[str, Any], n: int) -> np.ndarray:
    """Days from diagnosis to primary surgery (longer after neoadjuvant therapy), at least a week."""
    spec = model["diagnosis_to_surgery_months"]
    u_type, u_len = rng.random(n), rng.random(n)
    neo = u_type < spec["neoadjuvant_fraction"]
    lo = np.where(neo, spec["neoadjuvant"][0], spec["upfront"][0])
    hi = np.where(neo, spec["neoadjuvant"][1], spec["upfront"][1])
    return np.maximum(months_to_days(lo + (hi - lo) * u_len), 7)


def linear_predictor(log_hr: Mapping[str, float], *, is_it: np.ndarray, mdfi_gt_24: np.ndarray, site: np.ndarray,
                     age_lt_55: np.ndarray, her2_pos: np.ndarray, hr_pos: np.ndarray, nodal: np.ndarray,
                     premenopausal: np.ndarray, mastectomy: np.ndarray) -> np.ndarray:
    """beta . x of the post-metastasis Weibull model.

    ``site`` and ``nodal`` are codes into ``SITES`` and ``NODAL_LEVELS``; the other arguments
    are boolean arrays. Terms: see ``default_model()["log_hazard_ratios"]``.
    """
    lp = log_hr["mdfi_gt_24"] * mdfi_gt_24.astype(float)
    site_effect = np.array([0.0] + [log_hr[f"site_{level}"] for level in SITES[1:]])
    nodal_effect = np.array([log_hr[f"nodal_{level}"] if level != "N0" else 0.0 for level in NODAL_LEVELS])
    lp = lp + site_effect[site] + nodal_effect[nodal]
    lp = lp + log_hr["age_lt_55"] * age_lt_55 + log_hr["age_lt_55_x_IT"] * (age_lt_55 & is_it)
    lp = lp + log_hr["her2_positive"] * her2_pos + log_hr["her2_positive_x_IT"] * (her2_pos & is_it)
    lp = lp + log_hr["hr_positive"] * hr_pos + log_hr["hr_positive_x_IT"] * (hr_pos & is_it)
    liver = np.isin(site, [SITES.index(level) for level in ("liver", "liver+bone", "multiple")])
    lp = lp + log_hr["liver_x_IT"] * (liver & is_it)
    lp = lp + log_hr.get("premenopausal", 0.0) * premenopausal + log_hr.get("mastectomy", 0.0) * mastectomy
    return lp


def solve_baseline_rate(exp1: np.ndarray, risk: np.ndarray, censor_months: np.ndarray, shape: float, deaths: int) -> float:
    """Weibull rate giving exactly ``deaths`` deaths before censoring, in closed form.

    With T = (E / (lambda * risk)) ** (1 / k), E ~ Exp(1), a patient dies before her
    censoring time C iff lambda >= r = E / (risk * C ** k). Any lambda between the
    ``deaths``-th smallest r and the next gives exactly ``deaths`` deaths; the geometric mean
    of the two is used.

    Returns
    -------
    float
        The rate ``lambda`` (per month ** k).
    """
    m = len(exp1)
    if m == 0:
        return 1.0
    r = exp1 / (risk * np.power(censor_months, shape))
    if deaths <= 0:
        return float(r.min() / 2.0)
    if deaths >= m:
        return float(r.max() * 2.0)
    part = np.partition(r, (deaths - 1, deaths))
    return float(math.sqrt(part[deaths - 1] * part[deaths]))


def assign_interventions(rng: np.random.Generator, structure: Mapping[str, Any], site: np.ndarray, is_it: np.ndarray) -> np.ndarray:
    """Intervention codes (index into ``INTERVENTIONS``; -1 for ST), each on an involved organ.

    Lung-only sites (lung, lung+bone) get a lung intervention and liver-only sites a liver
    one; patients with both organs involved take the lung share the reference cohort
    implies. Within an organ the types follow the published counts (exact at the reference size).
    """
    out = np.full(len(site), -1, dtype=np.int16)
    counts = structure["intervention"]
    lung_total = sum(counts[k] for k in LUNG_INTERVENTIONS)
    liver_total = sum(counts[k] for k in LIVER_INTERVENTIONS)
    ref = structure["site"]["IT"]
    ref_multiple = ref.get("multiple", 0)
    lung_share = (lung_total - ref.get("lung", 0) - ref.get("lung+bone", 0)) / ref_multiple if ref_multiple else 0.0
    lung_share = min(max(lung_share, 0.0), 1.0)
    lung_only = np.flatnonzero(is_it & ((site == SITES.index("lung")) | (site == SITES.index("lung+bone"))))
    liver_only = np.flatnonzero(is_it & ((site == SITES.index("liver")) | (site == SITES.index("liver+bone"))))
    both = np.flatnonzero(is_it & (site == SITES.index("multiple")))
    n_both_lung = int(allocate(len(both), [lung_share, 1.0 - lung_share])[0])
    on_lung = np.zeros(len(both), dtype=bool)
    on_lung[smallest(rng.random(len(both)), n_both_lung)] = True
    for patients, kinds, total in ((np.concatenate([lung_only, both[on_lung]]), LUNG_INTERVENTIONS, lung_total),
                                   (np.concatenate([liver_only, both[~on_lung]]), LIVER_INTERVENTIONS, liver_total)):
        kind_counts = allocate(len(patients), [counts[k] / total for k in kinds])
        out[patients] = shuffled_codes(rng, [INTERVENTIONS.index(k) for k in kinds], kind_counts)
    return out


def assign_axillary_surgery(rng: np.random.Generator, table: Mapping[str, int], nodal: np.ndarray) -> np.ndarray:
    """Axillary codes (index into ``AXILLARY_LEVELS``, -1 unknown): SLNB for the least node-positive.

    Priority N0, then NX, N1, N2, N3 (with random order inside a level), so SLNB never goes
    to N2/N3 patients while enough N0/NX/N1 patients remain.
    """
    m = len(nodal)
    names = list(table)
    count = dict(zip(names, allocate(m, [table[k] for k in names])))
    out = np.full(m, AXILLARY_LEVELS.index("ALND"), dtype=np.int16)
    unknown = np.zeros(m, dtype=bool)
    unknown[smallest(rng.random(m), int(count.get(UNKNOWN, 0)))] = True
    rest = np.flatnonzero(~unknown)
    rank = np.array([1, 0, 2, 3, 4], dtype=float)  # NODAL_LEVELS order NX, N0, N1, N2, N3
    priority = rank[nodal[rest]] + 0.9 * rng.random(len(rest))
    out[rest[smallest(priority, int(count.get("SLNB", 0)))]] = AXILLARY_LEVELS.index("SLNB")
    out[unknown] = -1
    return out


def metastasis_receptor(rng: np.random.Generator, primary_pos: np.ndarray, biopsy: np.ndarray, pos_to_neg: float,
                        neg_to_pos_rate: float | None, neg_to_pos_count: int | None) -> np.ndarray:
    """Receptor code on the metastasis biopsy (1 positive, 0 negative, -1 no biopsy).

    Of the biopsied positive primaries round(rate * count) become negative; of the negative
    ones a rate or a fixed count become positive.
    """
    out = np.where(biopsy, primary_pos.astype(np.int16), -1).astype(np.int16)
    pos = np.flatnonzero(biopsy & primary_pos)
    neg = np.flatnonzero(biopsy & ~primary_pos)
    k_pos = int(round(pos_to_neg * len(pos)))
    k_neg = int(round(neg_to_pos_rate * len(neg))) if neg_to_pos_rate is not None else int(neg_to_pos_count)
    out[pos[smallest(rng.random(len(pos)), k_pos)]] = 0
    out[neg[smallest(rng.random(len(neg)), k_neg)]] = 1
    return out


def _categorical(codes: np.ndarray, levels: Sequence[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int16), categories=list(levels))


def generate_cohort(n: int | None = None, seed: int | None = None, params: Mapping[str, Any] | None = None) -> Cohort:
    """Draw one synthetic cohort (vectorised; exact published counts at the reference size).

    Parameters
    ----------
    n : int, optional
        Number of patients (default: the reference size, 200). Other sizes scale the same
        structure: proportions, hazards and censoring.
    seed : int, optional
        Random seed (default: the parameter file's calibrated seed).
    params : mapping, optional
        Parameters as returned by :func:`load_params` (default: the committed file).

    Returns
    -------
    Cohort
        Arrays in registry order (by metastasis date, ties in random order).
    """
    params = load_params() if params is None else params
    structure, model = params["structure"], params["model"]
    n = int(structure["n"] if n is None else n)
    seed = int(params["seed"] if seed is None else seed)
    if n < 2:
        raise SyntheticError("n must be at least 2")
    if seed < 0:
        raise SyntheticError("seed must be a non-negative integer")
    exact = n == int(structure["n"])
    rng = random_streams(seed)
    sizes = arm_sizes(n, structure)
    is_it = np.arange(n) < sizes["IT"]
    masks = {"IT": is_it, "ST": ~is_it}

    def per_arm(name: str, levels: Sequence[str], stream: str) -> np.ndarray:
        out = np.empty(n, dtype=np.int16)
        for arm in ARMS:
            out[masks[arm]] = table_codes(rng[stream], structure[name][arm], levels, sizes[arm])
        return out

    site = per_arm("site", SITES, "site")
    receptor_class = per_arm("receptor_class", RECEPTOR_CLASSES, "receptor")
    nodal = per_arm("nodal_status", NODAL_LEVELS, "nodal")
    breast_surgery = per_arm("breast_surgery", BREAST_SURGERY_LEVELS, "breast_surgery")
    histology = per_arm("histology", HISTOLOGY_LEVELS, "histology")
    biopsy = per_arm("mets_biopsy", ("no", "yes"), "biopsy") == 1
    axillary = np.empty(n, dtype=np.int16)
    for arm in ARMS:
        axillary[masks[arm]] = assign_axillary_surgery(rng["axillary"], structure["axillary_surgery"][arm], nodal[masks[arm]])

    # receptors of the primary: no triple negative (every HR- class is HER2+)
    hr_pos = receptor_class != RECEPTOR_CLASSES.index("HR-HER2+")
    her2_pos = receptor_class != RECEPTOR_CLASSES.index("HR+HER2-")
    split_weights = model["hormone_split_of_hr_positive"]
    hr_idx = np.flatnonzero(hr_pos)
    split = shuffled_codes(rng["hormone_split"], range(3), allocate(len(hr_idx), [split_weights[k] for k in HORMONE_SPLITS]))
    er_pos, pr_pos = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    er_pos[hr_idx[split != HORMONE_SPLITS.index("ER-PR+")]] = True
    pr_pos[hr_idx[split != HORMONE_SPLITS.index("ER+PR-")]] = True

    centre_weights = np.arange(1, structure["centres"] + 1, dtype=float) ** -model["centre_size_exponent"]
    centre = shuffled_codes(rng["centre"], range(structure["centres"]), allocate(n, centre_weights))

    age = draw_ages(rng["age"], structure, is_it, exact)
    post_counts = {arm: scaled_count(structure["menopause_post"][arm], structure["arms"][arm], sizes[arm]) for arm in ARMS}
    post = assign_menopause(rng["menopause"], age, is_it, post_counts, model["menopause_age_noise_sd"])

    mdfi_days = draw_mdfi_days(rng["mdfi"], structure, model, is_it, exact)
    day_met = metastasis_days(rng["metastasis_date"], structure, model, is_it)
    day_surgery = day_met - mdfi_days
    day_diagnosis = day_surgery - diagnosis_to_surgery_days(rng["diagnosis_to_surgery"], model, n)

    # post-metastasis survival: Weibull PH; censoring = min(administrative cut, loss to follow-up)
    shape = float(model["weibull_shape"])
    risk = np.exp(linear_predictor(model["log_hazard_ratios"], is_it=is_it, mdfi_gt_24=mdfi_days / MONTH_DAYS > 24, site=site,
                                   age_lt_55=age < 55, her2_pos=her2_pos, hr_pos=hr_pos, nodal=nodal,
                                   premenopausal=~post, mastectomy=breast_surgery == BREAST_SURGERY_LEVELS.index("mastectomy")))
    exp1 = -np.log1p(-rng["event"].random(n))
    cut = day_number(model["administrative_cut"])
    last_contact = cut - months_to_days(model["last_contact_spread_months"] * rng["last_contact"].random(n))
    ltfu_rate = np.where(is_it, model["loss_to_follow_up_per_month"]["IT"], model["loss_to_follow_up_per_month"]["ST"])
    ltfu_months = np.minimum(-np.log1p(-rng["loss_to_follow_up"].random(n)) / np.maximum(ltfu_rate, 1e-12), 1e4)
    censor_days = np.maximum(np.minimum(last_contact - day_met, months_to_days(ltfu_months)), 1)
    censor_months = censor_days / MONTH_DAYS
    baseline_rate = {}
    for arm in ARMS:
        deaths = scaled_count(structure["deaths"][arm], structure["arms"][arm], sizes[arm])
        m = masks[arm]
        baseline_rate[arm] = solve_baseline_rate(exp1[m], risk[m], censor_months[m], shape, deaths)
    rate = np.where(is_it, baseline_rate["IT"], baseline_rate["ST"])
    event_months = np.power(exp1 / (rate * risk), 1.0 / shape)
    dead = event_months <= censor_months
    death_days = np.clip(months_to_days(np.minimum(event_months, 1e5)), 1, censor_days)
    observed_days = np.where(dead, death_days, censor_days)
    day_last = day_met + observed_days

    # intervention: shortly after the metastasis and before the last contact
    intervention = assign_interventions(rng["intervention"], structure, site, is_it)
    lag_spec = model["intervention_lag_months"]
    lag_days = months_to_days(lag_spec["median"] * np.exp(lag_spec["sd_log"] * special.ndtri(rng["intervention_lag"].random(n))))
    lag_days = np.minimum(np.maximum(lag_days, 3), np.maximum(observed_days // 2, 1))
    day_intervention = np.where(is_it, day_met + lag_days, -1)

    # progression: exactly the published count per arm, preferring patients who later die;
    # dated after the intervention and strictly before the last contact
    day_progression = np.full(n, -1, dtype=np.int64)
    u_pick, u_when = rng["progression"].random(n), rng["progression"].random(n)
    start = np.where(is_it, lag_days, 0)
    room = observed_days - start
    for arm in ARMS:
        idx = np.flatnonzero(masks[arm] & (room >= 14))
        k = min(len(idx), scaled_count(structure["progressions"][arm], structure["arms"][arm], sizes[arm]))
        race = -np.log1p(-u_pick[idx]) / np.where(dead[idx], 3.0, 1.0)
        chosen = idx[smallest(race, k)]
        offset = start[chosen] + np.floor((0.2 + 0.7 * u_when[chosen]) * room[chosen]).astype(np.int64)
        day_progression[chosen] = day_met[chosen] + np.clip(offset, start[chosen] + 1, observed_days[chosen] - 1)

    conv = structure["receptor_conversion"]
    scale = n / structure["n"]
    er_met = metastasis_receptor(rng["conversion"], er_pos, biopsy, conv["er_pos_to_neg"], None, int(round(conv["er_neg_to_pos_n"] * scale)))
    pr_met = metastasis_receptor(rng["conversion"], pr_pos, biopsy, conv["pr_pos_to_neg"], None, int(round(conv["pr_neg_to_pos_n"] * scale)))
    her2_met = metastasis_receptor(rng["conversion"], her2_pos, biopsy, conv["her2_pos_to_neg"], conv["her2_neg_to_pos"], None)

    order = np.argsort(day_met + 0.5 * rng["order"].random(n))  # by metastasis day, ties at random
    receptor = lambda flags: _categorical(flags.astype(np.int16)[order], RECEPTOR_LEVELS)  # noqa: E731
    return Cohort(
        group=_categorical(np.where(is_it, 0, 1)[order], ARMS),
        centre=_categorical(centre[order], [f"C{j:02d}" for j in range(1, structure["centres"] + 1)]),
        age=age[order],
        menopause=_categorical(post.astype(np.int16)[order], MENOPAUSE_LEVELS),
        er=receptor(er_pos), pr=receptor(pr_pos), her2=receptor(her2_pos),
        histology=_categorical(histology[order], HISTOLOGY_LEVELS),
        nodal_status=_categorical(nodal[order], NODAL_LEVELS),
        breast_surgery=_categorical(breast_surgery[order], BREAST_SURGERY_LEVELS),
        axillary_surgery=_categorical(axillary[order], AXILLARY_LEVELS),
        site=_categorical(site[order], SITES),
        mets_biopsy=biopsy[order],
        intervention=_categorical(intervention[order], INTERVENTIONS),
        day_diagnosis=day_diagnosis[order], day_surgery=day_surgery[order], day_metastasis=day_met[order],
        day_intervention=day_intervention[order], day_progression=day_progression[order], day_last_followup=day_last[order],
        dead=dead[order],
        er_met=_categorical(er_met[order], RECEPTOR_LEVELS), pr_met=_categorical(pr_met[order], RECEPTOR_LEVELS),
        her2_met=_categorical(her2_met[order], RECEPTOR_LEVELS),
        baseline_rate=baseline_rate,
    )


# ---------------------------------------------------------------------------------------
# Registry table and files
# ---------------------------------------------------------------------------------------
def _dates(days: np.ndarray) -> np.ndarray:
    """datetime64[D] array from day numbers, NaT where the day is -1."""
    days = np.asarray(days, dtype=np.int64)
    out = (EPOCH + days.astype("timedelta64[D]")).astype("datetime64[D]")
    out[days < 0] = np.datetime64("NaT")
    return out.astype("datetime64[ns]")


def _site_flags(site: pd.Categorical) -> dict[str, np.ndarray]:
    codes = np.asarray(site.codes)
    has = lambda names: np.isin(codes, [SITES.index(s) for s in names])  # noqa: E731
    return {"mets_lung": has(("lung", "lung+bone", "multiple")), "mets_liver": has(("liver", "liver+bone", "multiple")),
            "mets_bone": has(("lung+bone", "liver+bone", "multiple"))}


def patient_ids(n: int) -> np.ndarray:
    """Registry ids "IMET-0001"... (zero-padded to at least four digits)."""
    width = max(4, len(str(n)))
    return np.char.add("IMET-", np.char.zfill(np.arange(1, n + 1).astype(str), width))


def registry_frame(cohort: Cohort) -> pd.DataFrame:
    """The cohort as a registry table in the contract's dates form (typed columns).

    Parameters
    ----------
    cohort : Cohort
        Output of :func:`generate_cohort`.

    Returns
    -------
    pandas.DataFrame
        One row per patient, columns ``REGISTRY_COLUMNS``: ``patient_id`` ("IMET-0001"...),
        ``center`` ("C01"..."C29"), ``age`` (int64), category columns as object text with
        the contract's levels (NaN = blank), ``mets_*`` and ``dead`` as bool, ``date_*`` as
        datetime64 (NaT = blank).
    """
    text = lambda cat: np.asarray(cat, dtype=object)  # noqa: E731
    columns = {
        "patient_id": patient_ids(cohort.n).astype(object), "center": text(cohort.centre), "age": cohort.age,
        "menopause": text(cohort.menopause), "er": text(cohort.er), "pr": text(cohort.pr), "her2": text(cohort.her2),
        "histology": text(cohort.histology), "nodal_status": text(cohort.nodal_status),
        "breast_surgery": text(cohort.breast_surgery), "axillary_surgery": text(cohort.axillary_surgery),
        **_site_flags(cohort.site), "mets_biopsy": cohort.mets_biopsy, "group": text(cohort.group),
        "intervention": text(cohort.intervention),
        "date_diagnosis": _dates(cohort.day_diagnosis), "date_surgery": _dates(cohort.day_surgery),
        "date_metastasis": _dates(cohort.day_metastasis), "date_intervention": _dates(cohort.day_intervention),
        "date_progression": _dates(cohort.day_progression), "date_last_followup": _dates(cohort.day_last_followup),
        "dead": cohort.dead, "er_met": text(cohort.er_met), "pr_met": text(cohort.pr_met), "her2_met": text(cohort.her2_met),
    }
    return pd.DataFrame(columns, columns=list(REGISTRY_COLUMNS))


def generate_registry(n: int | None = None, seed: int | None = None, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Synthetic registry table: :func:`registry_frame` of :func:`generate_cohort` (same arguments).

    Returns
    -------
    pandas.DataFrame
        Columns ``REGISTRY_COLUMNS``, typed as in :func:`registry_frame`.
    """
    return registry_frame(generate_cohort(n, seed, params))


def _arrow_table(cohort: Cohort, *, yes_no_text: bool):
    """The registry as a pyarrow table: text as dictionary columns, dates as date32."""
    import pyarrow as pa

    def text(cat: pd.Categorical):
        return pa.DictionaryArray.from_arrays(pa.array(np.asarray(cat.codes, dtype=np.int16), mask=np.asarray(cat.codes) < 0),
                                              pa.array(list(cat.categories), type=pa.string()))

    def flag(values: np.ndarray):
        values = np.asarray(values, dtype=bool)
        if yes_no_text:
            return pa.DictionaryArray.from_arrays(pa.array(values.astype(np.int8)), pa.array(["no", "yes"]))
        return pa.array(values, type=pa.bool_())

    def date(days: np.ndarray):
        days = np.asarray(days, dtype=np.int64)
        return pa.array(days.astype(np.int32), mask=days < 0).cast(pa.date32())

    flags = _site_flags(cohort.site)
    columns = {
        "patient_id": pa.array(patient_ids(cohort.n), type=pa.string()), "center": text(cohort.centre),
        "age": pa.array(cohort.age, type=pa.int64()), "menopause": text(cohort.menopause), "er": text(cohort.er),
        "pr": text(cohort.pr), "her2": text(cohort.her2), "histology": text(cohort.histology),
        "nodal_status": text(cohort.nodal_status), "breast_surgery": text(cohort.breast_surgery),
        "axillary_surgery": text(cohort.axillary_surgery), **{k: flag(v) for k, v in flags.items()},
        "mets_biopsy": flag(cohort.mets_biopsy), "group": text(cohort.group), "intervention": text(cohort.intervention),
        "date_diagnosis": date(cohort.day_diagnosis), "date_surgery": date(cohort.day_surgery),
        "date_metastasis": date(cohort.day_metastasis), "date_intervention": date(cohort.day_intervention),
        "date_progression": date(cohort.day_progression), "date_last_followup": date(cohort.day_last_followup),
        "dead": flag(cohort.dead), "er_met": text(cohort.er_met), "pr_met": text(cohort.pr_met), "her2_met": text(cohort.her2_met),
    }
    return pa.table({name: columns[name] for name in REGISTRY_COLUMNS})


def write_cohort(cohort: Cohort, path: str | Path) -> Path:
    """Write a cohort as a registry file: CSV or Parquet by the file suffix.

    CSV: UTF-8, comma-separated, ``\\n`` line ends, unquoted (no value contains a comma or a
    quote), the contract's text (yes/no, ISO dates, blank for missing). Parquet: typed
    columns (strings, int64 age, bool yes/no columns, date32 dates), zstd-compressed. Both
    are deterministic for a given cohort.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    target = Path(path)
    if not target.parent.is_dir():
        raise SyntheticError(f"output directory does not exist: {target.parent}")
    suffix = target.suffix.lower()
    if suffix == ".parquet":
        table = _arrow_table(cohort, yes_no_text=False)
        import pyarrow as pa

        plain = pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema])
        table = table.cast(plain)
        pq.write_table(table, target, compression="zstd")
    elif suffix == ".csv":
        table = _arrow_table(cohort, yes_no_text=True)
        with open(target, "wb") as handle:
            handle.write((",".join(REGISTRY_COLUMNS) + "\n").encode("utf-8"))
            pacsv.write_csv(table, handle, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
    else:
        raise SyntheticError(f"unsupported output type {suffix or '(none)'!r}: the file name must end in .csv or .parquet")
    return target


# ---------------------------------------------------------------------------------------
# The true generating model, for bias checks
# ---------------------------------------------------------------------------------------
TERM_DESCRIPTIONS = {
    "mdfi_gt_24": "MDFI > 24 months (true effect after metastasis; the naive OS HR adds immortal time)",
    "site_liver": "liver only vs lung only",
    "site_lung+bone": "lung + bone vs lung only",
    "site_liver+bone": "liver + bone vs lung only",
    "site_multiple": "lung + liver (+ bone) vs lung only",
    "age_lt_55": "age < 55 (in ST)",
    "age_lt_55_x_IT": "extra effect of age < 55 in IT (interaction)",
    "her2_positive": "HER2+ (in ST)",
    "her2_positive_x_IT": "extra effect of HER2+ in IT (interaction)",
    "hr_positive": "ER+ and/or PR+ (in ST)",
    "hr_positive_x_IT": "extra effect of ER+/PR+ in IT (interaction)",
    "liver_x_IT": "extra effect of liver involvement in IT (interaction)",
    "premenopausal": "premenopausal at diagnosis",
    "mastectomy": "mastectomy vs segmental mastectomy",
    "nodal_N1": "N1 vs N0",
    "nodal_N2": "N2 vs N0",
    "nodal_N3": "N3 vs N0",
    "nodal_NX": "NX vs N0",
}


def true_effects(params: Mapping[str, Any] | None = None, n: int | None = None) -> pd.DataFrame:
    """The hazard ratios that generated the cohort, after metastasis (time since metastasis).

    Parameters
    ----------
    params : mapping, optional
        Parameter file contents (default: the committed file).
    n : int, optional
        Cohort size whose solved baseline rates give the intervention effect (default 200).

    Returns
    -------
    pandas.DataFrame
        One row per model term, then one row per intervention-effect pattern: columns
        ``term`` (model term, or ``IT vs ST: ...`` for the intervention), ``hazard_ratio``
        (true conditional HR after metastasis), ``description``. The intervention rows are
        ``lambda_IT / lambda_ST`` times the interaction terms that apply, for each
        combination of age < 55, HER2+, ER/PR+ and liver involvement.
    """
    params = load_params() if params is None else params
    model = params["model"]
    cohort = generate_cohort(n, None, params)
    rows = [{"term": term, "hazard_ratio": math.exp(value), "description": TERM_DESCRIPTIONS.get(term, term)}
            for term, value in model["log_hazard_ratios"].items()]
    base = cohort.baseline_rate["IT"] / cohort.baseline_rate["ST"]
    lhr = model["log_hazard_ratios"]
    for young in (False, True):
        for her2 in (False, True):
            for hr_pos in (False, True):
                if not her2 and not hr_pos:
                    continue  # triple negative: excluded by the study
                for liver in (False, True):
                    value = base * math.exp(lhr["age_lt_55_x_IT"] * young + lhr["her2_positive_x_IT"] * her2
                                            + lhr["hr_positive_x_IT"] * hr_pos + lhr["liver_x_IT"] * liver)
                    label = ", ".join([("age < 55" if young else "age >= 55"), ("HER2+" if her2 else "HER2-"),
                                       ("ER/PR+" if hr_pos else "ER/PR-"), ("liver involved" if liver else "no liver")])
                    rows.append({"term": f"IT vs ST: {label}", "hazard_ratio": value,
                                 "description": "true intervention effect after metastasis for this pattern"})
    return pd.DataFrame(rows, columns=["term", "hazard_ratio", "description"])


# ---------------------------------------------------------------------------------------
# Calibration: a fast statistics engine, the objective, the parameter and seed search
# ---------------------------------------------------------------------------------------
def cohort_frame(cohort: Cohort) -> pd.DataFrame:
    """The columns of the loaded registry frame that the reproduction's survival part uses.

    Same names, values and derivations as :func:`imet_core.io.load_registry` on the written
    file (checked by ``tests/test_synthetic.py``), built directly from the arrays: the
    calibration evaluates thousands of cohorts and skips writing and re-reading them.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``age``, ``menopause``, ``breast_surgery``, ``nodal_status``,
        ``site``, ``dead``, ``mdfi_months``, ``os_months``, ``pdrs_months``, ``age_lt_55``,
        ``hr_positive``, ``her2_positive``, ``mdfi_gt_24``.
    """
    text = lambda cat: np.asarray(cat, dtype=object)  # noqa: E731
    mdfi = (cohort.day_metastasis - cohort.day_surgery) / MONTH_DAYS
    hr_pos = (np.asarray(cohort.er.codes) == 1) | (np.asarray(cohort.pr.codes) == 1)
    return pd.DataFrame({
        "group": text(cohort.group), "age": cohort.age.astype(float), "menopause": text(cohort.menopause),
        "breast_surgery": text(cohort.breast_surgery), "nodal_status": text(cohort.nodal_status), "site": text(cohort.site),
        "dead": cohort.dead.astype(bool), "mdfi_months": mdfi,
        "os_months": (cohort.day_last_followup - cohort.day_diagnosis) / MONTH_DAYS,
        "pdrs_months": (cohort.day_last_followup - cohort.day_metastasis) / MONTH_DAYS,
        "age_lt_55": cohort.age < 55, "hr_positive": hr_pos, "her2_positive": np.asarray(cohort.her2.codes) == 1,
        "mdfi_gt_24": mdfi > 24,
    })


@dataclass(frozen=True)
class FastKaplanMeier:
    """Kaplan-Meier curve with log-scale (Greenwood) limits, as R's ``survfit`` default."""

    times: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def _step(self, values: np.ndarray, t: float) -> float:
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        return 1.0 if i < 0 else float(values[i])

    def survival_at(self, t: float) -> float:
        return self._step(self.survival, t)

    def ci_at(self, t: float) -> tuple[float, float]:
        return self._step(self.lower, t), self._step(self.upper, t)

    @property
    def median(self) -> float:
        # first time the curve is <= 0.5; midpoint rule on an exact 0.5 plateau (print.survfit)
        below = np.flatnonzero(self.survival < 0.5 + 1.5e-8)
        if below.size == 0:
            return math.nan
        i = int(below[0])
        if abs(self.survival[i] - 0.5) < 1.5e-8:
            lower = np.flatnonzero(self.survival < self.survival[i] - 1.5e-8)
            if lower.size:
                return float((self.times[i] + self.times[lower[0]]) / 2)
        return float(self.times[i])


class FastEngine:
    """Numpy stand-ins for the core's Cox, Kaplan-Meier and log-rank (calibration only).

    Cox: Newton-Raphson on the Breslow partial likelihood (Cox 1972; Breslow 1974), which
    equals the core's Efron fit when no two events share a day (the synthetic times are in
    days and such ties are rare). Kaplan-Meier: Greenwood variance, log-scale limits.
    Log-rank: the G-rho statistic of Harrington & Fleming (1982) with weights S(t-)^rho of
    the pooled Kaplan-Meier curve, as ``survdiff``. Wilcoxon rank-sum: scipy's
    ``mannwhitneyu`` with R's large-sample choices. Final numbers always come from the core.
    """

    def cox(self, time: np.ndarray, event: np.ndarray, covariates: Mapping[str, np.ndarray]) -> dict[str, tuple]:
        names = list(covariates)
        beta, se = fast_cox(np.asarray(time, float), np.asarray(event, float) > 0, np.column_stack([covariates[k] for k in names]))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            z = 1.959963984540054
            p = 2 * special.ndtr(-np.abs(beta / se))
            return {name: (math.exp(min(b, 700)), math.exp(min(b - z * e, 700)), math.exp(min(b + z * e, 700)), float(pv))
                    for name, b, e, pv in zip(names, beta, se, p)}

    def km(self, time: np.ndarray, event: np.ndarray) -> FastKaplanMeier:
        return fast_kaplan_meier(np.asarray(time, float), np.asarray(event, float) > 0)

    def logrank_p(self, time, event, group, rho: float = 0.0) -> float:
        return fast_logrank_p(np.asarray(time, float), np.asarray(event, float) > 0, np.asarray(group), rho)

    def table_one(self, frame: pd.DataFrame) -> None:
        return None

    def rank_sum_p(self, frame: pd.DataFrame, column: str) -> float:
        it = frame["group"].to_numpy() == "IT"
        values = frame[column].to_numpy(float)
        return float(stats.mannwhitneyu(values[it], values[~it], alternative="two-sided", method="asymptotic", use_continuity=True).pvalue)


def fast_cox(t: np.ndarray, d: np.ndarray, x: np.ndarray, max_iter: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Cox coefficients and standard errors (Breslow ties) by Newton-Raphson with step halving.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Coefficients and their model-based standard errors (inverse information).
    """
    order = np.argsort(-t, kind="stable")
    t, d, x = t[order], d[order], x[order]
    x = x - x.mean(axis=0)
    # risk set of an event at time t_i: every row with time >= t_i = a prefix of the sorted rows
    last = np.searchsorted(-t, -t, side="right") - 1
    ev = np.flatnonzero(d)
    if ev.size == 0:
        p = x.shape[1]
        return np.zeros(p), np.full(p, np.inf)
    last_ev = last[ev]
    x_ev_sum = x[ev].sum(axis=0)
    outer = x[:, :, None] * x[:, None, :]

    def pieces(beta):
        eta = x @ beta
        eta = eta - eta.max()
        w = np.exp(eta)
        s0 = np.cumsum(w)[last_ev]
        s1 = np.cumsum(w[:, None] * x, axis=0)[last_ev]
        loglik = float(eta[ev].sum() - np.log(s0).sum())
        return w, s0, s1, loglik

    beta = np.zeros(x.shape[1])
    w, s0, s1, loglik = pieces(beta)
    info = None
    for _ in range(max_iter):
        s2 = np.cumsum(w[:, None, None] * outer, axis=0)[last_ev]
        xbar = s1 / s0[:, None]
        grad = x_ev_sum - xbar.sum(axis=0)
        info = (s2 / s0[:, None, None]).sum(axis=0) - np.einsum("ij,ik->jk", xbar, xbar)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        new = beta + step
        w_new, s0_new, s1_new, ll_new = pieces(new)
        halvings = 0
        while ll_new < loglik - 1e-9 and halvings < 20:
            step = step / 2
            new = beta + step
            w_new, s0_new, s1_new, ll_new = pieces(new)
            halvings += 1
        beta, w, s0, s1, converged = new, w_new, s0_new, s1_new, abs(ll_new - loglik) < 1e-10
        loglik = ll_new
        if converged or np.max(np.abs(step)) < 1e-9 or np.max(np.abs(beta)) > 30:
            break
    s2 = np.cumsum(w[:, None, None] * outer, axis=0)[last_ev]
    xbar = s1 / s0[:, None]
    info = (s2 / s0[:, None, None]).sum(axis=0) - np.einsum("ij,ik->jk", xbar, xbar)
    try:
        se = np.sqrt(np.diag(np.linalg.inv(info)))
    except np.linalg.LinAlgError:
        se = np.full(len(beta), np.inf)
    return beta, se


def fast_kaplan_meier(t: np.ndarray, d: np.ndarray) -> FastKaplanMeier:
    """Kaplan-Meier curve over the distinct times, Greenwood log-scale 95% limits."""
    times, inverse = np.unique(t, return_inverse=True)
    events = np.bincount(inverse, weights=d.astype(float), minlength=times.size)
    counts = np.bincount(inverse, minlength=times.size)
    at_risk = counts[::-1].cumsum()[::-1].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - events / at_risk)
        greenwood = np.sqrt(np.cumsum(np.where(events > 0, events / (at_risk * (at_risk - events)), 0.0)))
        lower = surv * np.exp(-1.959963984540054 * greenwood)
        upper = np.minimum(surv * np.exp(1.959963984540054 * greenwood), 1.0)
    lower = np.where(surv > 0, lower, 0.0)
    return FastKaplanMeier(times, surv, lower, upper)


def fast_logrank_p(t: np.ndarray, d: np.ndarray, group: np.ndarray, rho: float) -> float:
    """Two-group G-rho test p-value (rho = 0 log-rank, rho = 1 Peto-Peto), as ``survdiff``."""
    g = group == group[0]
    if g.all():
        return math.nan
    times, inverse = np.unique(t, return_inverse=True)
    deaths = np.bincount(inverse, weights=d.astype(float), minlength=times.size)
    deaths1 = np.bincount(inverse, weights=(d & g).astype(float), minlength=times.size)
    n_all = np.bincount(inverse, minlength=times.size)[::-1].cumsum()[::-1].astype(float)
    n_one = np.bincount(inverse, weights=g.astype(float), minlength=times.size)[::-1].cumsum()[::-1]
    keep = deaths > 0
    if rho:
        km = np.cumprod(np.where(n_all > 0, 1.0 - deaths / np.maximum(n_all, 1), 1.0))
        weight = np.concatenate([[1.0], km[:-1]]) ** rho
    else:
        weight = np.ones_like(deaths)
    deaths, deaths1, n_all, n_one, weight = deaths[keep], deaths1[keep], n_all[keep], n_one[keep], weight[keep]
    share = n_one / n_all
    o_minus_e = np.sum(weight * (deaths1 - deaths * share))
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.sum(weight**2 * deaths * share * (1 - share) * np.where(n_all > 1, (n_all - deaths) / (n_all - 1), 0.0))
    if var <= 0:
        return math.nan
    return float(special.erfc(math.sqrt(o_minus_e**2 / var / 2.0)))  # chi-square(1) tail = 2 (1 - Phi(|z|))


PARAMETER_SPACE: tuple[tuple[str, float, float], ...] = (
    ("weibull_shape", 0.6, 1.5),
    ("administrative_cut_months", 4.0, 12.0),
    ("last_contact_spread_months", 0.0, 8.0),
    ("loss_to_follow_up_per_month.IT", 0.0, 0.012),
    ("loss_to_follow_up_per_month.ST", 0.0, 0.012),
    ("metastasis_date_power.IT", 0.5, 3.0),
    ("metastasis_date_power.ST", 0.3, 2.0),
    ("mdfi_shape.IT.min_months", 3.2, 20.0),
    ("mdfi_shape.IT.p95_over_q3", 1.1, 4.0),
    ("mdfi_shape.IT.max_over_q3", 1.5, 5.0),
    ("mdfi_shape.ST.min_months", 3.2, 11.0),
    ("mdfi_shape.ST.p95_over_q3", 1.1, 4.0),
    ("mdfi_shape.ST.max_over_q3", 1.5, 5.0),
    ("log_hazard_ratios.mdfi_gt_24", math.log(0.5), math.log(0.85)),
    ("log_hazard_ratios.site_liver", 0.0, math.log(3.5)),
    ("log_hazard_ratios.site_lung+bone", math.log(0.8), math.log(2.5)),
    ("log_hazard_ratios.site_liver+bone", 0.0, math.log(3.5)),
    ("log_hazard_ratios.site_multiple", math.log(0.8), math.log(3.0)),
    ("log_hazard_ratios.age_lt_55", math.log(0.7), math.log(1.6)),
    ("log_hazard_ratios.age_lt_55_x_IT", math.log(0.3), math.log(1.2)),
    ("log_hazard_ratios.her2_positive", math.log(0.6), math.log(2.0)),
    ("log_hazard_ratios.her2_positive_x_IT", math.log(0.15), 0.0),
    ("log_hazard_ratios.hr_positive", math.log(0.6), math.log(2.0)),
    ("log_hazard_ratios.hr_positive_x_IT", math.log(0.6), math.log(2.5)),
    ("log_hazard_ratios.liver_x_IT", math.log(0.8), math.log(3.0)),
    ("log_hazard_ratios.premenopausal", math.log(0.8), math.log(1.5)),
    ("log_hazard_ratios.mastectomy", math.log(0.8), math.log(1.25)),
    ("log_hazard_ratios.nodal_N1", math.log(0.5), math.log(1.3)),
    ("log_hazard_ratios.nodal_N2", math.log(0.8), math.log(1.8)),
    ("log_hazard_ratios.nodal_N3", 0.0, math.log(2.5)),
    ("log_hazard_ratios.nodal_NX", math.log(0.7), math.log(1.5)),
)
"""Calibrated model parameters: (path in ``model``, lower bound, upper bound).

The bounds keep the generating model clinically sensible: the true effect of MDFI > 24
months after metastasis between HR 0.5 and 0.85 (modest), liver and bone involvement never
protective, node-positive disease at most mildly better than N0, breast-surgery type nearly
neutral, the intervention's extra effect in young, HER2+ or liver patients within a factor
0.15-3 (the paper's subgroup hazard ratios need strong interactions; tighter bounds, 0.3-2.2,
left no seed of 500 passing), loss to follow-up at most 1.2% a month, the administrative cut between November 2020
and June 2021. ``administrative_cut_months`` is stored as the date ``administrative_cut``:
that many months after the last day of the metastasis window.
"""


def get_parameter(model: Mapping[str, Any], path: str, structure: Mapping[str, Any]) -> float:
    """A calibrated parameter's value in ``model`` (see ``PARAMETER_SPACE``)."""
    if path == "administrative_cut_months":
        last = day_number(structure["metastasis_window"][1])
        return (day_number(model["administrative_cut"]) - last) / MONTH_DAYS
    node: Any = model
    for part in path.split(".") if not path.startswith("log_hazard_ratios.") else ("log_hazard_ratios", path.split(".", 1)[1]):
        node = node[part]
    return float(node)


def with_parameters(model: Mapping[str, Any], values: Mapping[str, float], structure: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``model`` with the given calibrated parameters set (paths as in ``PARAMETER_SPACE``)."""
    out = json.loads(json.dumps(model))
    for path, value in values.items():
        if path == "administrative_cut_months":
            last = day_number(structure["metastasis_window"][1])
            out["administrative_cut"] = str(EPOCH + np.timedelta64(last + int(round(value * MONTH_DAYS)), "D"))
            continue
        parts = ("log_hazard_ratios", path.split(".", 1)[1]) if path.startswith("log_hazard_ratios.") else tuple(path.split("."))
        node = out
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = float(value)
    return out


def calibration_targets(published: Mapping[str, Any]) -> list:
    """The published numbers that depend on the random draw and the model (the rest hold by construction)."""
    from imet_core.reproduce import build_targets

    survival_prefixes = ("os.", "pdrs.", "table2.", "follow_up.", "mdfi.")
    return [t for t in build_targets(published) if t.key.startswith(survival_prefixes) and t.lower is not None]


def cohort_distances(cohort: Cohort, targets: Sequence[Any]) -> np.ndarray:
    """Signed distances (|d| <= 1 passes) of a cohort's statistics to the targets, fast engine.

    The last entry is the age normality check (Shapiro-Wilk p >= 0.05 in both arms, so that the
    core's Table 1 uses Student's t as the paper did): log(p) / log(0.05).
    """
    from imet_core.reproduce import survival_statistics

    stats_ = survival_statistics(cohort_frame(cohort), FastEngine())
    d = np.array([t.distance(stats_.get(t.key)) for t in targets], dtype=float)
    it = np.asarray(cohort.group.codes) == 0
    shapiro = min(stats.shapiro(cohort.age[it]).pvalue, stats.shapiro(cohort.age[~it]).pvalue)
    return np.append(d, math.log(max(shapiro, 1e-300)) / math.log(0.05))


# worker state for the process pool (set once per process)
_WORKER: dict[str, Any] = {}


def _worker_init(structure: Mapping[str, Any], targets: Sequence[Any]) -> None:
    _WORKER["structure"] = structure
    _WORKER["targets"] = targets


def _worker_distances(task: tuple[int, dict]) -> np.ndarray:
    seed, model = task
    params = {"seed": seed, "structure": _WORKER["structure"], "model": model}
    try:
        return cohort_distances(generate_cohort(None, seed, params), _WORKER["targets"])
    except Exception:  # noqa: BLE001 - a degenerate draw (e.g. a Cox fit that cannot converge) simply fails
        return np.full(len(_WORKER["targets"]) + 1, np.inf)


HAZARD_RATIO_LEVERS: tuple[tuple[str, str], ...] = (
    ("table2.mdfi_gt_24.hr", "mdfi_gt_24"),
    ("table2.site_liver.hr", "site_liver"),
    ("table2.site_lung_bone.hr", "site_lung+bone"),
    ("table2.site_liver_bone.hr", "site_liver+bone"),
    ("table2.site_multiple.hr", "site_multiple"),
    ("table2.age_lt_55.hr", "age_lt_55"),
    ("table2.premenopausal.hr", "premenopausal"),
    ("table2.mastectomy.hr", "mastectomy"),
    ("table2.her2_positive.hr", "her2_positive"),
    ("table2.hr_positive.hr", "hr_positive"),
    ("os.subgroup.age_lt_55.hr", "age_lt_55_x_IT"),
    ("os.subgroup.her2_positive.hr", "her2_positive_x_IT"),
    ("os.subgroup.er_or_pr_positive.hr", "hr_positive_x_IT"),
    ("table2.nodal_n1.hr", "nodal_N1"),
    ("table2.nodal_n2.hr", "nodal_N2"),
    ("table2.nodal_n3.hr", "nodal_N3"),
)
"""Published univariable hazard ratio -> the model coefficient that moves it most."""


def match_hazard_ratios(seed: int, model: Mapping[str, Any], structure: Mapping[str, Any], targets: Sequence[Any],
                        iterations: int = 8, damping: float = 0.7) -> tuple[dict[str, Any], np.ndarray]:
    """Move each coefficient of ``HAZARD_RATIO_LEVERS`` until its hazard ratio in this seed's cohort matches the paper.

    A damped fixed-point iteration: beta <- beta + damping * (log HR_published - log HR_cohort),
    within the bounds of ``PARAMETER_SPACE``. Returns the best model met (smallest excess
    loss) and its target distances (see :func:`cohort_distances`).
    """
    from imet_core.reproduce import survival_statistics

    published = {t.key: float(t.published) for t in targets if t.key.endswith(".hr")}
    bounds = {path.split(".", 1)[1]: (lo, hi) for path, lo, hi in PARAMETER_SPACE if path.startswith("log_hazard_ratios.")}
    current = json.loads(json.dumps(model))
    best: tuple[float, dict[str, Any], np.ndarray] | None = None
    for _ in range(iterations + 1):
        cohort = generate_cohort(None, seed, {"seed": seed, "structure": structure, "model": current})
        distances = cohort_distances(cohort, targets)
        loss = _soft_loss(distances, 0.9)
        if best is None or loss < best[0]:
            best = (loss, json.loads(json.dumps(current)), distances)
        realized = survival_statistics(cohort_frame(cohort), FastEngine())
        for key, term in HAZARD_RATIO_LEVERS:
            hr = realized.get(key)
            if hr is None or not np.isfinite(hr) or hr <= 0 or key not in published:
                continue
            lo, hi = bounds[term]
            step = damping * (math.log(published[key]) - math.log(hr))
            current["log_hazard_ratios"][term] = float(np.clip(current["log_hazard_ratios"][term] + step, lo, hi))
    return best[1], best[2]


def _worker_matched(task: tuple[int, dict]) -> tuple[int, float, int, dict, np.ndarray]:
    seed, model = task
    try:
        matched, d = match_hazard_ratios(seed, model, _WORKER["structure"], _WORKER["targets"])
    except Exception:  # noqa: BLE001 - a degenerate draw simply fails
        return seed, math.inf, 10**6, model, np.full(len(_WORKER["targets"]) + 1, np.inf)
    return seed, _soft_loss(d, 0.9), int(np.sum(np.abs(d) > 1.0)), matched, d


class Progress:
    """One status line on stderr, rewritten in place (``\\r``) when stderr is a terminal."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, message: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.5 if self.tty else 15.0):
            return
        self.last = now
        line = f"[{now - self.start:7.0f}s] {message}"
        self.stream.write(("\r" + line[:150].ljust(150)) if self.tty else line + "\n")
        self.stream.flush()

    def done(self, message: str) -> None:
        self.update(message, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _soft_loss(d: np.ndarray, slack: float) -> float:
    """Sum of squared excess distances beyond ``slack`` (0 when every |d| <= slack)."""
    excess = np.maximum(np.abs(d) - slack, 0.0)
    return float(np.sum(np.minimum(excess, 5.0) ** 2))


def _evolve(objective, x0: np.ndarray, sigma0: float, generations: int, progress: Progress, label: str,
            population: int = 12, parents: int = 4, seed: int = 0, target: float = 0.0) -> tuple[np.ndarray, float, int]:
    """A (mu/mu_w, lambda) evolution strategy on [0, 1]^p with success-based step-size control.

    ``objective(list of x) -> list of losses`` is evaluated one generation (``population``
    points) at a time, so the caller can spread a generation over a process pool. Stops after
    ``generations`` or as soon as a loss <= ``target`` is met. Returns the best point, its
    loss and the generations used.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    weights = np.log(parents + 0.5) - np.log(np.arange(1, parents + 1))
    weights /= weights.sum()
    mean, sigma = x0.copy(), sigma0
    best_x, best_f = x0.copy(), objective([x0])[0]
    generation = 0
    while generation < generations and best_f > target:
        generation += 1
        steps = special.ndtri(rng.random((population, len(mean))))
        candidates = np.clip(mean + sigma * steps, 0.0, 1.0)
        losses = np.asarray(objective(list(candidates)))
        order = np.argsort(losses)
        improved = bool(losses[order[0]] < best_f)
        if improved:
            best_f, best_x = float(losses[order[0]]), candidates[order[0]].copy()
        mean = np.clip(weights @ candidates[order[:parents]], 0.0, 1.0)
        sigma = float(np.clip(sigma * (1.15 if improved else 0.85), 0.003, 0.3))
        progress.update(f"{label}: generation {generation}/{generations}, best loss {best_f:.3f}, step {sigma:.3f}")
    return best_x, best_f, generation


class _UnitSpace:
    """Maps the calibrated parameters of a model to [0, 1]^p and back (bounds of ``PARAMETER_SPACE``)."""

    def __init__(self, structure: Mapping[str, Any]) -> None:
        self.structure = structure
        self.names = [path for path, _, _ in PARAMETER_SPACE]
        self.lows = np.array([lo for _, lo, _ in PARAMETER_SPACE])
        self.highs = np.array([hi for _, _, hi in PARAMETER_SPACE])

    def to_unit(self, model: Mapping[str, Any]) -> np.ndarray:
        values = np.array([get_parameter(model, path, self.structure) for path in self.names])
        return np.clip((values - self.lows) / (self.highs - self.lows), 0.0, 1.0)

    def to_model(self, base: Mapping[str, Any], x: np.ndarray) -> dict[str, Any]:
        return with_parameters(base, dict(zip(self.names, self.lows + np.asarray(x) * (self.highs - self.lows))), self.structure)


def calibrate(seeds: int = 2000, out: str | Path = DEFAULT_PARAMS_PATH, *, tuning_seeds: int = 24, generations: int = 30,
              polish_candidates: int = 12, polish_generations: int = 80, processes: int = 2, start: str | Path | None = None,
              published_path: str | Path = PUBLISHED_PATH, progress: Progress | None = None) -> dict[str, Any]:
    """Search the model parameters and the seed so that the 200-patient cohort reproduces the paper.

    Offline and slow (about 20-40 minutes on two cores); never run at app start or in tests.
    All statistics inside the search come from :class:`FastEngine` on :func:`cohort_frame`;
    the chosen cohort is then written, re-loaded with the core's loader and checked with the
    core's own reproduction (:func:`imet_core.reproduce.reproduction_table`).

    1. Tuning: an evolution strategy moves the parameters of ``PARAMETER_SPACE`` so that,
       over ``tuning_seeds`` fixed seeds, every statistic centres on its published value
       (loss: mean squared distance beyond half the allowed one). Skipped when
       ``generations`` is 0.
    2. Seed search: for each of ``seeds`` seeds, :func:`match_hazard_ratios` moves the
       coefficients behind the univariable hazard ratios to this draw; the seed is scored by
       how far its statistics then fall outside their tolerances.
    3. Polish: for the best ``polish_candidates`` seeds, the evolution strategy nudges every
       calibrated parameter, aiming at a margin (|d| <= 0.85); the first seed whose targets
       all pass, with the fast engine and then with the core's full reproduction, wins.

    Parameters
    ----------
    seeds : int
        Seeds examined in the seed search (at least 100).
    out : str or Path
        Where to write the parameter file.
    tuning_seeds, generations, polish_candidates, polish_generations, processes : int
        Effort settings.
    start : str or Path, optional
        A parameter file whose model starts the tuning (default: :func:`default_model`).
    published_path : str or Path
        The paper's numbers.
    progress : Progress, optional
        Status display (default: stderr).

    Returns
    -------
    dict
        The parameters written: ``seed``, ``structure``, ``model``, ``calibration``.
    """
    import multiprocessing
    import tempfile

    from imet_core.io import load_registry
    from imet_core.reproduce import load_published, reproduction_table

    if seeds < 100:
        raise SyntheticError("--seeds must be at least 100")
    progress = progress or Progress()
    published = load_published(published_path)
    structure = structure_from_published(published)
    base_model = default_model()
    if start:
        started_from = load_params(start)["model"]
        base_model.update({k: v for k, v in started_from.items() if k != "log_hazard_ratios"})
        base_model["log_hazard_ratios"].update(started_from.get("log_hazard_ratios", {}))
    targets = calibration_targets(published)
    space = _UnitSpace(structure)
    started = time.monotonic()
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_worker_init, initargs=(structure, targets)) as pool:
        # 1. tuning on fixed seeds (common random numbers)
        tuning = list(range(10_000_000, 10_000_000 + tuning_seeds))

        def population_loss(xs: list[np.ndarray]) -> list[float]:
            models = [space.to_model(base_model, x) for x in xs]
            d = pool.map(_worker_distances, [(seed, m) for m in models for seed in tuning], chunksize=4)
            k = len(tuning)
            return [float(np.mean([_soft_loss(d[i * k + j], 0.5) for j in range(k)])) for i in range(len(models))]

        x_tuned = space.to_unit(base_model)
        tuned_loss = math.nan
        if generations > 0:
            x_tuned, tuned_loss, _ = _evolve(population_loss, x_tuned, 0.05, generations, progress, "1/3 tuning")
            progress.done(f"1/3 tuning done: mean loss {tuned_loss:.3f}")
        tuned_model = space.to_model(base_model, x_tuned)

        # 2. seed search: match the hazard ratios to each draw, score it
        results = []
        for seed, loss, fails, matched, _ in pool.imap_unordered(_worker_matched, [(s, tuned_model) for s in range(seeds)], chunksize=2):
            results.append((loss, fails, seed, matched))
            best = min(results, key=lambda r: r[0])
            progress.update(f"2/3 seed search: {len(results)}/{seeds} seeds, best: seed {best[2]} with {best[1]} targets outside")
        results.sort(key=lambda r: (r[0], r[2]))
        progress.done(f"2/3 seed search done: {sum(1 for r in results if r[1] == 0)} of {seeds} seeds pass every target after matching")

        # 3. polish the most promising seeds; verify with the core
        chosen = None
        for rank, (loss, fails, seed, matched) in enumerate(results[:polish_candidates]):
            def seed_loss(xs: list[np.ndarray], seed=seed, matched=matched) -> list[float]:
                d = pool.map(_worker_distances, [(seed, space.to_model(matched, x)) for x in xs], chunksize=1)
                return [_soft_loss(di, 0.85) for di in d]

            label = f"3/3 polish seed {seed} ({rank + 1}/{polish_candidates})"
            x_seed, polished_loss, used = _evolve(seed_loss, space.to_unit(matched), 0.03, polish_generations, progress, label, seed=seed)
            model = space.to_model(matched, x_seed)
            params = {"seed": seed, "structure": structure, "model": model}
            distances = cohort_distances(generate_cohort(None, seed, params), targets)
            if np.max(np.abs(distances)) > 1.0:
                progress.done(f"{label}: {int(np.sum(np.abs(distances) > 1.0))} targets still outside their tolerance")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "candidate.csv"
                write_cohort(generate_cohort(None, seed, params), path)
                table = reproduction_table(load_registry(path), published)
            failed = table.loc[~table["passed"], "key"].tolist()
            if failed:
                progress.done(f"{label}: the core's reproduction fails {', '.join(failed)}")
                continue
            chosen = {"seed": seed, "model": model, "rank": rank, "generations": used, "largest": float(np.max(np.abs(distances))),
                      "targets_outside_after_matching": fails}
            progress.done(f"{label}: every target passes (largest distance {chosen['largest']:.2f})")
            break
    if chosen is None:
        raise SyntheticError("no seed reproduced every target; run calibrate again with more --seeds")
    params = {
        "_about": "Parameters of the synthetic IMET cohort (imet_core.synthetic), written by `python -m imet_core.synthetic calibrate`. "
                  "`python -m imet_core.synthetic generate --out data/imet_synthetic.csv` with these parameters rewrites the "
                  "committed cohort byte for byte. The cohort is synthetic: no real patient is described.",
        "seed": chosen["seed"],
        "structure": structure,
        "model": chosen["model"],
        "calibration": {
            "seeds_searched": seeds,
            "seeds_passing_after_matching": sum(1 for r in results if r[1] == 0),
            "chosen_rank_in_seed_search": chosen["rank"],
            "targets_outside_after_matching": chosen["targets_outside_after_matching"],
            "polish_generations": chosen["generations"],
            "largest_target_distance": chosen["largest"],
            "tuning_seeds": tuning_seeds,
            "tuning_generations": generations,
            "tuned_mean_loss": tuned_loss,
            "tuned_model": tuned_model,
            "minutes": (time.monotonic() - started) / 60.0,
        },
    }
    Path(out).write_text(json.dumps(params, indent=1) + "\n", encoding="utf-8")
    progress.done(f"wrote {out}: seed {chosen['seed']}")
    return params


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """``python -m imet_core.synthetic`` with the ``generate`` and ``calibrate`` subcommands."""
    parser = argparse.ArgumentParser(prog="python -m imet_core.synthetic", description="Synthetic IMET registry (dates form).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    gen = sub.add_parser("generate", help="write a synthetic registry (CSV or Parquet by the file suffix)")
    gen.add_argument("--n", type=int, default=None, help="patients (default: 200, the published cohort)")
    gen.add_argument("--seed", type=int, default=None, help="random seed (default: the calibrated one)")
    gen.add_argument("--params", default=str(DEFAULT_PARAMS_PATH), metavar="FILE", help="parameter file (default: data/synthetic_params.json)")
    gen.add_argument("--out", required=True, metavar="FILE", help="output file, .csv or .parquet")
    cal = sub.add_parser("calibrate", help="search parameters and seed (slow, offline)")
    cal.add_argument("--seeds", type=int, default=2000, help="seeds to examine (default 2000, at least 100)")
    cal.add_argument("--out", default=str(DEFAULT_PARAMS_PATH), metavar="FILE", help="parameter file to write")
    cal.add_argument("--start", default=None, metavar="FILE", help="parameter file to start the tuning from")
    cal.add_argument("--generations", type=int, default=30, help="tuning generations (default 30; 0 skips the tuning)")
    cal.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 calibration failed, 2 bad arguments)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code in (0, None) else 2
    try:
        if args.command == "generate":
            params = load_params(args.params)
            if args.n is not None and args.n < 2:
                raise SyntheticError("--n must be at least 2")
            write_cohort(generate_cohort(args.n, args.seed, params), args.out)
            return 0
        calibrate(seeds=args.seeds, out=args.out, start=args.start, generations=args.generations, processes=args.processes)
        return 0
    except SyntheticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if args.command == "calibrate" and "no seed" in str(exc) else 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError) as exc:  # a hand-edited parameter file with a missing or bad entry
        source = getattr(args, "params", None) or getattr(args, "start", None) or "the parameter file"
        print(f"error: bad parameter file {source}: missing or invalid entry {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
