"""Plotly charts that update in place when a filter changes.

``st.plotly_chart`` (Streamlit 1.67) gives a chart a new element identity whenever its figure
changes (the figure is part of the identity even with a ``key``), so every filter click unmounts
the chart and mounts a new one: plotly builds the whole graph from scratch, first hidden while
the new element's width is unknown, then again once it is measured. On the chart pages that was
most of a click's time in the browser.

:func:`plotly_chart` draws the same figure through a small custom component (Streamlit's
components v2, mounted in the page, no iframe) that keeps one plotly graph per chart for the
session and hands each new figure to ``Plotly.react``, which redraws only what changed. Plotly.js
is the copy that ships with the pinned ``plotly`` Python package, served by the app itself
(``server.enableStaticServing``), so nothing is fetched from the network.

What the user gets is what ``st.plotly_chart`` gave: the same figure JSON, the chart as wide as
its column, plotly's mode bar (without the plotly logo) with a full-screen button, hover labels.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

__all__ = ["plotly_chart", "figure_json", "ensure_plotly_js", "PLOTLY_JS_NAME"]

APP_DIR = Path(__file__).resolve().parents[1]
STATIC_DIR = APP_DIR / "static"
PLOTLY_JS_NAME = f"plotly-{plotly.__version__}.min.js"
"""Versioned name, so a browser never runs a cached plotly.js of another version."""

_JS = r"""
const CHART_CLASS = 'imet-chart';

function loadPlotly(src) {
  // One <script> per page, shared by every chart (window.Plotly once loaded).
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__imetPlotlyLoading) {
    window.__imetPlotlyLoading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { window.__imetPlotlyLoading = null; reject(new Error('plotly.js did not load from ' + src)); };
      document.head.appendChild(script);
    });
  }
  return window.__imetPlotlyLoading;
}

function fullscreenButton(host) {
  return {
    name: 'Full screen', title: 'Full screen',
    icon: {width: 512, height: 512,
           path: 'M32 32h160v64H96v96H32V32zm288 0h160v160h-64V96h-96V32zM32 320h64v96h96v64H32V320zm384 96v-96h64v160H320v-64h96z'},
    click: () => {
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (host.requestFullscreen) { host.requestFullscreen(); }
    },
  };
}

export default function (component) {
  const { data, parentElement } = component;
  let host = parentElement.querySelector('.' + CHART_CLASS);
  if (!host) {
    host = document.createElement('div');
    host.className = CHART_CLASS;
    parentElement.appendChild(host);
  }
  if (host.__imetSpec === data.spec) return cleanup(host);  // same figure: nothing to redraw
  host.__imetSpec = data.spec;
  const figure = JSON.parse(data.spec);
  const layout = Object.assign({}, figure.layout || {});
  host.__imetHeight = layout.height;
  // Reserve the chart's height at once, so the page does not jump while plotly.js loads.
  host.style.height = document.fullscreenElement === host ? '100vh' : (layout.height ? layout.height + 'px' : '');
  if (data.alt) { host.setAttribute('role', 'figure'); host.setAttribute('aria-label', data.alt); }
  loadPlotly(data.src).then(Plotly => {
    if (host.__imetSpec !== data.spec) return;  // a newer figure arrived while plotly.js loaded
    // The same config object every time: plotly compares it with the last one and, when it differs
    // (a new button function would), throws the graph away and draws it anew.
    const configKey = JSON.stringify(data.config || {});
    if (host.__imetConfigKey !== configKey) {
      host.__imetConfigKey = configKey;
      host.__imetConfig = Object.assign({}, data.config || {});
      host.__imetConfig.modeBarButtonsToAdd = [fullscreenButton(host), ...(host.__imetConfig.modeBarButtonsToAdd || [])];
    }
    if (document.fullscreenElement === host) { layout.height = window.innerHeight; }
    Plotly.react(host, figure.data || [], layout, host.__imetConfig);
    watchSize(host, Plotly);
  }).catch(error => {
    host.textContent = 'The chart could not be drawn: ' + error.message;
  });
  return cleanup(host);
}

