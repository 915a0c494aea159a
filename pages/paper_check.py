"""Paper check: every number the IMET paper publishes beside the one computed from the loaded
cohort, with its tolerance."""
from __future__ import annotations

import streamlit as st

from ui.page import context, header
from ui.exports import table_downloads

ctx = context()
header("Paper check", "How closely does this cohort reproduce the numbers the IMET paper publishes?")
from imet_core.reproduce import reproduction_table  # noqa: E402


@st.cache_data(max_entries=8, show_spinner="Recomputing every published number…")
def _table(fingerprint: str):
    return reproduction_table(ctx.registry.frame)


try:
    table = _table(ctx.registry.fingerprint) if ctx.registry.is_synthetic else reproduction_table(ctx.registry.frame)
except (ValueError, KeyError) as error:  # a registry too unlike IMET (e.g. one arm only)
    st.warning(f"The paper's numbers cannot be recomputed for this registry: {error}")
    st.stop()
passed = int(table["passed"].sum()) if "passed" in table else 0
st.metric("Targets met", f"{passed} of {len(table)}")
if not ctx.registry.is_synthetic:
    st.caption("This compares your registry with the IMET paper; differences are expected for other cohorts.")
st.dataframe(table, hide_index=True)
table_downloads(table, name="paper_check", ctx=ctx, label="Reproduction table")
