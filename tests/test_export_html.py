"""The HTML report: the deck's sections, inline plotly.js, no network, escaped text; it opens
offline in Chromium and draws its figures."""
from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest

from imet_core.export.content import build_pack
from imet_core.export.html_report import SECTION_TITLES, build_html
from imet_core.subgroups import Selection, SubgroupFilter
from tests.support.random_registry import random_registry

SELECTION = Selection(SubgroupFilter(her2_positive="yes", sites=frozenset({"lung"})), endpoint="pdrs")
EVIL = "<img src=x onerror=alert(1)>.csv"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    frame = random_registry(400, seed=8)
    pack = build_pack(frame, SELECTION, source=EVIL, synthetic=False, created=dt.datetime(2026, 7, 8, 9, 10))
    text = build_html(pack).decode("utf-8")
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(text, encoding="utf-8")
    return pack, text, path


def test_sections_titles_and_subgroup(report):
    pack, text, _ = report
    assert f"<title>{pack.title}" in text
    assert "Subgroup: HER2+ · Lung only" in text
    positions = [text.index(f"<h2>{title}") for title in SECTION_TITLES.values()]
    assert positions == sorted(positions), "same order as the deck"
    assert "Post-distant-recurrence survival (from metastasis diagnosis)" in text
    for word in ("OS (overall survival)", "PDRS", "MDFI", "Selection bias", "Immortal time", "Observational"):
        assert word in text
    assert "Synthetic data" not in text, "an uploaded registry is not called synthetic"


def test_footer_on_every_section(report):
    pack, text, _ = report
    footer = pack.footer.text().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert text.count(f'<p class="footer">{footer}</p>') == len(SECTION_TITLES)
    assert "2026-07-08 09:10" in text


def test_self_contained_no_network(report):
    _, text, _ = report
    head, body = text.split("</head>", 1)
    library = re.findall(r"<script type=\"text/javascript\">(.*?)</script>", head, flags=re.S)
    assert len(library) == 1 and "plotly" in library[0][:2000].lower() and len(library[0]) > 1_000_000, \
        "plotly.js is embedded once, inline, in the head"
    page = head.replace(library[0], "") + body  # the page itself, without the library's own code
    assert re.search(r"<script[^>]+src=", page) is None, "no external scripts"
    assert re.search(r"<link[^>]+href=", page) is None, "no external stylesheets or fonts"
    assert re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", page) is None, "no network references"
    assert "mathjax" not in page.lower()
    assert body.count('class="plotly-graph-div"') == 2, "KM and forest figures"


def test_uploaded_file_name_is_escaped(report):
    _, text, _ = report
    assert EVIL not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium")
def test_opens_offline_in_a_browser_and_draws_the_figures(report):
    sync_api = pytest.importorskip("playwright.sync_api")
    _, _, path = report
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            requests = []
            page.route("**/*", lambda route: (requests.append(route.request.url),
                                             route.continue_() if route.request.url.startswith("file:")
                                             else route.abort()))
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path.as_uri())
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30000)
            drawn = page.locator(".js-plotly-plot").count()
        finally:
            browser.close()
    assert drawn == 2
    assert [u for u in requests if not u.startswith("file:")] == [], "no request leaves the machine"
    assert errors == []
