"""Bias checks (being built by the bias-checks work; replaced when it lands)."""
import streamlit as st

from ui.page import header

header("Bias checks", "How much of the IT-vs-ST difference survives an honest analysis?")
st.info("Delayed entry, landmark, propensity weighting, RMST and E-value analyses appear here.")
