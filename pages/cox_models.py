"""Cox models: the paper's Table 2 for the current cohort and subgroup."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from imet_core.analysis import COX_CANDIDATES
from imet_core.figures import cox_forest_figure
from ui import fmt
from ui.charts import plotly_chart
from ui.exports import figure_downloads, table_downloads
from ui.page import context, header
from ui.views import view

ctx = context()
sel = ctx.selection
header("Cox models", f"Which factors go with {sel.endpoint_spec.short_label}, alone and together? "
       f"· {sel.subgroup.describe()}")

labels = {c.variable: c.label for c in COX_CANDIDATES}
left, right = st.columns([2, 1])
with left:
    rule = st.radio("Multivariable model", ["paper", "user"], horizontal=True, key="cox_rule",
                    persist_state="session",
                    format_func={"paper": "Paper's rule: univariable p < 0.05",
                                 "user": "Choose covariates"}.get)
    chosen = []
    if rule == "user":
        chosen = st.multiselect("Covariates", list(labels), default=["group", "mdfi_gt_24", "site"],
                                format_func=labels.get, key="cox_covariates", persist_state="session")
with right:
    site_ref = st.selectbox("Reference: metastasis site", ["lung", "liver", "lung+bone", "liver+bone", "multiple"],
                            key="cox_site_ref", persist_state="session")
    node_ref = st.selectbox("Reference: nodal status", ["N0", "N1", "N2", "N3"], key="cox_node_ref",
                            persist_state="session")

result = view("cox", ctx.registry, sel, model="paper" if rule == "paper" else chosen,
              references={"site": site_ref, "nodal_status": node_ref})
t = result.table
if t.empty:
    st.warning("No patient matches this selection.")
    st.stop()

# Table 2 and its notes sit above the charts but are drawn after them: the charts' data reach the
# browser first (it draws them while the table is still being made and sent).
table_area = st.container()
c1, c2 = (st.container(), st.container()) if ctx.presentation else st.columns(2)  # one chart per screen
with c1:
    st.markdown("**Univariable HRs**")
    uni_figure = cox_forest_figure(result, as_spec=True)
    plotly_chart(uni_figure, key="cox_uni", alt="Forest plot of univariable Cox hazard ratios")
    figure_downloads(uni_figure, name="cox_univariable", ctx=ctx)
with c2:
    st.markdown("**Adjusted HRs**")
    adj_figure = cox_forest_figure(result, adjusted=True, as_spec=True)
    plotly_chart(adj_figure, key="cox_adj", alt="Forest plot of adjusted Cox hazard ratios")
    figure_downloads(adj_figure, name="cox_adjusted", ctx=ctx)
table_downloads(t, name="table_two_numbers", ctx=ctx, label="Numbers")

display = pd.DataFrame({
    "Covariate": t["label"],
    "Level (vs reference)": [f"{lv} vs {ref}" if lv and lv not in ("Age < 55", "ER/PR+", "HER2+", "MDFI > 24 months")
                             else lv for lv, ref in zip(t["level_label"], t["reference_label"])],
    "HR (95% CI)": [fmt.hr_ci(h, lo, hi) for h, lo, hi in zip(t["hr"], t["hr_lower"], t["hr_upper"])],
    "p": t["p"].map(fmt.p_value),
    "HR adj (95% CI)": [fmt.hr_ci(h, lo, hi) for h, lo, hi in zip(t["hr_adj"], t["hr_adj_lower"], t["hr_adj_upper"])],
    "p adj": t["p_adj"].map(fmt.p_value),
    "PH test p": t["ph_p"].map(fmt.p_value),
    "PH": t["ph_flag"],
    "n / events": [f"{fmt.count(n)}/{fmt.count(e)}" for n, e in zip(t["n"], t["events"])],
    "Note": t["note"],
})
with table_area:
    st.dataframe(display, hide_index=True, height=36 * len(display) + 40,
                 column_config={"Note": st.column_config.TextColumn(width="large")})
    table_downloads(display, name="table_two", ctx=ctx, label="Table 2")
    model_text = ", ".join(labels[v] for v in result.model_variables) or "none"
    st.caption(f"Univariable Cox models (Efron ties), one per covariate. Multivariable model "
               f"({result.model_rule}): {model_text}; {result.model_n} patients, {result.model_events} events. "
               f"Proportional hazards: R's cox.zph test on scaled Schoenfeld residuals (KM time scale); "
               f"global p = {fmt.p_value(result.global_ph['p'])}. 'PH doubtful' means the hazard ratio changes "
               "over time: read the HR as an average and look at RMST on the Bias checks page.")
    for note in result.notes:
        st.caption(note)
