"""Bias checks: how much of the IT-vs-ST difference survives an honest analysis (issue 6).

Naive and corrected hazard ratios side by side (one-screen forest plot, one sentence per method),
then one tab per correction: immortal time (delayed entry), landmark and time-varying
intervention, propensity weighting (balance, love plot, weighted curves, bootstrap), RMST and the
E-value. Every number comes from ``imet_core.bias`` through the cached ``bias_checks`` view."""
from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st

from imet_core import schema
from imet_core.bias import (
    BALANCE_THRESHOLD, DEFAULT_COVARIATES, METHOD_LABELS, METHODS, NO_TIMING_NOTE, PH_TEST_LEVEL,
    bootstrap_survival_difference, default_rmst_horizon,
)
from imet_core.bias.figures import km_panels_figure, love_plot, methods_forest_figure
from imet_core.bias.view import bias_checks_view
from ui import fmt
from ui.charts import plotly_chart
from ui.page import context, header
from ui.views import register, view

register("bias_checks", bias_checks_view)
COVARIATE_CHOICES = (*DEFAULT_COVARIATES, "age", "menopause", "histology", "breast_surgery", "axillary_surgery",
                     "mets_biopsy", "mets_bone")
MIN_AT_RISK = 20  # shade the start of delayed-entry curves until every arm has this many at risk
TRIM_CHOICES = {"none": None, "1": 1.0, "2.5": 2.5, "5": 5.0, "10": 10.0}

ctx = context()
sel = ctx.selection
frame = ctx.frame
font = 20 if ctx.presentation else 16
header("Bias checks", "How much of the IT-vs-ST difference survives an honest analysis? "
       f"· {sel.endpoint_spec.short_label} · {sel.subgroup.describe()}")
if sel.comparison != "group":
    st.caption("These checks always compare IT with ST; the sidebar's comparison applies to the other pages.")

subset = sel.subgroup.apply(frame)
if len(subset) == 0:
    st.warning("No patient matches this selection. Widen the filters in the sidebar.")
    st.stop()

# ---- options --------------------------------------------------------------------------------------
horizon = default_rmst_horizon(subset, endpoint=sel.endpoint)
with st.expander("Options: landmarks, covariates, weights, RMST horizon", expanded=False):
    c1, c2 = st.columns(2)
    with c1:
        landmarks = st.multiselect("Landmarks (months after the metastasis diagnosis)", [1, 2, 3, 6, 9, 12, 18, 24],
                                   default=[3, 6, 12], key="bias_landmarks", persist_state="session")
        landmark_months = st.selectbox("Landmark used in the summary", sorted(set(landmarks) | {6}),
                                       index=sorted(set(landmarks) | {6}).index(6), key="bias_landmark",
                                       format_func=lambda v: f"{v} months")
        available = [c for c in COVARIATE_CHOICES if c in frame.columns]
        covariates = st.multiselect("Baseline covariates (propensity score and multivariable model)", available,
                                    default=[c for c in DEFAULT_COVARIATES if c in available],
                                    format_func=lambda c: schema.LABELS.get(c, c), key="bias_covariates",
                                    persist_state="session")
    with c2:
        trim_key = st.selectbox("Truncate extreme weights", list(TRIM_CHOICES), key="bias_trim",
                                format_func=lambda k: "No truncation" if k == "none" else
                                f"At the {k}th and {100 - float(k):g}th percentiles")
        max_tau = float(math.floor(horizon)) if fmt.is_number(horizon) and horizon >= 1 else 1.0
        default_tau = min(max_tau, 60.0 if sel.endpoint == "pdrs" else 120.0)
        tau = st.number_input("RMST horizon (months)", min_value=1.0, max_value=max(max_tau, 1.0),
                              value=default_tau, step=6.0, key=f"bias_tau_{sel.endpoint}_{max_tau:g}",
                              help="Restricted mean survival is the area under each curve up to this time. "
                                   f"It should not pass the shorter arm's last follow-up ({fmt.months(horizon)} months).")

result = view("bias_checks", ctx.registry, sel, landmarks=sorted(float(v) for v in landmarks),
              landmark_months=float(landmark_months), covariates=list(covariates),
              trim_percentile=TRIM_CHOICES[trim_key], tau=float(tau))
