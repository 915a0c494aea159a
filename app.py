"""IMET Explorer: the Streamlit entry point.

Builds ``st.navigation`` over the page files in ``pages/`` and draws what every page shares:
the sidebar (subgroup filters, endpoint, comparison; mirrored in the URL), the data-source
banner, and presentation mode. Pages read the shared state through ``ui.page``.
"""
from __future__ import annotations

import streamlit as st

from ui import page as shared
from ui.sidebar import presentation_mode, show_link_notices, sidebar_selection

st.set_page_config(page_title="IMET Explorer", page_icon=":material/monitoring:", layout="wide",
                   initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "auto")

PAGES = {
    "Explore": [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("pages/survival.py", title="Survival", icon=":material/show_chart:"),
        st.Page("pages/subgroups.py", title="Subgroups", icon=":material/forest:"),
        st.Page("pages/cox_models.py", title="Cox models", icon=":material/functions:"),
        st.Page("pages/table_one.py", title="Table 1", icon=":material/table:"),
    ],
    "Check": [
        st.Page("pages/bias_checks.py", title="Bias checks", icon=":material/balance:"),
        st.Page("pages/paper_check.py", title="Paper check", icon=":material/fact_check:"),
    ],
    "Data": [
        st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    ],
}

navigation = st.navigation(PAGES)
selection = sidebar_selection()
with st.sidebar:
    st.divider()
    st.toggle("Presentation mode", key="present",
              help="Larger type, sidebar collapsed, one chart per screen: for a projector.")
shared.set_context(selection)
shared.apply_presentation_style(presentation_mode())
shared.data_banner()
show_link_notices()
navigation.run()
