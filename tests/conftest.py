"""Shared pytest fixtures. Reference material is vendored in the repository (CI runs on a clean
clone that may not have ``../shared``); ``test_vendored_reference.py`` checks the copies."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PUBLISHED = ROOT / "data" / "reference" / "imet_published.json"


@pytest.fixture(scope="session")
def published() -> dict:
    return json.loads(PUBLISHED.read_text())
