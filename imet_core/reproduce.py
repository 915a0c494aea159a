"""Reproduction report: every number the IMET paper publishes beside the same number computed.

:func:`reproduction_table` takes a loaded registry frame (:func:`imet_core.io.load_registry`)
and returns one row per number in ``data/reference/imet_published.json``: what the paper
says, what this registry gives with the core's functions (:mod:`imet_core.survival`,
:func:`imet_core.table_one.table_one`), the tolerance and whether it passes. The app's
"Paper check" page shows this table; ``python -m imet_core reproduce`` prints it and exits 1
when a target fails (2 for a bad argument or an unreadable file).

Targets and tolerances (issue 3, item 4)
----------------------------------------
- Counts (cohort, Table 1, intervention types, deaths, progressions, centres): exact.
- Ages: means and SDs equal at one decimal; range exact.
- Table 1 p-values, and the MDFI p-value: equal at two decimals (the core's Table 1 rules:
  Student t when Shapiro-Wilk accepts normality in both groups, else Wilcoxon rank-sum;
  Pearson chi-square without continuity correction).
- Hazard ratios: inside the published 95% CI, and within ``|log(HR / HR_published)| <= 0.15``
  for intervention vs systemic therapy (OS, adjusted OS, PDRS) or ``0.30`` for the others,
  except lung+bone, multiple sites and the HER2+ subgroup (inside the CI only). Their
  published CI limits: within ``|log ratio| <= HR tolerance + 0.20`` (0.70 for the CI-only
  ones), since a limit moves with its estimate.
- 5-year OS per arm: inside the published CI and within 0.03; 3-year PDRS within 0.05;
  survival CI limits within 0.05.
- Median follow-up per arm (and overall): within 3 months; its quartiles within 6 months.
  Median OS by MDFI <= 24 / > 24 months: within 10 / 20 months. MDFI quartiles: within 0.5
  months.
- Headline p-values within a factor of 2: the OS log-rank test (0.001), the OS Peto-Peto
  "Wilcoxon" test (rho = 1, 0.002), the follow-up Wilcoxon rank-sum test (0.002). Other
  p-values: the same conclusion at the 5% level ("<x" published values: below x).
- Receptor conversions on the metastasis biopsy: rates within 3 percentage points (the
  paper's denominators are inconsistent with its own counts, see ``data/README.md``),
  counts of negative-to-positive conversions exact.

Definitions (the paper leaves them implicit; these are the readings that make its numbers
consistent with each other): follow-up is the observed OS time of every patient
(diagnosis to death or last contact) summarised by median and quartiles (the paper's
"ranges" are IQRs); OS runs from diagnosis with no delayed entry, as the paper did; nodal
status N1-N3 are compared with N0 with NX (not assessable) left out; the liver and lung
subgroups are the paper's "liver metastases" (liver only or liver+bone, 99 patients) and
"lung metastases" (lung only or lung+bone, 84 patients); the single-organ hazard ratio 1.18
is that of the multi-organ patients against the single-organ ones (the direction consistent
with the paper's own site hazard ratios).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_PATH = REPO_ROOT / "data" / "reference" / "imet_published.json"
DEFAULT_DATA_PATH = REPO_ROOT / "data" / "imet_synthetic.csv"

TABLE_COLUMNS = ("key", "section", "quantity", "published", "computed", "tolerance", "rule", "lower", "upper", "passed")
"""Columns of :func:`reproduction_table`."""

HR_TOLERANCE_HEADLINE = 0.15
HR_TOLERANCE_OTHER = 0.30
CI_LIMIT_EXTRA = 0.20
CI_ONLY_LIMIT_TOLERANCE = 0.70
SURVIVAL_TOLERANCE_OS5 = 0.03
SURVIVAL_TOLERANCE_PDRS3 = 0.05
SURVIVAL_CI_TOLERANCE = 0.05
FOLLOW_UP_MEDIAN_TOLERANCE = 3.0
FOLLOW_UP_QUARTILE_TOLERANCE = 6.0
MDFI_QUARTILE_TOLERANCE = 0.5
MEDIAN_OS_TOLERANCE = {"mdfi_le_24": 10.0, "mdfi_gt_24": 20.0}
P_FACTOR = 2.0
SIGNIFICANCE_LEVEL = 0.05
CONVERSION_RATE_TOLERANCE = 0.03


# ---------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One published number and the rule that decides whether a computed one reproduces it.

    Attributes
    ----------
    key : str
        Stable identifier, also the key of the computed statistic.
    section, quantity : str
        Where the number is in the paper and what it is.
    published : float or str
        The paper's value (text for dates and "<0.001"-style values).
    rule : str
        ``exact``, ``round1``, ``round2``, ``abs``, ``hr``, ``ci_only``, ``log``, ``factor``,
        ``significance``, ``below``, ``not_before``, ``not_after`` or ``same_text``.
    tolerance : str
        The rule in words.
    lower, upper : float or None
        The interval a computed number must fall in (None for text rules); ``upper`` is
        exclusive for ``round*`` and ``below`` rules.
    scale : str
        ``linear`` or ``log``: how a calibration measures the distance to the published value.
    """

    key: str
    section: str
    quantity: str
    published: Any
    rule: str
    tolerance: str
    lower: float | None = None
    upper: float | None = None
    scale: str = "linear"

    def passes(self, computed: Any) -> bool:
        """Whether ``computed`` reproduces the published value under this target's rule."""
        if computed is None or (isinstance(computed, float) and math.isnan(computed)):
            return False
        if self.rule == "same_text":
            return str(computed) == str(self.published)
        if self.rule == "not_before":
            return str(computed) >= str(self.published)
        if self.rule == "not_after":
            return str(computed) <= str(self.published)
        value = float(computed)
        if self.rule in ("round1", "round2", "below"):
            return self.lower <= value < self.upper
        return self.lower - 1e-12 <= value <= self.upper + 1e-12

    def distance(self, computed: Any) -> float:
        """Signed distance to the published value in units of the allowed one (|d| <= 1 passes).

        Used by the calibration (``imet_core.synthetic calibrate``) to rank candidate
        cohorts; NaN for text rules.
        """
        if self.lower is None or computed is None:
            return math.nan
        value = float(computed)
        if math.isnan(value):
            return math.inf
        lo, hi = self.lower, self.upper
        centre = self.published if isinstance(self.published, (int, float)) else (lo + hi) / 2
        centre = min(max(float(centre), lo), hi)
        if self.scale == "log":
            value, lo, hi, centre = (math.log(max(x, 1e-300)) for x in (value, max(lo, 1e-12), hi, max(centre, 1e-12)))
        if value >= centre:
            return (value - centre) / (hi - centre) if hi > centre else (0.0 if value == centre else math.inf)
        return (value - centre) / (centre - lo) if centre > lo else -math.inf


