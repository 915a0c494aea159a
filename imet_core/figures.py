"""Plotly figures drawn from the analysis views (no Streamlit): the app, the slide deck and the
HTML report all use these builders, so every picture of a number looks the same everywhere.

Style: Okabe-Ito colours (safe for the common colour-vision deficiencies), large type for a
projector, no gridline clutter. Curves keep every step where the estimate changes; when a curve
has more points than a browser draws comfortably, only points that change nothing visible
(repeated survival values between censorings) are dropped - never a step.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from imet_core.analysis import CoxView, ForestView, SurvivalView
from imet_core.privacy import small_count_label, suppress_forest_table, suppress_risk_table

__all__ = ["PALETTE", "FONT_SIZE", "km_figure", "forest_figure", "cox_forest_figure", "style",
           "arm_colours", "thin_curve"]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Okabe & Ito (2008) colour-blind-safe palette: blue, vermillion, green, purple, orange, sky."""
FONT_SIZE = 17
FONT_FAMILY = "Arial, Helvetica, sans-serif"
MAX_CURVE_POINTS = 3000


AXIS = dict(showline=True, linecolor="#1B1F24", linewidth=1, ticks="outside", tickcolor="#1B1F24",
            zeroline=False, showgrid=False, mirror=False)
"""Axes of the house style (white background, a thin line and outside ticks, no clutter)."""


def base_layout(*, font_size: int = FONT_SIZE, height: int | None = None) -> dict:
    """The house style as a layout dict (no template: a figure's JSON stays small)."""
    layout = dict(
        font=dict(family=FONT_FAMILY, size=font_size, color="#1B1F24"), paper_bgcolor="white",
        plot_bgcolor="white", margin=dict(l=90, r=40, t=60, b=60), hoverlabel=dict(font_size=font_size - 1),
        legend=dict(font=dict(size=font_size), bgcolor="rgba(255,255,255,0.8)"),
        xaxis=dict(AXIS), yaxis=dict(AXIS), colorway=list(PALETTE),
    )
    if height:
        layout["height"] = height
    return layout


def style(fig: go.Figure, *, font_size: int = FONT_SIZE, height: int | None = None) -> go.Figure:
    """Apply the house style to a figure built elsewhere (white background, large type, thin axes)."""
    layout = base_layout(font_size=font_size, height=height)
    layout.pop("xaxis"), layout.pop("yaxis")
    fig.update_layout(**layout)
    fig.update_xaxes(**AXIS)
    fig.update_yaxes(**AXIS)
    return fig


def _figure(data: list, layout: dict, as_spec: bool = False) -> go.Figure | dict:
    """Build a figure from plain dicts in one go. Plotly's per-call validation (add_trace,
    add_annotation, update_*) costs far more than the drawing at dashboard sizes, so the builders
    assemble dicts; tests re-validate every figure (``go.Figure(fig.to_dict())``). With ``as_spec`` the
    dicts are returned as they are (``{"data": [...], "layout": {...}}``, the figure's JSON): the
    app's charts send that to the browser without building plotly.py's object tree at all.

    No template: plotly.py would otherwise attach its default one, whose automatic margins make
    the browser lay every chart out twice (a Kaplan-Meier chart drew in ~120 ms instead of ~60 in
    Chromium). The house style sets what the template set that shows (axis-title distance
    below); margins wide enough for the tick labels come from :func:`label_width`."""
    layout["template"] = {}
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis.get("title"), dict):
            axis["title"].setdefault("standoff", 15)
    if as_spec:
        return {"data": data, "layout": layout}
    return go.Figure(data=data, layout=layout, _validate=False)


# Advance widths (1/1000 em) of Helvetica, whose metrics Arial and Liberation Sans share, for
# the characters 32..126: Adobe's Helvetica and Helvetica-Bold AFM files (as shipped in
# matplotlib's mpl-data/fonts/afm, phvr8a.afm and phvb8a.afm).
_HELVETICA = (
    278, 278, 355, 556, 556, 889, 667, 222, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778,
    722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278,
    278, 278, 469, 556, 222, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584)
_HELVETICA_BOLD = (
    278, 333, 474, 556, 556, 889, 722, 278, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778,
    722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333,
    278, 333, 584, 556, 278, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584)


