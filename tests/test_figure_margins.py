"""Figures use fixed margins computed from the labels' font widths (no plotly automargin, which
costs the browser a second layout pass). Here chromium draws the figures with the longest
labels the app makes, and every tick label must lie inside the figure, not clipped at its left
edge, at the app's and the presentation mode's font sizes."""
from __future__ import annotations

import json
from pathlib import Path

import plotly.io as pio
import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT

pytestmark = pytest.mark.browser
PLOTLY_JS = Path(pio.__file__).resolve().parents[1] / "package_data" / "plotly.min.js"


def _figures(font_size: int) -> dict:
    from imet_core import analysis as an, figures as fg
    from imet_core.io import load_registry
    from imet_core.subgroups import Selection
    frame = load_registry(ROOT / "data" / "imet_synthetic.csv")
    overall, by_site = Selection(), Selection(comparison="site")
    return {
        "km": fg.km_figure(an.survival_view(frame, overall), font_size=font_size),
        "km_site": fg.km_figure(an.survival_view(frame, by_site), font_size=font_size),
        "forest": fg.forest_figure(an.forest_view(frame, overall), font_size=font_size),
        "cox": fg.cox_forest_figure(an.cox_view(frame, overall), font_size=font_size),
    }


@pytest.mark.parametrize("font_size", [17, 22])
def test_tick_labels_fit_inside_fixed_margins(tmp_path, font_size):
    from playwright.sync_api import sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium).")
    page_file = tmp_path / "figure.html"
    page_file.write_text(f"<html><body style='margin:0'><div id='g' style='width:900px'></div>"
                         f"<script>{PLOTLY_JS.read_text()}</script></body></html>")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_file.as_uri())
        for name, fig in _figures(font_size).items():
            spec = json.loads(pio.to_json(fig, validate=False))
            assert spec["layout"]["template"] == {}, name
            lefts = page.evaluate("""async (spec) => {
                Plotly.purge('g');
                await Plotly.newPlot('g', spec.data, spec.layout);
                const box = document.getElementById('g').getBoundingClientRect();
                return Array.from(document.querySelectorAll('#g .ytick text, #g .y2tick text'))
                    .map(t => t.getBoundingClientRect().left - box.left);
            }""", spec)
            assert lefts, name
            assert min(lefts) >= 0, f"{name}: a tick label starts {min(lefts):.1f} px left of the figure"
        browser.close()
