"""Table 1: baseline characteristics of the comparison's arms within the subgroup."""
from __future__ import annotations

import streamlit as st

from imet_core.privacy import suppress_table_one
from imet_core.table_one import format_table_one
from ui import fmt
from ui.exports import table_downloads
from ui.page import context, header
from ui.views import view

ctx = context()
sel = ctx.selection
header("Table 1", f"Are the arms of {sel.comparison_label} comparable at baseline? · {sel.subgroup.describe()}")
show_p = st.toggle("Show p-values", value=True, key="t1_show_p", persist_state="session",
                   help="Standardized mean differences (SMD) describe imbalance without depending on "
                        "sample size; many readers prefer them to p-values for observational data.")
result = view("table_one", ctx.registry, sel)
formatted = format_table_one(result, show_p=show_p)
small = fmt.suppression_threshold()  # small-cell suppression mode (None when off)
if small is not None:
    formatted = suppress_table_one(result, formatted, threshold=small)
st.dataframe(formatted, hide_index=True, height=min(40 * len(formatted) + 40, 1400),
             column_config={"Test": st.column_config.TextColumn(width="large"),
                            "Characteristic": st.column_config.TextColumn(width="medium")})
st.caption("Counts with percentages of non-missing values; missing shown on its own row. Continuous "
           "variables: mean ± SD with Student's t-test when Shapiro-Wilk accepts normality in every arm, "
           "else median [IQR] with the Wilcoxon rank-sum test. Categorical: Pearson chi-square without "
           "continuity correction (the paper's rules). SMD > 0.1 is commonly read as imbalance.")
table_downloads(formatted, name="table_one", ctx=ctx, label="Table 1")
if small is None:  # the unformatted numbers hold every count
    table_downloads(result, name="table_one_numbers", ctx=ctx, label="Numbers")
