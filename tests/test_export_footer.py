"""The export footer: data source, subgroup, endpoint, n and events, date, data version."""
from __future__ import annotations

import datetime as dt

import pytest

from imet_core import analysis
from imet_core.export.footer import SYNTHETIC_SOURCE, footer_for, source_label, subgroup_counts
from imet_core.io import frame_fingerprint
from imet_core.subgroups import Selection, SubgroupFilter
from tests.support.random_registry import random_registry

SELECTIONS = [
    Selection(),
    Selection(SubgroupFilter(age_lt_55="yes", sites=frozenset({"liver"}))),
    Selection(SubgroupFilter(her2_positive="no"), endpoint="pdrs", comparison="mdfi_gt_24"),
    Selection(comparison="site"),
    Selection(SubgroupFilter(hr_positive="no", her2_positive="no", age_lt_55="yes", mdfi_gt_24="no",
                             sites=frozenset({"lung+bone"}))),
]


@pytest.fixture(scope="module")
def frame():
    return random_registry(300, seed=5)


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: s.describe())
def test_counts_are_the_survival_views_patients_and_events(frame, selection):
    view = analysis.survival_view(frame, selection)
    assert subgroup_counts(frame, selection) == (view.n, view.n_events)


def test_footer_fields_for_the_synthetic_cohort(frame):
    selection = SELECTIONS[1]
    when = dt.datetime(2026, 5, 6, 7, 8, 9, 10)
    footer = footer_for(frame, selection, source=source_label("imet_synthetic.csv", synthetic=True),
                        synthetic=True, created=when)
    n, events = subgroup_counts(frame, selection)
    items = dict(footer.items())
    assert items["Data source"].startswith(SYNTHETIC_SOURCE)
    assert "synthetic data" in items["Data source"]
    assert frame_fingerprint(frame)[:8] in items["Data source"], "the data version identifies the data"
    assert items["Subgroup"] == "Age < 55 · Liver only"
    assert items["Endpoint"] == "Overall survival (from breast cancer diagnosis)"
    assert items["Comparison"] == "IT vs ST"
    assert items["Patients and events"] == f"n = {n:,} patients, {events:,} events"
    assert items["Created"] == "2026-05-06 07:08"
    line = footer.text()
    for part in ("Age < 55 · Liver only", "OS", "IT vs ST", f"n = {n:,}", "2026-05-06 07:08", SYNTHETIC_SOURCE):
        assert part in line


def test_an_uploaded_file_is_named_without_its_folder_and_not_called_synthetic(frame):
    source = source_label("/home/someone/registries/hospital_2024.xlsx", synthetic=False)
    assert source == "hospital_2024.xlsx"
    footer = footer_for(frame, SELECTIONS[2], source=source, synthetic=False)
    assert footer.source_text.startswith("hospital_2024.xlsx")
    assert "synthetic" not in footer.text().lower()
    assert "Post-distant-recurrence survival" in footer.endpoint
    assert footer.comparison == "MDFI > 24 vs ≤ 24 months"


def test_small_counts_are_hidden_in_suppression_mode(frame):
    tiny = SELECTIONS[4]
    n, events = subgroup_counts(frame, tiny)
    assert 0 < n < 5 or n == 0
    footer = footer_for(frame, Selection(SubgroupFilter(sites=frozenset({"lung+bone"}), mdfi_gt_24="no",
                                                        age_lt_55="yes")), source="x.csv", synthetic=False,
                        suppress_below=5, counts=(3, 2))
    assert footer.counts_text == "n = <5 patients, <5 events (counts below 5 hidden)"
    shown = footer_for(frame, Selection(), source="x.csv", synthetic=False, suppress_below=5)
    assert f"n = {len(frame):,} patients" in shown.counts_text


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: s.describe())
def test_page_downloads_make_the_same_footer_on_click(frame, selection):
    """The app's download buttons build their footer when clicked (ui.exports): the same footer
    export_footer makes during the page run, stamped with the time of the click."""
    from dataclasses import replace

    from ui.exports import _footer_on_click, export_footer
    from ui.page import Context
    from ui.registry import Registry

    registry = Registry(frame=frame, fingerprint=frame_fingerprint(frame), source="Uploaded file: r.csv",
                        is_synthetic=False, file_name="r.csv")
    ctx = Context(registry=registry, selection=selection, presentation=False)
    view = analysis.survival_view(frame, selection)
    for v in (None, view):
        eager, later = export_footer(ctx, v), _footer_on_click(ctx, v)
        first = later()
        assert replace(first, created=eager.created) == eager
        assert first.created.second == 0 and first.created.microsecond == 0
        assert later() == first or later().created >= first.created
