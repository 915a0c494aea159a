"""E-value: how strong an unmeasured confounder would have to be to explain an effect away.

VanderWeele TJ, Ding P. Sensitivity analysis in observational research: introducing the
E-value. *Ann Intern Med* 2017;167:268-74.  For a risk ratio RR (taken as 1/RR when RR < 1),

    E = RR + sqrt(RR * (RR - 1)),

the minimum strength of association, on the risk-ratio scale, that an unmeasured confounder
would need with both the treatment and the outcome, beyond the measured covariates, to move
the estimate to 1.  For the confidence interval the same formula is applied to the limit
closest to 1, and the E-value is 1 when the interval already contains 1.

A hazard ratio is first turned into an approximate risk ratio (VanderWeele & Ding 2017,
table 2; VanderWeele, *Biometrics* 2020;76:746-52):

* **rare outcome** (fewer than 15% of patients have the event by the end of follow-up):
  RR ≈ HR;
* **common outcome** (15% or more): RR ≈ (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)).

Death is common in a metastatic cohort (about a quarter to half of the IMET patients died), so
the square-root conversion is the one that usually applies; with ``outcome="auto"`` the choice
follows the observed event fraction.  The common-outcome conversion pulls the ratio towards 1,
so it gives the smaller, more cautious E-value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RARE_OUTCOME_LIMIT", "EValue", "e_value", "e_value_from_rr", "hr_to_rr"]

RARE_OUTCOME_LIMIT = 0.15
"""Event fraction below which an outcome counts as rare (VanderWeele & Ding 2017)."""


def e_value_from_rr(rr: float) -> float:
    """E-value of a risk ratio: RR + sqrt(RR (RR - 1)), with RR < 1 inverted first; NaN for NaN."""
    rr = float(rr)
    if not math.isfinite(rr) or rr <= 0:
        return math.inf if rr == math.inf or rr == 0 else math.nan
    if rr < 1:
        rr = 1 / rr
    return rr + math.sqrt(rr * (rr - 1))


def hr_to_rr(hr: float, outcome: str) -> float:
    """Approximate risk ratio of a hazard ratio: ``outcome`` is ``"rare"`` or ``"common"``."""
    hr = float(hr)
    if outcome == "rare":
        return hr
    if outcome == "common":
        if not math.isfinite(hr) or hr <= 0:
            return math.nan
        return (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))
    raise ValueError(f"outcome must be 'rare' or 'common', not {outcome!r}")


@dataclass(frozen=True)
class EValue:
    """E-value of a hazard ratio and of its confidence limit closest to 1.

    Attributes
    ----------
    hr, hr_lower, hr_upper : float
        The hazard ratio and its confidence interval.
    outcome : str
        ``"rare"`` (RR ≈ HR) or ``"common"`` (square-root conversion): the approximation used.
    event_fraction : float
        Share of patients with the event (NaN when not given).
    rr, rr_limit : float
        The approximate risk ratios of the HR and of the limit used.
    limit : str
        ``"upper"`` (HR < 1), ``"lower"`` (HR > 1), or ``"none"`` (the interval contains 1, or
        no interval).
    e_value : float
        E-value of the point estimate.
    e_value_ci : float
        E-value of the confidence limit closest to 1 (1 when the interval contains 1).
    note : str
        Why a value is NaN, or which approximation and why.
    """

    hr: float
    hr_lower: float
    hr_upper: float
    outcome: str
    event_fraction: float
    rr: float
    rr_limit: float
    limit: str
    e_value: float
    e_value_ci: float
    note: str


def e_value(hr: float, hr_lower: float = math.nan, hr_upper: float = math.nan, *,
            event_fraction: float | None = None, outcome: str = "auto") -> EValue:
    """E-value for a hazard ratio (VanderWeele & Ding 2017).

    Parameters
    ----------
    hr, hr_lower, hr_upper : float
        Hazard ratio and confidence limits (limits may be NaN: then ``e_value_ci`` is NaN).
    event_fraction : float, optional
        Share of patients who had the event (deaths / patients).  Decides the approximation when
        ``outcome="auto"``.
    outcome : {"auto", "rare", "common"}
        ``"auto"``: rare if ``event_fraction < 0.15``, common otherwise (and common, the
        cautious choice, when the fraction is not given).

    Returns
    -------
    EValue
    """
    if outcome not in ("auto", "rare", "common"):
        raise ValueError(f"outcome must be 'auto', 'rare' or 'common', not {outcome!r}")
    fraction = math.nan if event_fraction is None else float(event_fraction)
    if outcome == "auto":
        if math.isfinite(fraction):
            outcome = "rare" if fraction < RARE_OUTCOME_LIMIT else "common"
            why = (f"{fraction:.0%} of patients had the event, so the outcome is "
                   f"{'rare' if outcome == 'rare' else 'common'} (threshold {RARE_OUTCOME_LIMIT:.0%})")
        else:
            outcome = "common"
            why = "the event fraction is unknown, so the cautious common-outcome conversion is used"
    else:
        why = f"{outcome}-outcome conversion chosen by the caller"
    how = "RR ≈ HR" if outcome == "rare" else "RR ≈ (1 - 0.5^√HR) / (1 - 0.5^√(1/HR))"
    hr, lo, hi = float(hr), float(hr_lower), float(hr_upper)
    if not (math.isfinite(hr) and hr > 0):
        return EValue(hr, lo, hi, outcome, fraction, math.nan, math.nan, "none", math.nan, math.nan,
                      "No E-value: the hazard ratio is not available.")
    rr = hr_to_rr(hr, outcome)
    point = e_value_from_rr(rr)
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        limit, rr_limit, ci_value = "none", math.nan, math.nan
        extra = " No interval given, so no E-value for the confidence limit."
    elif lo <= 1 <= hi:
        limit, rr_limit, ci_value = "none", math.nan, 1.0
        extra = " The interval contains 1, so the E-value of the limit is 1."
    else:
        limit = "upper" if hr < 1 else "lower"
        rr_limit = hr_to_rr(hi if limit == "upper" else lo, outcome)
        ci_value = e_value_from_rr(rr_limit)
        extra = ""
    return EValue(hr=hr, hr_lower=lo, hr_upper=hi, outcome=outcome, event_fraction=fraction, rr=rr,
                  rr_limit=rr_limit, limit=limit, e_value=point, e_value_ci=ci_value,
                  note=f"{how}: {why}.{extra}")
