"""What every page shares: the current registry and selection, the banner, page headers and
presentation mode. Pages call ``context()`` and then draw."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from imet_core.subgroups import Selection
from ui.registry import Registry, current_registry

_CONTEXT = "_page_context"


@dataclass(frozen=True)
class Context:
    registry: Registry
    selection: Selection
    presentation: bool

    @property
    def frame(self):
        return self.registry.frame

    def describe(self) -> str:
        """'All patients · OS · IT vs ST' style one-liner for captions and footers."""
        return (f"{self.selection.subgroup.describe()} · {self.selection.endpoint_spec.short_label}"
                f" · {self.selection.comparison_label}")


def set_context(selection: Selection) -> None:
    st.session_state[_CONTEXT] = Context(registry=current_registry(), selection=selection,
                                         presentation=bool(st.session_state.get("present", False)))


def context() -> Context:
    ctx = st.session_state.get(_CONTEXT)
    if ctx is None:  # a page run on its own (tests): fall back to the defaults
        ctx = Context(registry=current_registry(), selection=Selection(), presentation=False)
    return ctx


def data_banner() -> None:
    """A clear banner whenever the synthetic cohort is loaded; the file name otherwise."""
    registry = current_registry()
    if registry.is_synthetic:
        st.info("**Synthetic data.** You are looking at a synthetic cohort generated to reproduce the "
                "IMET paper's published numbers. It contains no real patients. Upload your own registry "
                "on the Data page.", icon=":material/science:")
    else:
        st.caption(f":material/description: {registry.source} · {registry.n:,} patients · "
                   "kept in this browser session's memory only")


def header(title: str, question: str) -> None:
    """Page title and one line on what the page answers."""
    st.title(title)
    st.caption(question)


def apply_presentation_style(on: bool) -> None:
    """Presentation mode: larger type for a projector (sidebar collapses via the URL flag)."""
    if not on:
        return
    st.markdown(
        """<style>
        [data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.2rem; }
        h1 { font-size: 2.6rem !important; }
        [data-testid="stMetricValue"] { font-size: 2.4rem; }
        [data-testid="stDataFrame"] { font-size: 1.15rem; }
        </style>""",
        unsafe_allow_html=True,
    )


def small_note(text: str) -> None:
    st.caption(text)
