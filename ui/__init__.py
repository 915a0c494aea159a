"""Streamlit-side helpers shared by app.py and the pages: the loaded registry, the selection in
the sidebar and the URL, cached calls to the analysis core, and number formatting.

Everything statistical lives in ``imet_core``; this package only reads widgets, caches and draws.
"""