def _exact(key, section, quantity, value) -> Target:
    return Target(key, section, quantity, value, "exact", "exact", float(value), float(value))


def _rounded(key, section, quantity, value, decimals: int) -> Target:
    half = 0.5 * 10.0**-decimals
    rule = f"round{decimals}"
    return Target(key, section, quantity, value, rule, f"equal at {decimals} decimal{'s' if decimals > 1 else ''}",
                  float(value) - half, float(value) + half, "log" if decimals == 2 and value > 0 else "linear")


def _absolute(key, section, quantity, value, tol, ci: Sequence[float] | None = None) -> Target:
    lo, hi = float(value) - tol, float(value) + tol
    words = f"within {tol:g}"
    if ci is not None:
        lo, hi = max(lo, float(ci[0])), min(hi, float(ci[1]))
        words += f" and inside the published CI {ci[0]:g}-{ci[1]:g}"
    return Target(key, section, quantity, value, "abs", words, lo, hi)


def _hazard_ratio(key, section, quantity, hr, ci, tol: float | None) -> Target:
    lo, hi = float(ci[0]), float(ci[1])
    if tol is None:
        return Target(key, section, quantity, hr, "ci_only", f"inside the published CI {lo:g}-{hi:g}", lo, hi, "log")
    return Target(key, section, quantity, hr, "hr", f"inside the published CI {lo:g}-{hi:g} and |log ratio| <= {tol:g}",
                  max(lo, hr * math.exp(-tol)), min(hi, hr * math.exp(tol)), "log")


def _log_ratio(key, section, quantity, value, tol) -> Target:
    return Target(key, section, quantity, value, "log", f"|log ratio| <= {tol:g}", value * math.exp(-tol), value * math.exp(tol), "log")


def _p_value(key, section, quantity, value, headline: bool = False) -> Target:
    if isinstance(value, str):
        bound = float(value.lstrip("<").strip())
        return Target(key, section, quantity, value, "below", f"below {bound:g}", 0.0, bound, "log")
    value = float(value)
    if headline:
        return Target(key, section, quantity, value, "factor", f"within a factor of {P_FACTOR:g}",
                      value / P_FACTOR, value * P_FACTOR, "log")
    if value < SIGNIFICANCE_LEVEL:
        return Target(key, section, quantity, value, "below", f"significant (below {SIGNIFICANCE_LEVEL:g}) as published",
                      0.0, SIGNIFICANCE_LEVEL, "log")
    return Target(key, section, quantity, value, "significance", f"not significant (at least {SIGNIFICANCE_LEVEL:g}) as published",
                  SIGNIFICANCE_LEVEL, 1.0, "log")


def _hr_block(prefix: str, section: str, label: str, entry: Mapping[str, Any], tol: float | None, p_rule: str = "significance",
              suffix: str = "") -> list[Target]:
    """Targets of one published hazard ratio: estimate, CI limits, p."""
    hr, ci, p = entry[f"hr{suffix}"], entry[f"ci{suffix}"], entry.get(f"p{suffix}")
    limit_tol = CI_ONLY_LIMIT_TOLERANCE if tol is None else tol + CI_LIMIT_EXTRA
    out = [
        _hazard_ratio(f"{prefix}.hr", section, f"{label}: hazard ratio", hr, ci, tol),
        _log_ratio(f"{prefix}.ci_lower", section, f"{label}: 95% CI lower limit", ci[0], limit_tol),
        _log_ratio(f"{prefix}.ci_upper", section, f"{label}: 95% CI upper limit", ci[1], limit_tol),
    ]
    if p is not None:
        out.append(_p_value(f"{prefix}.p", section, f"{label}: p ({p_rule})", p, headline=False))
    return out


TABLE2_KEYS = {
    "intervention (IT vs ST)": ("intervention", ("it",), "it"),
    "MDFI > 24 months": ("mdfi_gt_24", ("mdfi_gt_24",), "mdfi_gt_24"),
    "age < 55": ("age_lt_55", ("age_lt_55",), "age_lt_55"),
    "pre-menopausal": ("premenopausal", ("premenopausal",), "premenopausal"),
    "ER+/PR+": ("hr_positive", ("hr_positive",), "hr_positive"),
    "HER2+": ("her2_positive", ("her2_positive",), "her2_positive"),
    "mastectomy (ref segmental)": ("mastectomy", ("mastectomy",), "mastectomy"),
    "site liver (ref lung)": ("site_liver", "site", "site_liver"),
    "site lung+bone (ref lung)": ("site_lung_bone", "site", "site_lung_bone"),
    "site liver+bone (ref lung)": ("site_liver_bone", "site", "site_liver_bone"),
    "site multiple (ref lung)": ("site_multiple", "site", "site_multiple"),
    "N1 (ref N0)": ("nodal_n1", "nodal", "nodal_n1"),
    "N2 (ref N0)": ("nodal_n2", "nodal", "nodal_n2"),
    "N3 (ref N0)": ("nodal_n3", "nodal", "nodal_n3"),
}
"""Table 2 term -> (key stem, model covariates or model name, covariate reported)."""

