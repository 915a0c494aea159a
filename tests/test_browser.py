"""The app in a real browser (Playwright + Debian's chromium, headless): load, change a filter,
see the Kaplan-Meier chart and numbers change, no exception, the selection in the URL; the
screenshots it saves are the README's (docs/screenshots/)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, running_app, wait_until_idle
from tests.support.random_registry import random_registry_table

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium).")
    committed = ROOT / "data" / "imet_synthetic.csv"
    data = None
    if not committed.exists():
        data = tmp_path_factory.mktemp("data") / "registry.csv"
        random_registry_table(200, seed=11).to_csv(data, index=False)
    with running_app(str(data) if data else None) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _km_signature(page) -> str:
    """The plotted KM data (first curve's y values) as text, to tell two charts apart."""
    return page.evaluate(
        "() => { const g = document.querySelector('.js-plotly-plot');"
        " return g ? JSON.stringify(g.data.filter(t => t.mode === 'lines').map(t => t.y)) : ''; }")


def test_filter_change_redraws_chart_and_updates_url(app_url, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{app_url}/survival")
    wait_until_idle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=30000)
    assert page.locator('[data-testid="stException"]').count() == 0
    before_chart = _km_signature(page)
    before_text = page.locator('[data-testid="stMain"]').inner_text()
    page.screenshot(path=str(SHOTS / "survival.png"), full_page=True)

    sidebar = page.locator('[data-testid="stSidebar"]')
    group = sidebar.locator('[data-testid="stButtonGroup"]').first
    group.get_by_text("Yes", exact=True).click()
    wait_until_idle(page)
    page.wait_for_function("() => window.location.search.includes('age_lt_55=yes')", timeout=15000)
    after_chart = _km_signature(page)
    after_text = page.locator('[data-testid="stMain"]').inner_text()
    assert after_chart and after_chart != before_chart, "the KM chart was not redrawn"
    assert after_text != before_text and "Age < 55" in after_text
    assert page.locator('[data-testid="stException"]').count() == 0
    assert re.search(r"age_lt_55=yes", page.url)

    # the copied link reproduces the view in a fresh browser context
    other = browser.new_page(viewport={"width": 1600, "height": 1000})
    other.goto(page.url)
    wait_until_idle(other)
    other.wait_for_selector(".js-plotly-plot", timeout=30000)
    assert _km_signature(other) == after_chart
    other.close()
    page.close()


@pytest.mark.parametrize("name", ["overview", "subgroups", "cox_models", "table_one", "bias_checks",
                                  "paper_check", "data"])
def test_pages_render_in_browser(app_url, browser, name):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{app_url}/{name}")
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator("h1").count() >= 1
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.close()


def test_chart_updates_in_place_and_follows_the_column_width(app_url, browser):
    """A filter click hands the new figure to the same plotly graph (ui/charts.py), not to a new
    element; plotly.js comes from the app itself; the chart is as wide as its column, also after
    the sidebar is folded; the mode bar offers full screen and no plotly logo."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    scripts = []
    page.on("response", lambda r: scripts.append((r.url, r.status)) if "plotly" in r.url else None)
    page.goto(f"{app_url}/survival")
    page.wait_for_selector(".imet-chart .main-svg", timeout=60000)
    wait_until_idle(page)
    host = page.locator(".imet-chart")
    assert host.count() == 1
    page.evaluate("() => { document.querySelector('.imet-chart').__marker = 'first'; }")
    before = _km_signature(page)
    assert [status for url, status in scripts if url.startswith(app_url) and "/app/static/plotly-" in url] == [200]
    assert all(url.startswith(app_url) for url, _ in scripts), scripts

    page.locator('[data-testid="stSidebar"] [data-testid="stButtonGroup"]').first.get_by_text(
        "Yes", exact=True).click()
    page.wait_for_function("(b) => { const g = document.querySelector('.js-plotly-plot');"
                           " return g && JSON.stringify(g.data.filter(t => t.mode === 'lines').map(t => t.y)) !== b; }",
                           arg=before, timeout=30000)
    wait_until_idle(page)
    assert page.evaluate("() => document.querySelector('.imet-chart').__marker") == "first", \
        "the chart element was replaced instead of updated"

    column = page.evaluate("() => document.querySelector('.imet-chart').parentElement.getBoundingClientRect().width")
    drawn = page.evaluate("() => document.querySelector('.imet-chart')._fullLayout.width")
    assert abs(drawn - column) <= 2
    assert page.locator(".imet-chart .modebar-btn[data-title='Full screen']").count() == 1
    assert page.locator(".imet-chart .modebar-btn--logo").count() == 0
    assert page.get_attribute(".imet-chart", "role") == "figure"
    assert "Kaplan-Meier curves" in page.get_attribute(".imet-chart", "aria-label")

    # full screen: the chart fills the screen; back: the figure's height and the column's width
    page.hover(".imet-chart")
    page.click(".imet-chart .modebar-btn[data-title='Full screen']")
    page.wait_for_function("() => document.fullscreenElement && document.fullscreenElement.classList.contains('imet-chart')"
                           " && document.querySelector('.imet-chart')._fullLayout.width === window.innerWidth"
                           " && document.querySelector('.imet-chart')._fullLayout.height === window.innerHeight",
                           timeout=15000)
    page.evaluate("() => document.exitFullscreen()")
    page.wait_for_function("(w) => !document.fullscreenElement"
                           " && Math.abs(document.querySelector('.imet-chart')._fullLayout.width - w) <= 2",
                           arg=drawn, timeout=15000)

    page.hover('[data-testid="stSidebar"]')  # the fold button shows while the pointer is over the sidebar
    page.locator('[data-testid="stSidebarCollapseButton"] button').click()
    page.wait_for_function("(w) => document.querySelector('.imet-chart')._fullLayout.width > w + 100",
                           arg=drawn, timeout=15000)
    page.close()