def label_width(text: str, font_size: float) -> float:
    """Width in pixels of a label (its widest ``<br>`` line; ``<b>`` parts in bold, other tags ignored) in the
    house font, generously rounded up (5%; other characters count as a wide 0.75 em): a fixed
    margin from this replaces plotly's automatic margins, which cost a second layout pass."""
    if "<br>" in text:  # several lines: the widest
        return max(label_width(line, font_size) for line in text.split("<br>"))
    total = 0.0
    for i, part in enumerate(text.replace("</b>", "<b>").split("<b>")):
        widths = _HELVETICA_BOLD if i % 2 else _HELVETICA
        for ch in re.sub(r"<[^>]*>", "", part):
            code = ord(ch)
            total += widths[code - 32] if 32 <= code <= 126 else 750
    return 1.05 * total * font_size / 1000


def _v(values) -> list:
    """A numpy array as a JSON-ready list (NaN -> None)."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return [None if not math.isfinite(v) else v for v in array.tolist()]
    return array.tolist()


def arm_colours(levels: Sequence[str]) -> dict[str, str]:
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(levels)}


def thin_curve(table: pd.DataFrame, max_points: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """At most about ``max_points`` rows of a KM table for drawing, none of them visibly different.

    Small curves are drawn whole. A long curve keeps its first and last rows and every row where
    the survival estimate or the time crosses a line of a 2000 x 2000 grid over the plot: what is
    dropped moves the curve by less than 1/2000 of its height or width, below one pixel at any
    screen or slide resolution, so the drawn curve is the same picture (tested). Numbers shown anywhere (medians, milestones, the at-risk
    table, hover values of kept points) come from the analysis, not from this thinned copy.
    """
    if len(table) <= max_points:
        return table
    time = table["time"].to_numpy(float)
    surv = table["survival"].to_numpy(float)
    step_s, step_t = 1 / 2000, (time[-1] - time[0]) / 2000
    # greedy pass over at most a few thousand "bins": vectorised by flooring to the grid
    bucket = np.floor(time / step_t) if step_t > 0 else np.zeros(time.size)
    level = np.floor((1 - surv) / step_s)
    keep = np.ones(time.size, dtype=bool)
    keep[1:] = (bucket[1:] != bucket[:-1]) | (level[1:] != level[:-1])
    keep[0] = keep[-1] = True
    return table.loc[keep]


def _step_xy(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start at (0, 1) and step after each time (right-continuous curve)."""
    return np.concatenate([[0.0], times]), np.concatenate([[1.0], values])


