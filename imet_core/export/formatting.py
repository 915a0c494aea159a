"""Numbers as text for slides, reports and exported tables.

The same rules as the app's ``ui.fmt`` (the core cannot import the app): p-values as clinicians
read them, hazard ratios with two decimals, months with one, percentages without decimals.
"""
from __future__ import annotations

import math

__all__ = ["is_number", "p_value", "p_equals", "ratio", "hr_ci", "months_ci", "percent_ci", "count"]


def is_number(value: object) -> bool:
    """True for a finite number (NaN, None, text and infinities are not)."""
    try:
        return value is not None and not isinstance(value, str) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def p_value(p: object) -> str:
    """'< 0.001', three decimals below 0.01, else two; '–' when there is no p-value."""
    if not is_number(p):
        return "–"
    p = float(p)
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def p_equals(p: object, name: str = "p") -> str:
    """'p < 0.001' or 'p = 0.03' for running text."""
    text = p_value(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def ratio(value: object, decimals: int = 2) -> str:
    return f"{float(value):.{decimals}f}" if is_number(value) else "–"


def hr_ci(hr: object, lower: object, upper: object, decimals: int = 2) -> str:
    """'0.44 (0.26–0.72)', or '–' when not estimable."""
    if not is_number(hr):
        return "–"
    return f"{ratio(hr, decimals)} ({ratio(lower, decimals)}–{ratio(upper, decimals)})"


def months_ci(value: object, lower: object, upper: object, decimals: int = 1) -> str:
    """Median with CI, '62.0 (48.1–77.3)'; 'not reached' (NR) where the median is not reached."""
    def one(v: object) -> str:
        return f"{float(v):.{decimals}f}" if is_number(v) else "NR"
    if not is_number(value):
        return "not reached" + (f" (lower limit {one(lower)})" if is_number(lower) else "")
    return f"{one(value)} ({one(lower)}–{one(upper)})"


def percent_ci(value: object, lower: object, upper: object, decimals: int = 0) -> str:
    """'90% (85–96)'; '–' when there is no estimate."""
    if not is_number(value):
        return "–"
    lo = f"{100 * float(lower):.{decimals}f}" if is_number(lower) else "–"
    hi = f"{100 * float(upper):.{decimals}f}" if is_number(upper) else "–"
    return f"{100 * float(value):.{decimals}f}% ({lo}–{hi})"


def count(value: object) -> str:
    """'1,234'; '–' for a missing count; text (a suppressed count such as '<5') as it is."""
    if isinstance(value, str):
        return value
    if not is_number(value):
        return "–"
    v = float(value)
    return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"
