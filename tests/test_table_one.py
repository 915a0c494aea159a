"""Tests of imet_core.table_one: the paper's Table 1 from its published counts, the test rules
(Shapiro-Wilk -> Student t / Wilcoxon rank-sum; Pearson chi-square without correction), SMDs,
edge cases, and the pure formatter.

Reference values marked "R" were computed with R 4.2.2 (stats, MASS) by this script:

    options(digits = 17)
    x_small  <- c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30)
    y_ties   <- c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29)
    y_noties <- c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.07, 3.14, 1.31)
    wilcox.test(x_small, y_noties)            # exact: W = 57, p = 0.16149732620320856
    wilcox.test(x_small, y_ties)              # ties, normal approx.: W = 58, p = 0.13291945818531886
    set.seed(7); xa <- round(rexp(60, 1/30), 3); ya <- round(rexp(55, 1/40), 3)
    wilcox.test(xa, ya)                       # n >= 50: W = 1652, p = 0.99329913491900512
    shapiro.test(xa)$p.value                  # 2.1332909083788283e-06
    quantile(xa, c(.25, .5, .75), type = 7)   # 12.883, 24.0145, 41.41225
    g3 <- list(c(4.2, 5.1, 6.3, 5.5, 4.8, 5.9), c(6.1, 7.2, 6.8, 5.9, 7.5, 6.6),
               c(5.0, 5.6, 6.0, 4.4, 5.2, 5.7)); v <- unlist(g3); f <- factor(rep(1:3, each = 6))
    oneway.test(v ~ f, var.equal = TRUE)      # F = 8.7854930304594809, p = 0.0029816224019834875
    kruskal.test(v ~ f)                       # H = 9.2756542699724456, p = 0.0096787053159965528
    t.test(g3[[1]], g3[[2]], var.equal = TRUE)  # t = -3.4553352111110516, p = 0.0061707767438120183
    # Yang & Dalton SMD as R's tableone computes it: sqrt(t(T - C) %*% MASS::ginv(S) %*% (T - C))
    # site -> 0.53705580446505075, histology -> 0.18466741340778045, nodal -> 0.41973967155940933,
    # matrix(c(10,5,0, 8,4,6), ncol = 2) -> 1
    chisq.test(<published counts>, correct = FALSE)$p.value   # see R_CHI_SQUARE_P below
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from imet_core import schema
from imet_core.subgroups import comparison_arms
from imet_core.table_one import (
    DEFAULT_VARIABLES,
    TEST_ANOVA,
    TEST_CHI_SQUARE,
    TEST_KRUSKAL,
    TEST_T,
    TEST_WILCOXON_EXACT,
    TEST_WILCOXON_NORMAL,
    format_table_one,
    table_one,
)

REL_R = 1e-9
"""Relative tolerance against R's printed 17-digit results (floating-point agreement)."""
EXACT = 1e-12
"""Absolute tolerance for quantities that are exact ratios of counts."""

GROUP_SIZES = {"IT": 119, "ST": 81}
# The published Table 1's JSON keys -> our variable names.
PUBLISHED_P_KEYS = {
    "age": "age",
    "postmenopausal": "menopause",
    "er_or_pr_positive": "hr_positive",
    "her2_positive": "her2_positive",
    "breast_surgery": "breast_surgery",
    "axillary_surgery": "axillary_surgery",
    "histology": "histology",
    "nodal_status": "nodal_status",
    "metastasis_biopsy": "mets_biopsy",
    "metastasis_site": "site",
}
R_CHI_SQUARE_P = {  # R: chisq.test(counts, correct = FALSE)$p.value on the published counts
    "menopause": 0.2632738563434438,
    "hr_positive": 0.15742127953446988,
    "her2_positive": 0.73875835027932168,
    "breast_surgery": 0.60961587865471578,
    "axillary_surgery": 0.7326741531946056,
    "histology": 0.63126093318414245,
    "nodal_status": 0.096795098668356921,
    "mets_biopsy": 0.16428976423542097,
    "site": 0.0086156486910938437,
}
R_SMD = {"site": 0.53705580446505075, "histology": 0.18466741340778045, "nodal_status": 0.41973967155940933}

# Ages: the paper prints 50.4 ± 11.4 (IT) and 51.9 ± 13.4 (ST) with p = 0.39.  At the rounded
# means exactly the t-test gives p = 0.396 (0.40), so the true means differ by a little more
# than 1.5 years.  50.38 and 51.90 round to the printed values and give p = 0.390.
AGE_MEANS = {"IT": 50.38, "ST": 51.90}
AGE_SDS = {"IT": 11.4, "ST": 13.4}