SITE_COVARIATES = ("site_liver", "site_lung_bone", "site_liver_bone", "site_multiple")
NODAL_COVARIATES = ("nodal_n1", "nodal_n2", "nodal_n3")
CI_ONLY_TERMS = {"site lung+bone (ref lung)", "site multiple (ref lung)"}

TABLE1_VARIABLES = {
    "postmenopausal": ("menopause", {"post": "post"}),
    "er_or_pr_positive": ("hr_positive", {"yes": True}),
    "her2_positive": ("her2_positive", {"yes": True}),
    "breast_surgery": ("breast_surgery", {"mastectomy": "mastectomy", "segmental_mastectomy": "segmental"}),
    "axillary_surgery": ("axillary_surgery", {"SLNB": "SLNB", "ALND": "ALND"}),
    "histology": ("histology", {"IDC": "IDC", "ILC": "ILC", "IDC+ILC": "IDC+ILC", "metaplastic": "metaplastic", "other": "other"}),
    "nodal_status": ("nodal_status", {k: k for k in ("NX", "N0", "N1", "N2", "N3")}),
    "metastasis_biopsy": ("mets_biopsy", {"yes": True}),
    "metastasis_site": ("site", {"lung": "lung", "liver": "liver", "lung+liver+bone": "multiple", "lung+bone": "lung+bone", "liver+bone": "liver+bone"}),
}
"""Published Table 1 entry -> (frame column, published level -> frame value)."""

INTERVENTION_CODES = {"lung_metastasectomy": "lung_metastasectomy", "liver_metastasectomy": "liver_metastasectomy",
                      "liver_rf_ablation": "liver_rfa", "lung_radiosurgery": "lung_radiosurgery",
                      "liver_radiosurgery": "liver_radiosurgery", "liver_tare": "liver_tare"}


def load_published(path: str | Path | None = None) -> dict[str, Any]:
    """The paper's numbers (default ``data/reference/imet_published.json``)."""
    return json.loads(Path(path or PUBLISHED_PATH).read_text(encoding="utf-8"))


