"""What a meeting pack shows for one selection: computed once, drawn by the deck and the report.

:func:`build_pack` runs the analysis views (:mod:`imet_core.analysis`) for the selection and turns
them into display tables, figure builders and the texts of the title, methods and caveats
slides. :mod:`imet_core.export.deck` and :mod:`imet_core.export.html_report` only lay this out,
so the PPTX and the HTML report always say the same thing.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go

from imet_core import MONTH_DAYS, analysis, table_one as t1
from imet_core.analysis import CoxView, ForestView, SurvivalView
from imet_core.export import formatting as fmt
from imet_core.export.footer import Footer, footer_for
from imet_core.figures import cox_forest_figure, forest_figure, km_figure
from imet_core.privacy import (
    is_small_count, small_count_label, suppress_forest_table, suppress_summary_arms, suppress_table_one,
)
from imet_core.subgroups import Selection

__all__ = ["ReportOptions", "MeetingPack", "build_pack", "km_hr_text", "km_summary_table",
           "forest_display_table", "cox_display_table", "table_one_display", "split_forest",
           "trim_forest", "add_forest_estimates", "options_from", "Progress"]

Progress = Callable[[str], None]
"""Called with a short description of each step (the command line's progress display)."""


@dataclass(frozen=True)
class ReportOptions:
    """The view options a meeting pack uses (the app passes what its pages currently show).

    Attributes
    ----------
    landmarks : tuple of float
        Milestone times in months (default 36 and 60: 3- and 5-year survival).
    cox_model : "paper" or tuple of str
        Multivariable model: the paper's rule (univariable p < 0.05) or the covariates to use.
    cox_references : tuple of (str, str)
        Reference level per categorical Cox covariate, e.g. ``(("site", "liver"),)``.
    show_p : bool
        Show Table 1's p-values and tests (SMD is always shown).
    suppress_below : int or None
        Small-cell suppression (:mod:`imet_core.privacy`): counts from 1 to ``suppress_below - 1``
        are hidden in every table and figure of the pack; None shows every count.
    """

    landmarks: tuple = analysis.DEFAULT_LANDMARKS
    cox_model: object = "paper"
    cox_references: tuple = ()
    show_p: bool = True
    suppress_below: int | None = None


@dataclass(frozen=True)
class MeetingPack:
    """Everything the deck and the report show, for one registry and selection.

    Attributes
    ----------
    selection : Selection
    footer : Footer
    options : ReportOptions
    survival : SurvivalView
    forest : ForestView
    cox : CoxView
    table_one : DataFrame
        Raw :func:`imet_core.analysis.table_one_view` result.
    km_summary : DataFrame
        Display strings, one row per arm: ``Arm, Patients, Events, Median, months (95% CI)`` and
        one ``<k>-year survival (95% CI)`` column per landmark.
    km_lines : tuple of str
        Hazard ratio(s) and log-rank p in words.
    forest_table : DataFrame
        Display strings, one row per forest row (see :func:`forest_display_table`).
    cox_table : DataFrame
        Display strings of Table 2 (see :func:`cox_display_table`).
    cox_caption : str
    cox_notes : tuple of str
        Distinct reasons why a hazard ratio was not estimated.
    table_one_full : DataFrame
        :func:`imet_core.table_one.format_table_one` of ``table_one``.
    methods : tuple of (str, str)
        (heading, text) paragraphs of the methods slide.
    caveats : tuple of str
    notes : tuple of str
        Notes of the views (patients without a comparison value, empty subgroup...).
    published : dict or None
        Published subgroup HRs drawn beside ours on the forest plot (``{(variable, level):
        {"hr", "ci"}}``, as :func:`imet_core.figures.forest_figure` takes), or None.
    """

    selection: Selection
    footer: Footer
    options: ReportOptions
    survival: SurvivalView
    forest: ForestView
    cox: CoxView
    table_one: pd.DataFrame
    km_summary: pd.DataFrame
    km_lines: tuple
    forest_table: pd.DataFrame
    cox_table: pd.DataFrame
    cox_caption: str
    cox_notes: tuple
    table_one_full: pd.DataFrame
    methods: tuple
    caveats: tuple
    notes: tuple = field(default_factory=tuple)
    published: dict | None = None

    # -- titles ------------------------------------------------------------------------------
    @property
    def title(self) -> str:
        """'IT vs ST: overall survival' style title of the pack."""
        endpoint = self.selection.endpoint_spec.label.split(" (")[0]
        return f"{self.selection.comparison_label}: {endpoint.lower()}"

    @property
    def subtitle(self) -> str:
        return self.selection.subgroup.describe()

    @property
    def has_patients(self) -> bool:
        return self.survival.n > 0

    # -- figures (built on demand at the size the caller needs) --------------------------------
    def km_figure(self, *, font_size: int = 17, height: int = 720, hr_on_plot: bool = True) -> go.Figure:
        """The Kaplan-Meier figure (KMunicate), with the HR and log-rank p on the plot if asked."""
        text = "<br>".join(self.km_lines) if hr_on_plot else ""
        return km_figure(self.survival, hr_text=text or None, font_size=font_size, height=height,
                         suppress_below=self.options.suppress_below)

    def forest_figure(self, view: ForestView | None = None, *, font_size: int = 17,
                      estimates: bool = False) -> go.Figure:
        """The subgroup forest plot; ``estimates`` adds a right-hand "HR (95% CI)" column."""
        view = view or self.forest
        fig = forest_figure(view, font_size=font_size, suppress_below=self.options.suppress_below,
                            published=self.published)
        return add_forest_estimates(fig, view, font_size=font_size) if estimates else fig

    def cox_figure(self, *, adjusted: bool = False, font_size: int = 17) -> go.Figure:
        return cox_forest_figure(self.cox, adjusted=adjusted, font_size=font_size)

    def table_one_compact(self) -> tuple[pd.DataFrame, str]:
        """Table 1 for a slide: short test names, "Missing" rows dropped where nobody is missing.

        Returns
        -------
        (DataFrame, str)
            The table and a note saying what was shortened.
        """
        return table_one_display(self.table_one, show_p=self.options.show_p, compact=True,
                                 suppress_below=self.options.suppress_below)


# ----------------------------------------------------------------------------------------------
# Display tables
# ----------------------------------------------------------------------------------------------
def km_hr_text(view: SurvivalView) -> tuple[str, ...]:
    """'HR IT vs ST: 0.43 (0.31–0.58)' per estimable arm, then 'Log-rank p < 0.001'."""
    lines = [f"HR {r['arm']} vs {r['reference']}: {fmt.hr_ci(r['hr'], r['hr_lower'], r['hr_upper'])}"
             for _, r in view.hazard_ratios.iterrows() if fmt.is_number(r["hr"])]
    if fmt.is_number(view.logrank["p"]):
        lines.append(fmt.p_equals(view.logrank["p"], "Log-rank p"))
    return tuple(lines)


def _landmark_label(months: float) -> str:
    years = months / 12.0
    return f"{years:g}-year survival (95% CI)" if float(years).is_integer() else f"{months:g}-month survival (95% CI)"


def km_summary_table(view: SurvivalView, *, suppress_below: int | None = None) -> pd.DataFrame:
    """One row per arm: patients, events, median with CI, milestone survival with CI (strings).

    With ``suppress_below``, small patient and event counts read "<5" (or "[c]") as
    :func:`imet_core.privacy.suppress_summary_arms` decides.
    """
    rows = []
    counts = view.arms if suppress_below is None else suppress_summary_arms(view.arms, threshold=suppress_below)
    for arm, a in view.arms.iterrows():
        row = {"Arm": str(arm), "Patients": fmt.count(counts.at[arm, "n"]),
               "Events": fmt.count(counts.at[arm, "events"]),
               "Median, months (95% CI)": fmt.months_ci(a["median"], a["median_lower"], a["median_upper"])
               if a["n"] > 0 else "–"}
        for _, lm in view.landmarks[view.landmarks["arm"] == arm].iterrows():
            row[_landmark_label(float(lm["time"]))] = fmt.percent_ci(lm["survival"], lm["lower"], lm["upper"])
        rows.append(row)
    return pd.DataFrame(rows)


def forest_display_table(view: ForestView, *, suppress_below: int | None = None) -> pd.DataFrame:
    """The forest plot's numbers as display strings (small counts hidden with ``suppress_below``).

    Returns
    -------
    DataFrame
        Columns ``Subgroup, Level, <arm_a> events/n, <arm_b> events/n, HR (95% CI), p,
        Interaction p, Note``.
    """
    t = view.table
    if t.empty:
        return pd.DataFrame(columns=["Subgroup", "Level", "HR (95% CI)", "p", "Interaction p", "Note"])
    if suppress_below is not None:
        t = suppress_forest_table(t, threshold=suppress_below)
    return pd.DataFrame({
        "Subgroup": t["variable_label"].where(t["variable"] != "all", "").to_numpy(),
        "Level": t["level_label"].to_numpy(),
        f"{view.arm_a} events/n": [f"{fmt.count(e)}/{fmt.count(n)}" for e, n in zip(t["events_a"], t["n_a"])],
        f"{view.arm_b} events/n": [f"{fmt.count(e)}/{fmt.count(n)}" for e, n in zip(t["events_b"], t["n_b"])],
        "HR (95% CI)": [fmt.hr_ci(h, lo, hi) for h, lo, hi in zip(t["hr"], t["hr_lower"], t["hr_upper"])],
        "p": t["p"].map(fmt.p_value).to_numpy(),
        "Interaction p": t["p_interaction"].map(fmt.p_value).to_numpy(),
        "Note": t["note"].fillna("").to_numpy(),
    })


def cox_display_table(view: CoxView, *, suppress_below: int | None = None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Table 2 as display strings, and the distinct notes of terms that were not estimated.

    Returns
    -------
    (DataFrame, tuple of str)
        Columns ``Covariate, Level (vs reference), n / events, HR (95% CI), p, Adjusted HR (95% CI),
        Adjusted p, PH test p``. A term without an estimate shows "not estimated (note k)".
    """
    t = view.table
    columns = ["Covariate", "Level (vs reference)", "n / events", "HR (95% CI)", "p",
               "Adjusted HR (95% CI)", "Adjusted p", "PH test p"]
    if t.empty:
        return pd.DataFrame(columns=columns), ()
    notes: list[str] = []
    rows = []
    for _, r in t.iterrows():
        level = r["level_label"]
        if level and level == r["label"]:
            level = f"vs {r['reference_label']}"
        elif level:
            level = f"{level} vs {r['reference_label']}"
        hr_text = fmt.hr_ci(r["hr"], r["hr_lower"], r["hr_upper"])
        if not fmt.is_number(r["hr"]) and r["note"]:
            if r["note"] not in notes:
                notes.append(r["note"])
            hr_text = f"not estimated ({notes.index(r['note']) + 1})"
        ph = fmt.p_value(r["ph_p"])
        if r["ph_flag"].startswith("PH doubtful"):
            ph += " (doubtful)"
        rows.append({
            "Covariate": r["label"], "Level (vs reference)": level,
            "n / events": f"{_small(r['n'], suppress_below)} / {_small(r['events'], suppress_below)}",
            "HR (95% CI)": hr_text, "p": fmt.p_value(r["p"]),
            "Adjusted HR (95% CI)": fmt.hr_ci(r["hr_adj"], r["hr_adj_lower"], r["hr_adj_upper"]),
            "Adjusted p": fmt.p_value(r["p_adj"]), "PH test p": ph,
        })
    return pd.DataFrame(rows, columns=columns), tuple(notes)


def _small(value: object, threshold: int | None) -> str:
    """A count, or the suppression label when it is small."""
    if threshold is not None and is_small_count(value, threshold):
        return small_count_label(threshold)
    return fmt.count(value)


_SHORT_TESTS = {
    t1.TEST_T: "t-test",
    t1.TEST_WILCOXON_EXACT: "Wilcoxon",
    t1.TEST_WILCOXON_NORMAL: "Wilcoxon",
    t1.TEST_ANOVA: "ANOVA",
    t1.TEST_KRUSKAL: "Kruskal-Wallis",
    t1.TEST_CHI_SQUARE: "Chi-square",
}


def table_one_display(result: pd.DataFrame, *, show_p: bool = True, compact: bool = False,
                      suppress_below: int | None = None) -> tuple[pd.DataFrame, str]:
    """Table 1 as display strings (``format_table_one``), optionally compacted for a slide.

    Parameters
    ----------
    result : DataFrame
        A :func:`imet_core.table_one.table_one` result.
    show_p : bool
    compact : bool
        Shorten test names, drop "Missing" rows whose every count is 0 and levels without any
        patient (said in the note).
    suppress_below : int, optional
        Hide small counts (:func:`imet_core.privacy.suppress_table_one`).

    Returns
    -------
    (DataFrame, str)
        The table (leading indentation of level rows kept) and a note ("" when nothing changed).
    """
    table = t1.format_table_one(result, show_p=show_p)
    if suppress_below is not None:
        table = suppress_table_one(result, table, threshold=suppress_below)
    if not compact:
        return table, ""
    if "Test" in table:
        table = table.assign(Test=table["Test"].map(lambda s: _SHORT_TESTS.get(s, s)))
    group_columns = [c for c in table.columns if c not in ("Characteristic", "p", "Test", "SMD")]
    counts = table[group_columns]
    is_missing = table["Characteristic"].str.strip().eq("Missing")
    is_level = table["Characteristic"].str.startswith(" ") & ~is_missing
    nobody = counts.apply(lambda col: col.isin(["0", "0 (0.0%)", "–", ""])).all(axis=1)
    drop_missing = is_missing & nobody
    drop_levels = is_level & nobody & counts.apply(lambda col: col.str.startswith("0")).any(axis=1)
    note_parts = []
    if drop_missing.any():
        note_parts.append("'Missing' rows only where a value is missing")
    if drop_levels.any():
        note_parts.append("levels without any patient left out")
    note = "; ".join(note_parts) + "." if note_parts else ""
    return table.loc[~(drop_missing | drop_levels)].reset_index(drop=True), note


def add_forest_estimates(fig: go.Figure, view: ForestView, *, font_size: int = 17) -> go.Figure:
    """Write each row's "HR (95% CI)" to the right of the forest plot (the figure is changed),
    unless the figure already prints that column; either way the legend moves to the top centre.

    The rows' vertical positions are read from the figure's hazard-ratio marker trace, whose
    points follow the view's estimable rows in table order.
    """
    name = f"HR {view.arm_a} vs {view.arm_b}"
    markers = next((t for t in fig.data if t.name == name), None)
    if markers is None or view.table.empty:
        return fig
    already = any("HR (95% CI)" in str(a.text) for a in fig.layout.annotations)
    if already:  # the figure builder prints the column itself: only move the legend
        fig.update_layout(legend=dict(orientation="h", x=0.5, xanchor="center", y=1.0, yanchor="bottom",
                                      font=dict(size=font_size - 2)))
        return fig
    rows = view.table[view.table["hr"].notna()]
    font = dict(size=font_size - 1)
    added = [go.layout.Annotation(x=1.0, y=y, xref="paper", yref="y", xanchor="left", showarrow=False, xshift=14,
                                  text=fmt.hr_ci(r["hr"], r["hr_lower"], r["hr_upper"]), font=font)
             for (_, r), y in zip(rows.iterrows(), markers.y)]
    added.append(go.layout.Annotation(x=1.0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                                      xshift=14, showarrow=False, text="<b>HR (95% CI)</b>", font=font))
    fig.layout.annotations = tuple(fig.layout.annotations) + tuple(added)
    right = int(14 + 0.56 * (font_size - 1) * 17)
    # the legend goes to the top centre, between the "favours" labels, clear of the axis title
    fig.update_layout(margin=dict(r=right), legend=dict(orientation="h", x=0.5, xanchor="center", y=1.0,
                                                        yanchor="bottom", font=dict(size=font_size - 2)))
    return fig


def trim_forest(view: ForestView) -> tuple[ForestView, bool]:
    """The forest view without levels that have no patient in this subgroup (e.g. "Age ≥ 55"
    when the subgroup is age < 55) and without variables left with a single level.

    Returns
    -------
    (ForestView, bool)
        The trimmed view and whether anything was left out (the caption then says so).
    """
    t = view.table
    if t.empty:
        return view, False
    keep = (t["variable"] == "all") | ((t["n_a"] + t["n_b"]) > 0)
    levels = t.loc[keep & (t["variable"] != "all")].groupby("variable", sort=False).size()
    single = levels.index[levels <= 1]
    keep &= ~t["variable"].isin(single)
    if keep.all():
        return view, False
    return dataclasses.replace(view, table=t.loc[keep].reset_index(drop=True)), True


def split_forest(view: ForestView, max_rows: int) -> list[ForestView]:
    """Split a forest plot by subgroup variable into parts of at most ``max_rows`` drawn rows.

    Every part starts with the "All patients" row (so each keeps the reference line at the
    overall HR); a variable is never split across parts; the parts are as even as the variables
    allow (the fewest parts, then the smallest largest part). Drawn rows = level rows + one
    heading row per variable.
    """
    t = view.table
    if t.empty:
        return [view]
    overall = t[t["variable"] == "all"]
    blocks = [t[t["variable"] == v] for v in dict.fromkeys(t.loc[t["variable"] != "all", "variable"])]
    if not blocks:
        return [view]

    def greedy(limit: int) -> list[list[pd.DataFrame]]:
        parts: list[list[pd.DataFrame]] = [[]]
        used = len(overall)
        for block in blocks:
            size = len(block) + 1
            if parts[-1] and used + size > limit:
                parts.append([])
                used = len(overall)
            parts[-1].append(block)
            used += size
        return parts

    fewest = len(greedy(max_rows))
    total = sum(len(b) + 1 for b in blocks) + fewest * len(overall)
    for limit in range(-(-total // fewest), max_rows + 1):
        parts = greedy(limit)
        if len(parts) <= fewest:
            break
    else:  # pragma: no cover - greedy(max_rows) always qualifies
        parts = greedy(max_rows)
    return [dataclasses.replace(view, table=pd.concat([overall, *chunk], ignore_index=True)) for chunk in parts]


# ----------------------------------------------------------------------------------------------
# Methods and caveats
# ----------------------------------------------------------------------------------------------
def _methods(selection: Selection, cox: CoxView, options: ReportOptions) -> tuple[tuple[str, str], ...]:
    spec = selection.endpoint_spec
    years = [f"{m / 12:g}" for m in options.landmarks]
    landmarks = (", ".join(years[:-1]) + " and " + years[-1]) if len(years) > 1 else (years[0] if years else "no")
    model = ("covariates with univariable p < 0.05 (the paper's rule)" if options.cox_model == "paper"
             else "covariates chosen by the user")
    return (
        ("Endpoints",
         "OS (overall survival): months from breast cancer diagnosis to death from any cause; "
         "patients alive are censored at last follow-up. PDRS (post-distant-recurrence survival): "
         "months from diagnosis of the first distant metastasis to death, censored at last follow-up. "
         f"This pack uses {spec.short_label}. 1 month = {MONTH_DAYS} days."),
        ("Definitions",
         "MDFI (metastasis-free interval): months from primary breast surgery to diagnosis of "
         "distant metastasis (subgroups ≤ 24 and > 24 months). IT: intervention for metastases "
         "(metastasectomy, ablation, radiosurgery or TARE); ST: systemic therapy only. "
         "ER/PR+: oestrogen or progesterone receptor positive."),
        ("Survival curves",
         "Kaplan-Meier estimates with 95% confidence intervals (log transformation, as R's "
         "survfit); medians with 95% CI; survival at "
         f"{landmarks} years. Curves are compared with the log-rank test. Number at risk is "
         "counted at the start of each interval (KMunicate layout)."),
        ("Hazard ratios",
         "Cox proportional hazards models with Efron ties and Wald 95% CIs. Subgroup forest plot: "
         "the hazard ratio within each subgroup level; interaction p is the Wald test of the "
         "arm × subgroup terms. Table 2: one univariable model per covariate and one multivariable "
         f"model of {model} (complete cases). Proportional hazards: scaled Schoenfeld residual test "
         "(R's cox.zph)."),
        ("Table 1",
         "Counts with percentages of non-missing values; missing values counted on their own row. "
         "Continuous variables: Student's t-test when Shapiro-Wilk accepts normality in every arm, "
         "else the Wilcoxon rank-sum test. Categorical: Pearson chi-square without continuity "
         "correction. SMD: standardized mean difference (> 0.1 is commonly read as imbalance)."),
        ("Small numbers",
         f"No hazard ratio or p-value is reported for an arm or level with fewer than "
         f"{analysis.MIN_EVENTS} events."),
    )


def _caveats(pack_selection: Selection, footer: Footer, cox: CoxView, forest: ForestView) -> tuple[str, ...]:
    items = []
    if footer.synthetic:
        items.append("Synthetic data: this cohort was generated to reproduce the IMET paper's published "
                     "numbers. It contains no real patients and must not inform clinical decisions.")
    items += [
        "Observational registry data: differences between arms are associations, not treatment effects.",
        "Selection bias (confounding by indication): patients chosen for an intervention for metastases "
        "are usually fitter, with fewer metastases and longer disease-free intervals. Adjusting for "
        "measured covariates cannot remove unmeasured differences.",
    ]
    if pack_selection.endpoint == "os":
        items.append("Immortal time: OS is counted from breast cancer diagnosis, but patients enter the "
                     "registry only at metastasis, and IT patients must live until their intervention. "
                     "Both favour IT; these analyses do not correct for it (the paper's method). See "
                     "the Bias checks page for delayed-entry and landmark analyses.")
    else:
        items.append("Immortal time: IT patients must live from metastasis diagnosis until their "
                     "intervention, which favours IT; a landmark analysis (Bias checks page) addresses it.")
    n_levels = int((forest.table["variable"] != "all").sum()) if footer.n and not forest.table.empty else 0
    if n_levels:
        items.append(f"Subgroups are exploratory: {n_levels} subgroup levels are shown, and about one "
                     "interaction test in 20 is 'significant' by chance alone.")
    doubtful = cox.table.loc[cox.table["ph_flag"].astype(str).str.startswith("PH doubtful"), "label"] \
        if not cox.table.empty else pd.Series(dtype=object)
    if len(doubtful):
        names = ", ".join(dict.fromkeys(doubtful.astype(str)))
        items.append(f"Proportional hazards doubtful for {names}: read those hazard ratios as averages "
                     "over follow-up.")
    return tuple(items)


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------
def build_pack(frame: pd.DataFrame, selection: Selection, *, source: str, synthetic: bool,
               options: ReportOptions | None = None, created: _dt.datetime | None = None,
               progress: Progress | None = None, published: dict | None = None) -> MeetingPack:
    """Compute every view of ``selection`` and the texts of a meeting pack.

    Parameters
    ----------
    frame : DataFrame
        Loaded registry (:func:`imet_core.io.load_registry`).
    selection : Selection
    source : str
        Data-source text (:func:`imet_core.export.footer.source_label`).
    synthetic : bool
        True for the synthetic cohort.
    options : ReportOptions, optional
    created : datetime, optional
        Time stamp of the footer (default now).
    progress : callable, optional
        Called with a description of each step.
    published : dict, optional
        Published subgroup HRs to draw beside ours (the app passes them for the synthetic cohort's
        default view, as its Subgroups page does).

    Returns
    -------
    MeetingPack
    """
    options = options or ReportOptions()
    say = progress or (lambda message: None)
    say("Kaplan-Meier curves")
    survival = analysis.survival_view(frame, selection, landmarks=options.landmarks)
    say("subgroup hazard ratios")
    forest = analysis.forest_view(frame, selection)
    say("Cox models (Table 2)")
    model = options.cox_model if options.cox_model == "paper" else list(options.cox_model)
    cox = analysis.cox_view(frame, selection, model=model, references=dict(options.cox_references))
    say("Table 1")
    table_one = analysis.table_one_view(frame, selection)
    threshold = options.suppress_below
    footer = footer_for(frame, selection, source=source, synthetic=synthetic, created=created,
                        counts=(survival.n, survival.n_events), suppress_below=threshold)
    cox_table, cox_notes = cox_display_table(cox, suppress_below=threshold)
    model_names = {c.variable: c.label for c in analysis.COX_CANDIDATES}
    model_text = ", ".join(model_names.get(v, v) for v in cox.model_variables) or "none"
    cox_caption = (f"Multivariable model ({cox.model_rule}): {model_text}; {cox.model_n} patients, "
                   f"{cox.model_events} events. Global PH test {fmt.p_equals(cox.global_ph['p'])}.")
    table_full, _ = table_one_display(table_one, show_p=options.show_p, suppress_below=threshold)
    notes = tuple(dict.fromkeys([*survival.notes, *cox.notes] + ([forest.note] if forest.note else [])))
    return MeetingPack(
        selection=selection, footer=footer, options=options, survival=survival, forest=forest,
        cox=cox, table_one=table_one, km_summary=km_summary_table(survival, suppress_below=threshold),
        km_lines=km_hr_text(survival), forest_table=forest_display_table(forest, suppress_below=threshold),
        cox_table=cox_table,
        cox_caption=cox_caption, cox_notes=cox_notes, table_one_full=table_full,
        methods=_methods(selection, cox, options), caveats=_caveats(selection, footer, cox, forest),
        notes=notes, published=published,
    )


def options_from(landmark_years: Sequence[float] | None = None, cox_model: object = "paper",
                 cox_references: dict | None = None, show_p: bool = True,
                 suppress_below: int | None = None) -> ReportOptions:
    """:class:`ReportOptions` from the app's widget values (years, not months)."""
    landmarks = tuple(12.0 * float(y) for y in sorted(landmark_years)) if landmark_years is not None \
        else analysis.DEFAULT_LANDMARKS
    model = cox_model if cox_model == "paper" else tuple(cox_model)
    return ReportOptions(landmarks=landmarks, cox_model=model,
                         cox_references=tuple(sorted((cox_references or {}).items())), show_p=bool(show_p),
                         suppress_below=None if suppress_below is None else int(suppress_below))
