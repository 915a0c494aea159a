"""Click on a sidebar filter -> every chart on the page redrawn, measured in Debian's chromium.

The app runs on a loopback port with ``IMET_EXPLORER_DATA`` pointing at the benchmark's
registry (``tests.browser_support.running_app``). For each chart page (Survival, Subgroups,
Cox models) a fresh browser session opens the page with the default selection, then clicks
through a path of sidebar filter changes. The time of one click is measured inside the page:

- start: the ``pointerdown`` of the click (a capture listener records ``performance.now()``);
- end: the first animation frame at which the data of *every* plotly chart on the page differs
  from what it was before the click, every chart is *visible* (not ``visibility: hidden``, not
  zero-sized) *and* Streamlit's status widget ("Running...") is gone.

So Playwright's own round trips are not counted, and the end is a frame the user sees.

Why visibility: ``st.plotly_chart`` (Streamlit 1.67) mounts a new chart element for new figure
data, and its first plotly draw happens while the element's width is still unmeasured, with the
graph div styled ``visibility: hidden``; the chart the user sees is the second draw. The app's
charts (``ui/charts.py``) update the same graph in place instead, but the check stays: a frame
whose graph div is hidden or has no size shows a blank area, not a redrawn chart.
``*_charts_changed`` still reports the first frame with every chart's data changed, visible or not.

Every selection on the path is new to the server when first clicked (``miss``: the page's
analysis is computed). The same path is then clicked again in a second fresh session: those
selections are in ``st.cache_data`` already (``hit``: shared across sessions), which is what a
user meets when returning to a selection. The path is chosen from the registry itself so that
every step keeps both arms with enough events for every chart to be drawn.
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHART_PAGES = ("survival", "subgroups", "cox_models")
FILTER_KEYS = ("age_lt_55", "hr_positive", "her2_positive", "mdfi_gt_24")
"""The sidebar's segmented controls, in the order they are drawn (ui/sidebar.py)."""
BUTTON_TEXT = {"any": "Any", "yes": "Yes", "no": "No"}
MIN_PER_ARM = 10
MIN_EVENTS_PER_ARM = 5

_INSTALL_PROBE = """
() => {
  const charts = () => Array.from(document.querySelectorAll('.js-plotly-plot'));
  const signature = () => charts().map(g => {
    try { return JSON.stringify((g.data || []).map(t => [t.x, t.y])); } catch (e) { return 'unreadable'; }
  });
  const visible = g => {
    const box = g.getBoundingClientRect();
    return getComputedStyle(g).visibility !== 'hidden' && box.width > 0 && box.height > 0;
  };
  const before = signature();
  const probe = {t0: null, tCharts: null, t1: null, charts: before.length};
  window.__imetProbe = probe;
  document.addEventListener('pointerdown', () => { if (probe.t0 === null) probe.t0 = performance.now(); },
                            {capture: true, once: true});
  const tick = () => {
    if (window.__imetProbe !== probe) return;          // a newer probe replaced this one
    if (probe.t0 !== null) {
      const now = signature();
      const changed = now.length >= before.length && before.every((s, i) => now[i] !== s);
      if (changed && probe.tCharts === null) probe.tCharts = performance.now();
      const redrawn = changed && charts().every(visible);
      if (redrawn && !document.querySelector('[data-testid="stStatusWidget"]')) {
        probe.t1 = performance.now();
        return;
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return before.length;
}
"""


def click_path(frame, steps: int) -> list[tuple[str, str]]:
    """A path of ``steps`` sidebar clicks ``(filter key, value)`` from the default selection.

    Each click changes one tri-state filter and leads to a subgroup not visited before in which
    both arms (IT, ST) have at least ``MIN_PER_ARM`` patients and ``MIN_EVENTS_PER_ARM`` deaths,
    so that every chart of every page is drawn. Deterministic (first candidate in a fixed order).
    """
    import numpy as np

    def ok(state: dict[str, str]) -> bool:
        keep = np.ones(len(frame), dtype=bool)
        for key, value in state.items():
            if value != "any":
                column = frame[key].to_numpy(dtype=bool)
                keep &= column if value == "yes" else ~column
        group, dead = frame["group"].to_numpy(), frame["dead"].to_numpy(dtype=bool)
        return all((keep & (group == arm)).sum() >= MIN_PER_ARM
                   and (keep & (group == arm) & dead).sum() >= MIN_EVENTS_PER_ARM for arm in ("IT", "ST"))

    state = {key: "any" for key in FILTER_KEYS}
    seen = {tuple(state.values())}
    path: list[tuple[str, str]] = []
    while len(path) < steps:
        for key in FILTER_KEYS:
            moved = False
            for value in ("yes", "no", "any"):
                candidate = dict(state, **{key: value})
                if value == state[key] or tuple(candidate.values()) in seen or not ok(candidate):
                    continue
                state = candidate
                seen.add(tuple(state.values()))
                path.append((key, value))
                moved = True
                break
            if moved:
                break
        else:
            break  # no unvisited neighbour left: a shorter path
    return path


