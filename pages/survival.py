"""Survival: Kaplan-Meier curves (KMunicate style) with log-rank, Cox HR, medians and
milestone survival for the selected subgroup and comparison."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from imet_core.figures import km_figure
from imet_core.privacy import suppress_risk_table, suppress_summary_arms
from ui import fmt
from ui.charts import plotly_chart
from ui.exports import figure_downloads, table_downloads
from ui.page import context, header
from ui.views import view

ctx = context()
sel = ctx.selection
header("Survival", f"How do the arms of {sel.comparison_label} compare in "
       f"{sel.endpoint_spec.label.lower()}? · {sel.subgroup.describe()}")

years = st.multiselect("Milestones (years)", [1, 2, 3, 4, 5, 7, 10], default=[3, 5], key="landmark_years",
                       persist_state="session", help="Survival with 95% CI is shown at these times.")
landmarks = [12.0 * y for y in sorted(years)]
result = view("survival", ctx.registry, sel, landmarks=landmarks)

if result.n == 0:
    st.warning("No patient matches this selection. Widen the filters in the sidebar.")
    st.stop()

hr_rows = result.hazard_ratios
hr_line = []
for _, r in hr_rows.iterrows():
    if fmt.is_number(r["hr"]):
        hr_line.append(f"HR {r['arm']} vs {r['reference']}: {fmt.hr_ci(r['hr'], r['hr_lower'], r['hr_upper'])}")
lr_p = result.logrank["p"]
plot_note = "<br>".join(hr_line + ([fmt.p_equals(lr_p, "Log-rank p")] if fmt.is_number(lr_p) else []))

small = fmt.suppression_threshold()  # small-cell suppression mode (None when off)
figure = km_figure(result, hr_text=plot_note or None, height=760 if ctx.presentation else 680,
                   font_size=20 if ctx.presentation else 17, suppress_below=small, as_spec=True)
chart_alt = (f"Kaplan-Meier curves of {sel.endpoint_spec.label.lower()}, {sel.comparison_label}, "
             "with 95% confidence bands and the number at risk")
arm_counts = result.arms if small is None else suppress_summary_arms(result.arms, threshold=small)


def stats_panel() -> None:
    st.metric("Log-rank p", fmt.p_value(lr_p))
    if result.logrank["note"]:
        st.caption(result.logrank["note"])
    for _, r in hr_rows.iterrows():
        st.metric(f"Hazard ratio {r['arm']} vs {r['reference']} (reference)",
                  fmt.hr_ci(r["hr"], r["hr_lower"], r["hr_upper"]),
                  help="Cox proportional hazards model, Efron ties; 95% confidence interval.")
        if fmt.is_number(r["p"]):
            st.caption(fmt.p_equals(r["p"], "Wald p"))
        if r["note"]:
            st.warning(r["note"], icon=":material/info:")
    # one markdown element for the heading and every arm: each element costs the browser a render
    lines = [f"- {arm}: {fmt.months_ci(a['median'], a['median_lower'], a['median_upper'])}"
             f" · {fmt.count(arm_counts.loc[arm, 'events'])} events / {fmt.count(arm_counts.loc[arm, 'n'])}"
             for arm, a in result.arms.iterrows()]
    st.markdown("\n".join(["**Median survival, months (95% CI)**", "", *lines]))


if ctx.presentation:
    plotly_chart(figure, key="km_curves", alt=chart_alt)
    figure_downloads(figure, name="km_curves", ctx=ctx, view=result)
    stats_panel()
else:
    left, right = st.columns([3, 1.1], gap="large")
    with left:
        plotly_chart(figure, key="km_curves", alt=chart_alt)
        figure_downloads(figure, name="km_curves", ctx=ctx, view=result)
    with right:
        stats_panel()

st.subheader("Milestone survival (95% CI)")
if len(result.landmarks):
    lm = result.landmarks.copy()
    lm["Milestone"] = (lm["time"] / 12).map(lambda y: f"{y:g}-year")
    lm["Survival (95% CI)"] = [fmt.percent_ci(s, lo, hi) for s, lo, hi in zip(lm["survival"], lm["lower"], lm["upper"])]
    lm["At risk"] = lm["at_risk"].map(fmt.count)
    table = lm.pivot(index="Milestone", columns="arm", values="Survival (95% CI)")
    table = table[[a for a in result.levels if a in table.columns]]
    st.table(table)  # a few rows: a plain table
    table_downloads(table, name="milestones", ctx=ctx, view=result, label="Milestones", index=True)
else:
    st.caption("Choose milestone years above.")

# The expander's tables are built only while it is open (it reruns the page when opened or
# closed): a filter click does not rebuild and send two long tables and four downloads that sit
# folded away.
numbers = st.expander("Numbers behind the figure", key="km_numbers", on_change="rerun")
if numbers.open:
    with numbers:
        st.caption("Kaplan-Meier estimate per arm (log-type 95% CI, as R's survfit) and the at-risk table.")
        if small is None:
            curves = pd.concat([km.table.assign(arm=arm) for arm, km in result.curves.items()], ignore_index=True)
            st.dataframe(curves, hide_index=True)
            table_downloads(curves, name="km_curve_values", ctx=ctx, view=result, label="Curve values")
            risk = result.risk_table
        else:  # every step of a curve table is a count of patients: not shown in suppression mode
            st.caption(f"Curve values are hidden while small counts (below {small}) are suppressed.")
            risk = suppress_risk_table(result.risk_table, threshold=small)
        st.dataframe(risk, hide_index=True)
        table_downloads(risk, name="risk_table", ctx=ctx, view=result, label="At-risk table")

for note in result.notes:
    st.caption(note)
