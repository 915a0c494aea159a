"""Registry-scale benchmark (issue 7): ``make bench`` runs this file.

Usage::

    .venv/bin/python benchmarks/run.py [--sizes 200,10000,100000,1000000] [--repeats K]
                                       [--out FILE] [--budget SECONDS] [--no-browser]
                                       [--no-profile] [--in-process]

For each size the synthetic generator (:mod:`imet_core.synthetic`, scaled) writes a registry in
the contract's dates form as CSV and as Parquet, cached under ``out/bench-cache/`` (ignored by
git) and keyed on (n, seed, parameter file, generator source), so a second run does not
regenerate. Then, each phase in a fresh subprocess so that peak memory (``ru_maxrss``) and
warm-up of one phase cannot leak into another:

``load_csv``, ``load_parquet``
    :func:`imet_core.io.load_registry` (full validation and derived columns), repeated.
``app``
    Load the Parquet file once, draw the opening view (default selection) once to warm up, then
    for each repeat a *new* selection (see :data:`CHANGED_SELECTIONS`; never the same one twice
    in a process, so no cache anywhere can answer it) time every analysis view the Survival,
    Subgroups, Cox and Table 1 pages show, the Overview page's view, every figure builder, and
    the figures' JSON serialisation (what the app's charts, ``ui.charts``, send to the browser). Then one
    filter change under cProfile (top functions).
``cache``
    The app's cache layer itself: :func:`ui.views.view` on the synthetic registry (the
    ``st.cache_data`` path, run in Streamlit's bare mode) called twice per page view; the
    second call is the cached repeat view.
``e2e_csv``, ``e2e_parquet``
    End to end in one process: load + validate, every page's analyses, every figure.
``lifelines``
    The survival part done with plain lifelines calls on the same selections: a
    KaplanMeierFitter per arm (median, its CI, milestone survival), ``logrank_test``, and a
    CoxPHFitter for the arm HR and for each subgroup level of the forest plot.

Every timing is the median of the repeats that ran (the JSON keeps every run). A phase repeats
``--repeats`` times, or fewer once its ``--budget`` is spent (never fewer than one run); the
table shows how many runs each median has. Targets of issue 7 are printed beside the
measurements with pass/fail. Nothing here changes what it measures to meet a target.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import gc
import hashlib
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (200, 10_000, 100_000, 1_000_000)
DEFAULT_REPEATS = 5
DEFAULT_BUDGET_S = 300.0
DEFAULT_PHASE_TIMEOUT_S = 3600.0
CACHE_DIR = ROOT / "out" / "bench-cache"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "bench.json"
FALLBACK_SEED = 3  # uncalibrated defaults only; some seeds give a pre-1970 diagnosis at n=200 (reported)
SCHEMA_VERSION = 1

CHANGED_SELECTIONS: tuple[dict[str, str], ...] = (
    {"age_lt_55": "yes"},
    {"age_lt_55": "no"},
    {"hr_positive": "yes"},
    {"hr_positive": "no"},
    {"her2_positive": "yes"},
    {"her2_positive": "no"},
    {"mdfi_gt_24": "yes"},
    {"mdfi_gt_24": "no"},
    {"age_lt_55": "yes", "hr_positive": "yes"},
    {"site": "liver"},
    {"site": "lung"},
    {"age_lt_55": "no", "her2_positive": "no"},
)
"""The filter changes timed, one per repeat, in this order (query-parameter form, as the app's
links spell them). Each repeat computes a selection the process has not seen before."""

PROFILE_SELECTION: dict[str, str] = {"her2_positive": "no", "mdfi_gt_24": "yes"}
"""The filter change profiled after the timed runs: not one of :data:`CHANGED_SELECTIONS`, so a
cache of earlier selections cannot hide work from the profile."""

PAGE_VIEWS = ("survival", "forest", "cox", "table_one")
"""The analysis views of the Survival, Subgroups, Cox models and Table 1 pages."""

PAGE_OPTIONS: dict[str, dict[str, Any]] = {
    "survival": {"landmarks": [36.0, 60.0]},
    "forest": {},
    "cox": {"model": "paper", "references": {"site": "lung", "nodal_status": "N0"}},
    "table_one": {},
    "overview": {},
}
"""Options the pages pass with their default widgets (pages/*.py)."""

PHASES = ("load_csv", "load_parquet", "app", "cache", "e2e_csv", "e2e_parquet", "lifelines")

TARGETS: tuple[dict[str, Any], ...] = (
    {"id": "t200_analyses", "size": 200, "text": "filter change, all pages' analyses (warm)",
     "path": ("app", "analyses_total"), "limit": 0.050, "unit": "s"},
    {"id": "t200_cache", "size": 200, "text": "cached repeat view (slowest page)",
     "path": ("cache", "hit_slowest_page"), "limit": 0.005, "unit": "s"},
    {"id": "t100k_analyses", "size": 100_000, "text": "filter change, all pages' analyses",
     "path": ("app", "analyses_total"), "limit": 1.0, "unit": "s"},
    {"id": "t100k_vs_lifelines", "size": 100_000,
     "text": "filter change (all pages) / lifelines doing only the survival part",
     "path": ("ratio", "analyses_vs_lifelines"), "limit": 1.5, "unit": "x"},
    {"id": "t1m_analyses", "size": 1_000_000, "text": "filter change, all pages' analyses",
     "path": ("app", "analyses_total"), "limit": 5.0, "unit": "s"},
    {"id": "t1m_memory", "size": 1_000_000, "text": "peak memory (load + filter change, worst format)",
     "path": ("memory", "peak_app_mb"), "limit": 2048.0, "unit": "MB"},
    {"id": "t1m_parquet", "size": 1_000_000, "text": "Parquet load + validation",
     "path": ("load_parquet", "load"), "limit": 5.0, "unit": "s"},
)
"""Issue 7, item 2. The browser target is added by :func:`browser_targets`."""

BROWSER_LIMIT_S = 0.300


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------
def summary(runs: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and every run (seconds, or whatever unit ``runs`` is in)."""
    runs = [float(r) for r in runs]
    if not runs:
        return {"median": None, "min": None, "max": None, "n": 0, "runs": []}
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "n": len(runs),
            "runs": runs}


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, result) of one call."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """Resident memory now (VmRSS), NaN when /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def selection_from_params(params: Mapping[str, str]):
    """A :class:`imet_core.subgroups.Selection` from link parameters (e.g. ``{"age_lt_55": "yes"}``)."""
    from imet_core.subgroups import Selection

    selection, notices = Selection.from_query_params({k: [v] for k, v in params.items()})
    if notices:
        raise ValueError(f"benchmark selection {params} not understood: {notices}")
    return selection


def selection_label(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items()) or "default"


def selections_for(repeats: int) -> list[dict[str, str]]:
    """The first ``repeats`` filter changes (cycling when there are more repeats than changes)."""
    return [CHANGED_SELECTIONS[i % len(CHANGED_SELECTIONS)] for i in range(repeats)]


class RepeatBudget:
    """Run up to ``repeats`` times, stop early once ``budget_s`` is spent (at least one run)."""

    def __init__(self, repeats: int, budget_s: float):
        self.repeats = max(1, int(repeats))
        self.budget_s = float(budget_s)
        self.start = time.perf_counter()
        self.done = 0

    def __iter__(self):
        while self.done < self.repeats:
            if self.done >= 1 and time.perf_counter() - self.start > self.budget_s:
                return
            gc.collect()  # collect garbage of the previous run outside the timed region
            yield self.done
            self.done += 1

    @property
    def stopped_early(self) -> bool:
        return self.done < self.repeats


# ----------------------------------------------------------------------------------------------
# Data: scaled synthetic registries, cached on disk
# ----------------------------------------------------------------------------------------------
def generator_params() -> tuple[dict[str, Any], str]:
    """The synthetic generator's parameters and where they came from.

    The committed calibration (``data/synthetic_params.json``) when it exists; otherwise the
    generator's own uncalibrated defaults (the structure read from the published numbers and
    :func:`imet_core.synthetic.default_model`). Timing depends on the cohort's size and shape,
    not on the calibration; the JSON records which one was used.
    """
    from imet_core import synthetic

    if synthetic.DEFAULT_PARAMS_PATH.exists():
        return synthetic.load_params(), f"committed {synthetic.DEFAULT_PARAMS_PATH.relative_to(ROOT)}"
    published = json.loads(synthetic.PUBLISHED_PATH.read_text(encoding="utf-8"))
    params = {"seed": FALLBACK_SEED, "structure": synthetic.structure_from_published(published),
              "model": synthetic.default_model()}
    return params, "uncalibrated generator defaults (data/synthetic_params.json not committed yet)"


def data_key(n: int, params: Mapping[str, Any]) -> str:
    """Cache key of a generated registry: size, seed, parameters and generator source."""
    digest = hashlib.sha256()
    digest.update(json.dumps(params, sort_keys=True, default=str).encode("utf-8"))
    digest.update((ROOT / "imet_core" / "synthetic.py").read_bytes())
    return f"imet_n{n}_seed{params['seed']}_{digest.hexdigest()[:10]}"


def generate_files(n: int, csv_path: str, parquet_path: str) -> dict[str, Any]:
    """Write one scaled synthetic cohort as CSV and Parquet (atomically: temp name, rename)."""
    from imet_core import synthetic

    params, source = generator_params()
    elapsed, cohort = timed(lambda: synthetic.generate_cohort(n, params["seed"], params))
    for target in (csv_path, parquet_path):
        target = Path(target)
        partial = target.with_name(target.stem + ".partial" + target.suffix)
        synthetic.write_cohort(cohort, partial)
        os.replace(partial, target)
    return {"generate_s": elapsed, "params_source": source}


def ensure_registry(n: int, cache_dir: Path, *, isolated: bool = True) -> dict[str, Any]:
    """Paths of the CSV and Parquet registries of ``n`` patients, generating them if needed."""
    params, source = generator_params()
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = data_key(n, params)
    csv_path, parquet_path = cache_dir / f"{key}.csv", cache_dir / f"{key}.parquet"
    info: dict[str, Any] = {"n": n, "seed": params["seed"], "params_source": source, "key": key,
                            "csv": str(csv_path), "parquet": str(parquet_path), "cached": True}
    if not (csv_path.exists() and parquet_path.exists()):
        info["cached"] = False
        spec = {"phase": "generate", "n": n, "csv": str(csv_path), "parquet": str(parquet_path)}
        info.update(run_worker(spec) if isolated else generate_files(n, str(csv_path), str(parquet_path)))
    info["csv_mb"] = csv_path.stat().st_size / 2**20
    info["parquet_mb"] = parquet_path.stat().st_size / 2**20
    return info


# ----------------------------------------------------------------------------------------------
# Phases (each runs in its own subprocess unless --in-process)
# ----------------------------------------------------------------------------------------------
def phase_load(path: str, repeats: int, budget_s: float) -> dict[str, Any]:
    """Load + validate the file ``repeats`` times."""
    from imet_core.io import load_registry

    rss_start = current_rss_mb()
    runs, rows = [], 0
    budget = RepeatBudget(repeats, budget_s)
    for _ in budget:
        elapsed, frame = timed(lambda: load_registry(path))
        rows = len(frame)
        del frame
        runs.append(elapsed)
    return {"load": summary(runs), "rows": rows, "rss_before_mb": rss_start, "peak_rss_mb": peak_rss_mb(),
            "stopped_early": budget.stopped_early}


def page_analyses(frame, selection) -> dict[str, tuple[float, Any]]:
    """Every view the chart and table pages compute for ``selection``: name -> (seconds, view)."""
    from imet_core import analysis

    calls = {
        "survival": lambda: analysis.survival_view(frame, selection, landmarks=PAGE_OPTIONS["survival"]["landmarks"]),
        "forest": lambda: analysis.forest_view(frame, selection),
        "cox": lambda: analysis.cox_view(frame, selection, **PAGE_OPTIONS["cox"]),
        "table_one": lambda: analysis.table_one_view(frame, selection),
        "overview": lambda: analysis.overview_view(frame, selection),
    }
    return {name: timed(call) for name, call in calls.items()}


def page_figures(views: Mapping[str, Any]) -> dict[str, tuple[float, Any]]:
    """Every figure the pages draw from the views, as the pages build them (the plain
    ``{"data", "layout"}`` dict, ``as_spec``): name -> (seconds, figure dict or None)."""
    from imet_core import figures

    survival, forest, cox = views["survival"], views["forest"], views["cox"]
    calls = {
        "km": lambda: figures.km_figure(survival, height=680, font_size=17, as_spec=True) if survival.n else None,
        "forest": lambda: (figures.forest_figure(forest, font_size=16, as_spec=True)
                           if not forest.note and len(forest.table) else None),
        "cox_univariable": lambda: figures.cox_forest_figure(cox, as_spec=True) if len(cox.table) else None,
        "cox_adjusted": lambda: figures.cox_forest_figure(cox, adjusted=True, as_spec=True) if len(cox.table) else None,
    }
    return {name: timed(call) for name, call in calls.items()}


def figure_json(figs: Mapping[str, Any]) -> tuple[float, dict[str, int]]:
    """Seconds to serialise every figure as the app's charts do (``ui.charts.figure_json``), and
    each JSON's size."""
    from ui.charts import figure_json as chart_json

    sizes, start = {}, time.perf_counter()
    for name, fig in figs.items():
        if fig is not None:
            sizes[name] = len(chart_json(fig))
    return time.perf_counter() - start, sizes


def km_points(fig: Mapping | None) -> int:
    """Number of (x, y) points of the KM figure dict's traces (curves, bands, censor marks)."""
    if fig is None:
        return 0
    return int(sum(len(t["x"]) for t in fig["data"] if t.get("x") is not None))


def filter_change(frame, selection) -> dict[str, Any]:
    """One timed filter change: every page's analysis, then every figure, then the JSON."""
    analyses = page_analyses(frame, selection)
    views = {name: view for name, (_, view) in analyses.items()}
    figs = page_figures(views)
    json_s, json_sizes = figure_json({name: fig for name, (_, fig) in figs.items()})
    return {"analyses": {name: t for name, (t, _) in analyses.items()},
            "figures": {name: t for name, (t, _) in figs.items()},
            "figures_json": json_s, "json_bytes": json_sizes, "km_points": km_points(figs["km"][1]),
            "subgroup_n": int(views["survival"].n)}


def phase_app(path: str, repeats: int, budget_s: float, profile: bool) -> dict[str, Any]:
    """Load once, warm up on the opening view, then one new filter change per repeat."""
    from imet_core.io import frame_fingerprint, load_registry
    from imet_core.subgroups import Selection

    rss_import = current_rss_mb()
    load_s, frame = timed(lambda: load_registry(path))
    fingerprint_s, _ = timed(lambda: frame_fingerprint(frame))
    rss_loaded = current_rss_mb()
    warmup_s, _ = timed(lambda: filter_change(frame, Selection()))
    peak_after_warmup = peak_rss_mb()
    budget = RepeatBudget(repeats, budget_s)
    runs, used = [], []
    for i in budget:
        params = selections_for(repeats)[i]
        runs.append(filter_change(frame, selection_from_params(params)))
        used.append(selection_label(params))
    out = {"load_s": load_s, "fingerprint_s": fingerprint_s, "warmup_s": warmup_s, "selections": used,
           "stopped_early": budget.stopped_early, "rss_after_import_mb": rss_import, "rss_after_load_mb": rss_loaded,
           "peak_rss_after_warmup_mb": peak_after_warmup}
    out.update(summarise_filter_changes(runs))
    out["peak_rss_mb"] = peak_rss_mb()  # before profiling: the memory target is read from this
    if profile:
        out["profile"] = profile_filter_change(frame, PROFILE_SELECTION)
        out["peak_rss_with_profile_mb"] = peak_rss_mb()
    return out


def summarise_filter_changes(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians per view and figure, and of the totals, over the runs of :func:`filter_change`."""
    views = {name: summary([r["analyses"][name] for r in runs]) for name in runs[0]["analyses"]}
    figs = {name: summary([r["figures"][name] for r in runs]) for name in runs[0]["figures"]}
    analyses_total = [sum(r["analyses"][v] for v in PAGE_VIEWS) for r in runs]
    figures_total = [sum(r["figures"].values()) for r in runs]
    return {
        "views": views, "figures": figs,
        "analyses_total": summary(analyses_total),
        "survival_part": summary([r["analyses"]["survival"] + r["analyses"]["forest"] for r in runs]),
        "figures_total": summary(figures_total),
        "figures_json": summary([r["figures_json"] for r in runs]),
        "filter_change_total": summary([a + f + r["figures_json"]
                                        for a, f, r in zip(analyses_total, figures_total, runs)]),
        "json_bytes": runs[0]["json_bytes"], "km_points": [r["km_points"] for r in runs],
        "subgroup_n": [r["subgroup_n"] for r in runs],
    }


def profile_filter_change(frame, params: Mapping[str, str], top: int = 25) -> dict[str, Any]:
    """cProfile of one filter change (analyses + figures): top functions by own and total time."""
    selection = selection_from_params(params)
    profiler = cProfile.Profile()
    profiler.enable()
    filter_change(frame, selection)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        rows.append({"function": f"{short_path(filename)}:{line}({name})", "ncalls": ncalls,
                     "tottime": tottime, "cumtime": cumtime})
    by_own = sorted(rows, key=lambda r: -r["tottime"])[:top]
    by_total = sorted((r for r in rows if "benchmarks/run.py" not in r["function"]),
                      key=lambda r: -r["cumtime"])[:top]
    return {"selection": selection_label(params), "total_s": stats.total_tt,
            "top_tottime": by_own, "top_cumtime": by_total}


def short_path(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def phase_cache(path: str, repeats: int, budget_s: float) -> dict[str, Any]:
    """:func:`ui.views.view` twice per page view in Streamlit's bare mode: miss, then hit.

    The synthetic registry goes through ``st.cache_data`` (``ui.views._shared``), the path every
    session uses for the embedded cohort; ``IMET_EXPLORER_DATA`` points it at the benchmark file.
    The environment and both caches are restored afterwards (the smoke test runs this inside
    the pytest process, beside AppTest tests that use the embedded cohort).
    """
    previous = {key: os.environ.get(key) for key in ("IMET_EXPLORER_DATA", "STREAMLIT_LOGGER_LEVEL")}
    os.environ["IMET_EXPLORER_DATA"] = path
    os.environ["STREAMLIT_LOGGER_LEVEL"] = "error"  # bare mode's "No runtime found" warning
    from ui import views
    from ui.registry import default_registry

    clear_app_caches()
    try:
        return _cache_hits_and_misses(views.view, default_registry, repeats, budget_s)
    finally:
        clear_app_caches()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def clear_app_caches() -> None:
    """Empty every ``st.cache_data`` and ``st.cache_resource`` cache of this process (the app's
    registry and views), so a measurement starts cold and leaves nothing behind."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def _cache_hits_and_misses(view, default_registry, repeats: int, budget_s: float) -> dict[str, Any]:
    from imet_core.subgroups import Selection

    registry_s, registry = timed(default_registry)
    for name in PAGE_VIEWS:  # the opening view, as the app draws it first
        view(name, registry, Selection(), **PAGE_OPTIONS[name])
    misses: dict[str, list[float]] = {name: [] for name in PAGE_VIEWS}
    hits: dict[str, list[float]] = {name: [] for name in PAGE_VIEWS}
    budget = RepeatBudget(repeats, budget_s)
    for i in budget:
        selection = selection_from_params(selections_for(repeats)[i])
        for name in PAGE_VIEWS:
            misses[name].append(timed(lambda: view(name, registry, selection, **PAGE_OPTIONS[name]))[0])
            hits[name].append(timed(lambda: view(name, registry, selection, **PAGE_OPTIONS[name]))[0])
    per_run_hits = list(zip(*(hits[name] for name in PAGE_VIEWS)))
    return {"registry_load_s": registry_s,
            "miss": {name: summary(v) for name, v in misses.items()},
            "hit": {name: summary(v) for name, v in hits.items()},
            "hit_slowest_page": summary([max(r) for r in per_run_hits]),
            "hit_all_pages": summary([sum(r) for r in per_run_hits]),
            "stopped_early": budget.stopped_early, "peak_rss_mb": peak_rss_mb()}


def phase_e2e(path: str, repeats: int, budget_s: float) -> dict[str, Any]:
    """End to end in one process: load + validate, all pages' analyses and figures."""
    from imet_core.io import load_registry

    loads, changes, totals, after_first = [], [], [], None
    budget = RepeatBudget(repeats, budget_s)
    for i in budget:
        selection = selection_from_params(selections_for(repeats)[i])
        start = time.perf_counter()
        load_s, frame = timed(lambda: load_registry(path))
        change = filter_change(frame, selection)
        totals.append(time.perf_counter() - start)
        loads.append(load_s)
        changes.append(change)
        del frame
        if after_first is None:
            after_first = peak_rss_mb()
    out = {"end_to_end": summary(totals), "load": summary(loads), "stopped_early": budget.stopped_early,
           "peak_rss_after_first_run_mb": after_first, "peak_rss_mb": peak_rss_mb()}
    out.update({k: v for k, v in summarise_filter_changes(changes).items()
                if k in ("analyses_total", "figures_total", "filter_change_total")})
    return out


def lifelines_survival_part(frame, selection, landmarks: Sequence[float] = (36.0, 60.0)) -> dict[str, Any]:
    """The Survival and Subgroups pages' survival analyses with plain lifelines calls.

    Per arm: ``KaplanMeierFitter`` (with its median, the median's CI and milestone survival);
    ``logrank_test`` (``multivariate_logrank_test`` for more than two arms); ``CoxPHFitter``
    (Efron ties, lifelines' only method) for the arm HR in the subgroup and within each level of
    :data:`imet_core.analysis.FOREST_VARIABLES`, skipping a level where an arm has fewer than
    :data:`imet_core.analysis.MIN_EVENTS` events, as the forest view does. Returns seconds per part.
    """
    import numpy as np
    import pandas as pd
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test, multivariate_logrank_test
    from lifelines.utils import median_survival_times

    from imet_core.analysis import FOREST_VARIABLES, MIN_EVENTS
    from imet_core.subgroups import comparison_arms

    parts = {"subset": 0.0, "km": 0.0, "logrank": 0.0, "cox_arm": 0.0, "cox_subgroups": 0.0}
    start = time.perf_counter()
    data = frame.loc[selection.subgroup.mask(frame)]
    arms = comparison_arms(data, selection.comparison)
    in_arm = arms.arm.notna().to_numpy()
    data = data.loc[in_arm]
    arm = arms.arm[in_arm].astype(str).to_numpy()
    table = pd.DataFrame({"T": data[selection.time_column].to_numpy(float),
                          "E": data[selection.event_column].to_numpy(float)})
    parts["subset"] = time.perf_counter() - start

    start = time.perf_counter()
    for level in arms.levels:
        rows = arm == level
        if rows.any():
            kmf = KaplanMeierFitter().fit(table["T"][rows], table["E"][rows], label=str(level))
            median_survival_times(kmf.confidence_interval_)
            kmf.survival_function_at_times(list(landmarks))
            kmf.confidence_interval_survival_function_  # noqa: B018 (computed at fit; read as a page would)
    parts["km"] = time.perf_counter() - start

    start = time.perf_counter()
    present = [lvl for lvl in arms.levels if (arm == lvl).any()]
    if len(present) == 2:
        a, b = (arm == present[0]), (arm == present[1])
        logrank_test(table["T"][a], table["T"][b], table["E"][a], table["E"][b])
    elif len(present) > 2:
        multivariate_logrank_test(table["T"], arm, table["E"])
    parts["logrank"] = time.perf_counter() - start

    fits = 0
    reference = arms.reference
    others = [lvl for lvl in arms.levels if lvl != reference]

    def cox(rows: np.ndarray) -> None:
        nonlocal fits
        events = {lvl: table["E"].to_numpy()[rows & (arm == lvl)].sum() for lvl in arms.levels}
        eligible = [lvl for lvl in others if events[lvl] >= MIN_EVENTS]
        if events.get(reference, 0) < MIN_EVENTS or not eligible:
            return
        keep = rows & np.isin(arm, [reference, *eligible])
        design = table.loc[keep, ["T", "E"]].copy()
        for lvl in eligible:
            design[f"arm_{lvl}"] = (arm[keep] == lvl).astype(float)
        try:
            CoxPHFitter().fit(design, "T", "E")
            fits += 1
        except Exception:  # lifelines raises ConvergenceError and others; count only fits that ran
            pass

    start = time.perf_counter()
    everyone = np.ones(len(table), dtype=bool)
    cox(everyone)
    parts["cox_arm"] = time.perf_counter() - start

    start = time.perf_counter()
    if len(arms.levels) == 2:
        skip = selection.comparison
        for variable, _, levels in FOREST_VARIABLES:
            if variable == skip or variable not in data.columns:
                continue
            column = data[variable].to_numpy()
            for value, _ in levels:
                cox(column == value)
    parts["cox_subgroups"] = time.perf_counter() - start
    return {"parts": parts, "total": sum(parts.values()), "cox_fits": fits}


def phase_lifelines(path: str, repeats: int, budget_s: float) -> dict[str, Any]:
    """The lifelines baseline on the same selections as the ``app`` phase."""
    import warnings

    from imet_core.io import load_registry
    from imet_core.subgroups import Selection

    frame = load_registry(path)
    runs, used = [], []
    budget = RepeatBudget(repeats, budget_s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' convergence chatter; fits that fail are counted
        warmup_s, _ = timed(lambda: lifelines_survival_part(frame.head(min(len(frame), 2000)), Selection()))
        for i in budget:
            params = selections_for(repeats)[i]
            runs.append(lifelines_survival_part(frame, selection_from_params(params)))
            used.append(selection_label(params))
    return {"warmup_s": warmup_s, "selections": used, "total": summary([r["total"] for r in runs]),
            "parts": {k: summary([r["parts"][k] for r in runs]) for k in runs[0]["parts"]},
            "cox_fits": [r["cox_fits"] for r in runs], "stopped_early": budget.stopped_early,
            "peak_rss_mb": peak_rss_mb()}


def run_phase(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Dispatch one phase described by ``spec`` (what a worker subprocess runs)."""
    phase = spec["phase"]
    repeats, budget = spec.get("repeats", 1), spec.get("budget_s", DEFAULT_BUDGET_S)
    if phase == "generate":
        return generate_files(spec["n"], spec["csv"], spec["parquet"])
    if phase in ("load_csv", "load_parquet"):
        return phase_load(spec["file"], repeats, budget)
    if phase == "app":
        return phase_app(spec["file"], repeats, budget, spec.get("profile", False))
    if phase == "cache":
        return phase_cache(spec["file"], repeats, budget)
    if phase in ("e2e_csv", "e2e_parquet"):
        return phase_e2e(spec["file"], repeats, budget)
    if phase == "lifelines":
        return phase_lifelines(spec["file"], repeats, budget)
    if phase == "server_pages":
        from benchmarks.browser_latency import server_page_runs

        out = server_page_runs(spec["file"], [tuple(step.split("=", 1)) for step in spec["path"]])
        if spec.get("profile"):
            from benchmarks.browser_latency import profile_page_scripts

            out["profile"] = profile_page_scripts(spec["file"])
        return out
    raise ValueError(f"unknown phase {phase!r}")


def run_worker(spec: Mapping[str, Any], timeout_s: float = DEFAULT_PHASE_TIMEOUT_S) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its JSON result (or the error) comes back."""
    with tempfile.TemporaryDirectory(prefix="imet-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(dict(spec)),
                   "--worker-out", str(result_path)]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout_s:.0f} s"}
        if done.returncode != 0 or not result_path.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-12:]
            return {"error": f"worker exited with {done.returncode}", "stderr_tail": tail}
        result = json.loads(result_path.read_text())
        result["wall_s"] = time.perf_counter() - started
        return result


# ----------------------------------------------------------------------------------------------
# The whole run
# ----------------------------------------------------------------------------------------------
def machine_description() -> dict[str, Any]:
    """nproc, CPU model, RAM, Python and library versions, git state of the measured code."""
    import numpy
    import pandas

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = int(line.split()[1]) / 2**20
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": numpy.__version__, "pandas": pandas.__version__}
    for module in ("scipy", "pyarrow", "lifelines", "plotly", "streamlit", "playwright"):
        try:
            from importlib.metadata import version
            versions[module] = version(module)
        except Exception:  # not installed: recorded as absent
            versions[module] = None
    return {"nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu_model": cpu_model, "ram_gb": ram_gb, "platform": platform.platform(),
            "versions": versions, "threads_env": {k: os.environ[k] for k in
                                                  ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                                                  if k in os.environ}}


def code_state() -> dict[str, Any]:
    """The commit measured, and which measured files differ from it (shared working tree)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "imet_core", "ui", "pages", "app.py").splitlines()]
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted_measured_files": dirty,
            "source_sha256": measured_source_hash()}


def measured_source_hash() -> str:
    """SHA-256 over the measured Python sources (imet_core, ui, pages, app.py) as they are on disk.

    The data generator (``imet_core/synthetic.py``) is left out: its version is part of each
    registry's cache key (``sizes.<n>.data.key``)."""
    digest = hashlib.sha256()
    files = sorted([*ROOT.glob("imet_core/**/*.py"), *ROOT.glob("ui/**/*.py"), *ROOT.glob("pages/**/*.py"),
                    ROOT / "app.py"])
    files = [f for f in files if f != ROOT / "imet_core" / "synthetic.py"]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode("utf-8"))
            digest.update(path.read_bytes())
    return digest.hexdigest()


