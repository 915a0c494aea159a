"""Number formatting for display (the core never rounds; pages and exports call these)."""
from __future__ import annotations

import math


def is_number(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def p_value(p) -> str:
    """p as clinicians read it: '< 0.001', three decimals below 0.01, else two."""
    if not is_number(p):
        return "–"
    p = float(p)
    if p < 0.001:
        return "< 0.001"
    if p < 0.01:
        return f"{p:.3f}"
    return f"{p:.2f}"


def ratio(value, decimals: int = 2) -> str:
    return f"{float(value):.{decimals}f}" if is_number(value) else "–"


def hr_ci(hr, lower, upper, decimals: int = 2) -> str:
    """'0.44 (0.26–0.72)', or '–' when not estimable."""
    if not is_number(hr):
        return "–"
    return f"{ratio(hr, decimals)} ({ratio(lower, decimals)}–{ratio(upper, decimals)})"


def months(value, decimals: int = 1) -> str:
    return f"{float(value):.{decimals}f}" if is_number(value) else "not reached"


def months_ci(value, lower, upper, decimals: int = 1) -> str:
    """Median with CI: '62.0 (48.1–77.3)'; NR where not reached."""
    def one(v):
        return f"{float(v):.{decimals}f}" if is_number(v) else "NR"
    if not is_number(value):
        return "not reached" + (f" (lower limit {one(lower)})" if is_number(lower) else "")
    return f"{one(value)} ({one(lower)}–{one(upper)})"


def percent(value, decimals: int = 0) -> str:
    return f"{100 * float(value):.{decimals}f}%" if is_number(value) else "–"


def percent_ci(value, lower, upper, decimals: int = 0) -> str:
    """'90% (85–96)'."""
    if not is_number(value):
        return "–"
    lo = f"{100 * float(lower):.{decimals}f}" if is_number(lower) else "–"
    hi = f"{100 * float(upper):.{decimals}f}" if is_number(upper) else "–"
    return f"{100 * float(value):.{decimals}f}% ({lo}–{hi})"


def count(value) -> str:
    if not is_number(value):
        return "–"
    v = float(value)
    return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"


def p_equals(p, name: str = "p") -> str:
    """'p < 0.001' or 'p = 0.03' for running text and figure labels."""
    text = p_value(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"
