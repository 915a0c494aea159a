"""Subgroups: forest plot of the comparison's hazard ratio within each subgroup level."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from imet_core.figures import forest_figure
from imet_core.privacy import suppress_forest_table
from ui import fmt
from ui.charts import plotly_chart
from ui.exports import figure_downloads, table_downloads
from ui.page import context, header
from ui.published import published_subgroup_hrs
from ui.views import view

ctx = context()
sel = ctx.selection
header("Subgroups", f"Is the hazard ratio of {sel.comparison_label} the same in every subgroup? "
       f"· {sel.endpoint_spec.short_label} · {sel.subgroup.describe()}")
result = view("forest", ctx.registry, sel)
if result.note:
    st.info(result.note)
    st.stop()
if result.table.empty:
    st.warning("No patient matches this selection.")
    st.stop()

published = published_subgroup_hrs(ctx, sel)
small = fmt.suppression_threshold()  # small-cell suppression mode (None when off)
figure = forest_figure(result, published=published, font_size=20 if ctx.presentation else 16,
                       suppress_below=small, as_spec=True)
plotly_chart(figure, key="forest", alt=f"Forest plot of hazard ratios, {result.arm_a} vs {result.arm_b}, by subgroup")
figure_downloads(figure, name="forest_plot", ctx=ctx)
st.caption(f"Squares: HR of {result.arm_a} vs {result.arm_b} (reference) within each subgroup, 95% CI, "
           "area by number of events; labels give events/patients per arm. Solid line: no difference; "
           "dashed line: all patients. Interaction p: Wald test of the arm × subgroup terms in a "
           "Cox model. Many subgroups are shown: expect about one 'significant' interaction in 20 by "
           "chance alone." + (" Open diamonds: the IMET paper's published HRs." if published else ""))

t = result.table if small is None else suppress_forest_table(result.table, threshold=small)
display = pd.DataFrame({
    "Subgroup": t["variable_label"].where(t["variable"] != "all", ""),
    "Level": t["level_label"],
    f"{result.arm_a}: events/n": [f"{fmt.count(e)}/{fmt.count(n)}" for e, n in zip(t["events_a"], t["n_a"])],
    f"{result.arm_b}: events/n": [f"{fmt.count(e)}/{fmt.count(n)}" for e, n in zip(t["events_b"], t["n_b"])],
    "HR (95% CI)": [fmt.hr_ci(h, lo, hi) for h, lo, hi in zip(t["hr"], t["hr_lower"], t["hr_upper"])],
    "p": t["p"].map(fmt.p_value),
    "Interaction p": t["p_interaction"].map(fmt.p_value),
    "Note": t["note"],
})
st.dataframe(display, hide_index=True)
table_downloads(display, name="subgroups", ctx=ctx, label="Subgroup table")
table_downloads(t, name="forest_numbers", ctx=ctx, label="Numbers")
