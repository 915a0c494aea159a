"""Slide- and print-ready output of the analysis views (issue 5, "Presenting in meetings").

Everything a tumour board takes out of IMET Explorer is built here, from the same views and the
same plotly builders the app shows, so a slide cannot disagree with the screen:

* :mod:`~imet_core.export.footer`: the stamp every exported figure, table and slide carries
  (data source, subgroup, endpoint, n and events, date, data version).
* :mod:`~imet_core.export.images`: PNG and SVG of a plotly figure, rendered by one warm
  headless Chromium (kaleido) shared by the whole process.
* :mod:`~imet_core.export.tables`: CSV and XLSX of a table, spreadsheet formulas neutralised.
* :mod:`~imet_core.export.content`: what a meeting pack shows for one selection.
* :mod:`~imet_core.export.deck` (PPTX) and :mod:`~imet_core.export.html_report` (one offline
  HTML file) build the pack; :mod:`~imet_core.export.report_cli` is ``python -m imet_core report``.

Like the rest of :mod:`imet_core`, nothing here imports Streamlit. Formatting numbers into text is
this package's job (it is the presentation layer of the core); the views stay unrounded.
"""
from __future__ import annotations

__all__ = ["ExportError"]


class ExportError(RuntimeError):
    """An export could not be produced (e.g. no Chromium to render images); one-line message."""
