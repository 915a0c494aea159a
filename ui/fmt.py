"""Number formatting for display (the core never rounds; pages and exports call these).

In small-cell suppression mode (the sidebar's "Suppress small counts" toggle, ``suppress=`` in
the link) :func:`count` shows counts from 1 to threshold - 1 as "<5" (``imet_core.privacy``).
"""
from __future__ import annotations

import math

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from imet_core.privacy import DEFAULT_THRESHOLD, is_small_count, small_count_label

SUPPRESS_KEY = "suppress_small"
"""Session-state key of the sidebar's "Suppress small counts" toggle."""
THRESHOLD_KEY = "suppress_threshold"
"""Session-state key of the suppression threshold (default ``imet_core.privacy.DEFAULT_THRESHOLD``)."""
_SESSION = object()


def suppression_threshold() -> int | None:
    """This session's small-cell threshold when suppression mode is on, else None.

    Pass it on as ``suppress_below=`` to the figure builders and ``threshold=`` to the
    ``imet_core.privacy.suppress_*`` functions."""
    if get_script_run_ctx(suppress_warning=True) is None or not st.session_state.get(SUPPRESS_KEY):
        return None
    return int(st.session_state.get(THRESHOLD_KEY, DEFAULT_THRESHOLD))


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


def count(value, *, suppress_below=_SESSION) -> str:
    """'1,234'; '<5' for 1-4 in suppression mode (``suppress_below`` overrides the session's
    setting: an int threshold, or None for no suppression)."""
    if isinstance(value, str):  # already hidden by imet_core.privacy ("<5", "[c]")
        return value
    if not is_number(value):
        return "–"
    threshold = suppression_threshold() if suppress_below is _SESSION else suppress_below
    if threshold is not None and is_small_count(value, threshold):
        return small_count_label(threshold)
    v = float(value)
    return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"


def p_equals(p, name: str = "p") -> str:
    """'p < 0.001' or 'p = 0.03' for running text and figure labels."""
    text = p_value(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"
