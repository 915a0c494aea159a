"""Table 1: patient and tumour characteristics by group, with the paper's test rules.

:func:`table_one` does the arithmetic and returns unrounded numbers only;
:func:`format_table_one` turns its result into display strings (formatting is kept out of
the maths, as in pingouin).

Test rules (contract §2, the paper's Methods):

- Continuous variables: Shapiro-Wilk in every group (scipy ``shapiro``, the same algorithm
  as R's ``shapiro.test``, Royston 1995 AS R94).  If no group rejects normality at 0.05:
  Student's t-test with equal variances (two groups; R ``t.test(var.equal=TRUE)``) or one-way
  ANOVA (more groups; R ``oneway.test(var.equal=TRUE)``), summarised as mean ± SD.  Otherwise
  the Wilcoxon rank-sum test (two groups) or Kruskal-Wallis (more groups; R ``kruskal.test``),
  summarised as median [IQR] with R's default quantile (type 7).  A group with fewer than 3
  values or with all values equal cannot be checked for normality; the rank test is used.
  The Wilcoxon rank-sum test follows R's ``wilcox.test`` defaults exactly: the exact null
  distribution when both groups have fewer than 50 values and there are no ties, otherwise
  the normal approximation with continuity correction and tie-corrected variance
  (scipy ``mannwhitneyu(method="exact" | "asymptotic", use_continuity=True)``; the statistic
  is R's W, the Mann-Whitney U of the first group).
- Categorical variables: Pearson's chi-square without continuity correction (R
  ``chisq.test(correct=FALSE)``) on the non-missing counts, after dropping levels with no
  patient in any group (and groups with no non-missing patient); missing values are counted
  in their own row and left out of the test.  Yes/no variables are one row (the "yes" count),
  tested on the 2 x 2 table.
- Standardized mean differences (two groups only; absolute values, as R's ``tableone``):
  continuous |m1 - m2| / sqrt((s1² + s2²) / 2) (Austin 2009, Stat Med 28:3083, eq. 1);
  binary |p1 - p2| / sqrt((p1(1 - p1) + p2(1 - p2)) / 2) (Austin 2009, eq. 2);
  categorical sqrt((T - C)' S⁻¹ (T - C)) over levels 2..k (Yang & Dalton 2012, SAS Global
  Forum paper 335, "A unified approach to measuring the effect size between two groups using
  SAS").
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats
from scipy.stats._morestats import swilk as _swilk  # the routine behind stats.shapiro

from imet_core import schema

__all__ = [
    "DEFAULT_VARIABLES",
    "TEST_T",
    "TEST_WILCOXON_EXACT",
    "TEST_WILCOXON_NORMAL",
    "TEST_ANOVA",
    "TEST_KRUSKAL",
    "TEST_CHI_SQUARE",
    "VariableSpec",
    "variable_spec",
    "table_one",
    "format_table_one",
]

# -- test names (the ``test`` column) --------------------------------------------------------
TEST_T = "Student t (equal variances)"
TEST_WILCOXON_EXACT = "Wilcoxon rank-sum (exact)"
TEST_WILCOXON_NORMAL = "Wilcoxon rank-sum (normal approximation, continuity correction)"
TEST_ANOVA = "One-way ANOVA (equal variances)"
TEST_KRUSKAL = "Kruskal-Wallis"
TEST_CHI_SQUARE = "Pearson chi-square (no continuity correction)"
NOT_TESTABLE_ONE_GROUP = "not testable: one group"
NOT_TESTABLE_SINGLE_LEVEL = "not testable: single level"
NOT_TESTABLE_ALL_MISSING = "not testable: all missing"
NOT_TESTABLE_NO_VARIATION = "not testable: all values equal"
NOT_TESTABLE_NO_PATIENTS = "not testable: no patients"

NORMALITY_ALPHA = 0.05
"""Shapiro-Wilk rejects normality below this p-value (the paper's 0.05)."""
SHAPIRO_MIN_N = 3
"""Fewest values Shapiro-Wilk accepts (R's ``shapiro.test`` requires 3 to 5000)."""
SHAPIRO_MAX_N = 5000
WILCOXON_EXACT_MAX_N = 50
"""R's ``wilcox.test`` is exact when both groups have fewer than this many values and no ties."""

CONTINUOUS, BINARY, CATEGORICAL = "continuous", "binary", "categorical"

DEFAULT_VARIABLES: tuple[str, ...] = (
    "age", "menopause", "hr_positive", "her2_positive", "breast_surgery", "axillary_surgery",
    "histology", "nodal_status", "mets_biopsy", "site", "intervention", "mdfi_months",
)
"""The paper's Table 1 rows, in its order (plus MDFI, which the paper reports in the text)."""


@dataclass(frozen=True)
class VariableSpec:
    """How one column is summarised and tested.

    Attributes
    ----------
    name : str
        Column of the frame.
    kind : {"continuous", "binary", "categorical"}
    label : str
        Display name.
    levels : tuple
        Categorical: stored values in display order (values seen in the data but not listed
        are appended).  Binary: ``(shown, other)``, the level counted in the row first.
    level_labels : tuple of str
        Display names of ``levels``.
    applies_to : tuple (column, value) or None
        Only rows where ``column == value`` are described (e.g. the intervention type, IT only).
    untested_reason : str or None
        When set, no test is run and ``test`` holds this text.
    """

    name: str
    kind: str
    label: str
    levels: tuple = ()
    level_labels: tuple[str, ...] = ()
    applies_to: tuple[str, object] | None = None
    untested_reason: str | None = None

    def level_label(self, level: object) -> str:
        """Display name of a stored level."""
        for stored, label in zip(self.levels, self.level_labels):
            if _same_level(stored, level):
                return label
        return _display_level(level)


_YES_NO_LEVELS = (True, False)

# Table 1 presentation choices on top of the schema (the schema owns names, kinds, levels, labels):
_SHOWN_AS_ONE_ROW = {"menopause": "post"}
"""Two-level categories the paper's Table 1 shows as one row: the count of this level."""
_RESTRICTED = {"intervention": (("group", "IT"), "not tested: IT only")}
"""Variables described only in some rows (column, value), with the reason they are not tested."""


def variable_spec(frame: pd.DataFrame, name: str) -> VariableSpec:
    """The :class:`VariableSpec` used for column ``name``.

    Known columns follow :mod:`imet_core.schema` (kind, levels in the contract's order, labels):
    numbers are continuous, yes/no columns binary (the "yes" count), categories categorical
    (``menopause`` is one row, the postmenopausal count, as in the paper; ``intervention`` is
    described among IT patients only and not tested).  Other columns are inferred from the
    dtype: bool -> binary, numeric -> continuous, anything else -> categorical.

    Raises
    ------
    ValueError
        For a date column (Table 1 describes numbers and categories).
    """
    column = schema.COLUMNS_BY_NAME.get(name)
    if column is None:
        return _inferred_spec(frame[name], name)
    if column.kind is schema.Kind.DATE:
        raise ValueError(f"column {name!r} holds dates; Table 1 describes numbers and categories")
    if column.kind is schema.Kind.NUMBER:
        label = f"{column.label} ({column.unit})" if column.unit and "(" not in column.label else column.label
        return VariableSpec(name, CONTINUOUS, label)
    if column.kind is schema.Kind.YES_NO:
        return VariableSpec(name, BINARY, column.label, _YES_NO_LEVELS, ("yes", "no"))
    level_labels = schema.LEVEL_LABELS.get(name, {})
    levels = tuple(column.levels)
    if name in _SHOWN_AS_ONE_ROW:
        shown = _SHOWN_AS_ONE_ROW[name]
        ordered = (shown, *(level for level in levels if level != shown))
        labels = tuple(level_labels.get(level, _display_level(level)) for level in ordered)
        return VariableSpec(name, BINARY, labels[0], ordered, labels)
    applies_to, untested = _RESTRICTED.get(name, (None, None))
    label = f"{column.label} ({applies_to[1]} only)" if applies_to else column.label
    return VariableSpec(name, CATEGORICAL, label, levels,
                        tuple(level_labels.get(level, _display_level(level)) for level in levels),
                        applies_to=applies_to, untested_reason=untested)


def _inferred_spec(column: pd.Series, name: str) -> VariableSpec:
    if pd.api.types.is_bool_dtype(column):
        return VariableSpec(name, BINARY, name, _YES_NO_LEVELS, ("yes", "no"))
    if pd.api.types.is_numeric_dtype(column):
        return VariableSpec(name, CONTINUOUS, name)
    return VariableSpec(name, CATEGORICAL, name)


def _display_level(level: object) -> str:
    """A stored level without a schema label, for display: first letter capitalised."""
    text = _level_text(level)
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _TestResult:
    p_value: float
    test: str
    statistic: float = math.nan
    df: float = math.nan
    note: str = ""


def _shapiro_p(values: np.ndarray) -> float:
    """Shapiro-Wilk p-value, NaN when normality cannot be assessed (n < 3 or no variation)."""
    if len(values) < SHAPIRO_MIN_N or np.ptp(values) == 0:
        return math.nan
    # scipy.stats.shapiro's own steps (Royston's AS R94 algorithm, swilk), without its generic
    # argument-checking wrapper, which costs more than the test on a few hundred values.
    # tests/test_table_one.py checks the result against stats.shapiro and R.
    n = len(values)
    y = np.sort(np.asarray(values, dtype=np.float64))
    y -= np.asarray(values, dtype=np.float64)[n // 2]
    with warnings.catch_warnings():
        # p may be inaccurate above n = 5000 (R refuses such samples).
        warnings.simplefilter("ignore")
        _, p_value, _ = _swilk(y, np.zeros(n // 2, dtype=np.float64), 0)
    return float(p_value)


def _student_t(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Student's t with pooled variance, R's t.test(x, y, var.equal = TRUE): (t, p, df)."""
    nx, ny = len(x), len(y)
    df = nx + ny - 2
    pooled = ((nx - 1) * np.var(x, ddof=1) + (ny - 1) * np.var(y, ddof=1)) / df if df > 0 else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = (np.mean(x) - np.mean(y)) / math.sqrt(pooled * (1 / nx + 1 / ny)) if pooled > 0 else math.nan
    p_value = float(2 * special.stdtr(df, -abs(t_stat))) if math.isfinite(t_stat) else math.nan
    return float(t_stat), p_value, float(df)


def _wilcoxon_rank_sum(x: np.ndarray, y: np.ndarray) -> _TestResult:
    """Two-sided Wilcoxon rank-sum test with R's ``wilcox.test`` default choices.

    R (stats:::wilcox.test.default): exact if n.x < 50 and n.y < 50 and no ties in the pooled
    sample; otherwise the normal approximation with continuity correction 0.5 * sign(z) and
    the tie-corrected variance n.x n.y / 12 * ((N + 1) - sum(t³ - t) / (N (N - 1))).
    scipy's mannwhitneyu implements both; its U of the first sample is R's W.
    """
    pooled = np.concatenate([x, y])
    if np.ptp(pooled) == 0:
        return _TestResult(math.nan, NOT_TESTABLE_NO_VARIATION)
    has_ties = len(np.unique(pooled)) < len(pooled)
    exact = len(x) < WILCOXON_EXACT_MAX_N and len(y) < WILCOXON_EXACT_MAX_N and not has_ties
    method = "exact" if exact else "asymptotic"
    result = stats.mannwhitneyu(x, y, alternative="two-sided", method=method, use_continuity=True)
    return _TestResult(float(result.pvalue), TEST_WILCOXON_EXACT if exact else TEST_WILCOXON_NORMAL,
                       statistic=float(result.statistic))


def _compare_continuous(samples: list[np.ndarray], force_rank: bool) -> tuple[_TestResult, bool, list[float]]:
    """Apply the normality rule and the chosen test.

    Returns the test result, whether the parametric test was used (mean ± SD summary), and
    the Shapiro-Wilk p-value of every group (NaN where not computed).
    """
    shapiro_ps = [_shapiro_p(s) for s in samples]
    present = [s for s in samples if len(s) > 0]
    notes = []
    if len(present) < len(samples) and len(present) >= 2:
        notes.append("groups without values left out of the test")
    present_ps = [p for s, p in zip(samples, shapiro_ps) if len(s) > 0]
    normal = not force_rank and all(not math.isnan(p) and p >= NORMALITY_ALPHA for p in present_ps)
    if force_rank:
        notes.append("rank test requested (nonnormal)")
    elif not normal and any(math.isnan(p) for p in present_ps):
        notes.append("normality not assessable (fewer than 3 values or all equal in a group): rank test")
    if sum(len(s) for s in samples) == 0:
        return _TestResult(math.nan, NOT_TESTABLE_ALL_MISSING), normal, shapiro_ps
    if len(present) < 2:
        return _TestResult(math.nan, NOT_TESTABLE_ONE_GROUP), normal, shapiro_ps
    note = "; ".join(notes)
    if normal:
        if len(present) == 2:
            # Student's t with pooled variance: R t.test(x, y, var.equal = TRUE).
            t_stat, p_value, df = _student_t(present[0], present[1])
            return _TestResult(p_value, TEST_T, t_stat, df, note), True, shapiro_ps
        # Fisher's one-way ANOVA: R oneway.test(var.equal = TRUE).
        result = stats.f_oneway(*present)
        df = float(len(present) - 1)
        return _TestResult(float(result.pvalue), TEST_ANOVA, float(result.statistic), df, note), True, shapiro_ps
    if len(present) == 2:
        result = _wilcoxon_rank_sum(present[0], present[1])
        return _TestResult(result.p_value, result.test, result.statistic, math.nan,
                           "; ".join(filter(None, [note, result.note]))), False, shapiro_ps
    if np.ptp(np.concatenate(present)) == 0:
        return _TestResult(math.nan, NOT_TESTABLE_NO_VARIATION, note=note), False, shapiro_ps
    # Kruskal-Wallis with tie correction: R kruskal.test.
    result = stats.kruskal(*present)
    return _TestResult(float(result.pvalue), TEST_KRUSKAL, float(result.statistic),
                       float(len(present) - 1), note), False, shapiro_ps


def _chi_square(counts: np.ndarray) -> _TestResult:
    """Pearson chi-square without continuity correction on a levels x groups count table.

    Levels with no patient in any group and groups with no patient are dropped first
    (R: chisq.test(table, correct = FALSE) on the reduced table).
    """
    if counts.sum() == 0:
        return _TestResult(math.nan, NOT_TESTABLE_ALL_MISSING)
    kept_groups = counts.sum(axis=0) > 0
    table = counts[:, kept_groups]
    if table.shape[1] < 2:
        return _TestResult(math.nan, NOT_TESTABLE_ONE_GROUP)
    table = table[table.sum(axis=1) > 0, :]
    if table.shape[0] < 2:
        return _TestResult(math.nan, NOT_TESTABLE_SINGLE_LEVEL)
    # Pearson X² = sum (O - E)² / E with E = row total x column total / N (R chisq.test).
    table = table.astype(float)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    p_value = float(special.chdtrc(dof, statistic))
    notes = []
    if not kept_groups.all():
        notes.append("groups without values left out of the test")
    small = int((expected < 5).sum())
    if small:
        notes.append(f"chi-square approximation may be inaccurate: {small} of {expected.size} expected counts < 5")
    return _TestResult(float(p_value), TEST_CHI_SQUARE, float(statistic), float(dof), "; ".join(notes))


# --------------------------------------------------------------------------------------------
# Standardized mean differences (two groups)
# --------------------------------------------------------------------------------------------
SMD_TWO_GROUPS_ONLY = "SMD is defined for two groups only"


def _smd_continuous(a: np.ndarray, b: np.ndarray) -> tuple[float, str]:
    """|m1 - m2| / sqrt((s1² + s2²) / 2) (Austin 2009, eq. 1); sample SDs (ddof = 1)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan, "SMD needs at least 2 values per group"
    difference = abs(float(np.mean(a)) - float(np.mean(b)))
    pooled = math.sqrt((float(np.var(a, ddof=1)) + float(np.var(b, ddof=1))) / 2)
    if pooled == 0:
        return (0.0, "") if difference == 0 else (math.inf, "SMD infinite: no variation within groups")
    return difference / pooled, ""


def _smd_binary(shown: np.ndarray, totals: np.ndarray) -> tuple[float, str]:
    """|p1 - p2| / sqrt((p1(1 - p1) + p2(1 - p2)) / 2) (Austin 2009, eq. 2)."""
    if (totals == 0).any():
        return math.nan, "SMD not computed: a group has no values"
    p1, p2 = shown / totals
    variance = (p1 * (1 - p1) + p2 * (1 - p2)) / 2
    if variance == 0:
        return (0.0, "") if p1 == p2 else (math.inf, "SMD infinite: the groups share no level")
    return abs(p1 - p2) / math.sqrt(variance), ""


def _smd_categorical(counts: np.ndarray) -> tuple[float, str]:
    """Multi-level SMD of Yang & Dalton (2012) for a levels x 2 count table.

    d = sqrt((T - C)' S⁻¹ (T - C)) with T, C the proportions of levels 2..k in each group and
    S = [S_kl], S_kk = (T_k(1 - T_k) + C_k(1 - C_k)) / 2, S_kl = -(T_k T_l + C_k C_l) / 2.
    Levels with no patient in either group are dropped first.  S is then invertible whenever
    the groups share at least one level (it is the mean of two multinomial covariance
    matrices); groups sharing no level are completely separated and d is infinite.
    """
    totals = counts.sum(axis=0)
    if (totals == 0).any():
        return math.nan, "SMD not computed: a group has no values"
    counts = counts[counts.sum(axis=1) > 0, :]
    proportions = counts / totals
    if proportions.shape[0] < 2:
        return 0.0, ""
    if not ((proportions[:, 0] > 0) & (proportions[:, 1] > 0)).any():
        return math.inf, "SMD infinite: the groups share no level"
    t, c = proportions[1:, 0], proportions[1:, 1]
    s = (np.diag(t) - np.outer(t, t) + np.diag(c) - np.outer(c, c)) / 2
    difference = t - c
    return float(math.sqrt(max(float(difference @ np.linalg.solve(s, difference)), 0.0))), ""


# --------------------------------------------------------------------------------------------
# Table assembly
# --------------------------------------------------------------------------------------------
_PER_GROUP_STATS = ("n", "pct", "denominator", "missing", "mean", "sd", "median", "q1", "q3",
                    "min", "max", "shapiro_p")
_LEADING_COLUMNS = ("variable", "label", "level", "level_label", "row_type", "summary")
_TRAILING_COLUMNS = ("p_value", "test", "test_statistic", "test_df", "smd", "note")


@dataclass(frozen=True)
class _Groups:
    levels: tuple
    keys: tuple[str, ...]
    masks: tuple[np.ndarray, ...]
    n_unassigned: int


def table_one(
    frame: pd.DataFrame,
    *,
    group: str = "group",
    variables: Sequence[str] | None = None,
    nonnormal: Iterable[str] | None = None,
    group_levels: Sequence[object] | None = None,
) -> pd.DataFrame:
    """Patient characteristics by group, with tests and standardized mean differences.

    Parameters
    ----------
    frame : pandas.DataFrame
        A loaded registry frame (or any frame with the named columns).
    group : str
        Column defining the groups (default ``"group"``: IT vs ST).  Any column with two or
        more levels: a yes/no column, ``site``, an arm column from
        :func:`imet_core.subgroups.comparison_arms`, ...
    variables : sequence of str, optional
        Columns to describe, in order.  Default :data:`DEFAULT_VARIABLES`; default columns the
        frame lacks are skipped and listed in ``result.attrs["skipped_variables"]``.  The
        group column itself is never described.
    nonnormal : iterable of str, optional
        Continuous variables always treated as non-normal (rank test, median [IQR]) without a
        Shapiro-Wilk check.  By default the Shapiro-Wilk rule decides for every variable.
    group_levels : sequence, optional
        The groups and their order, including groups with no patient (e.g. an empty arm in a
        small subgroup).  Default: the categories of a categorical column, the registry's
        levels for known columns (IT, ST; the five sites), yes before no for a yes/no column,
        otherwise the observed values sorted.

    Returns
    -------
    pandas.DataFrame
        One row per displayed line, never rounded.  Rows per variable, in order: the summary
        row(s), then one ``Missing`` row.  The first row (``variable == "n"``) holds the group
        sizes.  Columns, in order:

        - ``variable`` (str): column name (``"n"`` for the group-size row).
        - ``label`` (str): display name of the variable.
        - ``level`` (str): the stored level as text (``"IDC"``, ``"post"``, ``"yes"`` for a
          True count); ``""`` on continuous rows and the size row; ``"Missing"`` on missing rows.
        - ``level_label`` (str): display name of the level.
        - ``row_type`` (str): ``"patients"``, ``"continuous"``, ``"binary"``, ``"level"`` or
          ``"missing"``.
        - ``summary`` (str): what to display: ``"count"`` (size and missing rows), ``"n_pct"``,
          ``"mean_sd"`` or ``"median_iqr"`` (continuous, as the test rule decided).
        - one column per group, named by the group level as text (bool levels ``yes``/``no``):
          the count (float; level count, non-missing values on continuous rows, missing count,
          group size; zero counts for an empty group; NaN where the variable does not apply to
          the group's patients, e.g. intervention type in ST).
        - ``p_value`` (float): repeated on every row of the variable; NaN when not tested.
        - ``test`` (str): test name (``"Student t (equal variances)"``, ``"Wilcoxon rank-sum
          (exact)"``, ``"Wilcoxon rank-sum (normal approximation, continuity correction)"``,
          ``"One-way ANOVA (equal variances)"``, ``"Kruskal-Wallis"``, ``"Pearson chi-square
          (no continuity correction)"``) or why there is none (``"not testable: one group"``,
          ``"not testable: single level"``, ``"not testable: all missing"``, ``"not testable:
          all values equal"``, ``"not testable: no patients"``, ``"not tested: IT only"``);
          ``""`` on the size row.
        - ``test_statistic`` (float): t, W (Mann-Whitney U of the first group), F, H or X².
        - ``test_df`` (float): degrees of freedom (NaN for Wilcoxon).
        - ``smd`` (float): absolute standardized mean difference, two groups only; NaN with a
          note otherwise; inf when the groups share no level (complete separation).
        - ``note`` (str): anything the reader should know (test fallbacks, small expected
          counts, why an SMD is missing); ``""`` when nothing.
        - per group ``<g>`` (in group order, each block): ``n_<g>`` (same count as the ``<g>``
          column), ``pct_<g>`` (percent 0-100 of the non-missing values on level and binary
          rows; of all the group's patients on missing rows; NaN on continuous rows),
          ``denominator_<g>`` (non-missing values of the variable in the group),
          ``missing_<g>`` (missing values of the variable in the group, on every row of the
          variable), ``mean_<g>``, ``sd_<g>`` (ddof = 1), ``median_<g>``, ``q1_<g>``, ``q3_<g>``
          (R quantile type 7), ``min_<g>``, ``max_<g>`` and ``shapiro_p_<g>`` (continuous rows
          only, NaN elsewhere or when not computed).

        ``result.attrs`` holds ``group`` (the column), ``groups`` (the column names of the
        groups, in order), ``group_sizes`` (dict) and ``skipped_variables`` (list).  Rows with
        no group value are counted in the size row's ``note``.

    Raises
    ------
    ValueError
        If ``group`` or an explicitly requested variable is not a column, a ``nonnormal``
        variable is not continuous, a yes/no variable holds another value (the message names
        the row index and column), or the group levels clash with the fixed column names.
    """
    if group not in frame.columns:
        raise ValueError(f"group column {group!r} is not in the data")
    groups = _resolve_groups(frame[group], group, group_levels)
    specs, skipped = _resolve_variables(frame, group, variables)
    forced = set(nonnormal or ())
    for name in sorted(forced):
        if name not in frame.columns:
            raise ValueError(f"nonnormal variable {name!r} is not in the data")
        if variable_spec(frame, name).kind != CONTINUOUS:
            raise ValueError(f"nonnormal variable {name!r} is not continuous")
    rows = [_patients_row(groups)]
    for spec in specs:
        rows.extend(_variable_rows(frame, spec, groups, spec.name in forced))
    result = _assemble(rows, groups.keys)
    result.attrs.update(
        group=group,
        groups=list(groups.keys),
        group_sizes={k: int(m.sum()) for k, m in zip(groups.keys, groups.masks)},
        skipped_variables=skipped,
    )
    return result


def _level_masks(codes: np.ndarray, distinct: Sequence[object], levels: Sequence[object]) -> tuple[np.ndarray, ...]:
    """``column.eq(level)`` for each level (== per value; missing equals nothing), from the
    column's factorisation (``codes``, ``distinct`` values): one hash pass for all levels."""
    masks = []
    for level in levels:
        matching = [i for i, value in enumerate(distinct) if value == level]
        masks.append(codes == matching[0] if len(matching) == 1 else np.isin(codes, matching))
    return tuple(masks)


def _resolve_groups(column: pd.Series, name: str, group_levels: Sequence[object] | None) -> _Groups:
    codes, observed = pd.factorize(column.to_numpy(), use_na_sentinel=True)
    observed = list(observed)  # distinct non-missing values in order of appearance
    if group_levels is not None:
        levels = list(group_levels)
        outside = [v for v in observed if not any(_same_level(v, level) for level in levels)]
        if outside:
            raise ValueError(
                f"group column {name!r} has values not in group_levels: {', '.join(map(_level_text, outside))}"
            )
    elif isinstance(column.dtype, pd.CategoricalDtype):
        levels = list(column.cat.categories)
    elif pd.api.types.is_bool_dtype(column) or (len(observed) and all(isinstance(v, (bool, np.bool_)) for v in observed)):
        levels = [True, False]
    elif name in schema.COLUMNS_BY_NAME and schema.COLUMNS_BY_NAME[name].levels:
        known = list(schema.COLUMNS_BY_NAME[name].levels)
        levels = known + sorted((v for v in observed if v not in known), key=_level_text)
    else:
        levels = sorted(observed, key=lambda v: (_level_text(v)))
    keys = tuple(_level_text(level) for level in levels)
    if len(set(keys)) < len(keys):
        raise ValueError(f"group column {name!r} has levels that read the same as text: {', '.join(keys)}")
    reserved = set(_LEADING_COLUMNS) | set(_TRAILING_COLUMNS)
    clash = [key for key in keys if key in reserved]
    if clash:
        raise ValueError(f"group level(s) {', '.join(clash)} of column {name!r} clash with Table 1's column names")
    masks = _level_masks(codes, observed, levels)
    assigned = np.zeros(len(column), dtype=bool)
    for mask in masks:
        assigned |= mask
    return _Groups(tuple(levels), keys, masks, int((~assigned).sum()))


def _resolve_variables(
    frame: pd.DataFrame, group: str, variables: Sequence[str] | None
) -> tuple[list[VariableSpec], list[str]]:
    if variables is None:
        names = [v for v in DEFAULT_VARIABLES if v != group]
        skipped = [v for v in names if v not in frame.columns]
        names = [v for v in names if v in frame.columns]
    else:
        names = list(variables)
        absent = [v for v in names if v not in frame.columns]
        if absent:
            raise ValueError(f"Table 1 variable(s) not in the data: {', '.join(absent)}")
        skipped = [v for v in names if v == group]
        names = [v for v in names if v != group]
    return [variable_spec(frame, name) for name in dict.fromkeys(names)], skipped


def _empty_row(groups: _Groups) -> dict:
    text_columns = ("variable", "label", "level", "level_label", "row_type", "summary", "test", "note")
    row = {column: "" for column in text_columns}
    row.update(p_value=math.nan, test_statistic=math.nan, test_df=math.nan, smd=math.nan)
    for key in groups.keys:
        row[key] = math.nan
        for stat in _PER_GROUP_STATS:
            row[f"{stat}_{key}"] = math.nan
    return row


def _patients_row(groups: _Groups) -> dict:
    row = _empty_row(groups)
    row.update(variable="n", label="Patients", row_type="patients", summary="count")
    if groups.n_unassigned:
        row["note"] = f"{groups.n_unassigned} patient(s) with no group value left out"
    for key, mask in zip(groups.keys, groups.masks):
        size = float(mask.sum())
        row[key] = row[f"n_{key}"] = row[f"denominator_{key}"] = size
        row[f"missing_{key}"] = 0.0
    return row


def _variable_rows(frame: pd.DataFrame, spec: VariableSpec, groups: _Groups, force_rank: bool) -> list[dict]:
    column = frame[spec.name]
    applicable = _applicable_mask(frame, spec)
    group_masks = [mask & applicable for mask in groups.masks]
    # A group with patients none of whom the variable applies to (ST for the intervention type)
    # gets NaN counts ("not applicable"); an empty group gets zero counts.
    inapplicable = [bool(full.any() and not mask.any()) for full, mask in zip(groups.masks, group_masks)]
    if spec.kind == CONTINUOUS:
        missing = column.isna().to_numpy()
        rows, test, smd = _continuous_rows(column, spec, groups, group_masks, inapplicable, missing, force_rank)
    else:
        # one hash pass gives the missing cells, the observed values and every row's value
        # (a registry's text column: isna, unique and one comparison per level cost 5x more)
        factorized = pd.factorize(column.to_numpy(), use_na_sentinel=True)
        missing = factorized[0] < 0
        rows, test, smd = _categorical_rows(column, spec, groups, group_masks, inapplicable, missing, factorized)
    rows.append(_missing_row(groups, group_masks, inapplicable, missing))
    if not any(mask.any() for mask in group_masks):
        test = _TestResult(math.nan, NOT_TESTABLE_NO_PATIENTS)
    if spec.untested_reason:
        test = _TestResult(math.nan, spec.untested_reason)
        smd = (math.nan, f"SMD not computed: {spec.untested_reason.removeprefix('not tested: ')}")
    elif len(groups.keys) != 2:
        smd = (math.nan, SMD_TWO_GROUPS_ONLY)
    note = "; ".join(filter(None, [test.note, smd[1]]))
    for row in rows:
        row.update(variable=spec.name, label=spec.label, p_value=test.p_value, test=test.test,
                   test_statistic=test.statistic, test_df=test.df, smd=smd[0], note=note)
        for key, mask, skip in zip(groups.keys, group_masks, inapplicable):
            row[f"missing_{key}"] = math.nan if skip else float((mask & missing).sum())
    return rows


def _applicable_mask(frame: pd.DataFrame, spec: VariableSpec) -> np.ndarray:
    if spec.applies_to is None or spec.applies_to[0] not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    column, value = spec.applies_to
    codes, distinct = pd.factorize(frame[column].to_numpy(), use_na_sentinel=True)
    return _level_masks(codes, list(distinct), [value])[0]


def _continuous_values(column: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        converted = pd.to_numeric(column, errors="coerce")
        bad = converted.isna() & column.notna()
        if bad.any():
            index = bad[bad].index[0]
            raise ValueError(
                f"column {name!r} row index {index}: value {column[index]!r} is not a number"
            )
        column = converted
    return column.to_numpy(dtype=float)


def _continuous_rows(column, spec, groups, group_masks, inapplicable, missing, force_rank):
    values = _continuous_values(column, spec.name)
    samples = [values[mask & ~missing] for mask in group_masks]
    test, parametric, shapiro_ps = _compare_continuous(samples, force_rank)
    row = _empty_row(groups)
    row.update(level="", level_label="", row_type="continuous", summary="mean_sd" if parametric else "median_iqr")
    for key, sample, shapiro_p, skip in zip(groups.keys, samples, shapiro_ps, inapplicable):
        count = math.nan if skip else float(len(sample))
        row[key] = row[f"n_{key}"] = row[f"denominator_{key}"] = count
        row[f"shapiro_p_{key}"] = shapiro_p
        row.update({f"{stat}_{key}": value for stat, value in _describe_sample(sample).items()})
    smd = _smd_continuous(samples[0], samples[1]) if len(samples) == 2 else (math.nan, "")
    return [row], test, smd


def _describe_sample(sample: np.ndarray) -> dict[str, float]:
    if len(sample) == 0:
        return {}
    # numpy's default "linear" quantile method is R's type 7 (Hyndman & Fan 1996).
    q1, median, q3 = np.quantile(sample, [0.25, 0.5, 0.75])
    return {
        "mean": float(np.mean(sample)),
        "sd": float(np.std(sample, ddof=1)) if len(sample) > 1 else math.nan,
        "median": float(median), "q1": float(q1), "q3": float(q3),
        "min": float(np.min(sample)), "max": float(np.max(sample)),
    }


def _categorical_rows(column, spec, groups, group_masks, inapplicable, missing, factorized):
    value_codes, observed = factorized
    levels = _category_levels(column, spec, missing, list(observed))
    codes = _level_codes(value_codes, list(observed), levels)
    # counts[level, group] over non-missing applicable rows
    counts = np.array(
        [np.bincount(codes[mask & (codes >= 0)], minlength=len(levels)) for mask in group_masks],
        dtype=float).T.reshape(len(levels), len(group_masks))
    totals = counts.sum(axis=0)
    test = _chi_square(counts)
    if spec.kind == BINARY:
        shown_rows = [0]
        smd = _smd_binary(counts[0], totals) if len(group_masks) == 2 else (math.nan, "")
    else:
        shown_rows = range(len(levels))
        smd = _smd_categorical(counts) if len(group_masks) == 2 else (math.nan, "")
    rows = []
    for i in shown_rows:
        row = _empty_row(groups)
        row.update(level=_level_text(levels[i]), level_label=spec.level_label(levels[i]),
                   row_type="binary" if spec.kind == BINARY else "level", summary="n_pct")
        for j, (key, skip) in enumerate(zip(groups.keys, inapplicable)):
            if skip:
                continue  # counts stay NaN
            row[key] = row[f"n_{key}"] = counts[i, j]
            row[f"denominator_{key}"] = totals[j]
            row[f"pct_{key}"] = 100.0 * counts[i, j] / totals[j] if totals[j] > 0 else math.nan
        rows.append(row)
    return rows, test, smd


def _category_levels(column: pd.Series, spec: VariableSpec, missing: np.ndarray, observed: list) -> list:
    """The variable's levels: the specification's, then other observed values (``observed``:
    the distinct non-missing values in order of appearance)."""
    if spec.kind == BINARY:
        unexpected = [v for v in observed if not any(_same_level(v, level) for level in spec.levels)]
        if unexpected:
            bad = column[~missing].map(lambda v: not any(_same_level(v, level) for level in spec.levels))
            index = bad[bad].index[0]
            allowed = " / ".join(_level_text(level) for level in spec.levels)
            raise ValueError(
                f"column {spec.name!r} row index {index}: value {column[index]!r} is not {allowed}"
            )
        return list(spec.levels)
    known = list(spec.levels)
    if isinstance(column.dtype, pd.CategoricalDtype) and not known:
        known = list(column.cat.categories)
    extra = [v for v in observed if not any(_same_level(v, level) for level in known)]
    return known + sorted(extra, key=_level_text)


def _level_codes(value_codes: np.ndarray, observed: list, levels: list) -> np.ndarray:
    """Each row's level index (-1 for missing), from its distinct-value code: a value belongs
    to the last level it equals (==, as numpy compares object arrays)."""
    lookup = np.full(len(observed) + 1, -1, dtype=np.int64)  # last slot: missing (code -1)
    for u, value in enumerate(observed):
        for i, level in enumerate(levels):
            if value == level:
                lookup[u] = i
    return lookup[value_codes]


def _missing_row(groups: _Groups, group_masks: list[np.ndarray], inapplicable: list[bool], missing: np.ndarray) -> dict:
    row = _empty_row(groups)
    row.update(level="Missing", level_label="Missing", row_type="missing", summary="count")
    for key, mask, skip in zip(groups.keys, group_masks, inapplicable):
        if skip:
            continue
        count = float((mask & missing).sum())
        row[key] = row[f"n_{key}"] = count
        row[f"denominator_{key}"] = float((mask & ~missing).sum())
        row[f"pct_{key}"] = 100.0 * count / float(mask.sum()) if mask.any() else math.nan
    return row


def _assemble(rows: list[dict], keys: tuple[str, ...]) -> pd.DataFrame:
    per_group = [f"{stat}_{key}" for key in keys for stat in _PER_GROUP_STATS]
    columns = [*_LEADING_COLUMNS, *keys, *_TRAILING_COLUMNS, *per_group]
    numeric = {*keys, "p_value", "test_statistic", "test_df", "smd", *per_group}
    # build column arrays directly: one astype per column of a row-built frame costs more than
    # the statistics themselves
    data = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        if column in numeric:
            data[column] = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
        else:
            data[column] = np.array(values, dtype=object) if rows else np.array([], dtype=object)
    return pd.DataFrame(data, columns=columns)


def _same_level(a: object, b: object) -> bool:
    """Level equality that keeps True distinct from 1 and "True" distinct from True."""
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return isinstance(a, (bool, np.bool_)) and isinstance(b, (bool, np.bool_)) and bool(a) == bool(b)
    return a == b


def _level_text(level: object) -> str:
    if isinstance(level, (bool, np.bool_)):
        return "yes" if level else "no"
    return str(level)


# --------------------------------------------------------------------------------------------
# Formatting (pure; the only place numbers become text)
# --------------------------------------------------------------------------------------------
_NOT_APPLICABLE = "–"


def format_table_one(result: pd.DataFrame, *, decimals: int = 1, show_p: bool = True) -> pd.DataFrame:
    """Display strings for a :func:`table_one` result.

    Parameters
    ----------
    result : pandas.DataFrame
        The output of :func:`table_one` (unchanged).
    decimals : int
        Decimals of percentages, means, SDs, medians and quartiles.
    show_p : bool
        Include the ``p`` and ``Test`` columns.

    Returns
    -------
    pandas.DataFrame
        All strings, one row per displayed line (the group-size row becomes the headers).
        Columns: ``Characteristic``; one per group named ``"<g> (n = <size>)"``; ``p`` and
        ``Test`` (when ``show_p``); ``SMD``.  A categorical variable gets a heading row (label,
        p, test, SMD) followed by indented level rows; continuous and yes/no variables are one
        row with the statistic named in the label (``"Age (years), mean ± SD"``,
        ``"HER2+, n (%)"``); each variable ends with an indented ``Missing`` count row.
        Counts read ``"58 (48.7%)"``; means ``"50.4 ± 11.4"``; medians ``"40.0 [23.0, 70.0]"``;
        not applicable ``"–"``.  p-values: 2 decimals, 3 below 0.01, ``"<0.001"`` below 0.001.
        SMD: 2 decimals, ``"∞"`` for complete separation.
    """
    keys = _group_keys(result)
    sizes_row = result[result["row_type"] == "patients"]
    headers = {}
    for key in keys:
        size = sizes_row[key].iloc[0] if len(sizes_row) else math.nan
        headers[key] = f"{key} (n = {_format_count(size)})" if not math.isnan(size) else key
    out_rows = []
    body = result[result["row_type"] != "patients"]
    for variable, block in body.groupby("variable", sort=False):
        out_rows.extend(_format_block(block, keys, headers, decimals))
    columns = ["Characteristic", *headers.values()] + (["p", "Test"] if show_p else []) + ["SMD"]
    formatted = pd.DataFrame(out_rows, columns=["Characteristic", *headers.values(), "p", "Test", "SMD"])
    return formatted[columns].reset_index(drop=True)


def _group_keys(result: pd.DataFrame) -> list[str]:
    if "groups" in result.attrs:
        return list(result.attrs["groups"])
    columns = list(result.columns)
    start, stop = columns.index("summary") + 1, columns.index("p_value")
    return columns[start:stop]


def _format_block(block: pd.DataFrame, keys: list[str], headers: dict, decimals: int) -> list[dict]:
    first = block.iloc[0]
    variable_cells = {"p": _format_p(first["p_value"]), "Test": first["test"], "SMD": _format_smd(first["smd"])}
    blank = {"p": "", "Test": "", "SMD": ""}
    rows = []
    kind = first["row_type"]
    if kind == "level":
        rows.append({"Characteristic": first["label"], **{headers[k]: "" for k in keys}, **variable_cells})
    for _, line in block.iterrows():
        if line["row_type"] == "level":
            name = f"    {line['level_label']}"
        elif line["row_type"] == "missing":
            name = "    Missing"
        elif line["row_type"] == "binary":
            name = f"{line['label']}, n (%)"
        else:
            statistic = "mean ± SD" if line["summary"] == "mean_sd" else "median [IQR]"
            name = f"{line['label']}, {statistic}"
        values = {headers[k]: _format_cell(line, k, decimals) for k in keys}
        extra = variable_cells if line["row_type"] in ("binary", "continuous") else blank
        rows.append({"Characteristic": name, **values, **extra})
    return rows


def _format_cell(line: pd.Series, key: str, decimals: int) -> str:
    count = line[f"n_{key}"]
    if math.isnan(count):
        return _NOT_APPLICABLE
    summary = line["summary"]
    if summary == "count":
        return _format_count(count)
    if summary == "n_pct":
        pct = line[f"pct_{key}"]
        return _format_count(count) if math.isnan(pct) else f"{_format_count(count)} ({pct:.{decimals}f}%)"
    if count == 0:
        return _NOT_APPLICABLE
    if summary == "mean_sd":
        sd = line[f"sd_{key}"]
        sd_text = _NOT_APPLICABLE if math.isnan(sd) else f"{sd:.{decimals}f}"
        return f"{line[f'mean_{key}']:.{decimals}f} ± {sd_text}"
    return (f"{line[f'median_{key}']:.{decimals}f} "
            f"[{line[f'q1_{key}']:.{decimals}f}, {line[f'q3_{key}']:.{decimals}f}]")


def _format_count(value: float) -> str:
    return str(int(value))


def _format_p(p: float) -> str:
    if math.isnan(p):
        return ""
    if p < 0.001:
        return "<0.001"
    if p < 0.01:
        return f"{p:.3f}"
    return f"{p:.2f}"


def _format_smd(smd: float) -> str:
    if math.isnan(smd):
        return ""
    if math.isinf(smd):
        return "∞"
    return f"{smd:.2f}"
