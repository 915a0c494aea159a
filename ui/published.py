"""The paper's published numbers (data/reference/imet_published.json), for display beside ours
when the synthetic cohort is loaded."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def published() -> dict:
    return json.loads((ROOT / "data" / "reference" / "imet_published.json").read_text())


def published_subgroup_hrs(ctx, selection) -> dict | None:
    """{(variable, level): {"hr", "ci"}} for the paper's OS subgroup HRs (IT vs ST), shown only
    for the synthetic cohort, the default comparison, OS, and no other filter."""
    if not ctx.registry.is_synthetic or selection.comparison != "group" or selection.endpoint != "os" \
            or not selection.subgroup.is_default:
        return None
    os_ = published()["overall_survival"]
    out = {("all", "all"): os_["hr_IT_vs_ST"]}
    mapping = {"age_lt_55": ("age_lt_55", "yes"), "er_or_pr_positive": ("hr_positive", "yes"),
               "her2_positive": ("her2_positive", "yes")}
    for key, target in mapping.items():
        out[target] = os_["subgroup_hr_IT_vs_ST"][key]
    return out
