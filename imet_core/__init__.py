"""IMET Explorer's analysis core: registry loading, survival statistics, Table 1, subgroups.

Pure Python (pandas, numpy, scipy, lifelines). Never imports Streamlit and never rounds:
formatting belongs to the pages and the exports. The public API is documented in
``../shared/docs/contract.md`` and in each module's docstrings.
"""

__version__ = "0.1.0"

MONTH_DAYS = 30.4375
"""Days in a month, the contract's unit for every interval (365.25 / 12)."""