def build_targets(published: Mapping[str, Any]) -> list[Target]:
    """Every number of the published-numbers file as a :class:`Target`, in the file's order.

    Parameters
    ----------
    published : mapping
        Contents of ``imet_published.json``.

    Returns
    -------
    list of Target
    """
    t: list[Target] = []
    c = published["cohort"]
    sec = "Cohort"
    t += [_exact("cohort.n", sec, "patients", c["n"]), _exact("cohort.n_IT", sec, "IT patients", c["n_IT"]),
          _exact("cohort.n_ST", sec, "ST patients", c["n_ST"]), _exact("cohort.centers", sec, "centres", c["centers"])]
    first, last = c["metastasis_diagnosis_window"]
    t += [Target("cohort.window_first", sec, "first metastasis diagnosis (month)", first, "not_before", f"not before {first}"),
          Target("cohort.window_last", sec, "last metastasis diagnosis (month)", last, "not_after", f"not after {last}")]
    t += [_rounded("cohort.age_mean", sec, "mean age (years)", c["age_mean"], 1), _rounded("cohort.age_sd", sec, "SD of age (years)", c["age_sd"], 1),
          _exact("cohort.age_min", sec, "youngest patient (years)", c["age_min"]), _exact("cohort.age_max", sec, "oldest patient (years)", c["age_max"]),
          _exact("cohort.postmenopausal_n", sec, "postmenopausal patients", c["postmenopausal_n"])]
    t += [_exact("cohort.excluded_triple_negative", sec, "triple-negative primaries (excluded by the study)", 0),
          _exact("cohort.excluded_de_novo", sec, "MDFI <= 3 months, i.e. not metachronous (excluded by the study)", 0)]

    t1 = published["table1"]
    sec = "Table 1"
    for arm in ("IT", "ST"):
        t += [_rounded(f"table1.age.{arm}.mean", sec, f"age mean, {arm}", t1["age"][arm]["mean"], 1),
              _rounded(f"table1.age.{arm}.sd", sec, f"age SD, {arm}", t1["age"][arm]["sd"], 1)]
    t += [_rounded("table1.age.p", sec, "age: p", t1["age"]["p"], 2),
          Target("table1.age.test", sec, "age: test used", t1["age"]["test"], "same_text", "same test")]
    for name, (_, levels) in TABLE1_VARIABLES.items():
        entry = t1[name]
        if "levels" in entry:
            for level in entry["levels"]:
                for arm in ("IT", "ST"):
                    t.append(_exact(f"table1.{name}.{level}.{arm}", sec, f"{name} {level}, {arm}", entry["levels"][level][arm]))
        else:
            for arm in ("IT", "ST"):
                t.append(_exact(f"table1.{name}.{arm}", sec, f"{name}, {arm}", entry[arm]))
        t.append(_rounded(f"table1.{name}.p", sec, f"{name}: p", entry["p"], 2))
    for kind, count in t1["intervention_type_IT_only"].items():
        t.append(_exact(f"table1.intervention.{kind}", sec, f"intervention {kind} (IT)", count))

    conv = published["receptor_conversion_at_metastasis"]
    sec = "Receptor conversion"
    for name, label in (("er_pos_to_neg", "ER+ primary negative on the metastasis"), ("her2_pos_to_neg", "HER2+ primary negative on the metastasis"),
                        ("her2_neg_to_pos", "HER2- primary positive on the metastasis")):
        k, n = conv[name]
        target = _absolute(f"conversion.{name}", sec, f"{label} (published {k}/{n})", k / n, CONVERSION_RATE_TOLERANCE)
        t.append(target)
    t += [_exact("conversion.er_neg_to_pos_n", sec, "ER- primaries positive on the metastasis", conv["er_neg_to_pos_n"]),
          _exact("conversion.pr_neg_to_pos_n", sec, "PR- primaries positive on the metastasis", conv["pr_neg_to_pos_n"]),
          _absolute("conversion.pr_pos_to_neg_pct", sec, "PR+ primaries negative on the metastasis (%)", conv["pr_pos_to_neg_pct"], 100 * CONVERSION_RATE_TOLERANCE)]

    fu = published["follow_up"]
    sec = "Follow-up"
    mf = fu["median_follow_up"]
    for arm, label in (("IT", "IT"), ("ST", "ST"), ("overall", "all patients")):
        rng_key = f"{arm}_range"
        t += [_absolute(f"follow_up.{arm}.median", sec, f"median follow-up, {label} (months)", mf[arm], FOLLOW_UP_MEDIAN_TOLERANCE),
              _absolute(f"follow_up.{arm}.q1", sec, f"follow-up lower quartile, {label}", mf[rng_key][0], FOLLOW_UP_QUARTILE_TOLERANCE),
              _absolute(f"follow_up.{arm}.q3", sec, f"follow-up upper quartile, {label}", mf[rng_key][1], FOLLOW_UP_QUARTILE_TOLERANCE)]
    t.append(_p_value("follow_up.p", sec, "follow-up IT vs ST: Wilcoxon rank-sum p", mf["p"], headline=True))
    md = fu["mdfi_median"]
    for arm in ("IT", "ST"):
        t += [_absolute(f"mdfi.{arm}.median", sec, f"median MDFI, {arm} (months)", md[arm], MDFI_QUARTILE_TOLERANCE),
              _absolute(f"mdfi.{arm}.q1", sec, f"MDFI lower quartile, {arm}", md[f"{arm}_range"][0], MDFI_QUARTILE_TOLERANCE),
              _absolute(f"mdfi.{arm}.q3", sec, f"MDFI upper quartile, {arm}", md[f"{arm}_range"][1], MDFI_QUARTILE_TOLERANCE)]
    t.append(_rounded("mdfi.p", sec, "MDFI IT vs ST: p (Table 1 rules)", md["p"], 2))
    for arm in ("IT", "ST"):
        t.append(_exact(f"progression.{arm}", sec, f"progressions, {arm}", fu["progression"][arm]))
    for arm in ("IT", "ST"):
        t.append(_exact(f"deaths.{arm}", sec, f"deaths, {arm}", fu["deaths"][arm]))

    os_ = published["overall_survival"]
    sec = "Overall survival"
    for arm in ("IT", "ST"):
        ci = os_["os_5y"][f"{arm}_ci"]
        t += [_absolute(f"os.5y.{arm}", sec, f"5-year OS, {arm}", os_["os_5y"][arm], SURVIVAL_TOLERANCE_OS5, ci),
              _absolute(f"os.5y.{arm}.ci_lower", sec, f"5-year OS {arm}: 95% CI lower limit (log)", ci[0], SURVIVAL_CI_TOLERANCE),
              _absolute(f"os.5y.{arm}.ci_upper", sec, f"5-year OS {arm}: 95% CI upper limit (log)", ci[1], SURVIVAL_CI_TOLERANCE)]
    t.append(_p_value("os.5y.p", sec, "OS IT vs ST: Peto-Peto (Wilcoxon) p", os_["os_5y"]["p"], headline=True))
    head = os_["hr_IT_vs_ST"]
    t += _hr_block("os.it", sec, "OS IT vs ST", {k: v for k, v in head.items() if k != "p"}, HR_TOLERANCE_HEADLINE)
    t.append(_p_value("os.it.p", sec, "OS IT vs ST: log-rank p", head["p"], headline=True))
    labels = {"age_lt_55": "age < 55", "er_or_pr_positive": "ER+ and/or PR+", "her2_positive": "HER2+"}
    for name, entry in os_["subgroup_hr_IT_vs_ST"].items():
        tol = None if name == "her2_positive" else HR_TOLERANCE_OTHER
        t += _hr_block(f"os.subgroup.{name}", sec, f"OS IT vs ST in {labels.get(name, name)}", entry, tol)
    t.append(_p_value("os.her2_hr_pos_vs_neg.p", sec, "OS HR+ vs HR- within HER2+: log-rank p", os_["her2_positive_hr_pos_vs_hr_neg_logrank_p"]))
    mo = os_["median_os_by_mdfi"]
    for name, label in (("mdfi_le_24", "MDFI <= 24 months"), ("mdfi_gt_24", "MDFI > 24 months")):
        t.append(_absolute(f"os.median.{name}", sec, f"median OS, {label} (months)", mo[name], MEDIAN_OS_TOLERANCE[name]))
    t.append(_p_value("os.median_by_mdfi.p", sec, "OS MDFI > 24 vs <= 24: log-rank p", mo["p"]))
    for name, p in os_["site_subgroup_IT_vs_ST_logrank_p"].items():
        t.append(_p_value(f"os.site_subgroup.{name}.p", sec, f"OS IT vs ST in {name} metastases: log-rank p", p))
    t += _hr_block("os.multi_organ", sec, "OS other (multi-organ) vs single-organ metastases", os_["single_organ_vs_other_hr"], HR_TOLERANCE_OTHER)

    pd_ = published["post_distant_recurrence_survival"]
    sec = "Post-metastasis survival (PDRS)"
    t += _hr_block("pdrs.it", sec, "PDRS IT vs ST", {k: v for k, v in pd_["hr_IT_vs_ST"].items() if k != "p"}, HR_TOLERANCE_HEADLINE)
    t.append(_p_value("pdrs.it.p", sec, "PDRS IT vs ST: log-rank p", pd_["hr_IT_vs_ST"]["p"]))
    for arm in ("IT", "ST"):
        ci = pd_["pdrs_3y"][f"{arm}_ci"]
        t += [_absolute(f"pdrs.3y.{arm}", sec, f"3-year PDRS, {arm}", pd_["pdrs_3y"][arm], SURVIVAL_TOLERANCE_PDRS3),
              _absolute(f"pdrs.3y.{arm}.ci_lower", sec, f"3-year PDRS {arm}: 95% CI lower limit (log)", ci[0], SURVIVAL_CI_TOLERANCE),
              _absolute(f"pdrs.3y.{arm}.ci_upper", sec, f"3-year PDRS {arm}: 95% CI upper limit (log)", ci[1], SURVIVAL_CI_TOLERANCE)]

    sec = "Table 2 (Cox, OS)"
    for row in published["table2_cox_os"]["rows"]:
        stem = TABLE2_KEYS[row["term"]][0]
        tol = None if row["term"] in CI_ONLY_TERMS else (HR_TOLERANCE_HEADLINE if stem == "intervention" else HR_TOLERANCE_OTHER)
        t += _hr_block(f"table2.{stem}", sec, f"{row['term']}, univariable", row, tol)
        if "hr_adj" in row:
            t += _hr_block(f"table2.{stem}.adj", sec, f"{row['term']}, adjusted", row, tol, suffix="_adj")
    return t