def normal_scores(n: int, mean: float, sd: float) -> np.ndarray:
    """Blom normal scores rescaled to this exact sample mean and SD (Shapiro-Wilk accepts them)."""
    z = stats.norm.ppf((np.arange(1, n + 1) - 0.375) / (n + 0.25))
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def repeat_levels(counts: list[tuple[object, int]], n: int) -> list:
    values = [level for level, count in counts for _ in range(count)]
    assert len(values) <= n
    return values + [np.nan] * (n - len(values))


def yes_no(n_yes: int, n: int) -> list[bool]:
    return [True] * n_yes + [False] * (n - n_yes)


def build_published_frame(table1: dict) -> pd.DataFrame:
    """A 200-patient frame with exactly the published Table 1 counts (and missing values)."""
    parts = []
    for arm, n in GROUP_SIZES.items():
        def levels(key: str, rename: dict | None = None) -> list:
            rename = rename or {}
            return repeat_levels([(rename.get(k, k), v[arm]) for k, v in table1[key]["levels"].items()], n)

        intervention = (
            repeat_levels([({"liver_rf_ablation": "liver_rfa"}.get(k, k), v)
                           for k, v in table1["intervention_type_IT_only"].items()], n)
            if arm == "IT" else [np.nan] * n
        )
        parts.append(pd.DataFrame({
            "patient_id": [f"{arm}{i:03d}" for i in range(n)],
            "group": [arm] * n,
            "age": normal_scores(n, AGE_MEANS[arm], AGE_SDS[arm]),
            "menopause": repeat_levels([("post", table1["postmenopausal"][arm]),
                                        ("pre", n - table1["postmenopausal"][arm])], n),
            "hr_positive": yes_no(table1["er_or_pr_positive"][arm], n),
            "her2_positive": yes_no(table1["her2_positive"][arm], n),
            "breast_surgery": levels("breast_surgery", {"segmental_mastectomy": "segmental"}),
            "axillary_surgery": levels("axillary_surgery"),
            "histology": levels("histology"),
            "nodal_status": levels("nodal_status"),
            "mets_biopsy": yes_no(table1["metastasis_biopsy"][arm], n),
            "site": levels("metastasis_site", {"lung+liver+bone": "multiple"}),
            "intervention": intervention,
            "mdfi_months": np.linspace(2.0, 150.0, n) ** 1.3 / 10,
        }))
    frame = pd.concat(parts, ignore_index=True)
    categorical = ["menopause", "breast_surgery", "axillary_surgery", "histology", "nodal_status",
                   "site", "intervention"]
    return frame.astype({column: object for column in categorical})


@pytest.fixture(scope="module")
def published_table1(request) -> dict:
    return request.getfixturevalue("published")["table1"]


@pytest.fixture(scope="module")
def published_frame(published_table1) -> pd.DataFrame:
    return build_published_frame(published_table1)


@pytest.fixture(scope="module")
def result(published_frame) -> pd.DataFrame:
    return table_one(published_frame)


def variable_rows(result: pd.DataFrame, variable: str) -> pd.DataFrame:
    return result[result["variable"] == variable]


def one_value(result: pd.DataFrame, variable: str, column: str):
    values = variable_rows(result, variable)[column].unique()
    assert len(values) == 1, f"{column} differs between the rows of {variable}"
    return values[0]


def level_row(result: pd.DataFrame, variable: str, level: str) -> pd.Series:
    rows = result[(result["variable"] == variable) & (result["level"] == level)]
    assert len(rows) == 1
    return rows.iloc[0]


def two_group_frame(x, y, name: str = "x") -> pd.DataFrame:
    return pd.DataFrame({"group": ["IT"] * len(x) + ["ST"] * len(y), name: list(x) + list(y)})


# --------------------------------------------------------------------------------------------
# The published Table 1
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("published_key, variable", PUBLISHED_P_KEYS.items())
def test_every_published_p_value_at_two_decimals(result, published_table1, published_key, variable):
    p = one_value(result, variable, "p_value")
    assert round(p, 2) == pytest.approx(published_table1[published_key]["p"], abs=1e-9)


@pytest.mark.parametrize("variable", R_CHI_SQUARE_P)
def test_chi_square_p_values_match_r(result, variable):
    assert one_value(result, variable, "test") == TEST_CHI_SQUARE
    assert one_value(result, variable, "p_value") == pytest.approx(R_CHI_SQUARE_P[variable], rel=REL_R)


