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


@pytest.fixture
def through_app_py(monkeypatch):
    """Every AppTest run goes through app.py (as ``ui.launch`` makes the server do), not only
    the first: AppTest resets Streamlit's pages-folder flag before each run, and with a
    ``pages/`` folder a page would otherwise run alone, without the shared sidebar."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