# ---------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------
HazardRatio = tuple  # (hr, hr_lower, hr_upper, p)


class Engine(Protocol):
    """What the statistics need: the core's functions, or a fast stand-in during calibration.

    ``cox`` returns, per covariate name, ``(hr, hr_lower, hr_upper, p)`` (Wald p, 95% CI);
    ``km`` an object with ``survival_at(t)``, ``ci_at(t)`` (log-scale limits) and
    ``median``; ``logrank_p`` the ``survdiff`` G-rho p-value; ``table_one`` the core's
    Table 1 (or None); ``rank_sum_p`` the IT-vs-ST Wilcoxon rank-sum p of a column.
    """

    def cox(self, time: np.ndarray, event: np.ndarray, covariates: Mapping[str, np.ndarray]) -> dict[str, HazardRatio]: ...

    def km(self, time: np.ndarray, event: np.ndarray) -> Any: ...

    def logrank_p(self, time: np.ndarray, event: np.ndarray, group: np.ndarray, rho: float = 0.0) -> float: ...

    def table_one(self, frame: pd.DataFrame) -> pd.DataFrame | None: ...

    def rank_sum_p(self, frame: pd.DataFrame, column: str) -> float: ...


class CoreEngine:
    """The core's own functions (:mod:`imet_core.survival`, :mod:`imet_core.table_one`)."""

    def cox(self, time, event, covariates):
        from imet_core.survival import cox_regression

        frame = pd.DataFrame({"_time": time, "_event": event, **covariates})
        summary = cox_regression(frame, time="_time", event="_event", covariates=list(covariates)).summary
        return {name: (float(row.hr), float(row.hr_lower), float(row.hr_upper), float(row.p)) for name, row in summary.iterrows()}

    def km(self, time, event):
        from imet_core.survival import kaplan_meier

        return kaplan_meier(time, event, conf_type="log")

    def logrank_p(self, time, event, group, rho=0.0):
        from imet_core.survival import logrank_test

        return logrank_test(time, event, group, rho=rho).p_value

    def table_one(self, frame):
        from imet_core.table_one import table_one

        return table_one(frame, group="group")

    def rank_sum_p(self, frame, column):
        from imet_core.table_one import table_one

        result = table_one(frame, group="group", variables=[column], nonnormal=[column])
        return float(result.loc[result["variable"] == column, "p_value"].iloc[0])


class _MissingCurve:
    """A Kaplan-Meier stand-in when the curve cannot be computed (every number NaN)."""

    median = math.nan

    def survival_at(self, t: float) -> float:
        return math.nan

    def ci_at(self, t: float) -> tuple[float, float]:
        return math.nan, math.nan


class SafeEngine:
    """Wraps an engine so that a statistic the registry cannot support becomes NaN.

    A user's registry may have a subgroup without deaths or a single arm; the affected rows
    of the reproduction then show no computed value and fail, and the others still appear.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def cox(self, time, event, covariates):
        try:
            return self.engine.cox(time, event, covariates)
        except Exception:  # noqa: BLE001 - any failure of this one fit: its numbers are missing
            return {name: (math.nan, math.nan, math.nan, math.nan) for name in covariates}

    def km(self, time, event):
        try:
            return self.engine.km(time, event)
        except Exception:  # noqa: BLE001
            return _MissingCurve()

    def logrank_p(self, time, event, group, rho=0.0):
        try:
            return float(self.engine.logrank_p(time, event, group, rho))
        except Exception:  # noqa: BLE001
            return math.nan

    def table_one(self, frame):
        try:
            return self.engine.table_one(frame)
        except Exception:  # noqa: BLE001
            return None

    def rank_sum_p(self, frame, column):
        try:
            return float(self.engine.rank_sum_p(frame, column))
        except Exception:  # noqa: BLE001
            return math.nan


def model_covariates(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The 0/1 covariates of the paper's models, as float arrays (NaN where unknown).

    Returns
    -------
    dict
        ``it``, ``mdfi_gt_24``, ``age_lt_55``, ``premenopausal``, ``hr_positive``,
        ``her2_positive``, ``mastectomy`` (NaN when the breast surgery is unknown),
        ``site_liver``, ``site_lung_bone``, ``site_liver_bone``, ``site_multiple`` (reference
        lung only), ``nodal_n1``..``nodal_n3`` (reference N0; NaN for NX), ``multi_organ``
        (1 unless the site is lung only or liver only).
    """
    as_float = lambda values: np.asarray(values, dtype=float)  # noqa: E731
    site = frame["site"].to_numpy(dtype=object)
    nodal = frame["nodal_status"].to_numpy(dtype=object)
    surgery = frame["breast_surgery"]
    known_nodal = np.isin(nodal, ["N0", "N1", "N2", "N3"])
    out = {
        "it": as_float(frame["group"].to_numpy() == "IT"),
        "mdfi_gt_24": as_float(frame["mdfi_gt_24"]), "age_lt_55": as_float(frame["age_lt_55"]),
        "premenopausal": as_float(frame["menopause"].to_numpy() == "pre"),
        "hr_positive": as_float(frame["hr_positive"]), "her2_positive": as_float(frame["her2_positive"]),
        "mastectomy": np.where(surgery.isna().to_numpy(), np.nan, as_float(surgery.to_numpy() == "mastectomy")),
        "multi_organ": as_float(~np.isin(site, ["lung", "liver"])),
    }
    for name, level in zip(SITE_COVARIATES, ("liver", "lung+bone", "liver+bone", "multiple")):
        out[name] = as_float(site == level)
    for name, level in zip(NODAL_COVARIATES, ("N1", "N2", "N3")):
        out[name] = np.where(known_nodal, as_float(nodal == level), np.nan)
    return out