summary = result.summary


def hr_cell(row) -> str:
    return fmt.hr_ci(row["hr"], row["hr_lower"], row["hr_upper"])


# ---- one-screen summary -------------------------------------------------------------------------------
st.subheader("At a glance: the IT-vs-ST hazard ratio under each analysis")
naive = summary.loc["naive"]
corrected = summary.drop(index="naive")
finite = corrected[corrected["hr"].notna()]
if fmt.is_number(naive["hr"]) and len(finite):
    still = int((finite["hr_upper"] < 1).sum())
    st.markdown(
        f"The naive analysis (as published) gives **HR {hr_cell(naive)}**. "
        f"The corrected analyses give HRs from **{fmt.ratio(finite['hr'].min())} to {fmt.ratio(finite['hr'].max())}**; "
        f"**{still} of {len(finite)}** still exclude no difference (upper limit below 1). "
        "HR below 1 means a lower hazard of death with IT.")
elif not fmt.is_number(naive["hr"]):
    st.info(f"No hazard ratio in this subgroup: {naive['note']}")

left, right = st.columns([1.25, 1], gap="large")
with left:
    plotly_chart(methods_forest_figure(summary, font_size=font), key="bias_forest")
with right:
    for method in METHODS:
        row = summary.loc[method]
        value = hr_cell(row) if fmt.is_number(row["hr"]) else f"*{row['note']}*"
        st.markdown(f"**{METHOD_LABELS[method]}** · {value}  \n{result.descriptions[method]}")

if result.rmst is not None and result.rmst.ph_rejected:
    diff = result.rmst.table.loc["difference"]
    st.warning(
        f"**The hazard ratio may mislead here**: the proportional-hazards test rejects (p = "
        f"{fmt.p_value(result.rmst.ph_p)}), so the effect of IT changes over time and one HR averages it. "
        f"The restricted mean survival time does not need that assumption: up to {result.tau:g} months, IT "
        f"patients lived on average **{fmt.months(diff['estimate'])} months** "
        f"({fmt.months(diff['lower'])} to {fmt.months(diff['upper'])}) "
        f"{'longer' if diff['estimate'] >= 0 else 'less'} than ST patients. See the RMST tab.",
        icon=":material/timeline:")

ev_method = "iptw" if fmt.is_number(result.e_values.loc["iptw", "e_value"]) else "multivariable"
ev = result.e_values.loc[ev_method]
if fmt.is_number(ev["e_value"]):
    st.caption(
        f"Unmeasured confounding ({METHOD_LABELS[ev_method]}): to explain the HR away, an unmeasured factor would "
        f"have to raise both the chance of getting IT and the risk of death by a factor of **{ev['e_value']:.2f}** "
        "each (E-value" + (f"; {ev['e_value_ci']:.2f} to move the confidence interval to 1)"
                           if fmt.is_number(ev["e_value_ci"]) and ev["e_value_ci"] > 1
                           else "; the confidence interval already includes 1)") + ". See the E-value tab.")

display = pd.DataFrame({
    "Analysis": [METHOD_LABELS[m] for m in summary.index],
    "HR (95% CI)": [hr_cell(r) for _, r in summary.iterrows()],
    "p": summary["p"].map(fmt.p_value),
    "Patients": summary["n"].map(fmt.count),
    "Deaths": summary["events"].map(fmt.count),
    "Note": summary["note"],
})
st.dataframe(display, hide_index=True)
st.download_button("Summary (CSV)", summary.to_csv(), "bias_checks_summary.csv", "text/csv")
with st.expander("The multivariable Cox model, every term"):
    terms = result.multivariable.summary
    design = result.iptw.propensity.design.terms
    st.dataframe(pd.DataFrame({
        "Term": ["IT (vs ST)" if t == "it" else (design.loc[t, "label"] if t in design.index else t)
                 for t in terms.index],
        "HR (95% CI)": [hr_cell(r) for _, r in terms.iterrows()],
        "p": terms["p"].map(fmt.p_value),
    }), hide_index=True)
    st.caption("Categories are compared with their most frequent level. "
               + ("Delayed entry at the metastasis diagnosis." if sel.endpoint == "os" else ""))

