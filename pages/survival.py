"""Survival: Kaplan-Meier curves (KMunicate style) with log-rank, Cox HR, medians and
milestone survival for the selected subgroup and comparison."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from imet_core.figures import km_figure
from ui import fmt
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

figure = km_figure(result, hr_text=plot_note or None, height=760 if ctx.presentation else 680,
                   font_size=20 if ctx.presentation else 17)


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
    st.markdown("**Median survival, months (95% CI)**")
    for arm, a in result.arms.iterrows():
        st.markdown(f"- {arm}: {fmt.months_ci(a['median'], a['median_lower'], a['median_upper'])}"
                    f" · {a['events']:.0f} events / {a['n']:.0f}")


if ctx.presentation:
    st.plotly_chart(figure, config={"displaylogo": False}, theme=None)
    figure_downloads(figure, name="km_curves", ctx=ctx, view=result)
    stats_panel()
else:
    left, right = st.columns([3, 1.1], gap="large")
    with left:
        st.plotly_chart(figure, config={"displaylogo": False}, theme=None)
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
    st.dataframe(table[[a for a in result.levels if a in table.columns]])
    table_downloads(table[[a for a in result.levels if a in table.columns]], name="milestones", ctx=ctx,
                    view=result, label="Milestones", index=True)
else:
    st.caption("Choose milestone years above.")

with st.expander("Numbers behind the figure"):
    st.caption("Kaplan-Meier estimate per arm (log-type 95% CI, as R's survfit) and the at-risk table.")
    curves = pd.concat([km.table.assign(arm=arm) for arm, km in result.curves.items()], ignore_index=True)
    st.dataframe(curves, hide_index=True)
    table_downloads(curves, name="km_curve_values", ctx=ctx, view=result, label="Curve values")
    st.dataframe(result.risk_table, hide_index=True)
    table_downloads(result.risk_table, name="risk_table", ctx=ctx, view=result, label="At-risk table")

for note in result.notes:
    st.caption(note)
