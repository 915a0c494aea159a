"""The repository's copies of the shared reference material are identical to ../shared
(when it is present; a clean CI clone may not have it)."""
from __future__ import annotations

import pytest

from tests.conftest import ROOT, SHARED

PAIRS = [(SHARED / "reference" / "imet_published.json", ROOT / "data" / "reference" / "imet_published.json")]
PAIRS += [(p, ROOT / "tests" / "r_reference" / "shared" / p.name)
          for p in sorted((SHARED / "reference" / "r_survival").glob("*"))] if SHARED.exists() else []


@pytest.mark.skipif(not SHARED.exists(), reason="../shared is not next to this checkout")
@pytest.mark.parametrize("original, copy", PAIRS, ids=[p[1].name for p in PAIRS])
def test_copy_is_identical(original, copy):
    assert copy.read_bytes() == original.read_bytes()