tabs = st.tabs(["Immortal time (delayed entry)", "Landmark and time-varying", "Propensity weighting",
                "Restricted mean survival", "E-value"])

# ---- immortal time -------------------------------------------------------------------------------------
with tabs[0]:
    st.markdown(
        "**What is the problem?** A patient joins the registry only when her metastasis is diagnosed, but "
        "overall survival is counted from her breast cancer diagnosis. Every registered patient has therefore "
        "*survived* the years between diagnosis and metastasis: no death can happen in that time. Counting "
        "those years as if anyone could have died in them (*immortal time*) flatters groups whose metastasis "
        "came late: patients with an MDFI over 24 months and, if their metastases came later, IT patients.  \n"
        "**The correction (delayed entry, or left truncation):** keep the clock from diagnosis, but count a "
        "patient among those at risk only from her metastasis diagnosis on. This is R's "
        "`Surv(entry_months, os_months, dead)`.")
    d = result.delayed
    entry = d.entry
    m1, m2, m3 = st.columns(3)
    m1.metric("Patients who enter late", f"{fmt.count(d.late_entrants)} of {fmt.count(entry.loc['All', 'n'])}",
               help="Patients whose metastasis came after the breast cancer diagnosis.")
    m2.metric("Follow-up that is immortal time", fmt.percent(entry.loc["All", "immortal_fraction"]),
              help="Share of the naive analysis's person-months that lie before the metastasis diagnosis.")
    m3.metric("Median diagnosis to metastasis", f"{fmt.months(entry.loc['All', 'entry_median'])} months")
    which = st.radio("Comparison", ["group", "mdfi_gt_24"], horizontal=True, key="bias_delayed_which",
                     format_func={"group": "IT vs ST", "mdfi_gt_24": "MDFI > 24 vs ≤ 24 months"}.get)
    d = result.delayed if which == "group" else result.delayed_mdfi
    est = d.estimates
    st.dataframe(pd.DataFrame({
        "Analysis": ["Naive (everyone at risk from diagnosis)", "Delayed entry at metastasis"],
        f"HR {d.treated} vs {d.control} (95% CI)": [hr_cell(est.loc[a]) for a in ("naive", "delayed_entry")],
        "p": [fmt.p_value(est.loc[a, "p"]) for a in ("naive", "delayed_entry")],
        "Patients": [fmt.count(est.loc[a, "n"]) for a in ("naive", "delayed_entry")],
        "Deaths": [fmt.count(est.loc[a, "events"]) for a in ("naive", "delayed_entry")],
        "Note": [est.loc[a, "note"] for a in ("naive", "delayed_entry")],
    }), hide_index=True)
    plotly_chart(km_panels_figure(d.km, panel_column="analysis", panels=["naive", "delayed_entry"],
                                  panel_titles=["Naive", "Delayed entry at metastasis"],
                                  arms=[d.treated, d.control], x_label="Months since breast cancer diagnosis",
                                  font_size=font, min_at_risk=MIN_AT_RISK),
                 key="bias_delayed_km")
    st.caption("Overall survival from diagnosis, Kaplan-Meier with log-type 95% CI. With delayed entry the first "
               "months contain only the few patients whose metastasis came early, so the start of those curves "
               "rests on few patients (shaded: fewer than 20 at risk in an arm) and can drop steeply; read the hazard "
               "ratio first. The delayed-entry curve "
               "shows how fast registered patients die at each time since diagnosis, not the share of all "
               "patients alive.")
    for note in d.notes:
        st.caption(note)

