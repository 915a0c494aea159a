"""A self-contained HTML report of a meeting pack: one file that opens offline.

Same sections as the slide deck (title, Kaplan-Meier, subgroups, Table 1, Table 2, methods,
caveats), with interactive plotly figures. plotly.js is embedded once, inline (no CDN, no
MathJax, no fonts or scripts from the network); every text from data or selection is
HTML-escaped. Each section repeats the export footer, so a printed page still says what it is.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from imet_core.export.content import MeetingPack, Progress, trim_forest

__all__ = ["build_html", "SECTION_TITLES"]

SECTION_TITLES = {
    "km": "Kaplan-Meier curves",
    "forest": "Subgroups",
    "table_one": "Table 1: baseline characteristics",
    "cox": "Table 2: Cox models",
    "methods": "Methods",
    "caveats": "Caveats",
}

_CSS = """
:root { --ink: #1B1F24; --muted: #4B5563; --accent: #0072B2; --band: #F1F4F8; --head: #1F3A5F; }
* { box-sizing: border-box; }
body { font-family: Arial, Helvetica, sans-serif; color: var(--ink); margin: 0; background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 2.1rem; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.5rem; border-bottom: 2px solid var(--accent); padding-bottom: 4px; margin-top: 2.2em; }
.subtitle { font-size: 1.35rem; color: var(--accent); margin: 0 0 0.8em; }
.details { font-size: 1.05rem; line-height: 1.6; margin: 0; padding-left: 1.1em; }
.synthetic { background: #FFF4E5; color: #8A4B00; font-weight: bold; padding: 10px 14px; margin: 14px 0;
             border-left: 4px solid #E69F00; }
.lines { font-size: 1.15rem; font-weight: bold; margin: 0.6em 0; }
.note, .footer { color: var(--muted); font-size: 0.9rem; }
.footer { border-top: 1px solid #D1D5DB; margin-top: 12px; padding-top: 6px; }
table.data { border-collapse: collapse; margin: 10px 0; font-size: 0.95rem; }
table.data th { background: var(--head); color: #fff; text-align: center; padding: 6px 10px; }
table.data td { padding: 4px 10px; text-align: center; border-bottom: 1px solid #E5E7EB; white-space: nowrap; }
table.data td:first-child, table.data th:first-child { text-align: left; }
table.data tr:nth-child(even) td { background: var(--band); }
table.data td.level { padding-left: 26px; }
table.data td.heading { font-weight: bold; }
table.data td.note-cell { white-space: normal; text-align: left; min-width: 260px; color: var(--muted); }
.table-wrap { overflow-x: auto; }
.figure { width: 100%; margin: 8px 0; }
.methods dt { font-weight: bold; color: var(--accent); margin-top: 0.8em; }
.methods dd { margin: 0.2em 0 0 0; line-height: 1.45; }
ul.caveats li { margin: 0.5em 0; line-height: 1.45; font-size: 1.05rem; }
ul.caveats li.synthetic-item { color: #8A4B00; font-weight: bold; }
@media print { h2 { break-before: page; } .figure { break-inside: avoid; } }
"""

_CONFIG = {"displaylogo": False, "responsive": True,
           "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"],
           "toImageButtonOptions": {"format": "png", "scale": 2}}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(frame: pd.DataFrame, *, indent_column: str | None = None) -> str:
    """An HTML table of display strings; rows of ``indent_column`` starting with spaces are indented."""
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, row):
            text = "" if value is None else str(value)
            css = ""
            if column == indent_column:
                css = ' class="level"' if text.startswith(" ") else ' class="heading"'
                text = text.strip()
            elif column == "Note":
                css = ' class="note-cell"'

            cells.append(f"<td{css}>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _figure(fig: go.Figure, div_id: str) -> str:
    return ('<div class="figure">' + fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                                                  div_id=div_id, config=_CONFIG) + "</div>")


def _notes(notes: Sequence[str]) -> str:
    return "".join(f'<p class="note">{_e(n)}</p>' for n in notes if n)


def build_html(pack: MeetingPack, *, progress: Progress | None = None) -> bytes:
    """The meeting pack as one self-contained HTML file (UTF-8).

    Parameters
    ----------
    pack : MeetingPack
        From :func:`imet_core.export.content.build_pack`.
    progress : callable, optional

    Returns
    -------
    bytes
    """
    say = progress or (lambda message: None)
    footer = pack.footer
    foot = f'<p class="footer">{_e(footer.text())}</p>'
    parts: list[str] = []
    say("writing the report")
    # -- title -------------------------------------------------------------------------------
    parts.append(f"<header><h1>{_e(pack.title)}</h1><p class=\"subtitle\">Subgroup: {_e(footer.subgroup)}</p>")
    parts.append('<ul class="details">' + "".join(f"<li><b>{_e(k)}:</b> {_e(v)}</li>" for k, v in footer.items())
                 + "</ul>")
    if footer.synthetic:
        parts.append('<div class="synthetic">Synthetic data: generated to reproduce the IMET paper; '
                     "no real patients.</div>")
    parts.append("</header>")
    # -- Kaplan-Meier --------------------------------------------------------------------------
    parts.append(f'<section id="km"><h2>{_e(SECTION_TITLES["km"])}: {_e(pack.selection.endpoint_spec.label)}</h2>')
    if pack.has_patients:
        parts.append(_figure(pack.km_figure(font_size=16, height=700), "km-figure"))
        parts.append("".join(f'<p class="lines">{_e(line)}</p>' for line in pack.km_lines))
        parts.append(_table(pack.km_summary))
        parts.append(_notes(["Medians and milestone survival with 95% CI; NR = not reached. Hazard ratio: "
                             "Cox model (Efron ties); p: log-rank test.", *pack.notes]))
    else:
        parts.append('<p class="note">No patient matches this selection: no survival curves to show.</p>')
    parts.append(foot + "</section>")
    # -- forest --------------------------------------------------------------------------------
    parts.append(f'<section id="forest"><h2>{_e(SECTION_TITLES["forest"])}: hazard ratio of '
                 f"{_e(pack.selection.comparison_label)}</h2>")
    if pack.forest.note:
        parts.append(f'<p class="note">{_e(pack.forest.note)}</p>')
    elif pack.has_patients and not pack.forest.table.empty:
        shown, trimmed = trim_forest(pack.forest)
        parts.append(_figure(pack.forest_figure(shown, font_size=16, estimates=True), "forest-figure"))
        parts.append(_notes([f"Squares: HR of {pack.forest.arm_a} vs {pack.forest.arm_b} (reference) with 95% CI, "
                             "area by events; labels: events/patients per arm. Dashed line: all patients. "
                             "Interaction p: Wald test of the arm × subgroup terms. Exploratory: about "
                             "1 in 20 interaction tests is 'significant' by chance alone."
                             + (" Open diamonds: the IMET paper's published HRs." if pack.published else "")
                             + (" Levels without patients in this subgroup are not drawn (they are in the "
                                "table)." if trimmed else "")]))
        parts.append(_table(pack.forest_table))
    else:
        parts.append('<p class="note">No patient matches this selection.</p>')
    parts.append(foot + "</section>")
    # -- Table 1 -------------------------------------------------------------------------------
    parts.append(f'<section id="table-one"><h2>{_e(SECTION_TITLES["table_one"])}</h2>')
    if pack.has_patients:
        parts.append(_table(pack.table_one_full, indent_column="Characteristic"))
        parts.append(_notes(["Counts (% of non-missing values); missing values on their own row. SMD: "
                             "standardized mean difference."]))
    else:
        parts.append('<p class="note">No patient matches this selection.</p>')
    parts.append(foot + "</section>")
    # -- Table 2 -------------------------------------------------------------------------------
    parts.append(f'<section id="cox"><h2>{_e(SECTION_TITLES["cox"])} of '
                 f"{_e(pack.selection.endpoint_spec.short_label)}</h2>")
    if pack.cox_table.empty or not pack.has_patients:
        parts.append('<p class="note">No patient matches this selection: no Cox model.</p>')
    else:
        parts.append(_table(pack.cox_table))
        parts.append(_notes(["Univariable Cox models, one per covariate (Efron ties); adjusted: the "
                             "multivariable model. " + pack.cox_caption,
                             *[f"({i + 1}) {n}" for i, n in enumerate(pack.cox_notes)]]))
    parts.append(foot + "</section>")
    # -- methods and caveats -------------------------------------------------------------------
    parts.append(f'<section id="methods"><h2>{_e(SECTION_TITLES["methods"])}</h2><dl class="methods">')
    parts.append("".join(f"<dt>{_e(h)}</dt><dd>{_e(t)}</dd>" for h, t in pack.methods))
    parts.append("</dl>" + foot + "</section>")
    parts.append(f'<section id="caveats"><h2>{_e(SECTION_TITLES["caveats"])}</h2><ul class="caveats">')
    for i, item in enumerate(pack.caveats):
        css = ' class="synthetic-item"' if footer.synthetic and i == 0 else ""
        parts.append(f"<li{css}>{_e(item)}</li>")
    parts.append("</ul>" + foot + "</section>")

    title = f"{pack.title} · {footer.subgroup} · IMET Explorer"
    document = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
        f"<meta name=\"description\" content=\"{_e(footer.text())}\">"
        f"<style>{_CSS}</style>"
        # plotly.js inline, once, before any figure (no network use)
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script>"
        "</head><body><main>" + "".join(parts) + "</main></body></html>\n"
    )
    return document.encode("utf-8")
