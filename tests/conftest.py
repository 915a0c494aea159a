"""Shared pytest fixtures: paths to the shared reference material."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
R_REFERENCE_DIRS = [SHARED / "reference" / "r_survival", ROOT / "tests" / "r_reference"]


@pytest.fixture(scope="session")
def published() -> dict:
    return json.loads((SHARED / "reference" / "imet_published.json").read_text())
