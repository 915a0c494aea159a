"""The IMET paper's published numbers (``data/reference/imet_published.json``, a copy of
``../shared/reference/imet_published.json``), for display beside ours: never used to compute."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from imet_core.subgroups import Selection

PUBLISHED_FILE = Path(__file__).resolve().parents[1] / "data" / "reference" / "imet_published.json"

# (variable, level) of imet_core.analysis.forest_view rows -> key in the paper's subgroup HRs
_SUBGROUP_KEYS = {("age_lt_55", "yes"): "age_lt_55", ("hr_positive", "yes"): "er_or_pr_positive",
                  ("her2_positive", "yes"): "her2_positive"}


@lru_cache(maxsize=1)
def published() -> dict:
    """Every number the paper publishes, as a dict (see the file's ``_about``)."""
    return json.loads(PUBLISHED_FILE.read_text())


def published_subgroup_hrs(selection: Selection, *, synthetic: bool) -> dict | None:
    """{(variable, level): {"hr", "ci", "p"}} of the paper's OS hazard ratios IT vs ST (all
    patients and the age < 55, ER/PR+ and HER2+ subgroups), for the forest plot.

    Only meaningful beside the synthetic IMET cohort, the paper's comparison (IT vs ST), its
    endpoint (OS) and no other filter; None otherwise."""
    if not synthetic or selection.comparison != "group" or selection.endpoint != "os" \
            or not selection.subgroup.is_default:
        return None
    os_ = published()["overall_survival"]
    out = {("all", "all"): os_["hr_IT_vs_ST"]}
    for target, key in _SUBGROUP_KEYS.items():
        out[target] = os_["subgroup_hr_IT_vs_ST"][key]
    return out