# ---- landmark and time-varying ---------------------------------------------------------------------------
with tabs[1]:
    st.markdown(
        "**What is the problem?** IT patients are IT because they *had* an intervention, weeks or months after "
        "the metastasis diagnosis; they had to stay alive until then. Counting them as IT from the metastasis "
        "diagnosis credits the intervention with that survival.  \n"
        "**Landmark analysis:** pick a time after the metastasis diagnosis (the landmark); keep only patients "
        "alive and followed then; call a patient IT only if her intervention came by the landmark; start the "
        "clock at the landmark.  \n"
        "**Time-varying intervention:** every IT patient counts as ST until her intervention and as IT "
        "afterwards (Cox model on counting-process data, robust SE by patient).")
    if not result.has_timing:
        st.warning(NO_TIMING_NOTE, icon=":material/event_busy:")
    else:
        lm = result.landmark.estimates
        st.dataframe(pd.DataFrame({
            "Landmark (months)": [f"{v:g}" for v in lm.index],
            "Alive at the landmark": lm["n"].map(fmt.count),
            "Left out (died or censored before)": lm["excluded_before_landmark"].map(fmt.count),
            "IT by the landmark": lm["n_treated"].map(fmt.count),
            "IT later (counted as ST)": lm["it_after_landmark"].map(fmt.count),
            "Deaths after the landmark": lm["events"].map(fmt.count),
            "HR (95% CI)": [hr_cell(r) for _, r in lm.iterrows()],
            "p": lm["p"].map(fmt.p_value),
            "Note": lm["note"],
        }), hide_index=True)
        tv = result.time_varying.estimate.loc["time_varying"]
        st.metric("Time-varying intervention: HR IT vs ST (95% CI)", hr_cell(tv),
                  help="Cox model with IT as a time-varying covariate on (start, stop] rows, robust SE clustered "
                       f"on the patient; time scale: {sel.endpoint_spec.label.lower()}"
                       + (" with delayed entry at the metastasis." if sel.endpoint == "os" else "."))
        if tv["note"]:
            st.caption(tv["note"])
        chosen = st.selectbox("Curves from the landmark", list(lm.index), key="bias_lm_curve",
                              index=list(lm.index).index(result.landmark_months)
                              if result.landmark_months in list(lm.index) else 0,
                              format_func=lambda v: f"{v:g} months")
        km = result.landmark.km
        km = km[km["landmark"] == chosen]
        plotly_chart(km_panels_figure(km, panel_column=None, panels=[chosen], panel_titles=[""],
                                      arms=["IT", "ST"], x_label="Months since the landmark", font_size=font),
                     key="bias_lm_km")
        st.caption("IT = intervention by the landmark; ST = no intervention by then. Kaplan-Meier, log-type 95% CI.")
    for note in result.landmark.notes:
        st.caption(note)

