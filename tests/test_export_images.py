"""Server-side PNG/SVG of the app's figures: one warm renderer, >= 1600 px, footer drawn in."""
from __future__ import annotations

import datetime as dt
import html
import shutil

import pytest

from imet_core import analysis
from imet_core.export.footer import footer_for
from imet_core.export.images import (
    MIN_PNG_WIDTH, ImageRenderer, figure_png, figure_svg, png_size, prepare_figure, renderer,
)
from imet_core.figures import forest_figure, km_figure
from imet_core.subgroups import Selection
from tests.support.random_registry import random_registry

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("google-chrome") is None,
                                reason="no Chromium for kaleido")


@pytest.fixture(scope="module")
def views():
    frame = random_registry(300, seed=2)
    selection = Selection()
    survival = analysis.survival_view(frame, selection)
    footer = footer_for(frame, selection, source="registry_<b>&co</b>.csv", synthetic=False,
                        created=dt.datetime(2026, 1, 2, 3, 4), counts=(survival.n, survival.n_events))
    return survival, analysis.forest_view(frame, selection), footer


def test_png_header_width_is_at_least_1600_pixels(views):
    survival, forest, footer = views
    for figure in (km_figure(survival), forest_figure(forest)):
        width, height = png_size(figure_png(figure, footer=footer))
        assert width >= MIN_PNG_WIDTH
        assert height > 600


def test_png_size_reads_the_ihdr_chunk_and_refuses_other_bytes():
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + (1234).to_bytes(4, "big") + (567).to_bytes(4, "big")
    assert png_size(header + b"\x08\x06\x00\x00\x00") == (1234, 567)
    with pytest.raises(ValueError):
        png_size(b"<svg></svg>")


def test_svg_carries_the_footer_escaped(views):
    survival, _, footer = views
    svg = figure_svg(km_figure(survival), footer=footer).decode("utf-8")
    assert svg.lstrip().startswith("<svg")
    assert "registry_<b>" not in svg, "a file name is text, never markup"
    assert "registry_<b>&co</b>.csv" in html.unescape(svg)
    assert "2026-01-02 03:04" in svg
    assert "All patients" in svg and "IT vs ST" in svg
    assert f"n = {survival.n:,} patients, {survival.n_events:,} events" in svg


def test_footer_adds_room_at_the_bottom(views):
    survival, _, footer = views
    plain, _, h_plain = prepare_figure(km_figure(survival))
    stamped, _, h_stamped = prepare_figure(km_figure(survival), footer=footer)
    assert h_stamped > h_plain
    assert stamped.layout.margin.b > plain.layout.margin.b
    assert "registry_" in stamped.layout.title.text


def test_one_warm_renderer_serves_every_figure(views):
    survival, forest, footer = views
    engine = renderer()
    figure_png(km_figure(survival), footer=footer)
    starts, renders = engine.starts, engine.renders
    figure_png(forest_figure(forest), footer=footer)
    figure_svg(forest_figure(forest))
    assert engine is renderer(), "the process keeps one renderer"
    assert engine.starts == starts, "no new browser per figure"
    assert engine.renders == renders + 2


def test_a_missing_browser_is_a_clear_error_not_a_hang(tmp_path):
    from imet_core.export import ExportError

    engine = ImageRenderer(path=str(tmp_path / "no-such-chromium"))
    with pytest.raises(ExportError, match="Cannot start the image renderer"):
        engine.start()
    engine.close()