def test_age_uses_student_t_and_matches_the_pooled_variance_formula(result):
    row = variable_rows(result, "age").iloc[0]
    assert row["test"] == TEST_T
    assert row["summary"] == "mean_sd"
    assert row["shapiro_p_IT"] >= 0.05 and row["shapiro_p_ST"] >= 0.05
    n1, n2 = GROUP_SIZES["IT"], GROUP_SIZES["ST"]
    m1, m2, s1, s2 = AGE_MEANS["IT"], AGE_MEANS["ST"], AGE_SDS["IT"], AGE_SDS["ST"]
    pooled = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)  # Student's pooled variance
    t = (m1 - m2) / math.sqrt(pooled * (1 / n1 + 1 / n2))
    p = 2 * stats.t.sf(abs(t), n1 + n2 - 2)
    assert row["test_statistic"] == pytest.approx(t, rel=1e-9)
    assert row["test_df"] == n1 + n2 - 2
    assert row["p_value"] == pytest.approx(p, rel=1e-9)
    assert row["mean_IT"] == pytest.approx(m1, rel=1e-12) and row["sd_ST"] == pytest.approx(s2, rel=1e-12)
    # SMD = |m1 - m2| / sqrt((s1^2 + s2^2) / 2)
    assert row["smd"] == pytest.approx(abs(m1 - m2) / math.sqrt((s1**2 + s2**2) / 2), rel=1e-9)


def test_published_counts_and_percentages_of_non_missing(result, published_table1):
    for variable, key, rename in [("histology", "histology", {}),
                                  ("nodal_status", "nodal_status", {}),
                                  ("axillary_surgery", "axillary_surgery", {}),
                                  ("breast_surgery", "breast_surgery", {"segmental_mastectomy": "segmental"}),
                                  ("site", "metastasis_site", {"lung+liver+bone": "multiple"})]:
        levels = published_table1[key]["levels"]
        for arm in GROUP_SIZES:
            non_missing = sum(v[arm] for v in levels.values())
            for level, counts in levels.items():
                row = level_row(result, variable, rename.get(level, level))
                assert row[arm] == counts[arm] and row[f"n_{arm}"] == counts[arm]
                assert row[f"denominator_{arm}"] == non_missing
                assert row[f"pct_{arm}"] == pytest.approx(100 * counts[arm] / non_missing, abs=EXACT)
            missing = level_row(result, variable, "Missing")
            assert missing[arm] == GROUP_SIZES[arm] - non_missing


def test_missing_rows_published(result):
    expected = {"breast_surgery": (1, 0), "axillary_surgery": (5, 1), "histology": (1, 1), "age": (0, 0),
                "hr_positive": (0, 0), "site": (0, 0)}
    for variable, (it, st_) in expected.items():
        row = level_row(result, variable, "Missing")
        assert (row["IT"], row["ST"]) == (it, st_)
        assert row["missing_IT"] == it and row["missing_ST"] == st_


def test_one_missing_row_per_variable_even_when_zero(result):
    body = result[result["row_type"] != "patients"]
    per_variable = body.groupby("variable", sort=False)["row_type"].apply(lambda s: (s == "missing").sum())
    assert set(per_variable.index) == set(DEFAULT_VARIABLES)
    assert (per_variable == 1).all()
    last_rows = body.groupby("variable", sort=False).tail(1)
    assert (last_rows["row_type"] == "missing").all()


def test_histology_metaplastic_row_shown_but_dropped_from_the_test(result, published_frame):
    metaplastic = level_row(result, "histology", "metaplastic")
    assert (metaplastic["IT"], metaplastic["ST"]) == (0, 0)
    assert one_value(result, "histology", "test_df") == 3  # 4 non-empty levels x 2 groups
    observed = pd.crosstab(published_frame["histology"], published_frame["group"])  # no zero row
    expected = stats.chi2_contingency(observed.to_numpy(), correction=False)
    assert one_value(result, "histology", "p_value") == pytest.approx(expected.pvalue, rel=1e-12)


def test_binary_variables_are_one_row_with_the_yes_count(result):
    for variable, level in [("hr_positive", "yes"), ("her2_positive", "yes"), ("mets_biopsy", "yes"),
                            ("menopause", "post")]:
        rows = variable_rows(result, variable)
        assert list(rows["row_type"]) == ["binary", "missing"]
        assert rows.iloc[0]["level"] == level
        assert one_value(result, variable, "test_df") == 1


def test_intervention_described_in_it_only_without_a_test(result, published_table1):
    rows = variable_rows(result, "intervention")
    assert rows["p_value"].isna().all()
    assert (rows["test"] == "not tested: IT only").all()
    assert rows["ST"].isna().all() and rows["smd"].isna().all()
    assert level_row(result, "intervention", "lung_metastasectomy")["IT"] == 39
    assert level_row(result, "intervention", "liver_rfa")["pct_IT"] == pytest.approx(100 * 17 / 119, abs=EXACT)
    assert rows["IT"].sum() == 119


def test_group_size_row_and_attrs(result):
    sizes = result.iloc[0]
    assert sizes["variable"] == "n" and sizes["row_type"] == "patients"
    assert (sizes["IT"], sizes["ST"]) == (119, 81)
    assert result.attrs["groups"] == ["IT", "ST"]
    assert result.attrs["group_sizes"] == {"IT": 119, "ST": 81}