def _fit(engine: Engine, time: np.ndarray, dead: np.ndarray, cov: Mapping[str, np.ndarray], names: Sequence[str],
         rows: np.ndarray | None = None) -> dict[str, HazardRatio]:
    """Cox model on ``rows`` (default all) among those with every covariate known."""
    x = np.column_stack([cov[name] for name in names])
    keep = np.all(np.isfinite(x), axis=1)
    if rows is not None:
        keep &= rows
    return engine.cox(time[keep], dead[keep], {name: cov[name][keep] for name in names})


def _put_hr(out: dict, prefix: str, fit: Mapping[str, HazardRatio], covariate: str) -> None:
    out[f"{prefix}.hr"], out[f"{prefix}.ci_lower"], out[f"{prefix}.ci_upper"], out[f"{prefix}.p"] = fit[covariate]


def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    q = np.quantile(values, [0.25, 0.5, 0.75])  # type 7, R's default
    return float(q[0]), float(q[1]), float(q[2])


def survival_statistics(frame: pd.DataFrame, engine: Engine) -> dict[str, float]:
    """The survival numbers of the paper computed on a loaded frame (keys as in :func:`build_targets`)."""
    cov = model_covariates(frame)
    group = frame["group"].to_numpy(dtype=object)
    it = group == "IT"
    os_t, pdrs_t = frame["os_months"].to_numpy(float), frame["pdrs_months"].to_numpy(float)
    dead = frame["dead"].to_numpy(float)
    out: dict[str, float] = {}

    # overall survival (from diagnosis, no delayed entry, as the paper), IT vs ST
    _put_hr(out, "os.it", _fit(engine, os_t, dead, cov, ["it"]), "it")
    out["os.it.p"] = engine.logrank_p(os_t, dead, group)
    out["os.5y.p"] = engine.logrank_p(os_t, dead, group, rho=1.0)
    for arm, mask in (("IT", it), ("ST", ~it)):
        km = engine.km(os_t[mask], dead[mask])
        out[f"os.5y.{arm}"] = float(km.survival_at(60.0))
        out[f"os.5y.{arm}.ci_lower"], out[f"os.5y.{arm}.ci_upper"] = (float(x) for x in km.ci_at(60.0))
        kmp = engine.km(pdrs_t[mask], dead[mask])
        out[f"pdrs.3y.{arm}"] = float(kmp.survival_at(36.0))
        out[f"pdrs.3y.{arm}.ci_lower"], out[f"pdrs.3y.{arm}.ci_upper"] = (float(x) for x in kmp.ci_at(36.0))
    for name, column in (("age_lt_55", "age_lt_55"), ("er_or_pr_positive", "hr_positive"), ("her2_positive", "her2_positive")):
        _put_hr(out, f"os.subgroup.{name}", _fit(engine, os_t, dead, cov, ["it"], rows=cov[column] == 1), "it")
    her2 = cov["her2_positive"] == 1
    out["os.her2_hr_pos_vs_neg.p"] = engine.logrank_p(os_t[her2], dead[her2], cov["hr_positive"][her2])
    gt24 = cov["mdfi_gt_24"] == 1
    out["os.median.mdfi_le_24"] = float(engine.km(os_t[~gt24], dead[~gt24]).median)
    out["os.median.mdfi_gt_24"] = float(engine.km(os_t[gt24], dead[gt24]).median)
    out["os.median_by_mdfi.p"] = engine.logrank_p(os_t, dead, gt24)
    site = frame["site"].to_numpy(dtype=object)
    for name, levels in (("liver", ("liver", "liver+bone")), ("lung", ("lung", "lung+bone"))):
        mask = np.isin(site, levels)
        out[f"os.site_subgroup.{name}.p"] = engine.logrank_p(os_t[mask], dead[mask], group[mask])
    _put_hr(out, "os.multi_organ", _fit(engine, os_t, dead, cov, ["multi_organ"]), "multi_organ")

    # post-metastasis survival
    _put_hr(out, "pdrs.it", _fit(engine, pdrs_t, dead, cov, ["it"]), "it")
    out["pdrs.it.p"] = engine.logrank_p(pdrs_t, dead, group)

    # Table 2: univariable models (site and nodal status as one model each) and the adjusted model
    joint = {"site": _fit(engine, os_t, dead, cov, SITE_COVARIATES), "nodal": _fit(engine, os_t, dead, cov, NODAL_COVARIATES)}
    for stem, model, covariate in TABLE2_KEYS.values():
        fit = joint[model] if isinstance(model, str) else _fit(engine, os_t, dead, cov, model)
        _put_hr(out, f"table2.{stem}", fit, covariate)
    adjusted = _fit(engine, os_t, dead, cov, ["it", "mdfi_gt_24", *SITE_COVARIATES])
    for stem, covariate in (("intervention", "it"), ("mdfi_gt_24", "mdfi_gt_24"), ("site_liver", "site_liver"),
                            ("site_lung_bone", "site_lung_bone"), ("site_liver_bone", "site_liver_bone"), ("site_multiple", "site_multiple")):
        _put_hr(out, f"table2.{stem}.adj", adjusted, covariate)

    # follow-up (observed OS time of every patient) and MDFI: quartiles and rank-sum tests
    for arm, mask in (("IT", it), ("ST", ~it), ("overall", np.ones_like(it))):
        out[f"follow_up.{arm}.q1"], out[f"follow_up.{arm}.median"], out[f"follow_up.{arm}.q3"] = _quartiles(os_t[mask])
    mdfi = frame["mdfi_months"].to_numpy(float)
    for arm, mask in (("IT", it), ("ST", ~it)):
        out[f"mdfi.{arm}.q1"], out[f"mdfi.{arm}.median"], out[f"mdfi.{arm}.q3"] = _quartiles(mdfi[mask])
    out["follow_up.p"] = engine.rank_sum_p(frame, "os_months")
    out["mdfi.p"] = engine.rank_sum_p(frame, "mdfi_months")
    return out