def run_benchmark(sizes: Sequence[int] = DEFAULT_SIZES, *, repeats: int = DEFAULT_REPEATS,
                  budget_s: float = DEFAULT_BUDGET_S, out: Path | None = DEFAULT_OUT,
                  cache_dir: Path = CACHE_DIR, isolated: bool = True, profile: bool = True,
                  browser: bool = True, browser_repeats: int | None = None,
                  phases: Iterable[str] = PHASES, phase_timeout_s: float = DEFAULT_PHASE_TIMEOUT_S,
                  notes: Sequence[str] = (), echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark and return (and write to ``out``) its result.

    Parameters
    ----------
    sizes : sequence of int
        Registry sizes (patients).
    repeats : int
        Runs per phase (fewer when ``budget_s`` is spent first; never fewer than one).
    budget_s : float
        Time after which a phase stops repeating.
    out : Path or None
        JSON file to write (written atomically); None writes nothing.
    cache_dir : Path
        Where generated registries are kept between runs.
    isolated : bool
        Each phase in its own subprocess (True: memory per phase is meaningful). False runs
        everything in this process (the smoke test); peak memory is then the process's.
    profile : bool
        cProfile one filter change per size.
    browser : bool
        Measure click-to-redraw latency in chromium at the smallest size.
    phases : iterable of str
        Subset of :data:`PHASES`.
    notes : sequence of str
        Sentences kept with the result (printed in the README section).

    Returns
    -------
    dict
        ``schema, started, finished, machine, code, config, load_average, sizes, browser,
        targets`` (see ``benchmarks/README.md``).
    """
    phases = [p for p in PHASES if p in set(phases)]
    started = _dt.datetime.now(_dt.timezone.utc)
    result: dict[str, Any] = {
        "schema": SCHEMA_VERSION, "started": started.isoformat(timespec="seconds"),
        "machine": machine_description(), "code": code_state(),
        "config": {"sizes": list(sizes), "repeats": repeats, "budget_s": budget_s, "isolated": isolated,
                   "phases": phases, "selections": [selection_label(s) for s in selections_for(repeats)],
                   "page_options": PAGE_OPTIONS},
        "load_average": {"start": load_average(), "samples": []}, "sizes": {}, "browser": None,
        "notes": list(notes),
    }
    echo(f"machine: {describe_machine(result['machine'])}; load average {result['load_average']['start']}")
    for n in sizes:
        echo(f"\n== n = {n:,} ==")
        data = ensure_registry(n, cache_dir, isolated=isolated)
        echo(f"  data: {'cached' if data['cached'] else 'generated'} {Path(data['parquet']).name} "
             f"(CSV {data['csv_mb']:.1f} MB, Parquet {data['parquet_mb']:.1f} MB; {data['params_source']})")
        entry: dict[str, Any] = {"data": data}
        for phase in phases:
            spec = {"phase": phase, "file": data["csv"] if phase.endswith("csv") else data["parquet"],
                    "repeats": repeats, "budget_s": budget_s, "profile": profile and phase == "app"}
            result["load_average"]["samples"].append({"n": n, "phase": phase, "loadavg": load_average()})
            start = time.perf_counter()
            entry[phase] = run_worker(spec, phase_timeout_s) if isolated else run_phase(spec)
            echo(f"  {phase:<12} {time.perf_counter() - start:7.1f} s"
                 + (f"  ERROR {entry[phase]['error']}" if "error" in entry[phase] else ""))
        entry["ratio"] = size_ratios(entry)
        entry["memory"] = size_memory(entry)
        result["sizes"][str(n)] = entry
    if browser and sizes:
        n = min(sizes)
        result["load_average"]["samples"].append({"n": n, "phase": "browser", "loadavg": load_average()})
        echo(f"\n== browser (n = {n:,}) ==")
        from benchmarks.browser_latency import measure_browser_latency

        data_file = result["sizes"][str(n)]["data"]["csv"]
        try:
            result["browser"] = measure_browser_latency(data_file, repeats=browser_repeats or max(repeats, 5), n=n)
        except Exception as exc:  # chromium or playwright missing, app failed to start: reported, not hidden
            result["browser"] = {"error": f"{type(exc).__name__}: {exc}", "n": n}
        if "path" in result["browser"]:  # the server's share of the same clicks (AppTest, own process)
            spec = {"phase": "server_pages", "file": data_file, "path": result["browser"]["path"], "profile": profile}
            result["browser"]["server"] = run_worker(spec, phase_timeout_s) if isolated else run_phase(spec)
    result["load_average"]["end"] = load_average()
    result["code_at_end"] = code_state()
    result["code_changed_during_run"] = result["code_at_end"]["source_sha256"] != result["code"]["source_sha256"]
    result["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    result["duration_s"] = (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds()
    result["targets"] = evaluate_targets(result)
    echo("")
    echo(format_report(result))
    if out is not None:
        write_json(result, Path(out))
        echo(f"\nwrote {out}")
    return result


def size_ratios(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Our filter change against the lifelines baseline (medians over the same selections)."""
    def median(phase: str, key: str):
        value = entry.get(phase, {}).get(key)
        return value.get("median") if isinstance(value, dict) else None
    lifelines = median("lifelines", "total")
    ours_all, ours_survival = median("app", "analyses_total"), median("app", "survival_part")
    ratio = lambda ours: ours / lifelines if ours is not None and lifelines else None  # noqa: E731
    return {"analyses_vs_lifelines": {"median": ratio(ours_all)},
            "survival_part_vs_lifelines": {"median": ratio(ours_survival)}}


def size_memory(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Peak resident memory per phase (MB) and the worst of load + filter change."""
    per_phase = {phase: entry[phase].get("peak_rss_mb") for phase in PHASES
                 if isinstance(entry.get(phase), dict) and entry[phase].get("peak_rss_mb") is not None}
    app_like = [per_phase[p] for p in ("app", "e2e_csv", "e2e_parquet") if p in per_phase]
    return {"per_phase_mb": per_phase, "peak_app_mb": {"median": max(app_like) if app_like else None}}


def evaluate_targets(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Issue 7's targets beside the measurements: value, limit and pass/fail (None: not measured)."""
    rows = []
    for target in TARGETS:
        entry = result["sizes"].get(str(target["size"]))
        value = None
        if entry is not None:
            node = entry.get(target["path"][0], {})
            node = node.get(target["path"][1]) if isinstance(node, dict) else None
            value = node.get("median") if isinstance(node, dict) else None
        rows.append({k: target[k] for k in ("id", "size", "text", "limit", "unit")}
                    | {"value": value, "passed": None if value is None else bool(value <= target["limit"])})
    rows.extend(browser_targets(result.get("browser")))
    return rows


def browser_targets(browser: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One target row per chart page: click on a filter -> every chart redrawn (new selection)."""
    if not browser or "pages" not in browser:
        return [{"id": "browser", "size": (browser or {}).get("n", 200),
                 "text": "browser: click on a filter -> every chart redrawn", "limit": BROWSER_LIMIT_S,
                 "unit": "s", "value": None, "passed": None}]
    rows = []
    for page, measured in browser["pages"].items():
        value = (measured.get("miss") or {}).get("median")
        rows.append({"id": f"browser_{page}", "size": browser.get("n", 200),
                     "text": f"browser: click on a filter -> every chart redrawn ({page} page, new selection)",
                     "limit": BROWSER_LIMIT_S, "unit": "s", "value": value,
                     "passed": None if value is None else bool(value <= BROWSER_LIMIT_S)})
    return rows


# ----------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------
def describe_machine(machine: Mapping[str, Any]) -> str:
    v = machine["versions"]
    ram = f"{machine['ram_gb']:.0f} GB RAM" if machine.get("ram_gb") else "RAM unknown"
    return (f"{machine['nproc']} CPUs ({machine['cpu_model'] or 'unknown CPU'}), {ram}, Python {v['python']}, "
            f"numpy {v['numpy']}, pandas {v['pandas']}, lifelines {v.get('lifelines')}")


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "s":
        return fmt_time(value)
    if unit == "x":
        return f"{value:.2f}×"
    return f"{value:,.0f} {unit}"


def table_rows(result: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """(measurement, one cell per size) rows of the printed and README table."""
    sizes = list(result["sizes"])

    def cell(phase: str, *keys: str, unit: str = "s") -> list[str]:
        cells = []
        for n in sizes:
            node: Any = result["sizes"][n].get(phase, {})
            for key in keys:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                text = fmt_value(node.get("median"), unit)
                if node.get("n") not in (None, 0) and unit == "s":
                    text += f" (n={node['n']})"
            elif isinstance(node, (int, float)):
                text = fmt_value(float(node), unit)
            else:
                text = "error" if "error" in result["sizes"][n].get(phase, {}) else "–"
            cells.append(text)
        return cells

    rows = [
        ("Load CSV + validation", *cell("load_csv", "load")),
        ("Load Parquet + validation", *cell("load_parquet", "load")),
        ("Filter change: Survival view", *cell("app", "views", "survival")),
        ("Filter change: Subgroups (forest) view", *cell("app", "views", "forest")),
        ("Filter change: Cox view", *cell("app", "views", "cox")),
        ("Filter change: Table 1 view", *cell("app", "views", "table_one")),
        ("**Filter change: all pages' analyses**", *cell("app", "analyses_total")),
        ("Filter change: Overview view (not in the total)", *cell("app", "views", "overview")),
        ("Figure builders (KM, forest, 2 Cox forests)", *cell("app", "figures_total")),
        ("Figures to JSON (what the charts send)", *cell("app", "figures_json")),
        ("Filter change incl. figures and JSON", *cell("app", "filter_change_total")),
        ("KM figure: points drawn (median) / JSON size", *[km_size(result["sizes"][n].get("app", {})) for n in sizes]),
        ("Cached repeat view, slowest page (st.cache_data hit)", *cell("cache", "hit_slowest_page")),
        ("Cached repeat views, all four pages", *cell("cache", "hit_all_pages")),
        ("End to end, CSV (load + analyses + figures)", *cell("e2e_csv", "end_to_end")),
        ("End to end, Parquet (load + analyses + figures)", *cell("e2e_parquet", "end_to_end")),
        ("Survival part, ours (Survival + Subgroups views)", *cell("app", "survival_part")),
        ("Survival part, plain lifelines", *cell("lifelines", "total")),
        ("All pages' analyses / lifelines survival part", *cell("ratio", "analyses_vs_lifelines", unit="x")),
        ("Survival part / lifelines survival part", *cell("ratio", "survival_part_vs_lifelines", unit="x")),
        ("Peak memory, load + filter change (worst format)", *cell("memory", "peak_app_mb", unit="MB")),
        ("Memory held by the loaded registry (RSS after load − after imports)",
         *[fmt_value(registry_memory(result["sizes"][n].get("app", {})), "MB") for n in sizes]),
        ("Peak memory, load CSV only", *[fmt_value(result["sizes"][n].get("load_csv", {}).get("peak_rss_mb"), "MB")
                                         for n in sizes]),
        ("Peak memory, lifelines baseline", *[fmt_value(result["sizes"][n].get("lifelines", {}).get("peak_rss_mb"),
                                                        "MB") for n in sizes]),
    ]
    return rows


def registry_memory(app: Mapping[str, Any]) -> float | None:
    after, before = app.get("rss_after_load_mb"), app.get("rss_after_import_mb")
    return after - before if after is not None and before is not None else None


def km_size(app: Mapping[str, Any]) -> str:
    points, sizes = app.get("km_points"), app.get("json_bytes") or {}
    if not points:
        return "–"
    return f"{statistics.median(points):,.0f} / {sizes.get('km', 0) / 2**20:.2f} MB"


def markdown_table(result: Mapping[str, Any]) -> str:
    sizes = [f"n = {int(n):,}" for n in result["sizes"]]
    lines = ["| Measurement (median) | " + " | ".join(sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(result)]
    return "\n".join(lines)


def targets_table(result: Mapping[str, Any]) -> str:
    lines = ["| Target (issue 7) | n | measured | limit | |", "|---|---:|---:|---:|---|"]
    for t in result["targets"]:
        verdict = {True: "pass", False: "**FAIL**", None: "not measured"}[t["passed"]]
        lines.append(f"| {t['text']} | {int(t['size']):,} | {fmt_value(t['value'], t['unit'])} | "
                     f"{fmt_value(t['limit'], t['unit'])} | {verdict} |")
    return "\n".join(lines)


def browser_table(browser: Mapping[str, Any] | None) -> str:
    if not browser:
        return "Browser latency: not measured."
    if "error" in browser:
        return f"Browser latency: not measured ({browser['error']})."
    server = (browser.get("server") or {}).get("pages", {})
    lines = [f"| Page (n = {browser['n']:,}) | click → every chart redrawn, run over (new selection) "
             "| click → every chart's data changed (new selection) | click → redrawn, run over (cached selection) "
             "| server: page script rerun, AppTest (new / cached selection) |",
             "|---|---:|---:|---:|---:|"]

    def c(node):
        node = node or {}
        return f"{fmt_time(node.get('median'))} (n={node.get('n', 0)})" if node.get("median") is not None else "–"

    for page, m in browser["pages"].items():
        s = server.get(page, {})
        lines.append(f"| {page} | {c(m.get('miss'))} | {c(m.get('miss_charts_changed'))} | {c(m.get('hit'))} "
                     f"| {fmt_time((s.get('miss') or {}).get('median'))} / {fmt_time((s.get('hit') or {}).get('median'))} |")
    problems = [p for m in browser["pages"].values() for p in m.get("problems", [])]
    problems += [p for m in server.values() for p in m.get("problems", [])]
    if "error" in (browser.get("server") or {}):
        problems.append(f"server page runs: {browser['server']['error']}")
    if problems:
        lines.append("")
        lines.extend(f"- {p}" for p in problems)
    return "\n".join(lines)


def profile_text(result: Mapping[str, Any], top: int = 8) -> str:
    """The profile's top functions per size: by own time, and the project's by total time."""
    parts = []
    for n, entry in result["sizes"].items():
        prof = entry.get("app", {}).get("profile")
        if not prof:
            continue
        parts.append(f"n = {int(n):,}: one filter change ({prof['selection']}) under cProfile, "
                     f"{prof['total_s']:.2f} s. Top by own time:")
        parts += [_profile_line(row) for row in prof["top_tottime"][:top]]
        ours = [row for row in prof["top_cumtime"] if row["function"].startswith("imet_core/")]
        if ours:
            parts.append("  imet_core functions by total time (including what they call):")
            parts += [_profile_line(row) for row in ours[:top]]
    return "\n".join(parts)


def _profile_line(row: Mapping[str, Any]) -> str:
    return (f"    {row['tottime']:8.3f} s own {row['cumtime']:8.3f} s total {row['ncalls']:>9} calls  "
            f"{row['function']}")


def page_profile_text(result: Mapping[str, Any], top: int = 8) -> str:
    """The chart pages' own server-side cost with cached views (cProfile of the page script)."""
    profiles = ((result.get("browser") or {}).get("server") or {}).get("profile") or {}
    parts = []
    for page, prof in profiles.items():
        parts.append(f"{page} page script with cached views, {prof['total_s']:.2f} s under cProfile; "
                     "project functions by total time:")
        parts += [_profile_line(row) for row in prof["top_cumtime"][:top]]
    return "\n".join(parts)


def format_report(result: Mapping[str, Any]) -> str:
    la = result["load_average"]
    lines = [f"Machine: {describe_machine(result['machine'])}",
             f"Load average: start {la['start']}, end {la.get('end')}; "
             f"{'each phase in its own process' if result['config']['isolated'] else 'in-process run'}",
             f"Code: {result['code']['commit'][:10]}"
             + (f" + uncommitted {', '.join(result['code']['uncommitted_measured_files'])}"
                if result["code"]["uncommitted_measured_files"] else ""),
             *(["WARNING: the measured sources changed on disk during this run (shared working tree); "
                "sizes may have measured different code."] if result.get("code_changed_during_run") else []),
             *[f"Note: {note}" for note in result.get("notes", [])],
             "", markdown_table(result), "", browser_table(result.get("browser")), "", targets_table(result)]
    for text in (profile_text(result), page_profile_text(result)):
        if text:
            lines += ["", text]
    return "\n".join(lines)


README_HEADING = "## Performance"


def readme_section(result: Mapping[str, Any]) -> str:
    """The README's "Performance" section: the machine, how loaded it was, the measured tables."""
    machine, la = result["machine"], result["load_average"]
    samples = [s["loadavg"][0] for s in la.get("samples", []) if s.get("loadavg")]
    load_text = (f"1-minute load average {min(samples):.1f}–{max(samples):.1f} across the phases "
                 f"(other engineers' processes shared the machine)" if samples else "load average not recorded")
    code = result["code"]
    changed = (" The measured sources changed on disk during the run (shared working tree), so sizes "
               "may have measured slightly different code." if result.get("code_changed_during_run") else "")
    lines = [
        README_HEADING, "",
        f"Measured by `make bench` ([benchmarks/run.py](benchmarks/run.py); what each number means: "
        f"[benchmarks/README.md](benchmarks/README.md); raw results: "
        f"[benchmarks/results/bench.json](benchmarks/results/bench.json)) on {result['started'][:10]}, "
        f"commit `{code['commit'][:10]}`{' plus uncommitted changes' if code['uncommitted_measured_files'] else ''}.",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine['ram_gb']:.0f} GB RAM, {machine['platform']}; Python {machine['versions']['python']}, "
        f"numpy {machine['versions']['numpy']}, pandas {machine['versions']['pandas']}, "
        f"lifelines {machine['versions'].get('lifelines')}. {load_text}.{changed}",
        "",
        *[f"- {note}" for note in result.get("notes", [])],
        *([""] if result.get("notes") else []),
        "Medians of repeated runs (`n=` runs); each filter change is a selection not computed before.",
        "", markdown_table(result), "", browser_table(result.get("browser")), "", targets_table(result), "",
    ]
    return "\n".join(lines)


def update_readme(result: Mapping[str, Any], readme: Path = ROOT / "README.md") -> None:
    """Replace (or append) the README's Performance section, leaving every other section as it is."""
    text = readme.read_text(encoding="utf-8")
    section = readme_section(result)
    start = text.find("\n" + README_HEADING + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start + 1] + section + (text[end:] if end >= 0 else "")
    readme.write_text(text, encoding="utf-8")


def write_json(result: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="comma-separated registry sizes (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="runs per phase (median; default 5)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                        help="seconds after which a phase stops repeating (default 300; at least one run)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON result (default benchmarks/results/bench.json)")
    parser.add_argument("--cache-dir", default=str(CACHE_DIR), help="generated registries (default out/bench-cache)")
    parser.add_argument("--phases", default=",".join(PHASES), help="subset of: " + ", ".join(PHASES))
    parser.add_argument("--browser-repeats", type=int, default=None, help="clicks per page (default max(repeats, 5))")
    parser.add_argument("--no-browser", action="store_true", help="skip the chromium latency measurement")
    parser.add_argument("--no-profile", action="store_true", help="skip cProfile of a filter change")
    parser.add_argument("--in-process", action="store_true",
                        help="run every phase in this process (fast; peak memory then not per phase)")
    parser.add_argument("--phase-timeout", type=float, default=DEFAULT_PHASE_TIMEOUT_S,
                        help="kill a phase after this many seconds (default 3600)")
    parser.add_argument("--report", metavar="JSON", help="do not measure: print the report of an earlier run")
    parser.add_argument("--write-readme", action="store_true",
                        help="also replace the README's Performance section with this run's (or --report's) tables")
    parser.add_argument("--note", action="append", default=[],
                        help="a sentence to keep with the result (JSON 'notes', README); with --report, "
                             "added to that JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        result = run_phase(json.loads(args.worker))
        Path(args.worker_out).write_text(json.dumps(result, default=str), encoding="utf-8")
        return 0
    if args.report:
        result = json.loads(Path(args.report).read_text(encoding="utf-8"))
        if args.note:
            result["notes"] = [*result.get("notes", []), *args.note]
            write_json(result, Path(args.report))
        print(format_report(result))
        if args.write_readme:
            update_readme(result)
        return 0
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        print(f"--sizes must be comma-separated integers, not {args.sizes!r}", file=sys.stderr)
        return 2
    if not sizes or min(sizes) < 2 or args.repeats < 1:
        print("--sizes must be at least 2 patients each and --repeats at least 1", file=sys.stderr)
        return 2
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        print(f"unknown phase(s) {', '.join(sorted(unknown))}; choose from {', '.join(PHASES)}", file=sys.stderr)
        return 2
    result = run_benchmark(sizes, repeats=args.repeats, budget_s=args.budget, notes=args.note,
                           out=Path(args.out) if args.out else None, cache_dir=Path(args.cache_dir),
                           isolated=not args.in_process, profile=not args.no_profile, browser=not args.no_browser,
                           browser_repeats=args.browser_repeats, phases=args.phases.split(","),
                           phase_timeout_s=args.phase_timeout)
    if args.write_readme:
        update_readme(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
