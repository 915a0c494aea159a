"""The shared sidebar: subgroup filters, endpoint and comparison, mirrored in the URL.

On a session's first run the URL's query string seeds the widgets (a copied link reproduces
the view; unknown or malformed parameters are ignored with a notice). On every run the
selection is written back to the URL, so the address bar always holds a shareable link, on
every page (Streamlit clears query parameters on page switches; we write them again).
"""
from __future__ import annotations

import streamlit as st

from imet_core.privacy import DEFAULT_THRESHOLD
from imet_core.subgroups import (
    COMPARISONS, ENDPOINTS, SITE_LABELS, SITE_LEVELS, SUBGROUP_KEYS, SUBGROUP_LABELS, Selection,
    SubgroupFilter,
)
from ui.fmt import SUPPRESS_KEY, THRESHOLD_KEY

TRI_LABELS = {"any": "Any", "yes": "Yes", "no": "No"}
APP_KEYS = ("present", "suppress")  # other link parameters the app owns (presentation mode,
# small-cell suppression: suppress=1 hides counts below 5, suppress=10 below 10)
_INIT = "_selection_initialised"
_NOTICES = "_link_notices"


def _seed_from_url() -> None:
    params = {key: st.query_params.get_all(key) for key in st.query_params.keys()}
    selection, notices = Selection.from_query_params(params, other_keys=APP_KEYS)
    _set_widgets(selection)
    st.session_state["present"] = str(params.get("present", ["0"])[-1]).lower() in ("1", "true", "yes")
    _seed_suppression(str(params.get("suppress", ["0"])[-1]).strip().lower(), notices)
    st.session_state[_NOTICES] = notices
    st.session_state[_INIT] = True


def _seed_suppression(value: str, notices: list[str]) -> None:
    """suppress=1 (or yes/true): threshold 5; suppress=N (2-100): threshold N; else off."""
    threshold = DEFAULT_THRESHOLD if value in ("1", "true", "yes") else None
    if threshold is None and value.isdigit() and 2 <= int(value) <= 100:
        threshold = int(value)
    elif threshold is None and value not in ("0", "", "false", "no"):
        notices.append(f"suppress={value} is not allowed (use 1, or a threshold from 2 to 100).")
    st.session_state[SUPPRESS_KEY] = threshold is not None
    st.session_state[THRESHOLD_KEY] = threshold or DEFAULT_THRESHOLD


def _set_widgets(selection: Selection) -> None:
    for key in SUBGROUP_KEYS:
        st.session_state[f"f_{key}"] = getattr(selection.subgroup, key)
    st.session_state["f_site"] = list(selection.subgroup.ordered_sites)
    st.session_state["f_endpoint"] = selection.endpoint
    st.session_state["f_compare"] = selection.comparison


def _reset() -> None:
    _set_widgets(Selection(SubgroupFilter()))


def sidebar_selection() -> Selection:
    """Draw the shared sidebar and return the current selection (also written to the URL)."""
    if not st.session_state.get(_INIT):
        _seed_from_url()
    with st.sidebar:
        st.markdown("### Subgroup")
        values = {}
        for key in SUBGROUP_KEYS:
            values[key] = st.segmented_control(
                SUBGROUP_LABELS[key]["name"], ["any", "yes", "no"], format_func=TRI_LABELS.get,
                required=True, key=f"f_{key}", width="stretch")
        sites = st.multiselect("Metastasis site", list(SITE_LEVELS), format_func=SITE_LABELS.get,
                               key="f_site", placeholder="All sites")
        st.markdown("### Analysis")
        endpoint = st.radio("Endpoint", list(ENDPOINTS), key="f_endpoint",
                            format_func=lambda k: ENDPOINTS[k].label,
                            help="OS counts from breast cancer diagnosis, as the paper does; PDRS "
                                 "counts from the diagnosis of metastasis.")
        comparison = st.selectbox("Compare", list(COMPARISONS), key="f_compare",
                                  format_func=lambda k: COMPARISONS[k].label)
        st.toggle("Suppress small counts", key=SUPPRESS_KEY,
                  help=f"Counts from 1 to {st.session_state.get(THRESHOLD_KEY, DEFAULT_THRESHOLD) - 1} "
                       f"are shown as <{st.session_state.get(THRESHOLD_KEY, DEFAULT_THRESHOLD)}, and "
                       "a count that would reveal one of them by subtraction as [c].")
        st.button("Reset filters", on_click=_reset, width="stretch")
    selection = Selection(
        subgroup=SubgroupFilter(**{k: (v or "any") for k, v in values.items()}, sites=frozenset(sites)),
        endpoint=endpoint or "os", comparison=comparison or "group")
    _write_url(selection)
    return selection


def presentation_mode() -> bool:
    return bool(st.session_state.get("present", False))


def _write_url(selection: Selection) -> None:
    params = selection.to_query_params()
    if presentation_mode():
        params["present"] = "1"
    if st.session_state.get(SUPPRESS_KEY):
        threshold = int(st.session_state.get(THRESHOLD_KEY, DEFAULT_THRESHOLD))
        params["suppress"] = "1" if threshold == DEFAULT_THRESHOLD else str(threshold)
    current = {key: st.query_params.get(key) for key in st.query_params.keys()}
    if current != params:
        st.query_params.from_dict(params)


def show_link_notices() -> None:
    """Tell the user once which link parameters were ignored."""
    notices = st.session_state.pop(_NOTICES, None)
    if notices:
        st.warning("Some parts of the link were not understood and were ignored: " + " ".join(notices))