def _month(value) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m")


def cohort_statistics(frame: pd.DataFrame, published: Mapping[str, Any], engine: Engine) -> dict[str, Any]:
    """Counts, Table 1 (with the core's tests) and receptor conversions (keys as in :func:`build_targets`)."""
    f = frame
    it = (f["group"] == "IT").to_numpy()
    out: dict[str, Any] = {"cohort.n": len(f), "cohort.n_IT": int(it.sum()), "cohort.n_ST": int((~it).sum()),
                           "cohort.centers": int(f["center"].nunique())}
    out["cohort.window_first"] = _month(f["date_metastasis"].min()) if "date_metastasis" in f else None
    out["cohort.window_last"] = _month(f["date_metastasis"].max()) if "date_metastasis" in f else None
    age = f["age"].to_numpy(float)
    out.update({"cohort.age_mean": float(np.mean(age)), "cohort.age_sd": float(np.std(age, ddof=1)),
                "cohort.age_min": float(np.min(age)), "cohort.age_max": float(np.max(age)),
                "cohort.postmenopausal_n": int((f["menopause"] == "post").sum())})
    out["cohort.excluded_triple_negative"] = int(((f["er"] == "negative") & (f["pr"] == "negative") & (f["her2"] == "negative")).sum())
    out["cohort.excluded_de_novo"] = int((f["mdfi_months"] <= 3.0).sum())
    for arm, mask in (("IT", it), ("ST", ~it)):
        out[f"table1.age.{arm}.mean"] = float(np.mean(age[mask])) if mask.sum() else math.nan
        out[f"table1.age.{arm}.sd"] = float(np.std(age[mask], ddof=1)) if mask.sum() > 1 else math.nan
    t1 = engine.table_one(f)
    p_of = {}
    if t1 is not None:
        for variable, block in t1.groupby("variable", sort=False):
            p_of[variable] = float(block["p_value"].iloc[0])
        tests = t1.loc[t1["variable"] == "age", "test"]
        out["table1.age.test"] = str(tests.iloc[0]) if len(tests) else None
    out["table1.age.p"] = p_of.get("age")
    table1 = published["table1"]
    for name, (column, levels) in TABLE1_VARIABLES.items():
        values = f[column]
        entry = table1[name]
        if "levels" in entry:
            for level in entry["levels"]:
                for arm, mask in (("IT", it), ("ST", ~it)):
                    out[f"table1.{name}.{level}.{arm}"] = int((values[mask] == levels[level]).sum())
        else:
            wanted = next(iter(levels.values()))
            for arm, mask in (("IT", it), ("ST", ~it)):
                out[f"table1.{name}.{arm}"] = int((values[mask] == wanted).sum())
        out[f"table1.{name}.p"] = p_of.get(column)
    for kind, code in INTERVENTION_CODES.items():
        out[f"table1.intervention.{kind}"] = int(((f["intervention"] == code) & it).sum())

    def conversion(primary: str, met: str, start: str, end: str) -> tuple[int, int]:
        biopsied = f[met].notna() & (f[primary] == start)
        return int((biopsied & (f[met] == end)).sum()), int(biopsied.sum())

    for name, primary, met, start, end in (("er_pos_to_neg", "er", "er_met", "positive", "negative"),
                                           ("her2_pos_to_neg", "her2", "her2_met", "positive", "negative"),
                                           ("her2_neg_to_pos", "her2", "her2_met", "negative", "positive")):
        k, n = conversion(primary, met, start, end)
        out[f"conversion.{name}"] = k / n if n else math.nan
        out[f"_conversion.{name}.text"] = f"{k}/{n}"
    out["conversion.er_neg_to_pos_n"] = conversion("er", "er_met", "negative", "positive")[0]
    out["conversion.pr_neg_to_pos_n"] = conversion("pr", "pr_met", "negative", "positive")[0]
    k, n = conversion("pr", "pr_met", "positive", "negative")
    out["conversion.pr_pos_to_neg_pct"] = 100.0 * k / n if n else math.nan
    out["_conversion.pr_pos_to_neg_pct.text"] = f"{k}/{n}"
    dead = f["dead"].to_numpy(bool)
    progressed = f["progressed"].fillna(False).to_numpy(bool) if "progressed" in f else f["date_progression"].notna().to_numpy()
    for arm, mask in (("IT", it), ("ST", ~it)):
        out[f"deaths.{arm}"] = int(dead[mask].sum())
        out[f"progression.{arm}"] = int(progressed[mask].sum())
    return out


