"""The stamp every exported figure, table and slide carries.

A slide shown weeks after it was made must still say what it is (what-users-expect.md,
"Presenting"): which data (the synthetic cohort or the uploaded file's name, and a short data
version), which subgroup, which endpoint and comparison, how many patients and events, and when
it was made.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from imet_core.io import frame_fingerprint
from imet_core.privacy import is_small_count, small_count_label
from imet_core.subgroups import Selection, comparison_arms

__all__ = ["SYNTHETIC_SOURCE", "Footer", "footer_for", "source_label", "subgroup_counts"]

SYNTHETIC_SOURCE = "Synthetic IMET cohort"
"""Data-source text of the embedded synthetic cohort (never real patients)."""

DATA_VERSION_LENGTH = 8
"""Hex characters of the registry fingerprint shown as the data version."""


@dataclass(frozen=True)
class Footer:
    """What an export shows about where it came from.

    Attributes
    ----------
    source : str
        ``"Synthetic IMET cohort"`` or the uploaded/loaded file's name.
    synthetic : bool
        True for the synthetic cohort (exports then say "synthetic data").
    subgroup : str
        The subgroup in words (``"Age < 55 · Liver only"``, ``"All patients"``).
    endpoint : str
        The endpoint's full name (``"Overall survival (from breast cancer diagnosis)"``).
    endpoint_short : str
        ``"OS"`` or ``"PDRS"``.
    comparison : str
        The comparison (``"IT vs ST"``).
    n, events : int
        Patients of the subgroup in the comparison's arms, and their events (deaths).
    created : datetime.datetime
        When the export was made.
    data_version : str
        First characters of :func:`imet_core.io.frame_fingerprint` ("" when unknown).
    suppress_below : int or None
        Small-cell suppression threshold in force (counts 1 to threshold - 1 hidden), or None.
    """

    source: str
    synthetic: bool
    subgroup: str
    endpoint: str
    endpoint_short: str
    comparison: str
    n: int
    events: int
    created: _dt.datetime
    data_version: str = ""
    suppress_below: int | None = None

    @property
    def source_text(self) -> str:
        """The data source with its version, and "synthetic data" where it is."""
        text = self.source
        if self.synthetic and "synthetic data" not in text.lower():
            text += " (synthetic data, not real patients)"
        if self.data_version:
            text += f", data version {self.data_version}"
        return text

    @property
    def counts_text(self) -> str:
        """'n = 120 patients, 80 events'; small counts hidden in suppression mode."""
        text = f"n = {self.count(self.n)} patients, {self.count(self.events)} events"
        if self.suppress_below is not None:
            text += f" (counts below {self.suppress_below} hidden)"
        return text

    def count(self, value: int) -> str:
        """A count as the footer prints it ('<5' when suppression hides it)."""
        if self.suppress_below is not None and is_small_count(value, self.suppress_below):
            return small_count_label(self.suppress_below)
        return f"{value:,}"

    @property
    def date_text(self) -> str:
        return self.created.strftime("%Y-%m-%d %H:%M")

    def items(self) -> list[tuple[str, str]]:
        """The footer as (field, text) pairs, in display order.

        Returns
        -------
        list of (str, str)
            ``Data source``, ``Subgroup``, ``Endpoint``, ``Comparison``, ``Patients and events``,
            ``Created``.
        """
        return [
            ("Data source", self.source_text),
            ("Subgroup", self.subgroup),
            ("Endpoint", self.endpoint),
            ("Comparison", self.comparison),
            ("Patients and events", self.counts_text),
            ("Created", self.date_text),
        ]

    def text(self, separator: str = " · ") -> str:
        """One line: source · subgroup · endpoint · comparison · n and events · date."""
        return separator.join([self.source_text, self.subgroup, self.endpoint_short, self.comparison,
                               self.counts_text, self.date_text])

    def lines(self) -> tuple[str, str]:
        """The footer on two lines (for a figure's bottom margin)."""
        first = f"{self.source_text} · {self.date_text}"
        second = f"{self.subgroup} · {self.endpoint} · {self.comparison} · {self.counts_text}"
        return first, second


def subgroup_counts(frame: pd.DataFrame, selection: Selection) -> tuple[int, int]:
    """Patients of the selection's subgroup that belong to a comparison arm, and their events.

    The same patients the survival view counts (``SurvivalView.n`` and ``.n_events``).

    Returns
    -------
    (int, int)
        Number of patients, number of events of the endpoint.
    """
    subset = selection.subgroup.apply(frame)
    if len(subset) == 0:
        return 0, 0
    arms = comparison_arms(subset, selection.comparison)
    in_arm = arms.arm.notna().to_numpy()
    events = subset.loc[in_arm, selection.event_column].astype(float).sum()
    return int(in_arm.sum()), int(events)


def source_label(path_or_name: str | Path | None, *, synthetic: bool) -> str:
    """The data-source text: the synthetic cohort's name, or the file's name (no directories)."""
    if synthetic:
        return SYNTHETIC_SOURCE
    if path_or_name is None or str(path_or_name) == "":
        return "Registry file (name unknown)"
    return Path(str(path_or_name)).name


def footer_for(frame: pd.DataFrame, selection: Selection, *, source: str, synthetic: bool,
               created: _dt.datetime | None = None, counts: tuple[int, int] | None = None,
               data_version: str | None = None, suppress_below: int | None = None) -> Footer:
    """Build the footer of an export of ``selection`` on ``frame``.

    Parameters
    ----------
    frame : DataFrame
        The loaded registry.
    selection : Selection
    source : str
        Data-source text (see :func:`source_label`).
    synthetic : bool
        Whether the data are the synthetic cohort.
    created : datetime, optional
        Default: now (local time, to the minute).
    counts : (int, int), optional
        Patients and events if already known (e.g. ``(view.n, view.n_events)``); else counted.
    data_version : str, optional
        Default: the first characters of the frame's fingerprint.
    suppress_below : int, optional
        Small-cell suppression threshold in force (the footer then hides small n and events).

    Returns
    -------
    Footer
    """
    n, events = counts if counts is not None else subgroup_counts(frame, selection)
    if data_version is None:
        data_version = frame_fingerprint(frame)[:DATA_VERSION_LENGTH]
    spec = selection.endpoint_spec
    return Footer(source=source, synthetic=synthetic, subgroup=selection.subgroup.describe(),
                  endpoint=spec.label, endpoint_short=spec.short_label,
                  comparison=selection.comparison_label, n=int(n), events=int(events),
                  created=(created or _dt.datetime.now()).replace(second=0, microsecond=0),
                  data_version=data_version, suppress_below=suppress_below)