def test_documented_columns_in_order(result):
    per_group = ["n", "pct", "denominator", "missing", "mean", "sd", "median", "q1", "q3", "min", "max",
                 "shapiro_p"]
    expected = (["variable", "label", "level", "level_label", "row_type", "summary", "IT", "ST",
                 "p_value", "test", "test_statistic", "test_df", "smd", "note"]
                + [f"{stat}_{g}" for g in ("IT", "ST") for stat in per_group])
    assert list(result.columns) == expected
    numeric = result[["IT", "ST", "p_value", "smd", "pct_IT", "mean_ST"]]
    assert all(dtype == np.float64 for dtype in numeric.dtypes)


@pytest.mark.parametrize("variable", R_SMD)
def test_multilevel_smd_matches_r_tableone_formula(result, variable):
    assert one_value(result, variable, "smd") == pytest.approx(R_SMD[variable], rel=REL_R)


def test_binary_smd_from_proportions(result):
    p1, p2 = 85 / 119, 65 / 81
    expected = abs(p1 - p2) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    assert one_value(result, "hr_positive", "smd") == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Continuous variables: the Shapiro-Wilk rule and the Wilcoxon rank-sum test as R does it
# --------------------------------------------------------------------------------------------
X_SMALL = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
Y_TIES = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
Y_NOTIES = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.07, 3.14, 1.31]
XA = [1.45, 48.66, 51.394, 24.366, 16.369, 78.608, 22.556, 128.192, 6.139, 1.365, 28.327, 22.441, 56.16,
      56.023, 36.31, 10.357, 20.308, 28.737, 15.582, 27.439, 72.016, 18.977, 11.917, 13.205, 16.444, 7.666,
      13.379, 37.214, 50.659, 56.524, 37.744, 23.663, 57.649, 0.264, 15.83, 11.62, 2.643, 9.545, 27.803,
      26.763, 20.445, 7.25, 43.881, 4.063, 29.902, 18.269, 43.231, 77.904, 15.729, 32.542, 40.806, 32.076,
      127.064, 3.789, 4.318, 2.402, 33.388, 19.446, 56.262, 38.359]
YA = [38.457, 42.739, 1.184, 80.658, 14.78, 51.113, 128.228, 10.333, 5.273, 23.146, 74.359, 26.615, 2.435,
      33.859, 16.533, 39.117, 20.763, 66.737, 10.01, 104.767, 22.328, 0.407, 18.232, 24.762, 20.658, 24.44,
      13.389, 1.063, 72.446, 5.021, 30.779, 17.521, 77.232, 1.402, 102.343, 5.185, 33.895, 23.891, 49.096,
      24.888, 10.724, 27.681, 0.136, 13.057, 0.932, 1.971, 43.246, 24.739, 65.922, 22.772, 46.069, 18.53,
      48.579, 17.187, 118.338]


def continuous_row(frame: pd.DataFrame, **kwargs) -> pd.Series:
    return table_one(frame, variables=["x"], **kwargs).iloc[1]


def test_skewed_data_use_wilcoxon_normal_approximation_as_r():
    row = continuous_row(two_group_frame(XA, YA))
    assert row["shapiro_p_IT"] == pytest.approx(2.1332909083788283e-06, rel=1e-6)  # R, AS R94 approximation
    assert row["test"] == TEST_WILCOXON_NORMAL
    assert row["summary"] == "median_iqr"
    assert row["test_statistic"] == 1652  # R's W
    assert row["p_value"] == pytest.approx(0.99329913491900512, rel=REL_R)
    # R quantile(type = 7)
    assert [row["q1_IT"], row["median_IT"], row["q3_IT"]] == pytest.approx([12.883, 24.0145, 41.41225], rel=1e-12)


def test_small_samples_without_ties_use_the_exact_wilcoxon_test_when_rank_test_chosen():
    row = continuous_row(two_group_frame(X_SMALL, Y_NOTIES), nonnormal=["x"])
    assert row["test"] == TEST_WILCOXON_EXACT
    assert row["test_statistic"] == 57
    assert row["p_value"] == pytest.approx(0.16149732620320856, rel=REL_R)
    assert "nonnormal" in row["note"]


def test_small_samples_with_ties_use_the_normal_approximation_with_continuity_correction():
    row = continuous_row(two_group_frame(X_SMALL, Y_TIES), nonnormal=["x"])
    assert row["test"] == TEST_WILCOXON_NORMAL
    assert row["test_statistic"] == 58
    assert row["p_value"] == pytest.approx(0.13291945818531886, rel=REL_R)
    # the R formula written out: z = (W - n1 n2 / 2 - 0.5 sign) / sigma with tie-corrected sigma
    n1, n2 = len(X_SMALL), len(Y_TIES)
    pooled = np.array(X_SMALL + Y_TIES)
    _, ties = np.unique(pooled, return_counts=True)
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - (ties**3 - ties).sum() / (n * (n - 1))))
    z = 58 - n1 * n2 / 2
    z = (z - math.copysign(0.5, z)) / sigma
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)


