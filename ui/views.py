"""Cached calls to the analysis core, keyed on (data fingerprint, selection, options).

The synthetic cohort's results go to ``st.cache_data`` (shared by every session: the data are
public). An upload's results stay in a small per-session cache in ``st.session_state`` so that
no other session can ever read them. Both caches are bounded.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Callable

import streamlit as st

from imet_core import analysis
from imet_core.subgroups import Selection
from ui.registry import Registry, default_registry

_VIEWS: dict[str, Callable[..., Any]] = {
    "survival": analysis.survival_view,
    "forest": analysis.forest_view,
    "cox": analysis.cox_view,
    "table_one": analysis.table_one_view,
    "overview": analysis.overview_view,
}
_SESSION_CACHE_SIZE = 48


def register(name: str, function: Callable[..., Any]) -> None:
    """Let another page (e.g. bias checks) cache its core view the same way."""
    _VIEWS[name] = function


def _encode(selection: Selection) -> str:
    return json.dumps(selection.to_query_params(), sort_keys=True)


def _decode(selection_key: str) -> Selection:
    selection, _ = Selection.from_query_params(json.loads(selection_key))
    return selection


@st.cache_data(max_entries=256, show_spinner=False)
def _shared(name: str, fingerprint: str, selection_key: str, options_key: str):
    registry = default_registry()
    return _VIEWS[name](registry.frame, _decode(selection_key), **json.loads(options_key))


def view(name: str, registry: Registry, selection: Selection, **options):
    """Compute (or fetch) the named view of ``registry`` for ``selection``."""
    selection_key = _encode(selection)
    options_key = json.dumps(options, sort_keys=True, default=list)
    if registry.is_synthetic:
        return _shared(name, registry.fingerprint, selection_key, options_key)
    cache: OrderedDict = st.session_state.setdefault("_view_cache", OrderedDict())
    key = (name, registry.fingerprint, selection_key, options_key)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    result = _VIEWS[name](registry.frame, selection, **options)
    cache[key] = result
    while len(cache) > _SESSION_CACHE_SIZE:
        cache.popitem(last=False)
    return result