def km_figure(view: SurvivalView, *, title: str | None = None, show_ci: bool = True,
              show_censor: bool = True, font_size: int = FONT_SIZE, height: int = 720,
              x_label: str | None = None, hr_text: str | None = None,
              suppress_below: int | None = None, as_spec: bool = False) -> go.Figure | dict:
    """Kaplan-Meier curves in the KMunicate style (Morris et al., BMJ Open 2019).

    Step curves with 95% CI bands and censoring marks, and beneath, aligned to the same time
    axis, the number at risk with cumulative events and censored per arm. Hover shows time,
    survival, CI and number at risk. With ``suppress_below`` (small-cell suppression mode,
    :mod:`imet_core.privacy`), counts from 1 to ``suppress_below - 1`` in the at-risk table and
    the hover read ``"<5"``, and cells that would reveal them ``"[c]"``.

    With ``as_spec`` the figure comes as a plain ``{"data": [...], "layout": {...}}`` dict, the
    content of its plotly JSON, without building plotly.py's object tree (what the app's charts
    send to the browser; :func:`forest_figure` and :func:`cox_forest_figure` take it too).
    """
    levels = [a for a in view.levels if a in view.curves]
    colours = arm_colours(view.levels)
    risk = view.risk_table if suppress_below is None else \
        suppress_risk_table(view.risk_table, threshold=suppress_below)
    times = view.risk_table["time"].drop_duplicates().to_numpy()
    n_arms = max(len(levels), 1)
    table_share = min(0.12 + 0.075 * n_arms, 0.45)
    gap = 0.17
    x_max = float(times.max()) if times.size else 1.0
    data: list[dict] = []
    for a in levels:
        km = view.curves[a]
        tab = thin_curve(km.table)
        colour = colours[a]
        t = tab["time"].to_numpy(float)
        x, y = _step_xy(t, tab["survival"].to_numpy(float))
        lo = np.concatenate([[1.0], tab["lower"].to_numpy(float)])
        hi = np.concatenate([[1.0], tab["upper"].to_numpy(float)])
        at_risk = _at_risk_text(np.concatenate([[km.table["at_risk"].iloc[0] if len(km.table) else 0],
                                                tab["at_risk"].to_numpy(float)]), suppress_below)
        if show_ci:
            band_x = np.concatenate([x, x[::-1]])
            band_y = np.concatenate([np.nan_to_num(hi, nan=np.nanmin(y)), np.nan_to_num(lo, nan=0.0)[::-1]])
            data.append(dict(type="scatter", x=_v(band_x), y=_v(band_y), fill="toself", mode="lines",
                             line=dict(width=0, shape="hv"), fillcolor=_rgba(colour, 0.16), hoverinfo="skip",
                             showlegend=False, name=f"{a} 95% CI", xaxis="x", yaxis="y"))
        custom = [[l, h, r] for l, h, r in zip(_v(lo), _v(hi), at_risk.tolist())]
        data.append(dict(
            type="scatter", x=_v(x), y=_v(y), mode="lines", line=dict(color=colour, width=3.5, shape="hv"),
            name=a, customdata=custom, xaxis="x", yaxis="y",
            hovertemplate=(f"<b>{a}</b><br>%{{x:.1f}} months<br>survival %{{y:.3f}}"
                           "<br>95% CI %{customdata[0]:.3f}–%{customdata[1]:.3f}"
                           "<br>at risk %{customdata[2]}<extra></extra>")))
        if show_censor:
            cens = km.table[km.table["censored"] > 0]
            if len(cens) > MAX_CURVE_POINTS:
                cens = cens.iloc[np.linspace(0, len(cens) - 1, MAX_CURVE_POINTS).astype(int)]
            data.append(dict(
                type="scatter", x=_v(cens["time"]), y=_v(cens["survival"]), mode="markers", showlegend=False,
                marker=dict(symbol="line-ns-open", size=11, color=colour, line=dict(width=2, color=colour)),
                name=f"{a} censored", xaxis="x", yaxis="y",
                hovertemplate=f"{a}: censored at %{{x:.1f}} months<extra></extra>"))
    # KMunicate table: one block per arm, rows at risk / events / censored; one text trace per arm
    # (plotly lays out each trace on its own: fewer traces draw faster, the picture is the same)
    y_labels, y_pos = [], []
    row_index = 0
    for a in view.levels:
        part = risk[risk["arm"] == a]
        xs, ys, texts = [], [], []
        for label, column in (("At risk", "at_risk"), ("Events", "events"), ("Censored", "censored")):
            xs += _v(part["time"])
            ys += [-row_index] * len(part)
            texts += [_count(v) for v in part[column]]
            y_labels.append(f"{a}: {label.lower()}" if label == "At risk" else label)
            y_pos.append(-row_index)
            row_index += 1
        data.append(dict(type="scatter", x=xs, y=ys, mode="text", showlegend=False, text=texts,
                         xaxis="x2", yaxis="y2", textfont=dict(size=font_size - 2, color=colours[a]),
                         hoverinfo="skip", name=f"{a} numbers at risk"))
    x_range = [-x_max * 0.02, x_max * 1.03]
    layout = base_layout(font_size=font_size, height=height)
    # room for the table's row labels (standoff 14) and the survival axis' title and labels
    left = max(max(label_width(label, font_size - 3) for label in y_labels) + 14,
               label_width("100%", font_size) + 15 + 1.4 * font_size) + 8
    layout["margin"] = dict(layout["margin"], l=max(layout["margin"]["l"], math.ceil(left)))
    layout.update(
        xaxis=dict(AXIS, anchor="y", domain=[0, 1], range=x_range, tickvals=_v(times),
                   title=dict(text=x_label or f"Months since {view.selection.endpoint_spec.origin}")),
        yaxis=dict(AXIS, anchor="x", domain=[table_share + gap, 1], range=[0, 1.02], tickformat=".0%",
                   dtick=0.2, showgrid=True, gridcolor="#EEF1F4", title=dict(text="Survival probability")),
        xaxis2=dict(anchor="y2", domain=[0, 1], matches="x", range=x_range, tickvals=_v(times),
                    showticklabels=False, showline=False, ticks="", showgrid=False, zeroline=False),
        yaxis2=dict(anchor="x2", domain=[0, table_share], tickvals=y_pos, ticktext=y_labels,
                    range=[-row_index + 0.5, 0.6], ticklabelstandoff=14, showline=False, ticks="",
                    showgrid=False, zeroline=False, tickfont=dict(size=font_size - 3)),
        legend=dict(font=dict(size=font_size), bgcolor="rgba(255,255,255,0.8)", orientation="h", x=1,
                    xanchor="right", y=1.02, yanchor="bottom"),
        hovermode="closest",
        annotations=[dict(x=0, y=1.0, xref="paper", yref="y2 domain", yanchor="bottom", xanchor="left",
                          text="<b>Number at risk</b> (cumulative events, censored)", showarrow=False,
                          font=dict(size=font_size - 2), yshift=4)],
    )
    if title:
        layout["title"] = dict(text=title)
    if hr_text:
        layout["annotations"].append(dict(
            x=0.02, y=0.04, xref="x domain", yref="y domain", text=hr_text, showarrow=False, align="left",
            xanchor="left", yanchor="bottom", font=dict(size=font_size), bgcolor="rgba(255,255,255,0.85)"))
    return _figure(data, layout, as_spec)