def test_exact_wilcoxon_p_equals_the_enumerated_null_distribution():
    # Enumerate all C(n, n1) rank assignments (no ties): P(|W - mu| >= |w - mu|) as R's pwilcox.
    from itertools import combinations
    x, y = [3.1, 0.2, 5.5, 2.4], [1.0, 4.4, 0.7, 6.6, 0.1]
    ranks = stats.rankdata(x + y)
    w = ranks[: len(x)].sum() - len(x) * (len(x) + 1) / 2
    null = [sum(c) - len(x) * (len(x) + 1) / 2 for c in combinations(range(1, len(x) + len(y) + 1), len(x))]
    low = np.mean([u <= w for u in null])
    high = np.mean([u >= w for u in null])
    expected = min(1.0, 2 * min(low, high))
    row = continuous_row(two_group_frame(x, y), nonnormal=["x"])
    assert row["test"] == TEST_WILCOXON_EXACT
    assert row["p_value"] == pytest.approx(expected, abs=1e-12)


def test_normal_data_use_student_t_as_r():
    g1, g2 = [4.2, 5.1, 6.3, 5.5, 4.8, 5.9], [6.1, 7.2, 6.8, 5.9, 7.5, 6.6]
    row = continuous_row(two_group_frame(g1, g2))
    assert row["test"] == TEST_T and row["summary"] == "mean_sd"
    assert row["test_statistic"] == pytest.approx(-3.4553352111110516, rel=REL_R)
    assert row["p_value"] == pytest.approx(0.0061707767438120183, rel=REL_R)


def test_one_rejecting_group_is_enough_for_the_rank_test():
    normal = list(normal_scores(40, 30.0, 5.0))
    skewed = list(np.exp(normal_scores(40, 0.0, 1.2)))
    row = continuous_row(two_group_frame(normal, skewed))
    assert row["shapiro_p_IT"] >= 0.05 > row["shapiro_p_ST"]
    assert row["test"] == TEST_WILCOXON_EXACT  # 40 + 40 values without ties
    assert row["summary"] == "median_iqr"


def test_fewer_than_three_values_in_a_group_falls_back_to_the_rank_test():
    row = continuous_row(two_group_frame([1.0, 2.0], [0.5, 1.5, 2.5, 3.5, 4.5]))
    assert math.isnan(row["shapiro_p_IT"])
    assert row["test"] == TEST_WILCOXON_EXACT
    assert "normality not assessable" in row["note"]


def test_three_groups_anova_and_kruskal_wallis_as_r():
    groups = [[4.2, 5.1, 6.3, 5.5, 4.8, 5.9], [6.1, 7.2, 6.8, 5.9, 7.5, 6.6], [5.0, 5.6, 6.0, 4.4, 5.2, 5.7]]
    frame = pd.DataFrame({"arm": np.repeat(["a", "b", "c"], 6), "x": np.concatenate(groups)})
    anova = table_one(frame, group="arm", variables=["x"]).iloc[1]
    assert anova["test"] == TEST_ANOVA
    assert anova["test_statistic"] == pytest.approx(8.7854930304594809, rel=REL_R)
    assert anova["p_value"] == pytest.approx(0.0029816224019834875, rel=REL_R)
    assert math.isnan(anova["smd"]) and "two groups only" in anova["note"]
    kruskal = table_one(frame, group="arm", variables=["x"], nonnormal=["x"]).iloc[1]
    assert kruskal["test"] == TEST_KRUSKAL
    assert kruskal["test_statistic"] == pytest.approx(9.2756542699724456, rel=REL_R)
    assert kruskal["p_value"] == pytest.approx(0.0096787053159965528, rel=REL_R)


def test_continuous_missing_values_counted_and_left_out():
    frame = two_group_frame([1.0, 2.0, np.nan, 4.0, 5.0], [2.0, np.nan, np.nan, 3.0, 9.0])
    rows = table_one(frame, variables=["x"])
    value, missing = rows.iloc[1], rows.iloc[2]
    assert (value["IT"], value["ST"]) == (4, 3)
    assert (missing["IT"], missing["ST"]) == (1, 2)
    assert missing["pct_ST"] == pytest.approx(40.0, abs=EXACT)
    assert value["mean_IT"] == pytest.approx(3.0, abs=EXACT)


# --------------------------------------------------------------------------------------------
# SMD: hand-computed examples
# --------------------------------------------------------------------------------------------
def test_continuous_smd_hand_computed():
    # means 2.5 and 5; variances 5/3 and 20/3; pooled sqrt(25/6): SMD = 2.5 / sqrt(25/6) = sqrt(1.5)
    row = continuous_row(two_group_frame([1, 2, 3, 4], [2, 4, 6, 8]))
    assert row["smd"] == pytest.approx(math.sqrt(1.5), rel=1e-12)


