"""The paper's published subgroup HRs for the current view (see imet_core.published)."""
from __future__ import annotations

from imet_core.published import published, published_subgroup_hrs as _core

__all__ = ["published", "published_subgroup_hrs"]


def published_subgroup_hrs(ctx, selection) -> dict | None:
    return _core(selection, synthetic=ctx.registry.is_synthetic)