def _at_risk_text(at_risk: np.ndarray, suppress_below: int | None) -> np.ndarray:
    """Numbers at risk for the hover, as text; small ones hidden in suppression mode."""
    label = small_count_label(suppress_below) if suppress_below is not None else ""
    return np.array([label if suppress_below is not None and 0 < v < suppress_below else _count(v)
                     for v in at_risk], dtype=object)


def _count(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def forest_figure(view: ForestView, *, published: dict | None = None, font_size: int = FONT_SIZE,
                  title: str | None = None, suppress_below: int | None = None,
                  as_spec: bool = False) -> go.Figure | dict:
    """Subgroup forest plot: HR and 95% CI on a log axis per subgroup level, a line at 1, a dashed
    line at the overall HR, marker area by events, p for interaction per variable; optional
    published HRs (open diamonds) beside ours. With ``suppress_below``, the events/patients
    labels hide counts from 1 to ``suppress_below - 1`` (:func:`imet_core.privacy.suppress_forest_table`)."""
    table = view.table
    labels_table = table if suppress_below is None or table.empty else \
        suppress_forest_table(table, threshold=suppress_below)
    if table.empty:
        return _figure([], base_layout(font_size=font_size), as_spec)
    labels, ys, header_rows = [], [], []
    y = 0
    previous = None
    variables = table["variable"].tolist()
    for i, r in enumerate(table.itertuples(index=False)):
        if r.variable != previous and r.variable != "all":
            head = f"<b>{r.variable_label}</b>"
            if np.isfinite(r.p_interaction):
                head += f"   (interaction p = {_p(r.p_interaction)})"
            labels.append(head)
            ys.append(y)
            header_rows.append(y)
            y -= 1
        previous = r.variable
        shown = labels_table.iloc[i]
        n_text = f"{shown['events_a']}/{shown['n_a']} vs {shown['events_b']}/{shown['n_b']}"
        name = "<b>All patients</b>" if r.variable == "all" else r.level_label
        labels.append(f"{name}   {n_text}")
        ys.append(y)
        y -= 1
    header_set = set(header_rows)
    ry = np.array([yy for yy in ys if yy not in header_set], dtype=float)
    ok = table["hr"].notna().to_numpy()
    events = (table["events_a"] + table["events_b"]).to_numpy(float)
    size = 8 + 16 * np.sqrt(events / max(events.max(), 1))
    hr = table["hr"].to_numpy(float)
    lo, hi = table["hr_lower"].to_numpy(float), table["hr_upper"].to_numpy(float)
    p = table["p"].to_numpy(float)
    data = [dict(
        type="scatter", x=_v(hr[ok]), y=_v(ry[ok]), mode="markers", name=f"HR {view.arm_a} vs {view.arm_b}",
        marker=dict(symbol="square", size=_v(size[ok]), color=PALETTE[0]),
        error_x=dict(type="data", symmetric=False, array=_v((hi - hr)[ok]), arrayminus=_v((hr - lo)[ok]),
                     thickness=2.5, width=0, color=PALETTE[0]),
        customdata=[[a, b, c] for a, b, c in zip(_v(lo[ok]), _v(hi[ok]), _v(p[ok]))],
        hovertemplate="HR %{x:.2f} (95% CI %{customdata[0]:.2f}–%{customdata[1]:.2f}), p %{customdata[2]:.3g}<extra></extra>",
    )]
    missing = ~ok
    if missing.any():
        data.append(dict(type="scatter", x=[1.0] * int(missing.sum()), y=_v(ry[missing]), mode="text",
                         text=["too few events"] * int(missing.sum()), showlegend=False,
                         textfont=dict(size=font_size - 3, color="#6B7280"), hoverinfo="skip"))
    if published:
        px, py, plo, phi = [], [], [], []
        for (variable, level), value in published.items():
            match = np.nonzero((table["variable"] == variable).to_numpy() & (table["level"] == level).to_numpy())[0]
            if len(match):
                px.append(value["hr"]); plo.append(value["ci"][0]); phi.append(value["ci"][1])
                py.append(float(ry[match[0]]) - 0.32)
        if px:
            px_a = np.array(px)
            data.append(dict(
                type="scatter", x=px, y=py, mode="markers", name="Published (IMET paper)",
                marker=dict(symbol="diamond-open", size=13, color=PALETTE[1], line=dict(width=2.5)),
                error_x=dict(type="data", symmetric=False, array=_v(np.array(phi) - px_a),
                             arrayminus=_v(px_a - np.array(plo)), thickness=1.5, width=0, color=PALETTE[1]),
                hovertemplate="Published HR %{x:.2f}<extra></extra>"))
    shapes = [dict(type="line", xref="x", yref="paper", x0=1.0, x1=1.0, y0=0, y1=1,
                   line=dict(color="#374151", width=1.5))]
    overall = table.loc[table["variable"] == "all", "hr"]
    if len(overall) and np.isfinite(overall.iloc[0]):
        shapes.append(dict(type="line", xref="x", yref="paper", x0=float(overall.iloc[0]),
                           x1=float(overall.iloc[0]), y0=0, y1=1,
                           line=dict(color=PALETTE[0], width=1.5, dash="dash")))
    finite = np.concatenate([lo[ok & np.isfinite(lo)], hi[ok & np.isfinite(hi)], [0.5, 2.0]])
    x_lo = max(float(np.nanmin(finite)) * 0.8, 0.01)
    x_hi = min(float(np.nanmax(finite)) * 1.25, 100.0)
    small = font_size - 2
    annotations = [
        dict(x=0.0, y=1.0, xref="paper", yref="paper", yanchor="bottom", xanchor="left",
             text=f"← favours {view.arm_a}", showarrow=False, font=dict(size=small)),
        dict(x=1.0, y=1.0, xref="paper", yref="paper", yanchor="bottom", xanchor="right",
             text=f"favours {view.arm_b} →", showarrow=False, font=dict(size=small)),
        dict(x=1.0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False,
             text="<b>HR (95% CI)</b>", xshift=12, font=dict(size=small)),
    ]
    # HR (95% CI) as a text column right of the plot, as forest plots in trial reports print it:
    # the tick labels of a right-hand y axis that matches the left one. (One annotation per row
    # drew the chart about twice as slowly in the browser: plotly lays out each annotation alone.)
    hr_column = [f"{h:.2f} ({l:.2f}–{u:.2f})" if math.isfinite(h) else "–"
                 for h, l, u in zip(hr.tolist(), lo.tolist(), hi.tolist())]
    data.append(dict(type="scatter", x=[1.0], y=[float(ry[0])], xaxis="x", yaxis="y2", mode="markers",
                     marker=dict(opacity=0), hoverinfo="skip", showlegend=False, name="HR (95% CI) column"))
    layout = base_layout(font_size=font_size, height=max(420, 34 * len(ys) + 160))
    layout.update(
        xaxis=dict(AXIS, type="log", range=[math.log10(x_lo), math.log10(x_hi)],
                   title=dict(text=f"Hazard ratio ({view.arm_a} vs {view.arm_b}), log scale"),
                   tickvals=[v for v in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if x_lo <= v <= x_hi],
                   showgrid=True, gridcolor="#EEF1F4"),
        yaxis=dict(AXIS, tickvals=ys, ticktext=labels, range=[y + 0.5, 0.7], showgrid=False, ticks="",
                   showline=False),
        yaxis2=dict(overlaying="y", side="right", matches="y", range=[y + 0.5, 0.7], tickvals=_v(ry),
                    ticktext=hr_column, ticklabelstandoff=12, tickfont=dict(size=small), showgrid=False,
                    showline=False, ticks="", zeroline=False),
        legend=dict(font=dict(size=font_size), bgcolor="rgba(255,255,255,0.8)", orientation="h", x=1,
                    xanchor="right", y=-0.08, yanchor="top"),
        margin=dict(l=math.ceil(max(label_width(t, font_size) for t in labels)) + 24, r=190, t=70, b=110),
        shapes=shapes, annotations=annotations)
    if title:
        layout["title"] = dict(text=title)
    del variables
    return _figure(data, layout, as_spec)


def cox_forest_figure(view: CoxView, *, adjusted: bool = False, font_size: int = FONT_SIZE,
                      as_spec: bool = False) -> go.Figure | dict:
    """Table 2 as a forest plot (univariable, or adjusted HRs of the multivariable model).

    ``as_spec``: the figure as a plain ``{"data", "layout"}`` dict instead of a ``go.Figure``
    (same content; see :func:`km_figure`)."""
    cols = ("hr_adj", "hr_adj_lower", "hr_adj_upper") if adjusted else ("hr", "hr_lower", "hr_upper")
    t = view.table.dropna(subset=[cols[0]])
    if t.empty:
        return _figure([], base_layout(font_size=font_size), as_spec)
    # "Covariate:<br>level vs reference" on two lines: the chart often sits in half a screen
    labels = [f"{r.label}:<br>{r.level_label} vs {r.reference_label}" if r.level_label and
              r.variable not in ("mdfi_gt_24", "age_lt_55", "hr_positive", "her2_positive")
              else r.label for r in t.itertuples(index=False)]
    y = -np.arange(len(t))
    hr, lo, hi = (t[c].to_numpy(float) for c in cols)
    data = [dict(type="scatter", x=_v(hr), y=_v(y), mode="markers",
                 marker=dict(symbol="square", size=13, color=PALETTE[0]),
                 error_x=dict(type="data", symmetric=False, array=_v(hi - hr), arrayminus=_v(hr - lo),
                              thickness=2.5, width=0), showlegend=False,
                 hovertemplate="HR %{x:.2f}<extra></extra>")]
    finite = np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)], [0.5, 2.0]])
    ticks = [v for v in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if finite.min() * 0.8 <= v <= finite.max() * 1.25]
    layout = base_layout(font_size=font_size, height=max(360, 54 * len(t) + 140))
    layout.update(
        xaxis=dict(AXIS, type="log", title=dict(text="Hazard ratio (log scale)"), showgrid=True,
                   gridcolor="#EEF1F4", tickvals=ticks, ticktext=[f"{v:g}" for v in ticks]),
        yaxis=dict(AXIS, tickvals=_v(y), ticktext=labels, showgrid=False, ticks=""),
        margin=dict(layout["margin"], l=math.ceil(max(label_width(t, font_size) for t in labels)) + 24),
        shapes=[dict(type="line", xref="x", yref="paper", x0=1.0, x1=1.0, y0=0, y1=1,
                     line=dict(color="#374151", width=1.5))])
    return _figure(data, layout, as_spec)


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "–"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"