def test_binary_smd_hand_computed():
    # p1 = 0.5, p2 = 0.25: 0.25 / sqrt((0.25 + 0.1875) / 2) = 0.25 / sqrt(0.21875)
    frame = pd.DataFrame({"group": ["IT"] * 4 + ["ST"] * 8,
                          "flag": [True, True, False, False] + [True, True] + [False] * 6})
    row = table_one(frame, variables=["flag"]).iloc[1]
    assert row["smd"] == pytest.approx(0.25 / math.sqrt(0.21875), rel=1e-12)


def test_two_level_categorical_smd_equals_the_binary_formula():
    frame = pd.DataFrame({"group": ["IT"] * 10 + ["ST"] * 10,
                          "flag": [True] * 7 + [False] * 3 + [True] * 2 + [False] * 8})
    frame["text"] = frame["flag"].map({True: "a", False: "b"})
    binary = table_one(frame, variables=["flag"]).iloc[1]["smd"]
    categorical = table_one(frame, variables=["text"]).iloc[1]["smd"]
    assert categorical == pytest.approx(binary, rel=1e-12)


def test_level_absent_in_one_group_gives_a_finite_smd():
    # counts (IT, ST): a 10/8, b 5/4, c 0/6 -- R (MASS::ginv) gives exactly 1
    frame = pd.DataFrame({"group": ["IT"] * 15 + ["ST"] * 18,
                          "cat": ["a"] * 10 + ["b"] * 5 + ["a"] * 8 + ["b"] * 4 + ["c"] * 6})
    rows = table_one(frame, variables=["cat"])
    smd = rows["smd"].iloc[1]
    assert math.isfinite(smd)
    # by hand: T = (1/3, 0), C = (2/9, 1/3); S = mean of the two multinomial covariances
    t, c = np.array([1 / 3, 0.0]), np.array([2 / 9, 1 / 3])
    s = np.array([[(t[0] * (1 - t[0]) + c[0] * (1 - c[0])) / 2, -(t[0] * t[1] + c[0] * c[1]) / 2],
                  [-(t[0] * t[1] + c[0] * c[1]) / 2, (t[1] * (1 - t[1]) + c[1] * (1 - c[1])) / 2]])
    d = t - c
    inverse = np.array([[s[1, 1], -s[0, 1]], [-s[1, 0], s[0, 0]]]) / (s[0, 0] * s[1, 1] - s[0, 1] * s[1, 0])
    assert smd == pytest.approx(math.sqrt(d @ inverse @ d), rel=1e-12)
    assert smd == pytest.approx(1.0, rel=1e-12)  # R
    absent = rows[rows["level"] == "c"].iloc[0]
    assert (absent["IT"], absent["pct_IT"]) == (0, 0)
    assert math.isfinite(rows["p_value"].iloc[1])


def test_binary_level_absent_in_one_group_gives_a_finite_smd():
    frame = pd.DataFrame({"group": ["IT"] * 5 + ["ST"] * 5, "flag": [True] * 5 + [True, False, False, True, True]})
    row = table_one(frame, variables=["flag"]).iloc[1]
    # p1 = 1, p2 = 0.6: 0.4 / sqrt((0 + 0.24) / 2)
    assert row["smd"] == pytest.approx(0.4 / math.sqrt(0.12), rel=1e-12)


def test_complete_separation_gives_infinite_smd_with_a_note():
    frame = pd.DataFrame({"group": ["IT"] * 3 + ["ST"] * 3, "cat": ["a"] * 3 + ["b"] * 3})
    row = table_one(frame, variables=["cat"]).iloc[1]
    assert math.isinf(row["smd"]) and "share no level" in row["note"]


# --------------------------------------------------------------------------------------------
# Edge cases: empty groups, single levels, all missing, other group columns
# --------------------------------------------------------------------------------------------
def test_empty_group_is_not_testable_and_keeps_its_column(published_frame):
    it_only = published_frame[published_frame["group"] == "IT"]
    result = table_one(it_only)
    assert result.attrs["groups"] == ["IT", "ST"]
    tested = result[(result["row_type"] != "patients") & (result["variable"] != "intervention")]
    assert (tested["test"] == "not testable: one group").all()
    assert tested["p_value"].isna().all() and tested["smd"].isna().all()
    assert (tested["ST"] == 0).all()
    assert result.iloc[0]["ST"] == 0
    formatted = format_table_one(result)
    assert "ST (n = 0)" in formatted.columns


