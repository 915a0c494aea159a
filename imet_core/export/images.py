"""PNG and SVG of plotly figures, rendered server-side by one warm headless Chromium.

kaleido 1.x drives a Chromium-based browser through choreographer. Starting that browser costs
seconds; rendering a figure in an open one costs a fraction of a second. So the process keeps a
single :class:`ImageRenderer` (see :func:`renderer`): one browser with a few tabs, owned by an
asyncio loop on a background thread, started on first use (or early, with :meth:`ImageRenderer.warm_up`)
and closed when the process exits. Calls from any thread (Streamlit's script threads, deferred
download callables, the command line) are submitted to that loop and get their own result.

Finding the browser: choreographer looks at ``BROWSER_PATH`` first, then for ``chrome`` and
``chromium`` executables on ``PATH`` (Debian's ``/usr/bin/chromium``). Nothing is fetched from
the network: plotly.js comes from the installed plotly package and MathJax is switched off.
"""
from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from imet_core.export import ExportError
from imet_core.export.footer import Footer
from imet_core.figures import FONT_FAMILY, FONT_SIZE, style

__all__ = [
    "EXPORT_WIDTH", "EXPORT_SCALE", "MIN_PNG_WIDTH", "ImageRenderer", "ImageRequest", "renderer",
    "prepare_figure", "stamp_footer", "figure_png", "figure_svg", "png_size", "browser_path",
]

EXPORT_WIDTH = 1200
"""Layout width (CSS pixels) of an exported figure: wide enough for a full slide."""
EXPORT_SCALE = 2.0
"""Pixel density of PNG exports: 1200 layout px become 2400 px, sharp on any projector."""
MIN_PNG_WIDTH = 1600
"""The issue's floor for PNG width in pixels."""
DEFAULT_HEIGHT = 720
FOOTER_FONT_SIZE = 13
FOOTER_MARGIN = 64
"""Extra bottom margin (layout px) that holds the two footer lines."""
RENDER_TIMEOUT = 90.0
"""Seconds one figure may take (kaleido's own per-image timeout is the same)."""
START_TIMEOUT = 120.0
"""Seconds the browser may take to start."""
TABS = 2
"""Browser tabs: two figures render at the same time."""


def browser_path() -> str | None:
    """The Chromium kaleido will use: ``BROWSER_PATH``, else Chrome or Chromium on ``PATH``."""
    configured = os.environ.get("BROWSER_PATH")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True)
class ImageRequest:
    """One image to render: a figure (already sized and styled) and its format."""

    figure: go.Figure
    format: str = "png"
    width: int = EXPORT_WIDTH
    height: int = DEFAULT_HEIGHT
    scale: float = EXPORT_SCALE


class ImageRenderer:
    """A warm kaleido browser shared by every caller of the process.

    Parameters
    ----------
    tabs : int
        Browser tabs (figures rendered at the same time).
    path : str, optional
        Chromium executable; default :func:`browser_path`.

    Notes
    -----
    Thread-safe: each call submits a coroutine to the renderer's own event loop with
    :func:`asyncio.run_coroutine_threadsafe` and waits for that call's future only.
    """

    def __init__(self, *, tabs: int = TABS, path: str | None = None) -> None:
        self._tabs = tabs
        self._path = path
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido = None
        self._starting: threading.Event | None = None
        self._start_error: BaseException | None = None
        self.renders = 0
        """How many images this renderer has produced (tests check it is reused)."""
        self.starts = 0
        """How many times a browser was started."""

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._kaleido is not None

    def warm_up(self) -> None:
        """Start the browser in the background if it is not running (returns at once)."""
        with self._lock:
            if self._kaleido is not None or self._starting is not None:
                return
            self._starting = threading.Event()
        threading.Thread(target=self._start_quietly, name="imet-kaleido-start", daemon=True).start()

    def start(self) -> None:
        """Start the browser now (blocks until it is ready; idempotent)."""
        with self._lock:
            if self._kaleido is not None:
                return
            if self._starting is None:
                self._starting = threading.Event()
                owner = True
            else:
                owner = False
        if owner:
            self._start_quietly()
        elif not self._starting.wait(START_TIMEOUT):
            raise ExportError("The image renderer (Chromium) did not start in time.")
        if self._kaleido is None:
            error = self._start_error
            raise ExportError(_start_message(error)) from None

    def _start_quietly(self) -> None:
        event = self._starting
        try:
            self._open()
            self._start_error = None
        except BaseException as error:  # noqa: BLE001 - reported to every waiting caller
            self._start_error = error
            self._shutdown_loop()
        finally:
            with self._lock:
                self._starting = None
            if event is not None:
                event.set()

    def _open(self) -> None:
        import kaleido

        path = self._path or browser_path()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="imet-kaleido", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        kwargs = {"path": path} if path else {}

        async def open_browser():
            k = kaleido.Kaleido(n=self._tabs, timeout=RENDER_TIMEOUT, mathjax=False, **kwargs)
            await k.open()
            return k

        self._kaleido = asyncio.run_coroutine_threadsafe(open_browser(), loop).result(START_TIMEOUT)
        self.starts += 1

    def close(self) -> None:
        """Close the browser and stop the loop (the next render starts a new one)."""
        with self._lock:
            k, loop = self._kaleido, self._loop
            self._kaleido = None
        if k is not None and loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(k.close(), loop).result(30)
            except Exception:  # noqa: BLE001 - closing at exit must not raise
                pass
        self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(5)

    # -- rendering ----------------------------------------------------------------------------
    def render(self, request: ImageRequest) -> bytes:
        """The image bytes of one request."""
        return self.render_many([request])[0]

    def render_many(self, requests: Sequence[ImageRequest]) -> list[bytes]:
        """Render several images concurrently (one per free tab); results in request order."""
        if not requests:
            return []
        self.start()
        k, loop = self._kaleido, self._loop
        if k is None or loop is None:
            raise ExportError("The image renderer is not running.")

        async def all_images():
            return await asyncio.gather(*(k.calc_fig(r.figure, opts={
                "format": r.format, "width": int(r.width), "height": int(r.height),
                "scale": float(r.scale)}) for r in requests))

        future = asyncio.run_coroutine_threadsafe(all_images(), loop)
        try:
            images = future.result(RENDER_TIMEOUT * len(requests))
        except Exception as error:  # noqa: BLE001 - one line for the user, never a traceback
            raise ExportError(f"Rendering an image failed: {type(error).__name__}: {error}".strip()) from None
        self.renders += len(images)
        return [bytes(b) for b in images]


