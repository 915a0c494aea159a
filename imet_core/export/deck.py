"""A 16:9 PowerPoint deck of a meeting pack (python-pptx).

Slides, in order: title (subgroup, endpoint, data source); Kaplan-Meier curves with the number
at risk (KMunicate figure) and a table of medians and milestone survival; the subgroup forest
plot (split by variable over several slides when it would be too small to read); Table 1 (real
table, continued over slides as needed); Table 2 (Cox models, real table); methods; caveats.
Every content slide carries the export footer and a slide number. Figures are PNG rendered by the
shared warm renderer (:mod:`imet_core.export.images`); type on slides is never below 11 pt.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.util import Emu, Inches, Pt

from imet_core.analysis import MIN_EVENTS
from imet_core.export.content import MeetingPack, Progress, split_forest, trim_forest
from imet_core.export.images import ImageRenderer, ImageRequest, png_size, prepare_figure, renderer

__all__ = ["build_deck", "SLIDE_TITLES", "TABLE_FONT_PT", "MIN_FONT_PT"]

SLIDE_WIDTH, SLIDE_HEIGHT = Inches(13.333), Inches(7.5)
MARGIN = Inches(0.45)
CONTENT_TOP = Inches(1.15)
FOOTER_TOP = Inches(7.0)
CONTENT_BOTTOM = Inches(6.95)
TITLE_PT = 28
BODY_PT = 16
TABLE_FONT_PT = 12
MIN_FONT_PT = 11
"""No text on a slide is smaller than this (tables with many rows use it)."""
FOOTER_PT = 11
MAX_COX_NOTES = 3
"""At most this many numbered "not estimated" reasons under Table 2; more become one footnote."""
ROW_HEIGHT_EM = 1.5
"""Height of one table line in ems (text line plus cell margins)."""
CHAR_WIDTH_EM = 0.56
"""Average width of a character of Arial text with digits, in ems (for column widths)."""
NOTE_SPACE = Inches(0.4)
"""Room kept under a table for its note."""
FOREST_ROWS_PER_SLIDE = 17
"""Drawn rows of one forest-plot slide (so its labels stay >= 11 pt on the slide)."""
FOREST_WIDTH = 1500
"""Layout width of every forest-plot part (so all parts show their type at the same size)."""
FIGURE_FONT = 21
"""Font size (layout px) of the forest plot on slides; at the sizes below it shows as 11-13 pt."""
KM_FONT, KM_WIDTH, KM_HEIGHT = 20, 960, 720
"""Kaplan-Meier figure on its slide: 5.8 in high, so 20 layout px show as 11.6 pt."""

INK = RGBColor(0x1B, 0x1F, 0x24)
MUTED = RGBColor(0x4B, 0x55, 0x63)
ACCENT = RGBColor(0x00, 0x72, 0xB2)  # Okabe-Ito blue, as the figures
HEADER_FILL = RGBColor(0x1F, 0x3A, 0x5F)
BAND_FILL = RGBColor(0xF1, 0xF4, 0xF8)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
WARNING_FILL = RGBColor(0xFF, 0xF4, 0xE5)
WARNING_INK = RGBColor(0x8A, 0x4B, 0x00)

SLIDE_TITLES = {
    "km": "Kaplan-Meier: {endpoint}",
    "km_table": "Survival by arm",
    "forest": "Subgroups: hazard ratio of {comparison}",
    "table_one": "Table 1: baseline characteristics",
    "cox": "Table 2: Cox models of {endpoint_short}",
    "methods": "Methods",
    "caveats": "Caveats",
}
"""Titles of the content slides (``{endpoint}`` etc. are filled in from the selection)."""

EMU_PER_INCH = 914400


@dataclass
class _Deck:
    prs: Presentation
    pack: MeetingPack

    def slide(self, title: str):
        slide = self.prs.slides.add_slide(self.prs.slide_layouts[5])  # "Title Only"
        shape = slide.shapes.title
        shape.left, shape.top, shape.width, shape.height = MARGIN, Inches(0.3), SLIDE_WIDTH - 2 * MARGIN, Inches(0.75)
        shape.text = title
        para = shape.text_frame.paragraphs[0]
        para.alignment = PP_ALIGN.LEFT
        _font(para.runs[0], _title_size(title, SLIDE_WIDTH - 2 * MARGIN), bold=True, colour=INK)
        shape.text_frame.vertical_anchor = MSO_ANCHOR.MIDDLE
        shape.text_frame.word_wrap = True
        line = slide.shapes.add_connector(1, MARGIN, Inches(1.05), SLIDE_WIDTH - MARGIN, Inches(1.05))
        line.line.color.rgb = ACCENT
        line.line.width = Pt(1.5)
        return slide


def _title_size(text: str, width: int, largest: float = TITLE_PT, smallest: float = 20) -> float:
    """The largest size (pt) up to ``largest`` at which ``text`` fits on one line of ``width``."""
    size = largest
    while size > smallest and _text_width(text, size) * 1.08 > width:  # bold is ~8% wider
        size -= 1
    return size


def _font(run, size: float, *, bold: bool = False, italic: bool = False, colour: RGBColor = INK) -> None:
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    run.font.name = "Arial"
    run.font.color.rgb = colour


def _text_box(slide, left, top, width, height, paragraphs: Sequence[tuple[str, float, dict]],
              *, anchor=MSO_ANCHOR.TOP, space_after: float = 6):
    """A text box; each paragraph is (text, size in pt, {"bold", "italic", "colour", "bullet"})."""
    box = slide.shapes.add_textbox(left, top, width, height)
    frame = box.text_frame
    frame.word_wrap = True
    frame.vertical_anchor = anchor
    frame.margin_left = frame.margin_right = Inches(0.05)
    for i, (text, size, style) in enumerate(paragraphs):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        para.space_after = Pt(space_after)
        run = para.add_run()
        run.text = text
        _font(run, size, bold=style.get("bold", False), italic=style.get("italic", False),
              colour=style.get("colour", INK))
        if style.get("bullet"):
            _bullet(para, size)
    return box


def _bullet(para, size: float) -> None:
    """A real bullet with a hanging indent (DrawingML a:buChar)."""
    indent = int(Inches(size * 1.1 / 72))
    p_pr = para._p.get_or_add_pPr()
    p_pr.set("marL", str(indent))
    p_pr.set("indent", str(-indent))
    p_pr.append(p_pr.makeelement(qn("a:buChar"), {"char": "•"}))


def _footer(deck: _Deck, slide, number: int | None) -> None:
    text = deck.pack.footer.text()
    _text_box(slide, MARGIN, FOOTER_TOP, SLIDE_WIDTH - 2 * MARGIN - Inches(0.8), Inches(0.45),
              [(text, FOOTER_PT, {"colour": MUTED})],
              anchor=MSO_ANCHOR.MIDDLE, space_after=0)
    if number is not None:
        box = _text_box(slide, SLIDE_WIDTH - MARGIN - Inches(0.8), FOOTER_TOP, Inches(0.8), Inches(0.45),
                        [(str(number), FOOTER_PT, {"colour": MUTED})], anchor=MSO_ANCHOR.MIDDLE, space_after=0)
        box.text_frame.paragraphs[0].alignment = PP_ALIGN.RIGHT


def _picture(slide, png: bytes, left, top, max_width, max_height, *, centre: bool = True):
    """Add a PNG scaled to fit the box (aspect kept), centred horizontally in it."""
    width_px, height_px = png_size(png)
    scale = min(max_width / width_px, max_height / height_px)
    width, height = int(width_px * scale), int(height_px * scale)
    x = left + (max_width - width) // 2 if centre else left
    return slide.shapes.add_picture(io.BytesIO(png), Emu(x), Emu(top), Emu(width), Emu(height))


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------
def _char_width(font_pt: float) -> float:
    return font_pt * CHAR_WIDTH_EM / 72 * EMU_PER_INCH


_NARROW = set(" .,:;'!|()[]ijlft-/")
_WIDE = set("MWmw%@")


def _text_width(text: str, font_pt: float) -> float:
    """Approximate width (EMU) of ``text`` in Arial: narrow, wide and capital letters counted apart."""
    em = 0.0
    for ch in str(text):
        if ch in _NARROW:
            em += 0.3
        elif ch in _WIDE:
            em += 0.86
        elif ch.isupper():
            em += 0.69
        else:
            em += 0.56
    return em * font_pt / 72 * EMU_PER_INCH


def _column_widths(frame: pd.DataFrame, total: int, font_pt: float) -> list[int]:
    """Column widths (EMU) summing to ``total``.

    Every column gets at least its longest header word and its longest body text if they fit
    (body text wraps only in the widest columns when the table is too wide); room left over is
    shared in proportion to each column's text.
    """
    pad = Inches(0.16)
    floors, wants = [], []
    for column in frame.columns:
        body = max([_text_width(v, font_pt) for v in frame[column]] + [0.0])
        head = max([_text_width(w, font_pt) for w in str(column).split()] + [_char_width(font_pt)])
        floors.append(head + pad)
        wants.append(max(body, head, 2 * _char_width(font_pt)) + pad)
    if sum(wants) <= total:
        scale = total / sum(wants)
        return [int(w * scale) for w in wants]
    # too wide: keep every floor, shrink the wide columns towards it
    excess = sum(wants) - total
    room = [w - f for w, f in zip(wants, floors)]
    share = excess / max(sum(room), 1)
    widths = [w - r * min(share, 1.0) for w, r in zip(wants, room)]
    scale = total / sum(widths)
    return [int(w * scale) for w in widths]


def _line_height(font_pt: float) -> int:
    return int(Inches(font_pt * ROW_HEIGHT_EM / 72))


def _row_heights(frame: pd.DataFrame, widths: Sequence[int], font_pt: float) -> list[int]:
    """Height of the header and each body row (EMU), counting wrapped lines."""
    usable = [max(w - Inches(0.13), _char_width(font_pt)) for w in widths]

    def lines(values) -> int:
        return max(max(1, -(-int(_text_width(v, font_pt)) // int(u))) for v, u in zip(values, usable))

    line = _line_height(font_pt)
    heights = [line * lines(frame.columns)]
    heights += [line * lines(row) for row in frame.itertuples(index=False, name=None)]
    return heights


def _table(slide, frame: pd.DataFrame, left, top, width, *, font_pt: float = TABLE_FONT_PT,
           bold_rows: Sequence[bool] | None = None, align_left_until: int = 1,
           column_widths: Sequence[int] | None = None):
    """A real (editable) table: dark header row, banded body, Arial; returns the shape."""
    rows, cols = len(frame) + 1, len(frame.columns)
    widths = list(column_widths) if column_widths else _column_widths(frame, width, font_pt)
    heights = _row_heights(frame, widths, font_pt)
    shape = slide.shapes.add_table(rows, cols, left, top, width, sum(heights))
    table = shape.table
    table.first_row = True
    table.horz_banding = False
    for j, w in enumerate(widths):
        table.columns[j].width = Emu(w)
    for i, h in enumerate(heights):
        table.rows[i].height = Emu(h)
    values = [list(map(str, frame.columns))] + [["" if v is None else str(v) for v in row]
                                                 for row in frame.itertuples(index=False, name=None)]
    for i, row in enumerate(values):
        for j, text in enumerate(row):
            cell = table.cell(i, j)
            cell.margin_left = cell.margin_right = Inches(0.06)
            cell.margin_top = cell.margin_bottom = Inches(0.02)
            cell.vertical_anchor = MSO_ANCHOR.MIDDLE
            cell.fill.solid()
            cell.fill.fore_color.rgb = HEADER_FILL if i == 0 else (BAND_FILL if i % 2 == 0 else WHITE)
            text_frame = cell.text_frame
            text_frame.word_wrap = True
            para = text_frame.paragraphs[0]
            para.alignment = PP_ALIGN.LEFT if j < align_left_until else PP_ALIGN.CENTER
            bold = i == 0 or (bold_rows is not None and i > 0 and bold_rows[i - 1] and j == 0)
            # An empty cell still has a line whose height comes from its font (18 pt unless set),
            # which would make the row taller than planned: give it a no-break space in the
            # table's font.
            run = para.add_run()
            run.text = text if text else "\u00a0"
            _font(run, font_pt, bold=bold, colour=WHITE if i == 0 else INK)
    return shape


def _pages(frame: pd.DataFrame, widths: Sequence[int], font_pt: float, available: int,
           blocks: Sequence[object] | None = None) -> list[pd.DataFrame]:
    """Split rows into slides whose table (header repeated) fits ``available`` EMU of height.

    ``blocks`` gives each row's block id (e.g. its variable): a cut moves back to the start of
    the block it would split, unless that leaves the slide less than half full.
    """
    heights = _row_heights(frame, widths, font_pt)
    header, body = heights[0], heights[1:]
    ids = list(blocks) if blocks is not None else list(range(len(frame)))
    pages, start = [], 0
    while start < len(frame):
        used, end = header, start
        while end < len(frame) and used + body[end] <= available:
            used += body[end]
            end += 1
        end = max(end, start + 1)
        if end < len(frame):
            cut = end
            while cut > start and ids[cut] == ids[cut - 1]:
                cut -= 1
            if cut - start >= (end - start) // 2 and cut > start:
                end = cut
        pages.append(frame.iloc[start:end])
        start = end
    return pages


# ----------------------------------------------------------------------------------------------
# Slides
# ----------------------------------------------------------------------------------------------
def _title_slide(deck: _Deck) -> None:
    pack, footer = deck.pack, deck.pack.footer
    slide = deck.prs.slides.add_slide(deck.prs.slide_layouts[0])
    title, subtitle = slide.shapes.title, slide.placeholders[1]
    title.left, title.top, title.width, title.height = MARGIN, Inches(1.2), SLIDE_WIDTH - 2 * MARGIN, Inches(1.2)
    title.text = pack.title
    title.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT
    _font(title.text_frame.paragraphs[0].runs[0], _title_size(pack.title, title.width, 40, 26), bold=True,
          colour=INK)
    subtitle.left, subtitle.top, subtitle.width, subtitle.height = MARGIN, Inches(2.45), SLIDE_WIDTH - 2 * MARGIN, Inches(1.0)
    subtitle.text = f"Subgroup: {footer.subgroup}"
    subtitle.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT
    subtitle.text_frame.word_wrap = True
    _font(subtitle.text_frame.paragraphs[0].runs[0], _title_size(subtitle.text, subtitle.width, 28, 18),
          colour=ACCENT)
    details = [
        (f"Endpoint: {footer.endpoint}", 20, {}),
        (f"Comparison: {footer.comparison}", 20, {}),
        (f"Data source: {footer.source_text}", 20, {}),
        (f"Patients: {footer.count(footer.n)}; events (deaths): {footer.count(footer.events)}", 20, {}),
        (f"Prepared {footer.date_text} with IMET Explorer", 16, {"colour": MUTED}),
    ]
    _text_box(slide, MARGIN, Inches(3.55), SLIDE_WIDTH - 2 * MARGIN, Inches(2.5), details, space_after=8)
    if footer.synthetic:
        box = _text_box(slide, MARGIN, Inches(6.15), SLIDE_WIDTH - 2 * MARGIN, Inches(0.6),
                        [("Synthetic data: generated to reproduce the IMET paper; no real patients.", 18,
                          {"bold": True, "colour": WARNING_INK})], anchor=MSO_ANCHOR.MIDDLE, space_after=0)
        box.fill.solid()
        box.fill.fore_color.rgb = WARNING_FILL


def _message_slide(deck: _Deck, title: str, message: str) -> None:
    slide = deck.slide(title)
    _text_box(slide, MARGIN, CONTENT_TOP + Inches(0.3), SLIDE_WIDTH - 2 * MARGIN, Inches(2),
              [(message, 20, {"colour": MUTED})])
    _footer(deck, slide, len(deck.prs.slides))


def _km_slides(deck: _Deck, png: bytes | None) -> None:
    pack = deck.pack
    title = SLIDE_TITLES["km"].format(endpoint=pack.selection.endpoint_spec.label)
    if png is None:
        _message_slide(deck, title, "No patient matches this selection: no survival curves to show.")
        return
    slide = deck.slide(title)
    summary = pack.km_summary
    n_arms = len(summary)
    side_panel = n_arms <= 3
    figure_width = Inches(8.0) if side_panel else SLIDE_WIDTH - 2 * MARGIN
    picture = _picture(slide, png, MARGIN, CONTENT_TOP, figure_width, CONTENT_BOTTOM - CONTENT_TOP, centre=False)
    lines = [(line, 18, {"bold": True}) for line in pack.km_lines]
    if side_panel:
        left = picture.left + picture.width + Inches(0.2)
        width = SLIDE_WIDTH - MARGIN - left
        transposed = summary.set_index("Arm").T.reset_index().rename(columns={"index": ""})
        transposed[""] = transposed[""].str.replace(" (95% CI)", "", regex=False)
        shape = _table(slide, transposed, left, CONTENT_TOP + Inches(0.1), width, font_pt=TABLE_FONT_PT,
                       column_widths=_column_widths(transposed, width, TABLE_FONT_PT))
        below = CONTENT_TOP + Inches(0.1) + shape.height + Inches(0.25)
        lines.append(("Medians and milestone survival with 95% CI; NR = not reached. Hazard ratio: Cox "
                      "model; p: log-rank test.", MIN_FONT_PT, {"colour": MUTED}))
        lines += [(note, MIN_FONT_PT, {"colour": MUTED}) for note in _km_notes(pack)]
        _text_box(slide, left, below, width, CONTENT_BOTTOM - below, lines)
    _footer(deck, slide, len(deck.prs.slides))
    if not side_panel:
        slide = deck.slide(SLIDE_TITLES["km_table"])
        shape = _table(slide, summary, MARGIN, CONTENT_TOP + Inches(0.1), SLIDE_WIDTH - 2 * MARGIN)
        below = CONTENT_TOP + Inches(0.1) + shape.height + Inches(0.3)
        lines += [(note, MIN_FONT_PT + 1, {"colour": MUTED}) for note in _km_notes(pack)]
        _text_box(slide, MARGIN, below, SLIDE_WIDTH - 2 * MARGIN, CONTENT_BOTTOM - below, lines)
        _footer(deck, slide, len(deck.prs.slides))


def _km_notes(pack: MeetingPack) -> list[str]:
    notes = list(pack.survival.notes)
    if pack.survival.logrank.get("note"):
        notes.append(pack.survival.logrank["note"])
    notes += [n for n in pack.survival.hazard_ratios["note"] if n]
    return list(dict.fromkeys(notes))


def _forest_slides(deck: _Deck, pngs: list[bytes]) -> None:
    pack = deck.pack
    title = SLIDE_TITLES["forest"].format(comparison=pack.selection.comparison_label)
    if pack.forest.note or not pngs:
        _message_slide(deck, title, pack.forest.note or "No patient matches this selection.")
        return
    trimmed = trim_forest(pack.forest)[1]
    caption = (f"Squares: HR of {pack.forest.arm_a} vs {pack.forest.arm_b} (reference) with 95% CI, area by "
               "events; labels: events/patients per arm. Dashed line: all patients. Interaction p: "
               "Wald test of the arm × subgroup terms. Exploratory: about 1 in 20 interaction tests is 'significant' by chance."
               + (" Open diamonds: the IMET paper's published HRs." if pack.published else "")
               + (" Levels without patients in this subgroup are not shown." if trimmed else ""))
    for k, png in enumerate(pngs):
        part = f" ({k + 1} of {len(pngs)})" if len(pngs) > 1 else ""
        slide = deck.slide(title + part)
        _picture(slide, png, MARGIN, CONTENT_TOP, SLIDE_WIDTH - 2 * MARGIN, Inches(5.2))
        _text_box(slide, MARGIN, Inches(6.4), SLIDE_WIDTH - 2 * MARGIN, Inches(0.6),
                  [(caption, MIN_FONT_PT + 1, {"colour": MUTED})], space_after=0)
        _footer(deck, slide, len(deck.prs.slides))


def _table_one_slides(deck: _Deck) -> None:
    pack = deck.pack
    if not pack.has_patients:
        _message_slide(deck, SLIDE_TITLES["table_one"], "No patient matches this selection.")
        return
    table, note = pack.table_one_compact()
    width = SLIDE_WIDTH - 2 * MARGIN
    font = TABLE_FONT_PT
    widths = _column_widths(table, width, font)
    available = CONTENT_BOTTOM - CONTENT_TOP - NOTE_SPACE
    block_ids = (~table["Characteristic"].str.startswith(" ")).cumsum().tolist()
    pages = _pages(table, widths, font, available, block_ids)
    if len(pages) > 2:  # a smaller (still readable) type keeps Table 1 on two slides
        font = MIN_FONT_PT
        widths = _column_widths(table, width, font)
        pages = _pages(table, widths, font, available, block_ids)
    for k, page in enumerate(pages):
        part = f" ({k + 1} of {len(pages)})" if len(pages) > 1 else ""
        slide = deck.slide(SLIDE_TITLES["table_one"] + part)
        bold = (~page["Characteristic"].str.startswith(" ")).tolist()
        shape = _table(slide, page, MARGIN, CONTENT_TOP, width, font_pt=font, bold_rows=bold,
                       column_widths=widths)
        text = "Counts (% of non-missing). " + (note[:1].upper() + note[1:] + " " if note else "") + "SMD: standardized mean difference; tests as on the methods slide."
        _text_box(slide, MARGIN, CONTENT_TOP + shape.height + Inches(0.06), width, Inches(0.3),
                  [(text, MIN_FONT_PT, {"colour": MUTED})], space_after=0)
        _footer(deck, slide, len(deck.prs.slides))


def _cox_slides(deck: _Deck) -> None:
    pack = deck.pack
    title = SLIDE_TITLES["cox"].format(endpoint_short=pack.selection.endpoint_spec.short_label)
    table = pack.cox_table
    if table.empty or not pack.has_patients:
        _message_slide(deck, title, "No patient matches this selection: no Cox model.")
        return
    width = SLIDE_WIDTH - 2 * MARGIN
    shown = table.assign(Covariate=table["Covariate"].where(table["Covariate"].ne(table["Covariate"].shift()), ""))
    notes = [("Univariable Cox models, one per covariate (Efron ties); adjusted: the multivariable model. "
              + pack.cox_caption, MIN_FONT_PT, {"colour": MUTED})]
    if len(pack.cox_notes) <= MAX_COX_NOTES:
        notes += [(f"({i + 1}) {note}", MIN_FONT_PT, {"colour": MUTED}) for i, note in enumerate(pack.cox_notes)]
    else:  # too many reasons to list on a slide: one footnote, the details are in the report
        shown["HR (95% CI)"] = shown["HR (95% CI)"].str.replace(r"^not estimated \(\d+\)$", "not estimated*",
                                                                regex=True)
        notes.append((f"* No hazard ratio: fewer than {MIN_EVENTS} events in the level or its reference, or the "
                      "model could not be fitted (each reason is listed in the HTML report and the app).",
                      MIN_FONT_PT, {"colour": MUTED}))
    widths = _column_widths(shown, width, TABLE_FONT_PT)
    note_room = Inches(0.25) * (len(notes) + 1)
    pages = _pages(shown, widths, TABLE_FONT_PT, CONTENT_BOTTOM - CONTENT_TOP - note_room, table["Covariate"].tolist())
    for k, page in enumerate(pages):
        part = f" ({k + 1} of {len(pages)})" if len(pages) > 1 else ""
        slide = deck.slide(title + part)
        page = page.copy()
        if k > 0 and page["Covariate"].iloc[0] == "":
            page.iloc[0, 0] = table["Covariate"].loc[page.index[0]]
        shape = _table(slide, page, MARGIN, CONTENT_TOP, width, column_widths=widths, align_left_until=2,
                       bold_rows=[True] * len(page))
        if k == len(pages) - 1:
            top = CONTENT_TOP + shape.height + Inches(0.08)
            _text_box(slide, MARGIN, top, width, max(CONTENT_BOTTOM - top, Inches(0.4)), notes, space_after=2)
        _footer(deck, slide, len(deck.prs.slides))


def _methods_slide(deck: _Deck) -> None:
    slide = deck.slide(SLIDE_TITLES["methods"])
    methods = deck.pack.methods
    half = (len(methods) + 1) // 2
    column_width = (SLIDE_WIDTH - 2 * MARGIN - Inches(0.4)) // 2
    for c, part in enumerate((methods[:half], methods[half:])):
        paragraphs = []
        for heading, text in part:
            paragraphs.append((heading, 16, {"bold": True, "colour": ACCENT}))
            paragraphs.append((text, 13, {}))
        _text_box(slide, MARGIN + c * (column_width + Inches(0.4)), CONTENT_TOP, column_width,
                  CONTENT_BOTTOM - CONTENT_TOP, paragraphs, space_after=4)
    _footer(deck, slide, len(deck.prs.slides))


def _caveats_slide(deck: _Deck) -> None:
    slide = deck.slide(SLIDE_TITLES["caveats"])
    items = deck.pack.caveats
    size = 18 if len(items) <= 5 else 16
    paragraphs = []
    for i, item in enumerate(items):
        style = {"bullet": True}
        if deck.pack.footer.synthetic and i == 0:
            style.update(bold=True, colour=WARNING_INK)
        paragraphs.append((item, size, style))
    _text_box(slide, MARGIN, CONTENT_TOP + Inches(0.1), SLIDE_WIDTH - 2 * MARGIN,
              CONTENT_BOTTOM - CONTENT_TOP - Inches(0.1), paragraphs, space_after=12)
    _footer(deck, slide, len(deck.prs.slides))


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------
def deck_figures(pack: MeetingPack) -> tuple[list[ImageRequest], int]:
    """The PNG requests of the deck's figures: KM (if any patients) then each forest part.

    Returns
    -------
    (list of ImageRequest, int)
        The requests and how many of them are the KM figure (0 or 1).
    """
    requests = []
    n_km = 0
    if pack.has_patients:
        n_arms = len(pack.km_summary)
        if n_arms <= 3:  # beside the summary table
            width, height, font = KM_WIDTH, KM_HEIGHT, KM_FONT
        else:  # full width; a taller figure keeps the at-risk rows of every arm apart
            height = KM_HEIGHT + 70 * (n_arms - 3)
            width, font = int(height * 12.4 / 5.8), KM_FONT - 2
        fig = pack.km_figure(font_size=font, height=height, hr_on_plot=False)
        fig, w, h = prepare_figure(fig, width=width, height=height, copy=False)
        requests.append(ImageRequest(fig, "png", w, h, 2.0))
        n_km = 1
    if not pack.forest.note and not pack.forest.table.empty and pack.has_patients:
        for part in split_forest(trim_forest(pack.forest)[0], FOREST_ROWS_PER_SLIDE):
            fig = pack.forest_figure(part, font_size=FIGURE_FONT, estimates=True)
            height = int(fig.layout.height)
            width = FOREST_WIDTH  # the same scale on every part
            fig, w, h = prepare_figure(fig, width=width, height=height, copy=False)
            requests.append(ImageRequest(fig, "png", w, h, 2.0))
    return requests, n_km


def build_deck(pack: MeetingPack, *, engine: ImageRenderer | None = None,
               progress: Progress | None = None) -> bytes:
    """The meeting pack as a PPTX file.

    Parameters
    ----------
    pack : MeetingPack
        From :func:`imet_core.export.content.build_pack`.
    engine : ImageRenderer, optional
        Default: the process-wide renderer.
    progress : callable, optional
        Called with a description of each step.

    Returns
    -------
    bytes
        The .pptx file.
    """
    say = progress or (lambda message: None)
    requests, n_km = deck_figures(pack)
    say(f"rendering {len(requests)} figure(s)")
    images = (engine or renderer()).render_many(requests)
    say("writing slides")
    prs = Presentation()
    prs.slide_width, prs.slide_height = SLIDE_WIDTH, SLIDE_HEIGHT
    prs.core_properties.title = f"{pack.title} · {pack.subtitle}"
    prs.core_properties.subject = pack.footer.text()
    prs.core_properties.author = "IMET Explorer"
    deck = _Deck(prs, pack)
    _title_slide(deck)
    _km_slides(deck, images[0] if n_km else None)
    _forest_slides(deck, images[n_km:])
    _table_one_slides(deck)
    _cox_slides(deck)
    _methods_slide(deck)
    _caveats_slide(deck)
    buffer = io.BytesIO()
    prs.save(buffer)
    return buffer.getvalue()
