"""Overview: the cohort, the current subgroup, and what each page answers."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from imet_core.privacy import suppress_summary_arms
from ui import fmt
from ui.exports import table_downloads
from ui.page import context, header
from ui.views import view

ctx = context()
sel = ctx.selection
header("IMET Explorer", "Survival after lung and/or liver metastases of breast cancer: "
       "intervention for metastases (IT) versus systemic therapy only (ST).")
result = view("overview", ctx.registry, sel)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Patients in the registry", fmt.count(result.cohort["n"]))
c2.metric("Deaths in the registry", fmt.count(result.cohort["n_events"]))
c3.metric("Centres", fmt.count(result.cohort.get("centers", 0)))
c4.metric("In the current subgroup", fmt.count(result.n), help=sel.subgroup.describe())

st.subheader(f"Current subgroup: {sel.subgroup.describe()}")
arms = result.arms.copy()
small = fmt.suppression_threshold()  # small-cell suppression mode (None when off)
shown = arms if small is None else suppress_summary_arms(arms, threshold=small)
arms_display = pd.DataFrame({
    "Patients": shown["n"].map(fmt.count),
    "Deaths": shown["events"].map(fmt.count),
    "Median follow-up, months [IQR]": [
        f"{fmt.months(m)} [{fmt.months(q1)}–{fmt.months(q3)}]" if fmt.is_number(m) else "–"
        for m, q1, q3 in zip(arms["median_follow_up"], arms["follow_up_q1"], arms["follow_up_q3"])],
}, index=arms.index.rename(sel.comparison_label))
st.dataframe(arms_display)
table_downloads(arms_display, name="arms", ctx=ctx, view=result, label="Arms", index=True)
st.caption(f"Endpoint: {sel.endpoint_spec.label}. Follow-up by the reverse Kaplan-Meier method "
           "(Schemper & Smith 1996).")

st.subheader("From the whole cohort to the subgroup")
flow = result.flow
flow_display = pd.DataFrame({"Step": flow["label"], "Patients remaining": flow["n_remaining"].map(fmt.count),
                             "Removed by this filter": flow["n_removed"].map(fmt.count)})
st.dataframe(flow_display, hide_index=True)
table_downloads(flow_display, name="flow", ctx=ctx, view=result, label="Flow")

st.subheader("What each page answers")
st.markdown(
    "- **Survival**: Kaplan-Meier curves with numbers at risk, log-rank p, hazard ratio, medians and "
    "3- and 5-year survival for the chosen comparison.\n"
    "- **Subgroups**: is the effect of the comparison the same in every subgroup? Forest plot with "
    "interaction tests.\n"
    "- **Cox models**: the paper's Table 2 for this cohort: univariable and multivariable hazard ratios "
    "and the proportional-hazards check.\n"
    "- **Table 1**: are the arms comparable at baseline? Counts, tests and standardized differences.\n"
    "- **Bias checks**: how much of the difference survives immortal-time, landmark and propensity "
    "corrections.\n"
    "- **Paper check**: how closely this cohort reproduces every number the IMET paper publishes.\n"
    "- **Data**: upload your own registry, see the data dictionary, download a template."
)
if "first_metastasis" in result.cohort:
    st.caption(f"Metastases diagnosed {result.cohort['first_metastasis']:%B %Y} – "
               f"{result.cohort['last_metastasis']:%B %Y}.")