def test_arm_column_from_comparison_arms_keeps_empty_arms(published_frame):
    frame = published_frame[published_frame["site"].isin(["lung", "liver"])].copy()
    frame["arm"] = comparison_arms(frame, "site").arm
    result = table_one(frame, group="arm", variables=["age", "hr_positive"])
    assert result.attrs["groups"] == ["Lung only", "Liver only", "Lung + bone", "Liver + bone", "Lung + liver (± bone)"]
    assert result.iloc[0]["Lung + bone"] == 0
    hr = level_row(result, "hr_positive", "yes")
    assert math.isfinite(hr["p_value"]) and hr["test_df"] == 1  # empty arms left out of the test
    assert "left out of the test" in hr["note"]


def test_single_level_is_not_testable():
    frame = pd.DataFrame({"group": ["IT"] * 4 + ["ST"] * 3, "flag": [True] * 7})
    rows = table_one(frame, variables=["flag"])
    assert rows.iloc[1]["test"] == "not testable: single level"
    assert math.isnan(rows.iloc[1]["p_value"])
    assert rows.iloc[1]["smd"] == 0


def test_all_missing_is_not_testable(published_frame):
    frame = published_frame.assign(histology=np.nan)
    rows = variable_rows(table_one(frame, variables=["histology"]), "histology")
    assert (rows["test"] == "not testable: all missing").all()
    assert level_row(rows, "histology", "Missing")["IT"] == 119
    assert rows[rows["row_type"] == "level"]["pct_IT"].isna().all()


def test_a_yes_no_column_as_group(published_frame):
    result = table_one(published_frame, group="hr_positive")
    assert result.attrs["groups"] == ["yes", "no"]
    assert "hr_positive" not in set(result["variable"])
    assert result.iloc[0]["yes"] + result.iloc[0]["no"] == 200


def test_site_as_group_uses_r_by_c_tests(published_frame):
    result = table_one(published_frame, group="site")
    assert result.attrs["groups"] == ["lung", "liver", "lung+bone", "liver+bone", "multiple"]
    menopause = level_row(result, "menopause", "post")
    counts = pd.crosstab(published_frame["menopause"], published_frame["site"]).to_numpy()
    assert menopause["test_df"] == 4
    assert menopause["p_value"] == pytest.approx(stats.chi2_contingency(counts, correction=False).pvalue, rel=1e-12)
    assert result[result["row_type"] != "patients"]["smd"].isna().all()
    assert one_value(result, "age", "test") in (TEST_ANOVA, TEST_KRUSKAL)


def test_empty_frame_gives_a_table_without_tests(published_frame):
    result = table_one(published_frame.iloc[:0])
    assert (result.iloc[0]["IT"], result.iloc[0]["ST"]) == (0, 0)
    body = result[result["row_type"] != "patients"]
    assert set(body["test"]) == {"not testable: no patients", "not tested: IT only"}
    assert body["p_value"].isna().all()
    assert len(format_table_one(result)) > 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["IT", "ST", None]),
                          st.one_of(st.none(), st.floats(-50, 50, allow_nan=False)),
                          st.sampled_from([True, False]),
                          st.sampled_from(["IDC", "ILC", None])), max_size=30))
def test_never_raises_on_small_or_degenerate_data(rows):
    frame = pd.DataFrame(rows, columns=["group", "x", "flag", "histology"])
    frame = frame.astype({"group": object, "histology": object, "x": float})
    result = table_one(frame, variables=["x", "flag", "histology"], group_levels=["IT", "ST"])
    p = result["p_value"].dropna()
    assert ((p >= 0) & (p <= 1)).all()
    assert (result[result["row_type"] == "missing"]["ST"] >= 0).all()
    format_table_one(result)


def test_rows_without_a_group_value_are_reported(published_frame):
    frame = published_frame.copy()
    frame.loc[[0, 5], "group"] = np.nan
    result = table_one(frame)
    assert result.iloc[0]["IT"] == 117
    assert "2 patient(s) with no group value" in result.iloc[0]["note"]


def test_bad_input_gives_clear_messages(published_frame):
    with pytest.raises(ValueError, match="'arm'"):
        table_one(published_frame, group="arm")
    with pytest.raises(ValueError, match="not in the data: nonsense"):
        table_one(published_frame, variables=["age", "nonsense"])
    with pytest.raises(ValueError, match="not continuous"):
        table_one(published_frame, nonnormal=["site"])
    frame = published_frame.astype({"hr_positive": object})
    frame.loc[7, "hr_positive"] = "maybe"
    with pytest.raises(ValueError, match=r"'hr_positive' row index 7: value 'maybe'"):
        table_one(frame)


def test_default_columns_absent_from_the_frame_are_listed(published_frame):
    result = table_one(published_frame.drop(columns=["mdfi_months", "intervention"]))
    assert result.attrs["skipped_variables"] == ["intervention", "mdfi_months"]