def _median_summary(values: Sequence[float]) -> dict[str, Any]:
    values = [float(v) for v in values]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0, "runs": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values),
            "runs": values}


def _wait_until_drawn(page, timeout_ms: int) -> None:
    from tests.browser_support import wait_until_idle

    wait_until_idle(page, timeout_ms)
    page.wait_for_selector(".js-plotly-plot", timeout=timeout_ms)


def time_clicks(browser, url: str, page_name: str, path: Sequence[tuple[str, str]],
                timeout_ms: int = 30000) -> tuple[list[float], list[float], list[str]]:
    """Open ``page_name`` in a fresh session and click through ``path``.

    Returns seconds per click until every chart is redrawn (data changed, visible) and the run is
    over, seconds until every chart's data had changed (visible or not), and problems met."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    times, charts_times, problems = [], [], []
    try:
        page.goto(f"{url}/{page_name}")
        _wait_until_drawn(page, timeout_ms)
        sidebar = page.locator('[data-testid="stSidebar"]')
        for key, value in path:
            charts = page.evaluate(_INSTALL_PROBE)
            control = sidebar.locator('[data-testid="stButtonGroup"]').nth(FILTER_KEYS.index(key))
            control.get_by_text(BUTTON_TEXT[value], exact=True).click()
            try:
                page.wait_for_function("() => window.__imetProbe && window.__imetProbe.t1 !== null",
                                       timeout=timeout_ms)
            except Exception:  # playwright TimeoutError: reported with the step, not hidden
                problems.append(f"{page_name}: {key}={value}: charts ({charts}) not all redrawn within "
                                f"{timeout_ms} ms")
                _wait_until_drawn(page, timeout_ms)
                continue
            probe = page.evaluate("() => window.__imetProbe")
            times.append((probe["t1"] - probe["t0"]) / 1000.0)
            charts_times.append((probe["tCharts"] - probe["t0"]) / 1000.0)
            _wait_until_drawn(page, timeout_ms)  # let the rest of the page finish before the next click
        if page.locator('[data-testid="stException"]').count():
            problems.append(f"{page_name}: the page shows an exception")
    finally:
        page.close()
    return times, charts_times, problems


PAGE_FILES = {"survival": "pages/survival.py", "subgroups": "pages/subgroups.py",
              "cox_models": "pages/cox_models.py"}


def server_page_runs(data_file: str, path: Sequence[tuple[str, str]], pages: Sequence[str] = CHART_PAGES,
                     timeout_s: float = 120) -> dict[str, Any]:
    """The server's share of a click: the app script's run for the page, through AppTest.

    For each page a fresh ``AppTest`` of ``app.py`` opens the page (default selection), then each
    step of ``path`` sets the sidebar widget's state and reruns; the rerun is timed (it includes
    AppTest's own polling, a few ms). A second AppTest walks the same path again: its selections
    are in ``st.cache_data`` (shared by the process) by then.

    Returns
    -------
    dict
        ``pages[name]`` with ``miss`` and ``hit`` summaries (seconds) and ``problems``.
    """
    import logging
    import os
    import time

    previous = os.environ.get("IMET_EXPLORER_DATA")
    os.environ["IMET_EXPLORER_DATA"] = data_file
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from streamlit.testing.v1 import AppTest

    from benchmarks.run import clear_app_caches

    def walk(page_file: str) -> tuple[list[float], list[str]]:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout_s)
        app.run()
        app.switch_page(page_file)
        app.run()
        times, problems = [], []
        for key, value in path:
            app.session_state[f"f_{key}"] = value
            start = time.perf_counter()
            app.run()
            times.append(time.perf_counter() - start)
            if app.exception:
                problems.append(f"{page_file}: {key}={value}: {app.exception[0].value}")
        return times, problems

    out: dict[str, Any] = {"method": "AppTest rerun after setting the sidebar widget's state", "pages": {}}
    clear_app_caches()  # this process may have cached another registry or its views
    try:
        for name in pages:
            miss, problems = walk(PAGE_FILES[name])
            hit, more = walk(PAGE_FILES[name])
            out["pages"][name] = {"miss": _median_summary(miss), "hit": _median_summary(hit),
                                  "problems": problems + more}
    finally:
        clear_app_caches()
        if previous is None:
            os.environ.pop("IMET_EXPLORER_DATA", None)
        else:
            os.environ["IMET_EXPLORER_DATA"] = previous
    return out


_PROFILED_PAGE = """
import cProfile, os, pstats, runpy, sys
sys.path.insert(0, {root!r})
profiler = cProfile.Profile()
profiler.enable()
try:
    runpy.run_path({page!r}, run_name="__page__")
