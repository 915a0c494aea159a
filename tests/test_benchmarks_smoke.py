"""The benchmark (``make bench``, benchmarks/run.py) still runs: n=200, one repeat, in process.

These tests never assert a timing (timings belong to the benchmark's report, not to tests);
they check that every phase ran, produced finite positive numbers where it measures something,
and that the report and the targets table are built from them.
"""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load("run")


def _finite_positive(node) -> bool:
    return isinstance(node, dict) and node["n"] >= 1 and all(math.isfinite(r) and r > 0 for r in node["runs"])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


@pytest.fixture(scope="module")
def result(tmp_path_factory, cache_dir) -> dict:
    out = tmp_path_factory.mktemp("bench") / "result.json"
    produced = bench.run_benchmark([200], repeats=1, budget_s=60, out=out, cache_dir=cache_dir, isolated=False,
                                   profile=False, browser=False, echo=lambda _: None)
    written = json.loads(out.read_text())
    assert written["sizes"].keys() == produced["sizes"].keys() == {"200"}
    return written


def test_every_phase_measured_something(result):
    entry = result["sizes"]["200"]
    for phase in bench.PHASES:
        assert "error" not in entry[phase], (phase, entry[phase])
    assert entry["load_csv"]["rows"] == entry["load_parquet"]["rows"] == 200
    assert _finite_positive(entry["load_csv"]["load"]) and _finite_positive(entry["load_parquet"]["load"])
    for view in (*bench.PAGE_VIEWS, "overview"):
        assert _finite_positive(entry["app"]["views"][view]), view
    assert _finite_positive(entry["app"]["analyses_total"]) and _finite_positive(entry["app"]["figures_total"])
    assert entry["app"]["km_points"][0] > 0 and entry["app"]["json_bytes"]["km"] > 0
    assert _finite_positive(entry["cache"]["hit_slowest_page"])
    assert _finite_positive(entry["e2e_csv"]["end_to_end"]) and _finite_positive(entry["e2e_parquet"]["end_to_end"])
    assert _finite_positive(entry["lifelines"]["total"]) and entry["lifelines"]["cox_fits"][0] >= 1
    assert entry["memory"]["peak_app_mb"]["median"] > 0


def test_totals_are_sums_of_their_parts(result):
    app = result["sizes"]["200"]["app"]
    parts = sum(app["views"][v]["runs"][0] for v in bench.PAGE_VIEWS)
    assert app["analyses_total"]["runs"][0] == pytest.approx(parts, rel=1e-12)  # tolerance: float sum order


def test_targets_and_report(result):
    by_id = {t["id"]: t for t in result["targets"]}
    assert by_id["t200_analyses"]["value"] == result["sizes"]["200"]["app"]["analyses_total"]["median"]
    assert by_id["t200_analyses"]["passed"] in (True, False)
    assert by_id["t100k_analyses"]["passed"] is None  # size not run: not measured, never "pass"
    report = bench.format_report(result)
    assert "Load CSV + validation" in report and "not measured" in report
    assert result["machine"]["nproc"] >= 1 and result["machine"]["versions"]["numpy"]


def test_generated_registry_is_cached(cache_dir):
    again = bench.ensure_registry(200, cache_dir, isolated=False)
    assert again["cached"] is True


def test_a_phase_runs_in_its_own_process(cache_dir):
    data = bench.ensure_registry(200, cache_dir, isolated=False)
    out = bench.run_worker({"phase": "load_parquet", "file": data["parquet"], "repeats": 1}, timeout_s=120)
    assert "error" not in out, out
    assert out["rows"] == 200 and out["peak_rss_mb"] > 0


def test_browser_click_path_visits_new_subgroups_with_both_arms(cache_dir):
    from imet_core.io import load_registry

    latency = _load("browser_latency")
    frame = load_registry(bench.ensure_registry(200, cache_dir, isolated=False)["csv"])
    path = latency.click_path(frame, 5)
    assert len(path) == 5
    state = {k: "any" for k in latency.FILTER_KEYS}
    seen = {tuple(state.values())}
    for key, value in path:
        assert state[key] != value
        state[key] = value
        assert tuple(state.values()) not in seen
        seen.add(tuple(state.values()))


@pytest.mark.browser
def test_browser_latency_runs(cache_dir):
    latency = _load("browser_latency")
    data = bench.ensure_registry(200, cache_dir, isolated=False)
    measured = latency.measure_browser_latency(data["csv"], repeats=1, n=200, pages=("survival",))
    page = measured["pages"]["survival"]
    assert page["problems"] == []
    assert _finite_positive(page["miss"]) and _finite_positive(page["hit"])


@pytest.mark.browser
def test_server_page_runs(cache_dir):
    data = bench.ensure_registry(200, cache_dir, isolated=False)
    out = bench.run_worker({"phase": "server_pages", "file": data["csv"], "path": ["age_lt_55=yes"]}, timeout_s=300)
    assert "error" not in out, out
    for page in ("survival", "subgroups", "cox_models"):
        assert out["pages"][page]["problems"] == []
        assert _finite_positive(out["pages"][page]["miss"]) and _finite_positive(out["pages"][page]["hit"])