def test_input_not_mutated_and_row_order_irrelevant(published_frame):
    before = published_frame.copy(deep=True)
    first = table_one(published_frame)
    pd.testing.assert_frame_equal(published_frame, before)
    shuffled = published_frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    second = table_one(shuffled)
    pd.testing.assert_frame_equal(first, second, rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["IT", "ST"]), st.sampled_from(["a", "b", "c", None])),
                min_size=1, max_size=40))
def test_counts_and_missing_add_up_to_the_group_size(pairs):
    frame = pd.DataFrame(pairs, columns=["group", "cat"]).astype(object)
    result = table_one(frame, variables=["cat"], group_levels=["IT", "ST"])
    for arm in ("IT", "ST"):
        size = sum(g == arm for g, _ in pairs)
        rows = result[result["variable"] == "cat"]
        assert rows[arm].sum() == size
        levels = rows[rows["row_type"] == "level"]
        if levels[arm].sum() > 0:
            assert levels[f"pct_{arm}"].sum() == pytest.approx(100.0, abs=1e-9)
    p = result["p_value"].iloc[1]
    assert math.isnan(p) or 0.0 <= p <= 1.0
    smd = result["smd"].iloc[1]
    assert math.isnan(smd) or smd >= 0


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------
def test_labels_come_from_the_schema(result):
    assert one_value(result, "age", "label").startswith(schema.LABELS["age"])
    assert one_value(result, "hr_positive", "label") == schema.LABELS["hr_positive"]
    assert one_value(result, "menopause", "label") == schema.LEVEL_LABELS["menopause"]["post"]
    for level, label in schema.LEVEL_LABELS["site"].items():
        assert level_row(result, "site", level)["level_label"] == label
    assert list(variable_rows(result, "nodal_status")["level"][:-1]) == list(schema.NODAL_LEVELS)


def test_format_table_one_strings(result):
    formatted = format_table_one(result)
    assert list(formatted.columns) == ["Characteristic", "IT (n = 119)", "ST (n = 81)", "p", "Test", "SMD"]
    assert (formatted.map(type) == str).all().all()
    by_name = formatted.set_index("Characteristic")
    age = by_name.loc[one_value(result, "age", "label") + ", mean ± SD"]
    assert (age["IT (n = 119)"], age["ST (n = 81)"], age["p"], age["Test"]) == (
        "50.4 ± 11.4", "51.9 ± 13.4", "0.39", TEST_T)
    assert by_name.loc[one_value(result, "menopause", "label") + ", n (%)", "IT (n = 119)"] == "58 (48.7%)"
    assert by_name.loc[one_value(result, "site", "label"), "p"] == "0.009"
    metaplastic = "    " + level_row(result, "histology", "metaplastic")["level_label"]
    assert by_name.loc[metaplastic, "ST (n = 81)"] == "0 (0.0%)"
    tare = "    " + level_row(result, "intervention", "liver_tare")["level_label"]
    assert (by_name.loc[tare, "IT (n = 119)"], by_name.loc[tare, "ST (n = 81)"]) == ("7 (5.9%)", "–")
    assert (formatted["Characteristic"] == "    Missing").sum() == len(DEFAULT_VARIABLES)
    missing_rows = formatted[formatted["Characteristic"] == "    Missing"]
    assert set(missing_rows["p"]) == {""}


def test_format_options(result):
    formatted = format_table_one(result, decimals=2, show_p=False)
    assert "p" not in formatted.columns and "Test" not in formatted.columns
    by_name = formatted.set_index("Characteristic")
    assert by_name.loc[one_value(result, "hr_positive", "label") + ", n (%)", "IT (n = 119)"] == "85 (71.43%)"


def test_format_median_iqr_and_small_p():
    result = table_one(two_group_frame(XA, [v + 40 for v in YA]), variables=["x"])
    formatted = format_table_one(result).set_index("Characteristic")
    cell = formatted.loc["x, median [IQR]", "IT (n = 60)"]
    assert cell == "24.0 [12.9, 41.4]"
    assert formatted.loc["x, median [IQR]", "p"] == "<0.001"


def test_on_a_loaded_registry():
    import io
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from bad_files.registry import csv_bytes, dates_rows

    from imet_core.io import load_registry
    registry = load_registry(io.BytesIO(csv_bytes(dates_rows())), name="registry.csv")
    result = table_one(registry)
    assert result.attrs["skipped_variables"] == []
    counts = pd.crosstab(registry["nodal_status"], registry["group"])
    for level in counts.index:
        row = level_row(result, "nodal_status", level)
        assert (row["IT"], row["ST"]) == (counts.loc[level, "IT"], counts.loc[level, "ST"])
    missing = registry["histology"].isna().groupby(registry["group"]).sum()
    row = level_row(result, "histology", "Missing")
    assert (row["IT"], row["ST"]) == (missing["IT"], missing["ST"])
    assert len(format_table_one(result)) == len(result) - 1 + (result["row_type"] == "level").groupby(
        result["variable"]).any().sum()
