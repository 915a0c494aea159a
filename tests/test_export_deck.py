"""The PPTX deck, opened with python-pptx: slide count and order, titles, pictures, real tables,
the subgroup on the title slide, footers, readable type, nothing below the footer line."""
from __future__ import annotations

import datetime as dt
import io
import shutil

import pytest
from pptx import Presentation
from pptx.util import Emu, Pt

from imet_core.export import deck as deck_module
from imet_core.export.content import ReportOptions, build_pack, split_forest, trim_forest
from imet_core.export.deck import build_deck
from imet_core.export.images import png_size
from imet_core.subgroups import Selection, SubgroupFilter
from tests.support.random_registry import random_registry

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("google-chrome") is None,
                                reason="no Chromium for kaleido")

SUBGROUP = Selection(SubgroupFilter(age_lt_55="yes", sites=frozenset({"liver", "liver+bone"})))
WHEN = dt.datetime(2026, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def frame():
    return random_registry(500, seed=4)


@pytest.fixture(scope="module")
def built(frame):
    pack = build_pack(frame, SUBGROUP, source="Synthetic IMET cohort", synthetic=True, created=WHEN)
    data = build_deck(pack)
    return pack, Presentation(io.BytesIO(data))


def _texts(slide) -> str:
    return "\n".join(shape.text_frame.text for shape in slide.shapes if shape.has_text_frame)


def _title(slide) -> str:
    return slide.shapes.title.text if slide.shapes.title is not None else ""


def _pictures(slide) -> list:
    return [s for s in slide.shapes if s.shape_type == 13]  # MSO_SHAPE_TYPE.PICTURE


def _tables(slide) -> list:
    return [s for s in slide.shapes if s.has_table]


def test_slide_order_and_count(built):
    pack, prs = built
    titles = [_title(s) for s in prs.slides]
    forest_parts = len(split_forest(trim_forest(pack.forest)[0], deck_module.FOREST_ROWS_PER_SLIDE))
    table_one = [t for t in titles if t.startswith("Table 1")]
    table_two = [t for t in titles if t.startswith("Table 2")]
    assert titles[0] == pack.title == "IT vs ST: overall survival"
    assert titles[1] == "Kaplan-Meier: Overall survival (from breast cancer diagnosis)"
    assert all(t.startswith("Subgroups: hazard ratio of IT vs ST") for t in titles[2:2 + forest_parts])
    assert titles[2 + forest_parts:2 + forest_parts + len(table_one)] == table_one
    assert titles[-2 - len(table_two):-2] == table_two
    assert titles[-2:] == ["Methods", "Caveats"]
    assert len(prs.slides) == 1 + 1 + forest_parts + len(table_one) + len(table_two) + 2
    assert forest_parts >= 1 and len(table_one) in (1, 2) and len(table_two) == 1


def test_title_slide_names_subgroup_endpoint_source_and_synthetic_data(built):
    pack, prs = built
    text = _texts(prs.slides[0])
    assert "Subgroup: Age < 55 · Liver only or liver + bone" in text
    assert "Endpoint: Overall survival (from breast cancer diagnosis)" in text
    assert "Data source: Synthetic IMET cohort" in text
    assert f"Patients: {pack.survival.n:,}; events (deaths): {pack.survival.n_events:,}" in text
    assert "Synthetic data" in text


def test_kaplan_meier_slide_has_the_figure_and_a_real_table(built):
    pack, prs = built
    slide = prs.slides[1]
    pictures = _pictures(slide)
    assert len(pictures) == 1
    width, _ = png_size(pictures[0].image.blob)
    assert width >= 1600, "sharp on a projector"
    tables = _tables(slide)
    assert len(tables) == 1
    table = tables[0].table
    header = [table.cell(0, j).text for j in range(len(table.columns))]
    assert header[1:] == list(pack.survival.levels)
    rows = [table.cell(i, 0).text for i in range(1, len(table.rows))]
    assert rows[:3] == ["Patients", "Events", "Median, months"]
    assert str(int(pack.survival.arms.loc["IT", "n"])) == table.cell(1, 1).text
    assert any(line in _texts(slide) for line in pack.km_lines), "HR and log-rank p on the slide"


def test_forest_and_table_slides(built):
    pack, prs = built
    by_title = {}
    for slide in prs.slides:
        by_title.setdefault(_title(slide).split(" (")[0], []).append(slide)
    forest = by_title["Subgroups: hazard ratio of IT vs ST"]
    assert all(len(_pictures(s)) == 1 for s in forest)
    assert all(png_size(_pictures(s)[0].image.blob)[0] >= 1600 for s in forest)
    for name in ("Table 1: baseline characteristics", "Table 2: Cox models of OS"):
        assert all(len(_tables(s)) == 1 for s in by_title[name]), f"{name} is a real table"
    table_one_cells = [c.text for s in by_title["Table 1: baseline characteristics"]
                       for row in _tables(s)[0].table.rows for c in row.cells]
    assert "Characteristic" in table_one_cells and "SMD" in table_one_cells
    cox = _tables(by_title["Table 2: Cox models of OS"][0])[0].table
    assert [cox.cell(0, j).text for j in range(3)] == ["Covariate", "Level (vs reference)", "n / events"]


def test_methods_and_caveats(built):
    _, prs = built
    methods, caveats = _texts(prs.slides[-2]), _texts(prs.slides[-1])
    for word in ("OS (overall survival)", "PDRS", "MDFI", "log-rank", "Cox", "Efron", "Wilcoxon",
                 "chi-square", "cox.zph"):
        assert word in methods
    for word in ("Synthetic data", "Observational", "Selection bias", "Immortal time"):
        assert word in caveats


def test_every_content_slide_has_the_footer_and_a_number(built):
    pack, prs = built
    for number, slide in enumerate(prs.slides, start=1):
        if number == 1:
            continue
        text = _texts(slide)
        assert pack.footer.text() in text
        assert str(number) in [s.text_frame.text for s in slide.shapes if s.has_text_frame]


def test_type_is_readable_and_nothing_runs_into_the_footer(built):
    _, prs = built
    smallest = min(run.font.size for slide in prs.slides for shape in slide.shapes if shape.has_text_frame
                   for p in shape.text_frame.paragraphs for run in p.runs if run.font.size is not None)
    table_sizes = [run.font.size for slide in prs.slides for shape in _tables(slide)
                   for row in shape.table.rows for cell in row.cells
                   for p in cell.text_frame.paragraphs for run in p.runs]
    assert smallest >= Pt(deck_module.MIN_FONT_PT)
    assert min(table_sizes) >= Pt(deck_module.MIN_FONT_PT)
    for slide in prs.slides:
        for shape in slide.shapes:
            if shape.has_text_frame and shape.top >= deck_module.FOOTER_TOP:
                continue  # the footer itself
            assert shape.top + shape.height <= deck_module.FOOTER_TOP + Emu(1), (_title(slide), shape.name)
            assert shape.left + shape.width <= prs.slide_width + Emu(1), (_title(slide), shape.name)


def test_empty_subgroup_and_five_arm_comparison_still_make_a_deck(frame):
    empty = Selection(SubgroupFilter(age_lt_55="yes", hr_positive="no", her2_positive="no", mdfi_gt_24="no",
                                     sites=frozenset({"lung+bone"})))
    pack = build_pack(frame, empty, source="r.csv", synthetic=False)
    assert pack.survival.n == 0
    prs = Presentation(io.BytesIO(build_deck(pack)))
    assert [_title(s) for s in prs.slides][1:] == [
        "Kaplan-Meier: Overall survival (from breast cancer diagnosis)", "Subgroups: hazard ratio of IT vs ST",
        "Table 1: baseline characteristics", "Table 2: Cox models of OS", "Methods", "Caveats"]
    assert "No patient matches" in _texts(prs.slides[1])
    assert not any(_pictures(s) for s in prs.slides)
    assert "Synthetic data" not in _texts(prs.slides[-1])

    site = build_pack(frame, Selection(comparison="site", endpoint="pdrs"), source="r.csv", synthetic=False,
                      options=ReportOptions(suppress_below=5))
    prs = Presentation(io.BytesIO(build_deck(site)))
    titles = [_title(s) for s in prs.slides]
    assert "Survival by arm" in titles, "five arms: the summary gets its own slide"
    forest = prs.slides[titles.index("Subgroups: hazard ratio of Metastasis site")]
    assert "two arms" in _texts(forest)
    assert "counts below 5 hidden" in site.footer.text()


def test_published_hazard_ratios_are_drawn_beside_ours_when_given(frame):
    published = {("all", "all"): {"hr": 0.44, "ci": [0.26, 0.72]},
                 ("age_lt_55", "yes"): {"hr": 0.30, "ci": [0.15, 0.60]}}
    pack = build_pack(frame, Selection(), source="Synthetic IMET cohort", synthetic=True, published=published)
    names = [trace.name for trace in pack.forest_figure(estimates=True).data]
    assert "Published (IMET paper)" in names
    plain = build_pack(frame, Selection(), source="Synthetic IMET cohort", synthetic=True)
    assert "Published (IMET paper)" not in [trace.name for trace in plain.forest_figure(estimates=True).data]
    figure = pack.forest_figure(estimates=True)
    # the "HR (95% CI)" column: the right-hand y axis' labels, once, under one header annotation
    estimates = list(figure.layout.yaxis2.ticktext)
    overall = pack.forest.table.iloc[0]
    assert estimates[0] == f"{overall['hr']:.2f} ({overall['hr_lower']:.2f}–{overall['hr_upper']:.2f})"
    assert len(estimates) == len(pack.forest.table)
    assert [a.text for a in figure.layout.annotations].count("<b>HR (95% CI)</b>") == 1


def test_forest_slides_leave_out_levels_the_subgroup_excludes(built):
    pack, _ = built
    trimmed, changed = trim_forest(pack.forest)
    table = pack.forest.table
    assert changed, "age < 55 and liver sites: 'Age ≥ 55' and the other sites have no patient"
    assert "age_lt_55" not in set(trimmed.table["variable"]), "one level left: the variable is dropped"
    assert set(trimmed.table.loc[trimmed.table["variable"] == "site", "level"]) == {"liver", "liver+bone"}
    assert trimmed.table.iloc[0]["variable"] == "all"
    empty = table[(table["n_a"] + table["n_b"] == 0)]
    assert not empty.empty and not set(zip(empty["variable"], empty["level"])) & \
        set(zip(trimmed.table["variable"], trimmed.table["level"]))
    parts = split_forest(trimmed, deck_module.FOREST_ROWS_PER_SLIDE)
    for part in parts:
        drawn = len(part.table) + part.table.loc[part.table["variable"] != "all", "variable"].nunique()
        assert drawn <= deck_module.FOREST_ROWS_PER_SLIDE
        assert part.table.iloc[0]["variable"] == "all", "every part starts with all patients"
    assert sum(len(p.table) - 1 for p in parts) == len(trimmed.table) - 1, "every row on exactly one slide"
