"""Overview page (placeholder until the synthetic cohort and dashboard land)."""
import streamlit as st

st.title("IMET Explorer")
st.info(
    "Survival explorer for breast cancer registries with lung and/or liver metastases. "
    "The embedded synthetic cohort and the dashboard pages are being built."
)
