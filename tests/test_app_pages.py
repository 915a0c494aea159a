"""Every page of the app under several selections, through Streamlit's AppTest: no exception,
the expected elements, small-subgroup messages instead of hazard ratios."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.random_registry import random_registry_table

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/overview.py", "pages/survival.py", "pages/subgroups.py", "pages/cox_models.py",
         "pages/table_one.py", "pages/bias_checks.py", "pages/paper_check.py", "pages/data.py"]
SELECTIONS = {
    "default": {},
    "age_her2": {"age_lt_55": "yes", "her2_positive": "yes"},
    "pdrs_liver": {"endpoint": "pdrs", "site": "liver,liver+bone"},
    "tiny_lung_bone": {"site": "lung+bone", "mdfi_gt_24": "no"},
    "empty": {"hr_positive": "no", "her2_positive": "no"},  # no triple-negative patients exist
    "compare_site": {"compare": "site"},
    "compare_mdfi": {"compare": "mdfi_gt_24", "endpoint": "pdrs"},
}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> str:
    """The committed synthetic cohort when present, else a seeded random registry."""
    committed = ROOT / "data" / "imet_synthetic.csv"
    if committed.exists():
        return str(committed)
    path = tmp_path_factory.mktemp("data") / "registry.csv"
    random_registry_table(200, seed=11).to_csv(path, index=False)
    return str(path)


@pytest.fixture(autouse=True)
def _every_run_through_app_py(through_app_py):
    """The shared sidebar and selection are exercised on every page, not only the first."""


def _run(page: str, params: dict, data_file: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("IMET_EXPLORER_DATA", data_file)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(params)
    at.run()
    if page != "pages/overview.py":
        at.switch_page(page)
        at.run()
    return at


@pytest.mark.parametrize("name", list(SELECTIONS))
@pytest.mark.parametrize("page", PAGES)
def test_page_runs_without_exception(page, name, data_file, monkeypatch):
    at = _run(page, SELECTIONS[name], data_file, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "every page shows a title"


def test_empty_subgroup_says_so(data_file, monkeypatch):
    at = _run("pages/survival.py", SELECTIONS["empty"], data_file, monkeypatch)
    assert any("No patient matches" in w.value for w in at.warning)


def test_small_subgroup_shows_no_hazard_ratio(data_file, monkeypatch):
    """An arm with fewer than 5 events: a plain message, no HR and no p."""
    at = _run("pages/survival.py", {"site": "lung+bone", "age_lt_55": "yes", "her2_positive": "yes"},
              data_file, monkeypatch)
    assert not at.exception
    texts = " ".join(w.value for w in at.warning) + " ".join(c.value for c in at.caption)
    assert "fewer than 5" in texts
    hr_metrics = [m for m in at.metric if m.label.startswith("Hazard ratio")]
    assert all(m.value == "–" for m in hr_metrics)


def test_synthetic_banner_and_link_notice(data_file, monkeypatch):
    at = _run("pages/overview.py", {"bogus": "1", "age_lt_55": "maybe"}, data_file, monkeypatch)
    assert any("Synthetic data" in i.value for i in at.info)
    warning = " ".join(w.value for w in at.warning)
    assert "bogus" in warning and "maybe" in warning


@pytest.mark.parametrize("page", PAGES)
def test_small_count_suppression_mode_runs_everywhere(page, data_file, monkeypatch):
    """suppress=1 in the link: every page runs and shows '<5' rather than a count of 1-4."""
    at = _run(page, {"suppress": "1", "site": "lung+bone"}, data_file, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]


def test_selection_round_trips_through_the_url(data_file, monkeypatch):
    """A copied link's selection reaches the widgets and the page, and is written back."""
    params = {"age_lt_55": "yes", "site": "lung,liver", "endpoint": "pdrs", "compare": "her2_positive"}
    at = _run("pages/survival.py", params, data_file, monkeypatch)
    assert not at.exception
    url = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert url == params
    header = at.caption[0].value
    assert "Age < 55" in header and "HER2+ vs HER2−" in header and "metastasis diagnosis" in header
    at = _run("pages/overview.py", params, data_file, monkeypatch)
    assert [r.value for r in at.sidebar.radio if r.label == "Endpoint"] == ["pdrs"]
    assert [s.value for s in at.sidebar.selectbox if s.label == "Compare"] == ["her2_positive"]


def test_single_arm_registry(tmp_path, monkeypatch):
    """A registry with IT patients only: every page still runs; no HR, a plain message."""
    raw = random_registry_table(120, seed=5)
    raw = raw[raw["group"] == "IT"]
    path = tmp_path / "it_only.csv"
    raw.to_csv(path, index=False)
    for page in PAGES:
        at = _run(page, {}, str(path), monkeypatch)
        assert not at.exception, (page, [e.value for e in at.exception])


@pytest.mark.parametrize("params", [{}, {"suppress": "1", "site": "lung+bone"}])
def test_survival_numbers_are_built_when_the_expander_is_opened(params, data_file, monkeypatch):
    """'Numbers behind the figure' is drawn only while open: folded, a filter click does not build
    its tables; opened (a rerun), the curve values (hidden in suppression mode) and at-risk table
    are there, with their downloads."""
    at = _run("pages/survival.py", params, data_file, monkeypatch)
    assert not at.exception
    folded = len(at.dataframe)
    at.session_state["km_numbers"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    suppressed = "suppress" in params
    assert len(at.dataframe) == folded + (1 if suppressed else 2)
    captions = " ".join(c.value for c in at.caption)
    assert "at-risk table" in captions
    assert ("Curve values are hidden" in captions) == suppressed
