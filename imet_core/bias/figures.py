"""Plotly figures of the bias checks (no Streamlit): the methods forest plot, the love plot and
Kaplan-Meier panels.  House style and colours from :mod:`imet_core.figures`."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from imet_core.bias.compare import METHOD_LABELS, METHODS
from imet_core.bias.propensity import BALANCE_THRESHOLD
from imet_core.figures import FONT_SIZE, PALETTE, style

__all__ = ["methods_forest_figure", "love_plot", "km_panels_figure"]

_GREY = "#6B7280"


def _hr_text(hr: float, lo: float, hi: float) -> str:
    if not math.isfinite(hr):
        return "not estimable"
    return f"{hr:.2f} ({lo:.2f}–{hi:.2f})"


def methods_forest_figure(summary: pd.DataFrame, *, labels: dict | None = None, font_size: int = FONT_SIZE,
                          title: str | None = None, height: int | None = None) -> go.Figure:
    """The IT-vs-ST HR under each method (a :func:`imet_core.bias.compare_methods` table).

    One row per method, top to bottom in the table's order: HR with 95% CI on a log axis, a
    line at 1, a dashed line at the naive HR, the HR (CI) as text at the right; a method that
    could not run says "not estimable".
    """
    labels = labels or METHOD_LABELS
    table = summary.reindex([m for m in METHODS if m in summary.index] +
                            [m for m in summary.index if m not in METHODS])
    y = -np.arange(len(table), dtype=float)
    hr = table["hr"].to_numpy(float)
    lo, hi = table["hr_lower"].to_numpy(float), table["hr_upper"].to_numpy(float)
    ok = np.isfinite(hr) & np.isfinite(lo) & np.isfinite(hi)
    colours = [PALETTE[6] if m == "naive" else PALETTE[0] for m in table.index]
    fig = go.Figure()
    if ok.any():
        fig.add_trace(go.Scatter(
            x=hr[ok], y=y[ok], mode="markers", showlegend=False,
            marker=dict(symbol="square", size=15, color=[c for c, k in zip(colours, ok) if k]),
            error_x=dict(type="data", symmetric=False, array=(hi - hr)[ok], arrayminus=(hr - lo)[ok],
                         thickness=3, width=0, color=PALETTE[0]),
            customdata=np.column_stack([lo[ok], hi[ok], table["p"].to_numpy(float)[ok]]),
            hovertemplate="HR %{x:.2f} (95% CI %{customdata[0]:.2f}–%{customdata[1]:.2f}), "
                          "p %{customdata[2]:.3g}<extra></extra>"))
    finite = np.concatenate([lo[ok], hi[ok], [0.25, 2.0]])
    x_lo = max(float(finite.min()) * 0.8, 0.02)
    x_hi = min(float(finite.max()) * 1.6, 50.0)
    text_x = x_hi / 1.02
    fig.add_trace(go.Scatter(
        x=[text_x] * len(table), y=y, mode="text", showlegend=False, hoverinfo="skip",
        text=[_hr_text(h, a, b) for h, a, b in zip(hr, lo, hi)], textposition="middle left",
        textfont=dict(size=font_size - 1, color=[_GREY if not k else "#1B1F24" for k in ok])))
    fig.add_vline(x=1.0, line=dict(color="#374151", width=1.5))
    if "naive" in table.index and math.isfinite(table.loc["naive", "hr"]):
        fig.add_vline(x=float(table.loc["naive", "hr"]), line=dict(color=PALETTE[6], width=1.2, dash="dash"))
    fig.update_xaxes(type="log", range=[math.log10(x_lo), math.log10(x_hi)],
                     title_text="Hazard ratio, IT vs ST (log scale)", showgrid=True, gridcolor="#EEF1F4",
                     tickvals=[v for v in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10) if x_lo <= v <= x_hi])
    fig.update_yaxes(tickvals=y, ticktext=[labels.get(m, m) for m in table.index], range=[y.min() - 0.6, 0.6],
                     showgrid=False, ticks="", showline=False, automargin=True)
    fig.add_annotation(x=0.0, y=1.0, xref="paper", yref="paper", yanchor="bottom", xanchor="left",
                       text="← favours IT", showarrow=False, font=dict(size=font_size - 2))
    fig.add_annotation(x=math.log10(1.0), y=1.0, xref="x", yref="paper", yanchor="bottom", xanchor="left",
                       text=" favours ST →", showarrow=False, font=dict(size=font_size - 2))
    style(fig, font_size=font_size, height=height or max(360, 70 * len(table) + 150))
    fig.update_layout(title=dict(text=title) if title else None, margin=dict(l=20, r=30, t=60, b=70))
    return fig


def love_plot(balance: pd.DataFrame, *, threshold: float = BALANCE_THRESHOLD, font_size: int = FONT_SIZE,
              height: int | None = None) -> go.Figure:
    """Absolute standardized mean differences before (open circles) and after weighting (filled),
    one row per covariate level (a :func:`imet_core.bias.balance_table`), with the 0.1 line."""
    table = balance.copy()
    y = -np.arange(len(table), dtype=float)
    before = table["smd_before"].abs().to_numpy(float)
    after = table["smd_after"].abs().to_numpy(float)
    fig = go.Figure()
    for values, name, symbol, colour in ((before, "Before weighting", "circle-open", PALETTE[1]),
                                         (after, "After weighting", "circle", PALETTE[0])):
        shown = np.where(np.isinf(values), np.nan, values)
        fig.add_trace(go.Scatter(x=shown, y=y, mode="markers", name=name,
                                 marker=dict(symbol=symbol, size=13, color=colour, line=dict(width=2.5, color=colour)),
                                 customdata=table["label"], hovertemplate="%{customdata}: |SMD| %{x:.3f}<extra>" + name + "</extra>"))
    fig.add_vline(x=threshold, line=dict(color="#374151", width=1.2, dash="dash"))
    finite = np.concatenate([before[np.isfinite(before)], after[np.isfinite(after)], [threshold * 2]])
    fig.update_xaxes(title_text="|SMD|, IT vs ST", range=[0, float(finite.max()) * 1.1],
                     showgrid=True, gridcolor="#EEF1F4")
    fig.update_yaxes(tickvals=y, ticktext=list(table["label"]), showgrid=False, ticks="", automargin=True)
    style(fig, font_size=font_size, height=height or max(360, 32 * len(table) + 160))
    fig.update_layout(legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"),
                      margin=dict(l=20, r=30, t=60, b=70))
    return fig


def _step(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([[0.0], times]), np.concatenate([[1.0], values])


def km_panels_figure(km: pd.DataFrame, *, panel_column: str | None, panels: Sequence, panel_titles: Sequence[str],
                     arms: Sequence[str], x_label: str, font_size: int = FONT_SIZE, height: int = 520,
                     show_ci: bool = True, min_at_risk: float | None = None) -> go.Figure:
    """Kaplan-Meier curves per arm in side-by-side panels (e.g. naive vs delayed entry).

    ``km`` is a long table with columns ``arm, time, at_risk, survival, lower, upper`` (and
    ``panel_column`` when there are several panels).  Curves start at (0, 1) and step after
    each time; 95% CI bands are drawn lightly.  With ``min_at_risk``, the stretch at the start of
    a panel where some arm has fewer patients at risk (delayed entry: few early entrants) is
    shaded grey and labelled.
    """
    n_panels = max(len(panels), 1)
    fig = make_subplots(rows=1, cols=n_panels, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=list(panel_titles))
    colours = {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(arms)}
    x_max = float(km["time"].max()) if len(km) else 1.0
    for col, panel in enumerate(panels, start=1):
        part = km if panel_column is None else km[km[panel_column] == panel]
        for arm in arms:
            curve = part[part["arm"] == arm]
            if curve.empty:
                continue
            x, s = _step(curve["time"].to_numpy(float), curve["survival"].to_numpy(float))
            if show_ci:
                _, lo = _step(curve["time"].to_numpy(float), curve["lower"].to_numpy(float))
                _, hi = _step(curve["time"].to_numpy(float), curve["upper"].to_numpy(float))
                # no interval where R gives none (S = 0, or log-log at S = 1): the band closes on the curve
                hi = np.where(np.isnan(hi), s, hi)
                lo = np.where(np.isnan(lo), s, lo)
                fig.add_trace(go.Scatter(
                    x=np.concatenate([x, x[::-1]]),
                    y=np.concatenate([hi, lo[::-1]]),
                    fill="toself", line=dict(width=0, shape="hv"), hoverinfo="skip", showlegend=False,
                    fillcolor=_rgba(colours[arm], 0.14)), row=1, col=col)
            fig.add_trace(go.Scatter(
                x=x, y=s, mode="lines", line=dict(color=colours[arm], width=3, shape="hv"), name=arm,
                legendgroup=arm, showlegend=col == 1,
                hovertemplate=f"<b>{arm}</b><br>%{{x:.1f}} months<br>survival %{{y:.3f}}<extra></extra>"),
                row=1, col=col)
        if min_at_risk is not None:
            until = _few_at_risk_until(part, arms, min_at_risk)
            if until > 0:
                fig.add_vrect(x0=0, x1=until, fillcolor="#9CA3AF", opacity=0.18, line_width=0, row=1, col=col)
                fig.add_annotation(x=until, y=0.02, xref=f"x{'' if col == 1 else col}", yref="y", xanchor="right",
                                   yanchor="bottom", showarrow=False, text=f"< {min_at_risk:g} at risk",
                                   font=dict(size=font_size - 4, color=_GREY))
        fig.update_xaxes(title_text=x_label, range=[0, x_max * 1.02], row=1, col=col)
    fig.update_yaxes(title_text="Survival probability", range=[0, 1.02], tickformat=".0%", dtick=0.2,
                     showgrid=True, gridcolor="#EEF1F4", row=1, col=1)
    style(fig, font_size=font_size, height=height)
    fig.update_layout(legend=dict(orientation="h", x=1, xanchor="right", y=1.1, yanchor="bottom"),
                      margin=dict(l=80, r=30, t=90, b=60))
    return fig


def _few_at_risk_until(part: pd.DataFrame, arms: Sequence[str], min_at_risk: float) -> float:
    """The latest, over arms, first curve time at which the arm has at least ``min_at_risk`` at risk
    (0 when every arm starts with enough)."""
    until = 0.0
    for arm in arms:
        curve = part[part["arm"] == arm]
        if curve.empty:
            continue
        enough = curve["at_risk"].to_numpy(float) >= min_at_risk
        times = curve["time"].to_numpy(float)
        if enough[0]:  # enough patients from the first time on
            continue
        until = max(until, float(times[np.argmax(enough)]) if enough.any() else float(times[-1]))
    return until


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"
