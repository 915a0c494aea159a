"""A seeded random registry in the contract's intervals form, for tests that need any valid
registry of a chosen size (not the synthetic IMET cohort: no published numbers behind it)."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from imet_core.io import load_registry

_SITES = {  # (lung, liver, bone)
    "lung": (True, False, False), "liver": (False, True, False), "lung+bone": (True, False, True),
    "liver+bone": (False, True, True), "multiple": (True, True, False),
}


def random_registry_table(n: int, seed: int = 0) -> pd.DataFrame:
    """Raw registry rows (text-like values) in the intervals form."""
    rng = np.random.default_rng(seed)
    site = rng.choice(list(_SITES), size=n, p=[0.35, 0.3, 0.06, 0.18, 0.11])
    lung = np.array([_SITES[s][0] for s in site])
    liver = np.array([_SITES[s][1] for s in site])
    bone = np.array([_SITES[s][2] for s in site])
    group = np.where(rng.random(n) < 0.6, "IT", "ST")
    intervention = np.where(
        group == "IT",
        np.where(lung & ~liver, "lung_metastasectomy",
                 np.where(liver & ~lung, "liver_rfa", "liver_metastasectomy")),
        "")
    age = rng.integers(25, 85, n)
    er = np.where(rng.random(n) < 0.7, "positive", "negative")
    pr = np.where(rng.random(n) < 0.6, "positive", "negative")
    her2 = np.where((er == "negative") & (pr == "negative"), "positive",
                    np.where(rng.random(n) < 0.3, "positive", "negative"))
    mdfi = np.round(rng.gamma(2.0, 20.0, n) + 3.5, 2)
    hazard = 0.012 * np.where(group == "IT", 0.5, 1.0) * np.where(liver, 1.8, 1.0)
    pdrs_true = rng.exponential(1 / hazard)
    censor = rng.uniform(6, 90, n)
    pdrs = np.round(np.minimum(pdrs_true, censor), 2) + 0.01
    dead = pdrs_true < censor
    os_months = np.round(mdfi + pdrs + rng.uniform(0.3, 1.0, n), 2)
    frame = pd.DataFrame({
        "patient_id": [f"R{seed}-{i:06d}" for i in range(n)],
        "center": [f"C{c:02d}" for c in rng.integers(1, 30, n)],
        "age": age, "menopause": np.where(age >= 50, "post", "pre"),
        "er": er, "pr": pr, "her2": her2,
        "histology": rng.choice(["IDC", "ILC", "IDC+ILC", "other", ""], n, p=[0.9, 0.03, 0.03, 0.02, 0.02]),
        "nodal_status": rng.choice(["NX", "N0", "N1", "N2", "N3"], n, p=[0.07, 0.25, 0.33, 0.2, 0.15]),
        "breast_surgery": rng.choice(["mastectomy", "segmental", ""], n, p=[0.65, 0.34, 0.01]),
        "axillary_surgery": rng.choice(["SLNB", "ALND", ""], n, p=[0.25, 0.72, 0.03]),
        "mets_lung": np.where(lung, "yes", "no"), "mets_liver": np.where(liver, "yes", "no"),
        "mets_bone": np.where(bone, "yes", "no"),
        "mets_biopsy": np.where(rng.random(n) < 0.68, "yes", "no"),
        "group": group, "intervention": intervention,
        "dead": np.where(dead, "yes", "no"),
        "mdfi_months": mdfi, "os_months": os_months, "pdrs_months": pdrs,
    })
    return frame


def random_registry(n: int, seed: int = 0) -> pd.DataFrame:
    """A loaded (validated, derived-columns) registry frame of ``n`` random patients."""
    raw = random_registry_table(n, seed)
    buffer = io.BytesIO(raw.to_csv(index=False).encode())
    return load_registry(buffer, name=f"random_{n}_{seed}.csv")