def reproduction_table(frame: pd.DataFrame, published: Mapping[str, Any] | None = None, engine: Engine | None = None) -> pd.DataFrame:
    """Every published number beside the number this registry gives, with tolerance and pass/fail.

    Parameters
    ----------
    frame : pandas.DataFrame
        A loaded registry frame (:func:`imet_core.io.load_registry`).
    published : mapping, optional
        The paper's numbers (default: ``data/reference/imet_published.json``).
    engine : Engine, optional
        Statistics engine (default: the core's functions). A statistic the registry cannot
        support (e.g. a Cox model on a subgroup without deaths) is reported as NaN and its
        row fails; the table is always complete.

    Returns
    -------
    pandas.DataFrame
        One row per published number, columns ``TABLE_COLUMNS``: ``key`` (stable id),
        ``section``, ``quantity``, ``published`` (number or text), ``computed`` (unrounded
        number, or text for months and test names; None when it cannot be computed),
        ``tolerance`` (the rule in words), ``rule`` (its code, see :class:`Target`),
        ``lower``/``upper`` (the accepted interval, NaN for text rules) and ``passed``
        (bool).
    """
    published = load_published() if published is None else published
    engine = SafeEngine(CoreEngine() if engine is None else engine)
    computed = {**cohort_statistics(frame, published, engine), **survival_statistics(frame, engine)}
    rows = []
    for target in build_targets(published):
        value = computed.get(target.key)
        rows.append({
            "key": target.key, "section": target.section, "quantity": target.quantity,
            "published": target.published, "computed": value, "tolerance": target.tolerance, "rule": target.rule,
            "lower": math.nan if target.lower is None else target.lower,
            "upper": math.nan if target.upper is None else target.upper,
            "passed": bool(target.passes(value)),
        })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


# ---------------------------------------------------------------------------------------
# Command line: python -m imet_core reproduce [--data FILE] [--json]
# ---------------------------------------------------------------------------------------
HELP = "check a registry against every number the IMET paper publishes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``reproduce`` subcommand."""
    parser.add_argument("--data", default=str(DEFAULT_DATA_PATH), metavar="FILE",
                        help="registry file (CSV, TSV, XLSX or Parquet; default: the embedded synthetic cohort)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON records instead of text")
    parser.add_argument("--published", default=str(PUBLISHED_PATH), metavar="FILE", help=argparse.SUPPRESS)


def _display(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != 0 and abs(v) < 0.001:
            return f"{v:.2e}"
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.1f}"
    return str(value)


def format_text(table: pd.DataFrame) -> str:
    """The reproduction table as aligned plain text with a one-line summary at the end."""
    header = ("section", "quantity", "published", "computed", "tolerance", "passed")
    rows = [[str(r.section), str(r.quantity), _display(r.published), _display(r.computed), str(r.tolerance), "PASS" if r.passed else "FAIL"]
            for r in table.itertuples()]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    failed = int((~table["passed"]).sum())
    lines.append("")
    lines.append(f"{len(table) - failed} of {len(table)} published numbers reproduced; {failed} failed.")
    return "\n".join(lines)


def format_markdown(table: pd.DataFrame) -> str:
    """The reproduction table as a Markdown table (one section heading per paper section)."""
    lines: list[str] = []
    for section, block in table.groupby("section", sort=False):
        lines += [f"**{section}**", "", "| quantity | published | computed | tolerance | passed |", "|---|---|---|---|---|"]
        cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731 - a pipe would end the Markdown cell
        lines += [f"| {cell(r.quantity)} | {cell(_display(r.published))} | {cell(_display(r.computed))} | {cell(r.tolerance)} | "
                  f"{'yes' if r.passed else '**no**'} |" for r in block.itertuples()]
        lines.append("")
    failed = int((~table["passed"]).sum())
    lines.append(f"{len(table) - failed} of {len(table)} published numbers reproduced; {failed} failed.")
    return "\n".join(lines)


def _json_records(table: pd.DataFrame) -> str:
    def clean(value):
        if isinstance(value, (np.integer,)):
            return int(value)
        if isinstance(value, (np.floating, float)):
            return None if math.isnan(float(value)) else float(value)
        if isinstance(value, (np.bool_, bool)):
            return bool(value)
        return value

    records = [{k: clean(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
    return json.dumps(records, indent=1)


def run(args: argparse.Namespace) -> int:
    """Run the ``reproduce`` subcommand: 0 all pass, 1 a target fails, 2 bad input."""
    from imet_core.io import RegistryError, load_registry

    data = Path(args.data)
    if not data.is_file():
        print(f"error: no registry file at {data}", file=sys.stderr)
        return 2
    try:
        published = load_published(args.published)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read the published numbers {args.published}: {exc}", file=sys.stderr)
        return 2
    try:
        frame = load_registry(data)
    except RegistryError as exc:
        problems = getattr(exc, "problems", [])
        first = problems[0] if problems else None
        detail = f" (first: {first})" if first is not None else ""
        print(f"error: {data.name} is not a valid registry: {len(problems)} problem(s){detail}", file=sys.stderr)
        return 2
    try:
        table = reproduction_table(frame, published)
    except Exception as exc:  # noqa: BLE001 - a registry the statistics cannot handle: one line, no traceback
        print(f"error: cannot compute the paper's numbers on {data.name}: {exc}", file=sys.stderr)
        return 2
    print(_json_records(table) if args.json else format_text(table))
    return 0 if bool(table["passed"].all()) else 1
