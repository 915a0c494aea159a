"""Bias checks: how much of the IT-vs-ST difference survives an honest analysis (issue 6).

The IMET comparison is observational and counts overall survival from breast cancer diagnosis
although patients enter the registry only at their metastasis.  This package gives the
corrections a biostatistician would ask for, each as a pure function of a loaded registry frame
(or a subgroup of it) returning DataFrames or frozen dataclasses with documented columns:

* :func:`delayed_entry_analysis` -- OS with left truncation at the metastasis diagnosis, side
  by side with the naive analysis, for IT vs ST or MDFI > 24 months;
* :func:`landmark_analysis` and :func:`time_varying_analysis` (with
  :func:`split_at_intervention`) -- the immortal time between metastasis and intervention;
* :func:`fit_propensity`, :func:`iptw_weights`, :func:`balance_table`, :func:`iptw_analysis`,
  :func:`bootstrap_survival_difference` -- propensity-score weighting;
* :func:`rmst_comparison` -- restricted mean survival time when hazards are not proportional;
* :func:`e_value` -- sensitivity to unmeasured confounding;
* :func:`compare_methods` -- the hazard ratio under every method, for the one-screen summary;
* :mod:`imet_core.bias.simulation` -- IMET-like data with a known truth, for tests and
  demonstrations (``simulate_registry``; ``registry_table`` writes it as a registry file);
* :mod:`imet_core.bias.view` -- everything the Bias checks page shows, in one cached call;
  :mod:`imet_core.bias.figures` -- its plotly figures (forest of methods, love plot, KM panels).

Nothing here imports Streamlit or rounds numbers; survival statistics come from
:mod:`imet_core.survival`.  A method that cannot run on the data (an empty arm, fewer than
:data:`MIN_EVENTS_PER_ARM` events in an arm, no intervention dates) returns NaN and a note,
never an exception.
"""
from imet_core.bias._common import (
    CONTROL_LEVEL, EFFECT_COLUMNS, MIN_EVENTS_PER_ARM, TREATED_LEVEL,
)
from imet_core.bias.compare import (
    COMPARE_COLUMNS, METHOD_LABELS, METHODS, MultivariableResult, compare_methods, method_descriptions,
    methods_table, multivariable_analysis,
)
from imet_core.bias.delayed_entry import DelayedEntryResult, delayed_entry_analysis
from imet_core.bias.evalue import RARE_OUTCOME_LIMIT, EValue, e_value, e_value_from_rr, hr_to_rr
from imet_core.bias.landmark import (
    LANDMARK_COLUMNS, NO_TIMING_NOTE, SPLIT_COLUMNS, LandmarkResult, TimeVaryingResult,
    has_intervention_timing, landmark_analysis, split_at_intervention, time_varying_analysis,
)
from imet_core.bias.propensity import (
    BALANCE_COLUMNS, BALANCE_THRESHOLD, BOOTSTRAP_COLUMNS, DEFAULT_COVARIATES, Design, IPTWResult,
    PropensityModel, balance_table, bootstrap_survival_difference, design_matrix, fit_propensity,
    iptw_analysis, iptw_weights,
)
from imet_core.bias.restricted_mean import (
    PH_TEST_LEVEL, RMST_COLUMNS, RMSTComparison, default_rmst_horizon, rmst_comparison,
)

__all__ = [
    "BALANCE_COLUMNS", "BALANCE_THRESHOLD", "BOOTSTRAP_COLUMNS", "COMPARE_COLUMNS", "CONTROL_LEVEL",
    "DEFAULT_COVARIATES", "EFFECT_COLUMNS", "LANDMARK_COLUMNS", "METHODS", "METHOD_LABELS",
    "MIN_EVENTS_PER_ARM", "NO_TIMING_NOTE", "PH_TEST_LEVEL", "RARE_OUTCOME_LIMIT", "RMST_COLUMNS",
    "SPLIT_COLUMNS", "TREATED_LEVEL",
    "DelayedEntryResult", "Design", "EValue", "IPTWResult", "LandmarkResult", "MultivariableResult",
    "PropensityModel", "RMSTComparison", "TimeVaryingResult",
    "balance_table", "bootstrap_survival_difference", "compare_methods", "default_rmst_horizon",
    "delayed_entry_analysis", "design_matrix", "e_value", "e_value_from_rr", "fit_propensity",
    "has_intervention_timing", "hr_to_rr", "iptw_analysis", "iptw_weights", "landmark_analysis",
    "method_descriptions", "methods_table", "multivariable_analysis", "rmst_comparison", "split_at_intervention",
    "time_varying_analysis",
]
