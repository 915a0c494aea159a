"""The app's charts (ui/charts.py): the browser gets exactly the figure's plotly JSON, keyed so
that a filter change updates the chart in place, drawn with the plotly.js that the pinned plotly
package ships (served by the app, nothing from the network)."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import plotly
import plotly.io as pio
import pytest
from streamlit.testing.v1 import AppTest

from imet_core import analysis, figures
from imet_core.io import load_registry
from imet_core.subgroups import Selection
from ui.charts import PLOTLY_JS_NAME, ensure_plotly_js, figure_json

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "imet_synthetic.csv"
SELECTIONS = [{}, {"age_lt_55": "yes", "her2_positive": "yes"}, {"endpoint": "pdrs", "compare": "site"},
              {"site": "lung+bone", "mdfi_gt_24": "no"}]


@pytest.fixture(scope="module")
def frame():
    return load_registry(str(DATA))


def _builders(frame, params: dict):
    selection, _ = Selection.from_query_params(params)
    survival = analysis.survival_view(frame, selection, landmarks=[36.0, 60.0])
    forest = analysis.forest_view(frame, selection)
    cox = analysis.cox_view(frame, selection)
    return {
        "km": lambda **k: figures.km_figure(survival, hr_text="HR 0.45<br>p = 0.002", **k),
        "km_suppressed": lambda **k: figures.km_figure(survival, suppress_below=5, font_size=20, height=760, **k),
        "forest": lambda **k: figures.forest_figure(forest, font_size=16, **k),
        "cox": lambda **k: figures.cox_forest_figure(cox, **k),
        "cox_adjusted": lambda **k: figures.cox_forest_figure(cox, adjusted=True, **k),
    }


@pytest.mark.parametrize("params", SELECTIONS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "all")
def test_spec_sent_to_the_browser_is_the_figures_plotly_json(frame, params):
    """as_spec skips plotly.py's object tree; the JSON must not change by a single value."""
    for name, build in _builders(frame, params).items():
        expected = json.loads(pio.to_json(build()))
        sent = json.loads(figure_json(build(as_spec=True)))
        assert sent == expected, name


def test_figure_json_writes_nan_as_null_and_numpy_scalars_as_numbers():
    spec = {"data": [{"type": "scatter", "x": [np.int64(1), 2.5], "y": [math.nan, np.float32(0.5)]}],
            "layout": {"height": np.int64(400)}}
    parsed = json.loads(figure_json(spec))
    assert parsed["data"][0]["x"] == [1, 2.5]
    assert parsed["data"][0]["y"] == [None, 0.5]
    assert parsed["layout"]["height"] == 400


def test_served_plotly_js_is_the_installed_packages_copy():
    served = ensure_plotly_js()
    shipped = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    assert served.name == PLOTLY_JS_NAME and served.parent == ROOT / "static"
    assert hashlib.sha256(served.read_bytes()).digest() == hashlib.sha256(shipped.read_bytes()).digest()
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert "enableStaticServing = true" in config


def _charts(at: AppTest) -> dict[str, dict]:
    """The page's charts as the browser receives them: key -> figure."""
    out = {}
    for element in at.get("bidi_component"):
        proto = element.proto
        if proto.component_name != "imet_plotly_chart":
            continue
        data = json.loads(proto.json)
        out[proto.id.rsplit("-", 1)[-1]] = {"id": proto.id, "figure": json.loads(data["spec"]), "data": data}
    return out


def _app(monkeypatch, page: str) -> AppTest:
    monkeypatch.setenv("IMET_EXPLORER_DATA", str(DATA))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page)
    at.run()
    return at


@pytest.mark.parametrize("page, keys", [("pages/survival.py", ["km_curves"]), ("pages/subgroups.py", ["forest"]),
                                        ("pages/cox_models.py", ["cox_uni", "cox_adj"])])
def test_a_filter_change_updates_the_same_chart_with_new_data(monkeypatch, through_app_py, page, keys):
    at = _app(monkeypatch, page)
    before = _charts(at)
    assert sorted(before) == sorted(keys)
    for chart in before.values():
        assert chart["figure"]["data"], "a figure with traces"
        assert chart["data"]["src"].endswith(f"/app/static/{PLOTLY_JS_NAME}")
        assert chart["data"]["config"]["displaylogo"] is False
    at.session_state["f_age_lt_55"] = "yes"
    at.run()
    assert not at.exception
    after = _charts(at)
    changed = [key for key in keys if after[key]["figure"] != before[key]["figure"]]
    assert changed, "the age < 55 subgroup draws other numbers"
    for key in keys:  # same element identity: the browser updates the chart, it does not mount a new one
        assert after[key]["id"] == before[key]["id"]


def test_survival_chart_is_the_km_figure_of_the_selection(monkeypatch, through_app_py, frame):
    at = _app(monkeypatch, "pages/survival.py")
    figure = _charts(at)["km_curves"]["figure"]
    view = analysis.survival_view(frame, Selection(), landmarks=[36.0, 60.0])
    names = [t.get("name") for t in figure["data"] if t.get("mode") == "lines" and not t.get("fill")]
    assert names == list(view.curves)
    ours = next(t for t in figure["data"] if t.get("name") == names[0])
    assert ours["y"][-1] == pytest.approx(float(view.curves[names[0]].table["survival"].iloc[-1]), abs=1e-12)