def _start_message(error: BaseException | None) -> str:
    where = browser_path()
    hint = (f"tried {where}" if where else "no chromium or chrome on PATH; install Debian's chromium "
            "or set BROWSER_PATH")
    detail = f": {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}" if error else ""
    return f"Cannot start the image renderer (Chromium via kaleido; {hint}){detail}"


_RENDERER: ImageRenderer | None = None
_RENDERER_LOCK = threading.Lock()


def renderer() -> ImageRenderer:
    """The process-wide renderer (created on first call, closed at exit)."""
    global _RENDERER
    with _RENDERER_LOCK:
        if _RENDERER is None:
            _RENDERER = ImageRenderer()
            atexit.register(_RENDERER.close)
        return _RENDERER


# ----------------------------------------------------------------------------------------------
# Figures for export
# ----------------------------------------------------------------------------------------------
def stamp_footer(figure: go.Figure, footer: Footer, *, height: int | None = None,
                 font_size: int = FOOTER_FONT_SIZE, copy: bool = True) -> go.Figure:
    """A copy of ``figure`` with the footer's two lines at the bottom-left of the image.

    The bottom margin grows by :data:`FOOTER_MARGIN`. The footer uses the layout's title slot
    positioned against the container (the whole image), so it starts at the image's left edge
    whatever the plot's margins; a figure that already has a title gets the footer as an
    annotation under the plotting area instead. ``height`` is the image's final layout height
    (default: the figure's own height plus the footer margin). ``copy=False`` changes ``figure``
    itself (for a figure built only to be exported).
    """
    fig = go.Figure(figure) if copy else figure
    margin = fig.layout.margin
    bottom = (margin.b if margin and margin.b is not None else 60) + FOOTER_MARGIN
    left = margin.l if margin and margin.l is not None else 80
    fig.update_layout(margin=dict(b=bottom))
    first, second = footer.lines()
    text = f"{_html(first)}<br>{_html(second)}"
    font = dict(size=font_size, color="#4B5563", family=FONT_FAMILY)
    total = int(height or (fig.layout.height or DEFAULT_HEIGHT) + FOOTER_MARGIN)
    if not (fig.layout.title and fig.layout.title.text):
        top = (2.6 * font_size + 10) / total  # two lines of text and a small edge
        fig.update_layout(title=dict(text=text, x=0.008, xref="container", xanchor="left", y=top,
                                     yref="container", yanchor="top", font=font))
    else:
        fig.add_annotation(x=0, y=0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                           align="left", xshift=-(left - 12), yshift=-(bottom - 8), showarrow=False,
                           text=text, font=font)
    return fig


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def prepare_figure(figure: go.Figure, *, width: int = EXPORT_WIDTH, height: int | None = None,
                   footer: Footer | None = None, copy: bool = True) -> tuple[go.Figure, int, int]:
    """A copy of ``figure`` at a fixed size on a white background, with the footer if given.

    The figure builders of :mod:`imet_core.figures` already apply the house style
    (:func:`imet_core.figures.style`); this only fixes the size, so an export looks like the app.

    ``copy=False`` changes ``figure`` itself instead of a copy (faster, for a figure built only to
    be exported).

    Returns
    -------
    (Figure, int, int)
        The figure to render and the layout width and height to render it at.
    """
    fig = go.Figure(figure) if copy else figure
    height = int(height or fig.layout.height or DEFAULT_HEIGHT)
    if not fig.layout.font.family:  # a figure not built by imet_core.figures: give it the house style
        style(fig, font_size=int(fig.layout.font.size or FONT_SIZE))
    if footer is not None:
        height += FOOTER_MARGIN
        fig = stamp_footer(fig, footer, height=height, copy=False)
    fig.update_layout(width=width, height=height, paper_bgcolor="white", plot_bgcolor="white")
    return fig, int(width), int(height)


def figure_png(figure: go.Figure, *, width: int = EXPORT_WIDTH, height: int | None = None,
               scale: float = EXPORT_SCALE, footer: Footer | None = None,
               engine: ImageRenderer | None = None) -> bytes:
    """PNG bytes of ``figure`` (``width * scale`` pixels wide; at least 1600 by default)."""
    fig, w, h = prepare_figure(figure, width=width, height=height, footer=footer)
    return (engine or renderer()).render(ImageRequest(fig, "png", w, h, scale))


def figure_svg(figure: go.Figure, *, width: int = EXPORT_WIDTH, height: int | None = None,
               footer: Footer | None = None, engine: ImageRenderer | None = None) -> bytes:
    """SVG bytes of ``figure`` at ``width`` layout pixels."""
    fig, w, h = prepare_figure(figure, width=width, height=height, footer=footer)
    return (engine or renderer()).render(ImageRequest(fig, "svg", w, h, 1.0))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk (PNG spec, section 11.2.2).

    Raises
    ------
    ValueError
        When ``data`` is not a PNG.
    """
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
