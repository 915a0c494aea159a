"""Download buttons for pages: every chart as PNG and SVG, every table as CSV and XLSX, and the
one-click slide deck and HTML report of the current view; plus presentation mode's layout.

Files are made only when a button is clicked (Streamlit's deferred downloads): a page run never
renders an image it does not need. Figures are drawn server-side by the process's one warm
Chromium (:mod:`imet_core.export.images`), which :func:`warm_renderer` starts in the background
when the app starts. Every file carries the export footer (data source, subgroup, endpoint,
n and events, date), and small counts stay hidden when the session's suppression mode is on.

Typical page use::

    plotly_chart(figure, key="km_curves")  # ui.charts
    figure_downloads(figure, name="km_curves", ctx=ctx, view=result)
    table_downloads(display, name="milestones", ctx=ctx)
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from imet_core.export.footer import SYNTHETIC_SOURCE, Footer, footer_for
from ui import fmt

__all__ = ["export_footer", "figure_downloads", "table_downloads", "deck_and_report_buttons",
           "warm_renderer", "presentation_layout", "file_stem"]

_PNG = "image/png"
_SVG = "image/svg+xml"
_CSV = "text/csv"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_HTML = "text/html"


def _source(ctx) -> tuple[str, bool]:
    registry = ctx.registry
    if registry.is_synthetic:
        return SYNTHETIC_SOURCE, True
    return str(registry.file_name or registry.source), False


def export_footer(ctx, view=None) -> Footer:
    """The footer of an export made now from this page's context.

    ``view`` (a survival or overview view) supplies n and events when it has them; otherwise they
    are counted from the registry and selection."""
    source, synthetic = _source(ctx)
    counts = None
    if view is not None and hasattr(view, "n") and hasattr(view, "n_events"):
        counts = (int(view.n), int(view.n_events))
    return footer_for(ctx.frame, ctx.selection, source=source, synthetic=synthetic, counts=counts,
                      data_version=ctx.registry.fingerprint[:8], suppress_below=fmt.suppression_threshold())


def file_stem(name: str, ctx) -> str:
    """'imet_km_curves_age_lt_55-yes_os' style file name (no extension), safe on every system."""
    params = ctx.selection.to_query_params()
    parts = [f"{k}-{v}" for k, v in params.items() if k not in ("endpoint", "compare")]
    parts.append(ctx.selection.endpoint)
    if ctx.selection.comparison != "group":
        parts.append(f"by-{ctx.selection.comparison}")
    stem = "_".join(["imet", name, *parts])
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", stem)[:120]


def _row():
    return st.container(horizontal=True, gap="small")


def figure_downloads(fig: go.Figure | dict, *, name: str, ctx, view=None, width: int | None = None,
                     height: int | None = None) -> None:
    """PNG (>= 1600 px wide) and SVG buttons for ``fig`` (a figure or its ``{"data", "layout"}``
    dict), drawn with the export footer on click."""
    from imet_core.export import images

    footer = _footer_on_click(ctx, view)
    # the export copies it on click (images.prepare_figure); pages never change it after
    kwargs = {"width": width or images.EXPORT_WIDTH, "height": height}
    stem = file_stem(name, ctx)

    def figure() -> go.Figure:
        return fig if isinstance(fig, go.Figure) else go.Figure(fig)

    def png() -> bytes:
        return images.figure_png(figure(), footer=footer(), **kwargs)

    def svg() -> bytes:
        return images.figure_svg(figure(), footer=footer(), **kwargs)

    with _row():
        st.download_button("PNG", png, f"{stem}.png", _PNG, key=f"dl_{name}_png", icon=":material/image:",
                           on_click="ignore", type="tertiary", help="Picture for slides (2400 px wide), with footer")
        st.download_button("SVG", svg, f"{stem}.svg", _SVG, key=f"dl_{name}_svg", icon=":material/draw:",
                           on_click="ignore", type="tertiary", help="Vector picture (scales without blur), with footer")


def table_downloads(table: pd.DataFrame, *, name: str, ctx, view=None, label: str = "",
                    index: bool = False, notes: tuple[str, ...] = ()) -> None:
    """CSV and XLSX buttons for ``table`` (formulas neutralised, export footer underneath)."""
    from imet_core.export import tables

    footer = _footer_on_click(ctx, view)
    data = table.copy()
    stem = file_stem(name, ctx)
    title = f"{label or name.replace('_', ' ').capitalize()} · {ctx.selection.describe()}"

    def csv() -> bytes:
        return tables.table_csv(data, footer(), index=index, notes=notes)

    def xlsx() -> bytes:
        return tables.table_xlsx(data, footer(), index=index, sheet_name=name, title=title, notes=notes)

    prefix = f"{label} " if label else ""
    with _row():
        st.download_button(f"{prefix}CSV", csv, f"{stem}.csv", _CSV, key=f"dl_{name}_csv", icon=":material/table_view:",
                           on_click="ignore", type="tertiary", help="Comma-separated, with footer rows")
        st.download_button(f"{prefix}XLSX", xlsx, f"{stem}.xlsx", _XLSX, key=f"dl_{name}_xlsx",
                           icon=":material/grid_on:", on_click="ignore", type="tertiary",
                           help="Excel workbook, with footer rows")


def _footer_on_click(ctx, view=None) -> Callable[[], Footer]:
    """The export footer of this page run, made when a download is clicked (stamped with the time
    of the click).

    What the footer depends on is captured now (registry, selection, n and events of ``view``,
    the session's suppression threshold); counting the subgroup's patients when ``view`` does not
    carry them is a pass over the registry, which a page run (every filter click) should not pay
    for each of its download rows. The count is made once, on the first click, and kept."""
    source, synthetic = _source(ctx)
    counts = None
    if view is not None and hasattr(view, "n") and hasattr(view, "n_events"):
        counts = (int(view.n), int(view.n_events))
    frame, selection = ctx.frame, ctx.selection
    version, threshold = ctx.registry.fingerprint[:8], fmt.suppression_threshold()
    made: list[Footer] = []

    def footer() -> Footer:
        if not made:
            made.append(footer_for(frame, selection, source=source, synthetic=synthetic, counts=counts,
                                   data_version=version, suppress_below=threshold))
        return _now(made[0])
    return footer


def _now(footer: Footer) -> Footer:
    """The footer stamped with the time of the click."""
    from dataclasses import replace
    return replace(footer, created=_dt.datetime.now().replace(second=0, microsecond=0))


def _pack_options():
    """The view options the pages currently show (milestones, Cox model, Table 1 p-values)."""
    from imet_core.export.content import options_from

    state = st.session_state
    years = state.get("landmark_years", [3, 5])
    rule = state.get("cox_rule", "paper")
    model = "paper" if rule == "paper" else tuple(state.get("cox_covariates", ["group", "mdfi_gt_24", "site"]))
    references = {"site": state.get("cox_site_ref", "lung"), "nodal_status": state.get("cox_node_ref", "N0")}
    return options_from(landmark_years=years, cox_model=model, cox_references=references,
                        show_p=bool(state.get("t1_show_p", True)), suppress_below=fmt.suppression_threshold())


def _pack_builder(ctx) -> Callable[[], object]:
    from imet_core.export.content import build_pack

    from ui.published import published_subgroup_hrs

    frame, selection = ctx.frame, ctx.selection
    source, synthetic = _source(ctx)
    options = _pack_options()
    published = published_subgroup_hrs(ctx, selection)  # as the Subgroups page draws them

    def build():
        return build_pack(frame, selection, source=source, synthetic=synthetic, options=options,
                          published=published)
    return build


def deck_and_report_buttons(ctx) -> None:
    """"Slide deck (PPTX)" and "Report (HTML)" of the current selection, made on click."""
    from imet_core.export.deck import build_deck
    from imet_core.export.html_report import build_html

    warm_renderer()
    build = _pack_builder(ctx)
    stem = file_stem("meeting", ctx) + _dt.date.today().strftime("_%Y-%m-%d")

    def deck() -> bytes:
        return build_deck(build())

    def report() -> bytes:
        return build_html(build())

    st.download_button("Slide deck (PPTX)", deck, f"{stem}.pptx", _PPTX, key="dl_deck", on_click="ignore",
                       icon=":material/slideshow:", width="stretch",
                       help="Title, Kaplan-Meier, subgroups, Table 1, Table 2, methods and caveats of the "
                            "current subgroup, endpoint and comparison. Takes a few seconds.")
    st.download_button("Report (HTML)", report, f"{stem}.html", _HTML, key="dl_report", on_click="ignore",
                       icon=":material/description:", width="stretch",
                       help="The same content as one self-contained web page with interactive figures; "
                            "opens offline.")


def warm_renderer() -> None:
    """Start the image renderer's browser in the background (once per server process)."""
    from imet_core.export.images import renderer
    try:
        renderer().warm_up()
    except Exception:  # noqa: BLE001 - a missing browser shows up when a picture is asked for
        pass


def presentation_layout(on: bool) -> None:
    """Presentation mode: one chart per screen. Charts are stacked full width (pages do that), each
    scrolls into place at the top of the window (CSS scroll snapping) with space after it, so the
    next chart starts on the next screen; captions get larger type. The sidebar collapses via
    app.py."""
    if not on:
        return
    st.markdown(
        """<style>
        [data-testid="stMain"] { scroll-snap-type: y proximity; }
        [data-testid="stPlotlyChart"] { scroll-snap-align: start; scroll-margin-top: 3.2rem; margin-bottom: 8vh; }
        [data-testid="stMainBlockContainer"] { padding-top: 2.2rem; max-width: 100%; }
        [data-testid="stCaptionContainer"] { font-size: 1.05rem; }
        /* headings keep their own (large) size: a blanket font-size on [class*="st-"] elements
           would otherwise shrink the text span inside each heading */
        h1 [class*="st-"], h2 [class*="st-"], h3 [class*="st-"] { font-size: inherit !important; }
        h2 { font-size: 2.0rem !important; }
        h3 { font-size: 1.6rem !important; }
        </style>""",
        unsafe_allow_html=True,
    )