finally:
    profiler.disable()
    profiler.dump_stats({stats!r})
"""


def profile_page_scripts(data_file: str, pages: Sequence[str] = CHART_PAGES, top: int = 15,
                         timeout_s: float = 120) -> dict[str, Any]:
    """cProfile of each chart page's script on a rerun whose views are cached (default selection).

    What a click costs on the server besides the cached analyses: figure building, tables, page
    formatting. The page runs on its own through AppTest (``ui.page.context`` falls back to the
    default selection), twice; the second run is profiled.

    Returns
    -------
    dict
        ``{page: {"total_s", "top_cumtime": [...], "top_tottime": [...]}}``; rows have
        ``function, ncalls, tottime, cumtime``.
    """
    import logging
    import os
    import pstats
    import tempfile

    from streamlit.testing.v1 import AppTest

    from benchmarks.run import clear_app_caches

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    previous = os.environ.get("IMET_EXPLORER_DATA")
    os.environ["IMET_EXPLORER_DATA"] = data_file
    clear_app_caches()
    out: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="imet-page-profile-") as tmp:
            for name in pages:
                stats_file = str(Path(tmp) / f"{name}.prof")
                wrapper = Path(tmp) / f"profile_{name}.py"
                wrapper.write_text(_PROFILED_PAGE.format(root=str(ROOT), page=str(ROOT / PAGE_FILES[name]),
                                                         stats=stats_file))
                app = AppTest.from_file(str(wrapper), default_timeout=timeout_s)
                app.run()  # computes and caches the views
                app.run()  # profiled: views come from the cache
                stats = pstats.Stats(stats_file)
                rows = [{"function": f"{_short(f)}:{line}({fn})", "ncalls": nc, "tottime": tt, "cumtime": ct}
                        for (f, line, fn), (_, nc, tt, ct, _) in stats.stats.items()]
                ours = [r for r in rows if r["function"].startswith(("imet_core/", "ui/", "pages/"))]
                out[name] = {"total_s": max((r["cumtime"] for r in rows), default=0.0),
                             "top_cumtime": sorted(ours, key=lambda r: -r["cumtime"])[:top],
                             "top_tottime": sorted(rows, key=lambda r: -r["tottime"])[:top]}
    finally:
        clear_app_caches()
        if previous is None:
            os.environ.pop("IMET_EXPLORER_DATA", None)
        else:
            os.environ["IMET_EXPLORER_DATA"] = previous
    return out


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def measure_browser_latency(data_file: str, *, repeats: int = 5, n: int | None = None,
                            pages: Sequence[str] = CHART_PAGES, timeout_ms: int = 30000) -> dict[str, Any]:
    """Median click-to-redraw latency per chart page, for new and for cached selections.

    Parameters
    ----------
    data_file : str
        Registry file the app loads (``IMET_EXPLORER_DATA``).
    repeats : int
        Clicks per page and pass (the path may be shorter when the registry has too few
        subgroups with enough events; the JSON says how many ran).
    n : int, optional
        Registry size, recorded in the result.

    Returns
    -------
    dict
        ``n, path, method, pages`` where ``pages[name]`` has ``miss`` and ``hit`` summaries
        (seconds: ``median, min, max, n, runs``) of click -> every chart redrawn and the run
        over, ``miss_charts_changed`` and ``hit_charts_changed`` (click -> every chart's data
        changed, status widget ignored) and ``problems`` (list of str).
    """
    from playwright.sync_api import sync_playwright

    from imet_core.io import load_registry
    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, running_app

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing (`make chromium` installs Debian's chromium)")
    path = click_path(load_registry(data_file), repeats)
    result: dict[str, Any] = {"n": n, "data_file": data_file, "path": [f"{k}={v}" for k, v in path],
                              "method": "pointerdown -> first frame with every plotly chart's data changed, every "
                                        "chart visible and no stStatusWidget", "pages": {}}
    with running_app(data_file) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            warm = browser.new_page()
            warm.goto(f"{url}/survival")  # the first session pays the registry load; not timed
            _wait_until_drawn(warm, 120000)
            warm.close()
            for page_name in pages:
                miss, miss_charts, problems = time_clicks(browser, url, page_name, path, timeout_ms)
                hit, hit_charts, more = time_clicks(browser, url, page_name, path, timeout_ms)
                result["pages"][page_name] = {
                    "miss": _median_summary(miss), "hit": _median_summary(hit),
                    "miss_charts_changed": _median_summary(miss_charts),
                    "hit_charts_changed": _median_summary(hit_charts), "problems": problems + more}
        finally:
            browser.close()
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(measure_browser_latency(sys.argv[1], repeats=int(sys.argv[2]) if len(sys.argv) > 2 else 5),
                     indent=1))
