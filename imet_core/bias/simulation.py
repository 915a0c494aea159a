"""IMET-like registries with a known truth and built-in immortal time.

Used by the bias-check tests (does each correction recover the truth?) and to make the
R-reference data in ``tests/r_reference/bias``.  Nothing in it describes a real patient.

The generating model (time in months; whole days, 1 month = 30.4375 days)
------------------------------------------------------------------------
Baseline covariates: ``age_lt_55`` (45%), ``hr_positive`` (75%), ``her2_positive`` (all
ER-/PR- tumours, 30% of the others: no triple-negative disease, as in IMET), ``site`` (lung
38%, liver 40%, lung+bone 5%, liver+bone 9%, multiple 8%), ``nodal_status`` (NX 5%, N0 30%,
N1 35%, N2 20%, N3 10%).  Diagnosis to surgery is uniform on 0.3-1.5 months and the MDFI
(surgery to metastasis) log-normal with median ``mdfi_median`` and log-SD ``mdfi_sdlog``, kept
within 3.1-240 months (metachronous metastases only, as in IMET), so
every patient survives ``entry_months`` = (diagnosis to surgery) + MDFI before she can enter
the registry: **immortal time on the OS scale**.

A patient is *planned* for an intervention with probability
``expit(logit(intervention_share) + sum(assignment_log_or[k] * x_k))`` (confounding by
indication when the log odds ratios are non-zero), planned for ``L`` months after her
metastasis diagnosis, ``L`` uniform on (0, ``max_intervention_lag``] (0 when the maximum is 0).
After the metastasis diagnosis her hazard of death is constant (exponential survival)::

    h(t) = log(2) / median_survival * exp(sum(covariate_log_hr[k] * x_k)
                                         + log(hr_mdfi) * mdfi_gt_24
                                         + log(hr_intervention) * 1{intervention done by t})

The exponential hazard makes proportional hazards hold on both time scales, so the
delayed-entry Cox model on the diagnosis time scale estimates ``hr_mdfi`` exactly.  Follow-up
from the metastasis ends at a uniform administrative time on ``followup``.  A planned patient
who dies or is last seen before her intervention date ends up in the ST arm, as in a real
registry: **immortal time between metastasis and intervention**.  IT patients are those whose
intervention happened (strictly) before the end of their follow-up.

Truths: ``hr_intervention`` is the conditional hazard ratio of having had the intervention
(given the covariates in ``covariate_log_hr``); ``hr_mdfi`` the post-metastasis hazard ratio of
MDFI > 24 months.  With no covariate effects, no confounding and ``hr_mdfi = 1`` the
time-varying and landmark hazard ratios of IT estimate ``hr_intervention`` exactly.

Every random number is a ``numpy.random.PCG64`` uniform (``Generator.random``) turned into
other distributions by explicit inverse CDFs, so the output does not depend on NumPy's
distribution algorithms: the same arguments give the same data.

Command line::

    python -m imet_core.bias.simulation --n 600 --seed 6 --out tests/r_reference/bias/imet_like.csv
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special

from imet_core import MONTH_DAYS

__all__ = [
    "DEFAULT_COVARIATE_LOG_HR",
    "DEFAULT_ASSIGNMENT_LOG_OR",
    "SIMULATION_TERMS",
    "SimulatedRegistry",
    "simulate_registry",
    "registry_table",
    "write_csv",
]

SIMULATION_TERMS: tuple[str, ...] = (
    "age_lt_55", "hr_positive", "her2_positive", "mdfi_gt_24", "liver", "bone", "multiple",
    "node_positive",
)
"""0/1 terms the effect dictionaries may use: ``liver`` = liver involved (liver, liver+bone,
multiple), ``bone`` = bone involved, ``multiple`` = lung and liver, ``node_positive`` = N1-N3."""

DEFAULT_COVARIATE_LOG_HR: dict[str, float] = {
    "age_lt_55": -0.2, "her2_positive": -0.3, "liver": 0.45, "multiple": 0.3, "node_positive": 0.25,
}
"""Log hazard ratios of the default (realistic) model."""

DEFAULT_ASSIGNMENT_LOG_OR: dict[str, float] = {
    "age_lt_55": 0.6, "mdfi_gt_24": 0.5, "liver": -0.3, "multiple": -0.9, "node_positive": -0.3,
}
"""Log odds ratios of being planned for an intervention in the default model (younger
patients, long MDFI and limited disease are chosen more often)."""

SITE_LEVELS = ("lung", "liver", "lung+bone", "liver+bone", "multiple")
SITE_PROBS = (0.38, 0.40, 0.05, 0.09, 0.08)
NODAL_LEVELS = ("NX", "N0", "N1", "N2", "N3")
NODAL_PROBS = (0.05, 0.30, 0.35, 0.20, 0.10)

# one column of uniforms per component, so changing one component never shifts another's draws
_STREAMS = ("age_group", "age", "hr", "her2", "site", "nodal", "surgery", "mdfi", "planned", "lag",
            "death", "followup")


@dataclass(frozen=True)
class SimulatedRegistry:
    """A simulated registry frame and the truth that generated it.

    Attributes
    ----------
    frame : DataFrame
        One row per patient with the loaded-registry columns the bias checks use:
        ``patient_id, center, age, group, intervention_months, dead, os_months, pdrs_months,
        entry_months, mdfi_months, age_lt_55, hr_positive, her2_positive, mdfi_gt_24, site,
        nodal_status`` (types as :func:`imet_core.io.load_registry` gives them).
    hr_intervention, hr_mdfi : float
        True hazard ratios (see the module docstring).
    covariate_log_hr, assignment_log_or : dict
        The other effects of the model.
    seed, n : int
    """

    frame: pd.DataFrame
    hr_intervention: float
    hr_mdfi: float
    covariate_log_hr: dict = field(default_factory=dict)
    assignment_log_or: dict = field(default_factory=dict)
    seed: int = 0
    n: int = 0


def simulate_registry(n: int = 1000, seed: int = 0, *, hr_intervention: float = 0.6, hr_mdfi: float = 0.8,
                      intervention_share: float = 0.55, max_intervention_lag: float = 6.0,
                      covariate_log_hr: Mapping[str, float] | None = None,
                      assignment_log_or: Mapping[str, float] | None = None,
                      median_survival: float = 36.0, followup: Sequence[float] = (12.0, 84.0),
                      mdfi_median: float = 36.0, mdfi_sdlog: float = 0.8) -> SimulatedRegistry:
    """Simulate an IMET-like registry with known effects (see the module docstring).

    Parameters
    ----------
    n, seed : int
        Patients and seed of ``numpy.random.default_rng``.
    hr_intervention : float
        True hazard ratio of having had the intervention (from the intervention on).
    hr_mdfi : float
        True post-metastasis hazard ratio of MDFI > 24 months.
    intervention_share : float
        Probability of being planned for an intervention at covariate values 0.
    max_intervention_lag : float
        Interventions are planned uniformly up to this many months after the metastasis.
    covariate_log_hr, assignment_log_or : mapping, optional
        Effects on the hazard and on the planning (keys from :data:`SIMULATION_TERMS`);
        defaults :data:`DEFAULT_COVARIATE_LOG_HR` and :data:`DEFAULT_ASSIGNMENT_LOG_OR`.
        Pass ``{}`` for none.
    median_survival : float
        Median survival after metastasis at covariate values 0 without intervention (months).
    followup : (float, float)
        Administrative follow-up after the metastasis, uniform on this range (months).
    mdfi_median, mdfi_sdlog : float
        Log-normal MDFI (months).

    Returns
    -------
    SimulatedRegistry
    """
    cov_hr = dict(DEFAULT_COVARIATE_LOG_HR if covariate_log_hr is None else covariate_log_hr)
    assign = dict(DEFAULT_ASSIGNMENT_LOG_OR if assignment_log_or is None else assignment_log_or)
    unknown = sorted((set(cov_hr) | set(assign)) - set(SIMULATION_TERMS))
    if unknown:
        raise ValueError(f"unknown simulation term(s): {', '.join(unknown)}; allowed: {', '.join(SIMULATION_TERMS)}")
    n = int(n)
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    u = dict(zip(_STREAMS, rng.random((len(_STREAMS), n))))
    age_lt_55 = u["age_group"] < 0.45
    age = np.where(age_lt_55, np.floor(28 + 27 * u["age"]), np.floor(55 + 31 * u["age"]))
    hr_positive = u["hr"] < 0.75
    her2_positive = ~hr_positive | (u["her2"] < 0.30)
    site = np.asarray(SITE_LEVELS, dtype=object)[_categorical(u["site"], SITE_PROBS)]
    nodal = np.asarray(NODAL_LEVELS, dtype=object)[_categorical(u["nodal"], NODAL_PROBS)]
    surgery_days = np.round((0.3 + 1.2 * u["surgery"]) * MONTH_DAYS)
    mdfi = np.clip(mdfi_median * np.exp(mdfi_sdlog * special.ndtri(u["mdfi"])), 3.1, 240.0)
    mdfi_days = np.round(mdfi * MONTH_DAYS)
    mdfi_months = mdfi_days / MONTH_DAYS
    terms = {
        "age_lt_55": age_lt_55, "hr_positive": hr_positive, "her2_positive": her2_positive,
        "mdfi_gt_24": mdfi_months > 24,
        "liver": np.isin(site, ["liver", "liver+bone", "multiple"]),
        "bone": np.isin(site, ["lung+bone", "liver+bone"]),
        "multiple": site == "multiple",
        "node_positive": np.isin(nodal, ["N1", "N2", "N3"]),
    }
    planned_logit = special.logit(intervention_share) + sum(b * terms[k] for k, b in assign.items())
    planned = u["planned"] < special.expit(planned_logit)
    lag = max_intervention_lag * (1 - u["lag"])  # in (0, max]
    linear = sum(b * terms[k] for k, b in cov_hr.items()) + math.log(hr_mdfi) * terms["mdfi_gt_24"]
    rate = math.log(2) / median_survival * np.exp(linear)
    # piecewise-exponential death time: unit exponential E spent at rate h1 until the planned
    # intervention, then at h1 * hr_intervention (inverse cumulative hazard)
    spent = -np.log1p(-u["death"])
    before = planned & (spent > rate * lag)
    death = np.where(before, lag + (spent - rate * lag) / (rate * hr_intervention),
                     spent / rate)
    death = np.where(planned & ~before, spent / rate, death)
    censor = followup[0] + (followup[1] - followup[0]) * u["followup"]
    dead = death <= censor
    pdrs_days = np.maximum(np.ceil(np.minimum(death, censor) * MONTH_DAYS), 1)
    lag_days = np.where(max_intervention_lag > 0, np.maximum(np.ceil(lag * MONTH_DAYS), 1), 0)
    it = planned & (lag_days < pdrs_days)
    entry_days = surgery_days + mdfi_days
    os_months = (entry_days + pdrs_days) / MONTH_DAYS
    pdrs_months = pdrs_days / MONTH_DAYS
    frame = pd.DataFrame({
        "patient_id": [f"SIM-{i + 1:05d}" for i in range(n)],
        "center": np.asarray([f"C{(i % 29) + 1:02d}" for i in range(n)], dtype=object),
        "age": age,
        "group": np.where(it, "IT", "ST").astype(object),
        "intervention_months": np.where(it, lag_days / MONTH_DAYS, np.nan),
        "dead": dead,
        "os_months": os_months,
        "pdrs_months": pdrs_months,
        "entry_months": os_months - pdrs_months,
        "mdfi_months": mdfi_months,
        "age_lt_55": age_lt_55,
        "hr_positive": hr_positive,
        "her2_positive": her2_positive,
        "mdfi_gt_24": mdfi_months > 24,
        "site": site,
        "nodal_status": nodal,
    })
    frame.attrs["form"] = "intervals"
    frame.attrs["source_name"] = f"simulated (n={n}, seed={seed})"
    return SimulatedRegistry(frame=frame, hr_intervention=float(hr_intervention), hr_mdfi=float(hr_mdfi),
                             covariate_log_hr=cov_hr, assignment_log_or=assign, seed=int(seed), n=n)


def registry_table(frame: pd.DataFrame, *, first_diagnosis: str = "2004-01-01") -> pd.DataFrame:
    """A simulated frame as a registry file in the contract's dates form (loadable by
    :func:`imet_core.io.load_registry`), e.g. to try the app's upload path with known truths.

    Diagnoses are spread one week apart from ``first_diagnosis``; every interval is the frame's
    whole number of days.  Receptors follow the flags (ER+ for ER/PR+ tumours, PR+ for two in
    three of them), menopause follows age (post from 50), the metastatic organs follow ``site``,
    and the intervention treats the lung for lung-only sites and the liver otherwise.
    """
    n = len(frame)
    start = np.datetime64(first_diagnosis, "D") + 7 * np.arange(n)
    entry_days = np.rint(frame["entry_months"].to_numpy(float) * MONTH_DAYS).astype("int64")
    mdfi_days = np.rint(frame["mdfi_months"].to_numpy(float) * MONTH_DAYS).astype("int64")
    pdrs_days = np.rint(frame["pdrs_months"].to_numpy(float) * MONTH_DAYS).astype("int64")
    lag = frame["intervention_months"].to_numpy(float)
    lag_days = np.where(np.isfinite(lag), np.rint(np.nan_to_num(lag) * MONTH_DAYS), 0).astype("int64")
    metastasis = start + entry_days
    site = frame["site"].to_numpy(dtype=object)
    it = (frame["group"] == "IT").to_numpy()
    hr_pos = frame["hr_positive"].to_numpy(bool)
    yes_no = lambda mask: np.where(mask, "yes", "no")  # noqa: E731
    iso = lambda days: pd.Series(days).dt.strftime("%Y-%m-%d").to_numpy()  # noqa: E731
    lung_only = np.isin(site, ["lung", "lung+bone"])
    return pd.DataFrame({
        "patient_id": frame["patient_id"].to_numpy(), "center": frame["center"].to_numpy(),
        "age": frame["age"].to_numpy(float).astype(int),
        "menopause": np.where(frame["age"].to_numpy(float) >= 50, "post", "pre"),
        "er": np.where(hr_pos, "positive", "negative"),
        "pr": np.where(hr_pos & (np.arange(n) % 3 != 0), "positive", "negative"),
        "her2": np.where(frame["her2_positive"].to_numpy(bool), "positive", "negative"),
        "nodal_status": frame["nodal_status"].to_numpy(),
        "mets_lung": yes_no(np.isin(site, ["lung", "lung+bone", "multiple"])),
        "mets_liver": yes_no(np.isin(site, ["liver", "liver+bone", "multiple"])),
        "mets_bone": yes_no(np.isin(site, ["lung+bone", "liver+bone"])),
        "mets_biopsy": "yes",
        "group": frame["group"].to_numpy(),
        "intervention": np.where(it, np.where(lung_only, "lung_metastasectomy", "liver_metastasectomy"), ""),
        "date_diagnosis": iso(start),
        "date_surgery": iso(metastasis - mdfi_days),
        "date_metastasis": iso(metastasis),
        "date_intervention": np.where(it, iso(metastasis + lag_days), ""),
        "date_last_followup": iso(metastasis + pdrs_days),
        "dead": yes_no(frame["dead"].to_numpy(bool)),
    })


def _categorical(u: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    cuts = np.cumsum(probs)
    cuts = cuts / cuts[-1]
    return np.minimum(np.searchsorted(cuts, u, side="right"), len(probs) - 1)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a simulated frame as CSV: yes/no columns as 0/1, missing as empty, floats exact.

    Floats are written with Python's shortest round-trip representation, so a reader (pandas or
    R's ``read.csv``) gets exactly the same doubles.
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == bool:
            out[column] = out[column].astype(int)
    out.to_csv(path, index=False, lineterminator="\n")


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write_csv(simulate_registry(args.n, args.seed).frame, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
