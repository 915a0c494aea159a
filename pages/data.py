"""Data: bring your own registry (kept in this session's memory only), the data dictionary,
a blank template and the synthetic example."""
from __future__ import annotations


import streamlit as st

from imet_core import schema
from imet_core.io import RegistryError, problems_frame
from imet_core.privacy import identifier_columns, identifier_warning
from ui.page import context, header
from ui.registry import DEFAULT_FILES, load_upload, use_default, use_upload

ctx = context()
header("Data", "Load your own registry, check it, and see what every column means.")

st.subheader("Upload a registry")
st.markdown("CSV (comma or semicolon), TSV, Excel (.xlsx) or Parquet, one row per patient, in the "
            "format of the data dictionary below. The file stays in this browser session's memory: it "
            "is never written to disk, logged or shared with other sessions, and it is forgotten when "
            "you close the tab.")
uploaded = st.file_uploader("Registry file", type=["csv", "tsv", "txt", "xlsx", "parquet"],
                            key="registry_upload")
if uploaded is not None and st.session_state.get("_last_upload_id") != uploaded.file_id:
    st.session_state["_last_upload_id"] = uploaded.file_id
    st.session_state.pop("_upload_problems", None)
    try:
        frame = load_upload(uploaded)
    except RegistryError as error:
        st.session_state["_upload_problems"] = (uploaded.name, problems_frame(error.problems),
                                                getattr(error, "total", len(error.problems)),
                                                list(getattr(error, "notices", [])))
    else:
        registry = use_upload(frame, uploaded.name)
        st.session_state["_identifier_warning"] = (registry.fingerprint,
                                                   identifier_warning(identifier_columns(frame)))
        st.rerun()

problems = st.session_state.get("_upload_problems")
if problems is not None:
    name, table, total, notices = problems
    shown = "" if total <= len(table) else f" (the first {len(table):,} are listed)"
    st.error(f"**{name}** was not loaded: {total:,} problem(s) found{shown}. Nothing was changed; the "
             "analysis still shows the previous data. Fix the rows below and upload again.")
    for notice in notices:
        st.caption(notice)
    st.dataframe(table, hide_index=True)
    st.download_button("Validation report (CSV)", table.to_csv(index=False), "validation_report.csv", "text/csv")

if not ctx.registry.is_synthetic:
    st.success(f"Now analysing **{ctx.registry.file_name}**: {ctx.registry.n:,} patients.")
    checked, identifiers = st.session_state.get("_identifier_warning", (None, None))
    if identifiers and checked == ctx.registry.fingerprint:
        st.warning(identifiers, icon=":material/privacy_tip:")
    for notice in ctx.registry.frame.attrs.get("notices", []):
        st.caption(notice)
    if st.button("Return to the synthetic cohort"):
        use_default()
        st.session_state.pop("_last_upload_id", None)
        st.rerun()

st.subheader("Templates and examples")
c1, c2, c3 = st.columns(3)
c1.download_button("Blank template, dates form (CSV)", schema.blank_template().to_csv(index=False),
                   "imet_template_dates.csv", "text/csv")
c2.download_button("Blank template, intervals form (CSV)", schema.blank_template("intervals").to_csv(index=False),
                   "imet_template_intervals.csv", "text/csv")
example = next((p for p in DEFAULT_FILES if p.suffix == ".csv" and p.exists()), None)
if example is not None:
    c3.download_button("Synthetic example (CSV)", example.read_bytes(), "imet_synthetic.csv", "text/csv")

st.subheader("Data dictionary")
st.dataframe(schema.data_dictionary(), hide_index=True)
