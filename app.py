"""IMET Explorer: Streamlit entry point.

Builds the navigation over the page files in ``pages/``; shared sidebar widgets live here.
"""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="IMET Explorer", page_icon=":material/monitoring:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
]

navigation = st.navigation(PAGES)
navigation.run()