function watchSize(host, Plotly) {
  if (host.__imetObserver) return;
  // A new column width (sidebar folded, window resized) redraws the chart at that width; a new
  // height comes with a new figure, which Plotly.react has drawn already.
  host.__imetWidth = host.clientWidth;
  host.__imetObserver = new ResizeObserver(() => {
    const width = host.clientWidth;
    if (width > 0 && width !== host.__imetWidth && host.data) {
      host.__imetWidth = width;
      Plotly.Plots.resize(host);
    }
  });
  host.__imetObserver.observe(host);
  host.addEventListener('fullscreenchange', () => {
    // full screen: the whole screen; back: the figure's height and the column's width
    const full = document.fullscreenElement === host;
    host.style.height = full ? '100vh' : (host.__imetHeight ? host.__imetHeight + 'px' : '');
    host.__imetWidth = host.clientWidth;
    // (a height given to relayout fixes the width too: give the screen's, or none to follow the column)
    Plotly.relayout(host, full ? {height: window.innerHeight, width: host.clientWidth}
                               : {height: host.__imetHeight, width: null});
  });
}

function cleanup(host) {
  // Called when the chart leaves the page: free plotly's listeners and the size watcher.
  return () => {
    if (host.__imetObserver) { host.__imetObserver.disconnect(); host.__imetObserver = null; }
    if (window.Plotly && host.data) { window.Plotly.purge(host); }
    host.__imetSpec = null;
  };
}
"""

_CSS = """
.imet-chart { width: 100%; background: #FFFFFF; }
.imet-chart .modebar-container { right: 4px; }
.imet-chart:fullscreen { background: #FFFFFF; }
"""


@st.cache_resource
def _component():
    """Registered once per server process."""
    return st.components.v2.component("imet_plotly_chart", js=_JS, css=_CSS, isolate_styles=False)


@functools.cache
def ensure_plotly_js() -> Path:
    """Copy the installed plotly package's ``plotly.min.js`` into the app's ``static/`` folder.

    Idempotent (checked once per process); the file is what the installed (pinned) plotly ships,
    never downloaded."""
    target = STATIC_DIR / PLOTLY_JS_NAME
    source = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        STATIC_DIR.mkdir(exist_ok=True)
        # a private temporary name, then an atomic rename: two processes starting together
        # (tests, a second server) never serve or overwrite a half-written file
        fd, partial = tempfile.mkstemp(dir=STATIC_DIR, prefix=".plotly-", suffix=".partial")
        os.close(fd)
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    return target


def _static_url() -> str:
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{base}" if base else ""
    return f"{prefix}/app/static/{PLOTLY_JS_NAME}"


def figure_json(figure: go.Figure | Mapping) -> str:
    """The figure's plotly JSON. A plain ``{"data", "layout"}`` dict (the ``as_spec`` form of
    :mod:`imet_core.figures`) is encoded directly; anything else goes through plotly.io."""
    if isinstance(figure, Mapping):
        try:
            return json.dumps(figure, default=_json_default, allow_nan=False, separators=(",", ":"))
        except ValueError:  # a NaN somewhere: plotly's encoder writes it as null
            figure = go.Figure(figure, _validate=False)
    return pio.to_json(figure, validate=False)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def plotly_chart(figure: go.Figure | Mapping, *, key: str, config: dict | None = None,
                 alt: str | None = None) -> None:
    """Draw ``figure`` as wide as the current column; the next run with the same ``key`` updates it
    in place.

    Parameters
    ----------
    figure : plotly.graph_objects.Figure or dict
        The figure, or its ``{"data", "layout"}`` dict; its height comes from its layout, its
        width follows the column.
    key : str
        Unique among the charts of a page.
    config : dict, optional
        plotly config (``displaylogo`` is off unless given).
    alt : str, optional
        Text for screen readers (``aria-label``).
    """
    ensure_plotly_js()
    data = {"spec": figure_json(figure), "config": {"displaylogo": False, **(config or {})},
            "src": _static_url(), "alt": alt or ""}
    _component()(key=key, data=data)