# ---- propensity weighting -----------------------------------------------------------------------------
with tabs[2]:
    st.markdown(
        "**What is the problem?** Tumour boards chose who had an intervention. If they chose patients who were "
        "going to do well anyway (younger, longer MDFI, fewer sites), IT looks better than it is.  \n"
        "**The correction:** a propensity score (logistic regression of IT on the baseline covariates chosen "
        "in Options) gives each patient's probability of IT; weighting each patient by the inverse of the "
        "probability of the treatment she actually had (stabilised weights) balances those covariates between "
        "the arms. Only recorded covariates can be balanced.")
    ip = result.iptw
    est = ip.estimate.loc["iptw"]
    c1, c2, c3 = st.columns(3)
    c1.metric("Weighted HR IT vs ST (95% CI)", hr_cell(est),
              help="Cox model with stabilised weights and robust (sandwich) SE, as R's coxph(..., weights, robust = TRUE)"
                   + ("; delayed entry at the metastasis." if sel.endpoint == "os" else "."))
    ws = ip.weight_summary
    if "All" in ws.index and fmt.is_number(ws.loc["All", "effective_n"]):
        c2.metric("Effective sample size", fmt.count(round(ws.loc["All", "effective_n"])),
                  help="Kish's (sum of weights)² / sum of squared weights: how many unweighted patients the "
                       "weighted sample is worth.")
        c3.metric("Largest weight", fmt.ratio(ws.loc["All", "max"]))
    if est["note"]:
        st.caption(est["note"])
    balance = ip.balance
    if len(balance) and balance["smd_after"].notna().any():
        worst = balance["smd_after"].abs().max()
        verdict = ("all below" if worst < BALANCE_THRESHOLD else "not all below")
        st.markdown(f"**Balance.** After weighting the standardized differences are {verdict} "
                    f"{BALANCE_THRESHOLD} (largest {worst:.2f}; before weighting "
                    f"{balance['smd_before'].abs().max():.2f}).")
        left, right = st.columns([1, 1], gap="large")
        with left:
            plotly_chart(love_plot(balance, font_size=font - 2), key="bias_love")
        with right:
            st.dataframe(pd.DataFrame({
                "Covariate": balance["label"],
                "IT before": balance["mean_treated_before"].map(lambda v: fmt.ratio(v, 3)),
                "ST before": balance["mean_control_before"].map(lambda v: fmt.ratio(v, 3)),
                "SMD before": balance["smd_before"].map(lambda v: fmt.ratio(v, 3)),
                "IT after": balance["mean_treated_after"].map(lambda v: fmt.ratio(v, 3)),
                "ST after": balance["mean_control_after"].map(lambda v: fmt.ratio(v, 3)),
                "SMD after": balance["smd_after"].map(lambda v: fmt.ratio(v, 3)),
            }), hide_index=True)
            st.caption("Means are proportions for yes/no and category levels. SMD: standardized mean difference, "
                       "IT minus ST; |SMD| < 0.1 is the usual mark of balance.")
            st.download_button("Balance table (CSV)", balance.to_csv(), "balance.csv", "text/csv")
        plotly_chart(km_panels_figure(ip.km, panel_column=None, panels=["weighted"], panel_titles=[""],
                                      arms=["IT", "ST"], font_size=font,
                                      x_label=f"Months since {sel.endpoint_spec.origin}",
                                      min_at_risk=MIN_AT_RISK if sel.endpoint == "os" else None),
                     key="bias_iptw_km")
        st.caption("Weighted Kaplan-Meier curves (stabilised IPTW), 95% CI from the infinitesimal-jackknife variance "
                   "(R's survfit with weights)" + (", with delayed entry at the metastasis." if sel.endpoint == "os" else "."))
        with st.expander("Weighted numbers at risk and the propensity model"):
            risk = ip.risk_table.copy()
            st.dataframe(pd.DataFrame({
                "Arm": risk["arm"], "Month": risk["time"].map(lambda v: f"{v:g}"),
                "At risk (weighted)": risk["at_risk"].map(lambda v: fmt.ratio(v, 1)),
                "Events (weighted, cumulative)": risk["events"].map(lambda v: fmt.ratio(v, 1)),
                "Censored (weighted, cumulative)": risk["censored"].map(lambda v: fmt.ratio(v, 1)),
            }), hide_index=True)
            coef = ip.propensity.coefficients
            st.dataframe(pd.DataFrame({"Term": coef.index, "Log odds of IT": coef["coef"].map(lambda v: fmt.ratio(v, 3)),
                                       "SE": coef["se"].map(lambda v: fmt.ratio(v, 3)),
                                       "p": coef["p"].map(fmt.p_value)}), hide_index=True)
            for note in ip.propensity.notes:
                st.caption(note)
    st.markdown("**Bootstrap confidence intervals for the weighted survival difference (IT − ST)**")
    b1, b2, b3 = st.columns(3)
    with b1:
        times = st.multiselect("At months", [6, 12, 24, 36, 48, 60, 84, 120], default=[12, 36, 60],
                               key="bias_boot_times")
    with b2:
        n_boot = int(st.number_input("Replicates", min_value=50, max_value=5000, value=500, step=50,
                                     key="bias_boot_n"))
    with b3:
        seed = int(st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=2024, key="bias_boot_seed"))
    boot_key = json.dumps([ctx.registry.fingerprint, sel.to_query_params(), sorted(times), n_boot, seed,
                           list(covariates), trim_key])
    store = st.session_state.setdefault("_bias_bootstrap", {})
    if st.button("Run the bootstrap", key="bias_boot_run", disabled=not times):
        bar = st.progress(0.0, text="Resampling patients…")
        step = max(n_boot // 50, 1)

        def report(done: int, total: int) -> None:
            if done % step == 0 or done == total:
                bar.progress(done / total, text=f"Replicate {done:,} of {total:,}")

        store[boot_key] = bootstrap_survival_difference(
            subset, sorted(float(t) for t in times), covariates=list(covariates), endpoint=sel.endpoint,
            trim_percentile=TRIM_CHOICES[trim_key], n_boot=n_boot, seed=seed, progress=report)
        bar.empty()
    if boot_key in store:
        boot = store[boot_key]
        st.dataframe(pd.DataFrame({
            "Month": [f"{t:g}" for t in boot.index],
            "IT (weighted)": boot["survival_treated"].map(fmt.percent),
            "ST (weighted)": boot["survival_control"].map(fmt.percent),
            "Difference (95% bootstrap CI)": [
                fmt.percent_ci(d, lo, hi, 1) if fmt.is_number(d) else "beyond follow-up"
                for d, lo, hi in zip(boot["difference"], boot["lower"], boot["upper"])],
            "Replicates": boot["replicates"].map(fmt.count),
        }), hide_index=True)
        st.caption(f"Months since {sel.endpoint_spec.origin}. "
                   f"Percentile intervals from {n_boot:,} replicates (seed {seed}); each resamples patients within "
                   "each arm and refits the propensity model, so the interval includes the uncertainty of the weights.")
    else:
        st.caption("Press the button to run it (it refits the propensity model in every replicate: a few seconds).")

# ---- RMST ----------------------------------------------------------------------------------------------
with tabs[3]:
    st.markdown(
        "**Why?** A hazard ratio assumes the effect of IT is the same at every time (proportional hazards). When "
        "the curves converge or cross, that single number misleads. The **restricted mean survival time** "
        "(RMST) is the area under each Kaplan-Meier curve up to a horizon: the average number of months lived "
        "within that window. Its difference between the arms needs no such assumption.")
    rm = result.rmst
    if rm is None:
        st.info("No RMST: an arm has no patients in this subgroup.")
    else:
        verdict = ("rejects" if rm.ph_rejected else "does not reject")
        st.markdown(f"Proportional-hazards test (R's cox.zph on the IT term): p = {fmt.p_value(rm.ph_p)}, which "
                    f"{verdict} proportional hazards at the {PH_TEST_LEVEL:g} level." if fmt.is_number(rm.ph_p)
                    else "The proportional-hazards test could not be run here.")
        table = rm.table
        st.dataframe(pd.DataFrame({
            "": ["IT", "ST", "Difference (IT − ST)"],
            f"RMST up to {rm.tau:g} months (95% CI)": [
                fmt.months_ci(table.loc[k, "estimate"], table.loc[k, "lower"], table.loc[k, "upper"])
                for k in ("IT", "ST", "difference")],
            "p": ["", "", fmt.p_value(table.loc["difference", "p"])],
        }), hide_index=True)
        st.caption(f"Months from {sel.endpoint_spec.origin}"
                   + (" with delayed entry at the metastasis (the start of the curves rests on few patients)"
                      if sel.endpoint == "os" else "")
                   + ". The difference's SE combines the two arms' SEs (independent samples). Change the horizon in "
                     "Options.")
        for note in rm.notes:
            st.caption(note)

# ---- E-value ------------------------------------------------------------------------------------------
with tabs[4]:
    st.markdown(
        "**What is it?** Propensity weighting and the multivariable model only adjust for what the registry "
        "records. The E-value (VanderWeele & Ding, Ann Intern Med 2017) is the minimum strength of association, "
        "as a risk ratio, that an *unrecorded* factor would need with both the choice of IT and death to explain "
        "the observed hazard ratio away. Large E-values mean only a strong hidden factor could do it; an E-value "
        "near 1 means a weak one could.")
    evs = result.e_values
    st.dataframe(pd.DataFrame({
        "Analysis": [METHOD_LABELS[m] for m in evs.index],
        "HR (95% CI)": [fmt.hr_ci(r["hr"], r["hr_lower"], r["hr_upper"]) for _, r in evs.iterrows()],
        "E-value (estimate)": evs["e_value"].map(fmt.ratio),
        "E-value (CI limit nearest 1)": evs["e_value_ci"].map(fmt.ratio),
        "Deaths / patients": evs["event_fraction"].map(fmt.percent),
        "Conversion HR → RR": evs["outcome"].map({"rare": "rare outcome: RR ≈ HR",
                                                  "common": "common outcome: square-root conversion"}),
    }), hide_index=True)
    st.caption("Death is common in this cohort (15% or more of patients), so the hazard ratio is converted with "
               "RR ≈ (1 − 0.5^√HR) / (1 − 0.5^√(1/HR)) (VanderWeele 2020); with rarer outcomes RR ≈ HR. An E-value "
               "of 1 for the CI means the interval already includes no effect.")
