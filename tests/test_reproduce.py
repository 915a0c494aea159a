"""The reproduction report on the embedded synthetic cohort, and an independent recomputation."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from imet_core import __main__ as cli
from imet_core import reproduce
from imet_core.io import load_registry

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "imet_synthetic.csv"
MONTH = 30.4375


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return load_registry(CSV)


@pytest.fixture(scope="module")
def table(frame) -> pd.DataFrame:
    return reproduce.reproduction_table(frame)


def test_every_published_target_is_reproduced(table):
    failed = table.loc[~table["passed"], ["key", "published", "computed", "tolerance"]]
    assert failed.empty, "\n" + failed.to_string()


def test_table_has_the_documented_columns_and_one_row_per_published_number(table, published):
    assert tuple(table.columns) == reproduce.TABLE_COLUMNS
    assert table["key"].is_unique
    rows = published["table2_cox_os"]["rows"]
    keys = set(table["key"])
    for row in rows:
        stem = reproduce.TABLE2_KEYS[row["term"]][0]
        for part in ("hr", "ci_lower", "ci_upper", "p"):
            assert f"table2.{stem}.{part}" in keys
            if "hr_adj" in row:
                assert f"table2.{stem}.adj.{part}" in keys
    for name, entry in published["table1"].items():
        if isinstance(entry, dict) and "p" in entry:
            assert f"table1.{name}.p" in keys
    numbers = _numeric_leaves(published)
    assert len(table) >= len(numbers) - 12  # the [k, n] conversion pairs are one rate row each
    assert table["computed"].notna().all()


def _numeric_leaves(node) -> list:
    if isinstance(node, dict):
        return [x for key, value in node.items() if not key.startswith("_") for x in _numeric_leaves(value)]
    if isinstance(node, list):
        return [x for value in node for x in _numeric_leaves(value)]
    return [node] if isinstance(node, (int, float)) and not isinstance(node, bool) else []


def test_rules_fail_when_they_should():
    target = reproduce._hazard_ratio("x", "s", "q", 0.44, [0.26, 0.72], 0.15)
    assert target.passes(0.44) and target.passes(0.40)
    assert not target.passes(0.37)  # |log(0.37/0.44)| = 0.17 > 0.15
    assert not target.passes(0.80)  # outside the CI
    assert not target.passes(float("nan"))
    p = reproduce._p_value("p", "s", "q", 0.001, headline=True)
    assert p.passes(0.0019) and not p.passes(0.0021) and not p.passes(0.00049)
    rounded = reproduce._rounded("r", "s", "q", 0.39, 2)
    assert rounded.passes(0.3949) and not rounded.passes(0.395)
    ns = reproduce._p_value("n", "s", "q", 0.77)
    assert ns.passes(0.06) and not ns.passes(0.04)
    below = reproduce._p_value("b", "s", "q", "<0.0001")
    assert below.passes(5e-5) and not below.passes(2e-4)


def test_a_registry_that_misses_targets_fails(frame):
    altered = frame.copy()
    st_dead = altered.index[(altered["group"] == "ST") & altered["dead"]]
    altered.loc[st_dead[:10], "dead"] = False
    table = reproduce.reproduction_table(altered)
    failing = set(table.loc[~table["passed"], "key"])
    assert {"deaths.ST", "os.it.hr"} <= failing


# --- independent recomputation from the CSV alone (plain lifelines on the dates) -------------
@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    dates = ["date_diagnosis", "date_surgery", "date_metastasis", "date_last_followup"]
    f = pd.read_csv(CSV, parse_dates=dates)
    out = pd.DataFrame({
        "os": (f["date_last_followup"] - f["date_diagnosis"]).dt.days / MONTH,
        "pdrs": (f["date_last_followup"] - f["date_metastasis"]).dt.days / MONTH,
        "mdfi_gt_24": ((f["date_metastasis"] - f["date_surgery"]).dt.days / MONTH > 24).astype(float),
        "dead": (f["dead"] == "yes").astype(float),
        "it": (f["group"] == "IT").astype(float),
        "age_lt_55": (f["age"] < 55).astype(float),
    })
    return out


def _lifelines_hr(data: pd.DataFrame, time: str, covariates: list[str], covariate: str) -> float:
    from lifelines import CoxPHFitter

    fit = CoxPHFitter().fit(data[[time, "dead", *covariates]], duration_col=time, event_col="dead")
    return float(fit.hazard_ratios_[covariate])


def _within(value: float, published: float, ci: list[float], tol: float) -> bool:
    return ci[0] <= value <= ci[1] and abs(math.log(value / published)) <= tol


def test_independent_lifelines_recomputation_agrees(raw, published, table):
    from lifelines import KaplanMeierFitter

    computed = dict(zip(table["key"], table["computed"]))
    os_pub, pdrs_pub = published["overall_survival"], published["post_distant_recurrence_survival"]
    t2 = {row["term"]: row for row in published["table2_cox_os"]["rows"]}
    checks = {
        "os.it.hr": (_lifelines_hr(raw, "os", ["it"], "it"), os_pub["hr_IT_vs_ST"], 0.15),
        "pdrs.it.hr": (_lifelines_hr(raw, "pdrs", ["it"], "it"), pdrs_pub["hr_IT_vs_ST"], 0.15),
        "os.subgroup.age_lt_55.hr": (_lifelines_hr(raw[raw["age_lt_55"] == 1], "os", ["it"], "it"), os_pub["subgroup_hr_IT_vs_ST"]["age_lt_55"], 0.30),
        "table2.mdfi_gt_24.hr": (_lifelines_hr(raw, "os", ["mdfi_gt_24"], "mdfi_gt_24"), t2["MDFI > 24 months"], 0.30),
    }
    for key, (hr, pub, tol) in checks.items():
        assert _within(hr, pub["hr"], pub["ci"], tol), (key, hr)  # tolerance: issue 3 item 4
        assert hr == pytest.approx(computed[key], rel=1e-4), key  # tolerance: two Efron implementations
    for arm, mask in (("IT", raw["it"] == 1), ("ST", raw["it"] == 0)):
        km = KaplanMeierFitter().fit(raw.loc[mask, "os"], raw.loc[mask, "dead"])
        five = float(km.survival_function_at_times(60.0).iloc[0])
        assert abs(five - os_pub["os_5y"][arm]) <= 0.03  # tolerance: issue 3 item 4
        assert os_pub["os_5y"][f"{arm}_ci"][0] <= five <= os_pub["os_5y"][f"{arm}_ci"][1]
        assert five == pytest.approx(computed[f"os.5y.{arm}"], abs=1e-12)
        assert int(raw.loc[mask, "dead"].sum()) == published["follow_up"]["deaths"][arm]


# --- command line ----------------------------------------------------------------------------
def test_reproduce_command_passes_on_the_embedded_cohort(capsys):
    assert cli.main(["reproduce"]) == 0
    out = capsys.readouterr().out
    assert "failed" in out.splitlines()[-1] and " 0 failed" in out.splitlines()[-1]


def test_reproduce_command_json_output(capsys):
    assert cli.main(["reproduce", "--json", "--data", str(CSV)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert all(set(reproduce.TABLE_COLUMNS) <= set(r) for r in records) and all(r["passed"] for r in records)


def test_reproduce_command_exits_1_when_a_target_fails(frame, tmp_path, capsys):
    text = CSV.read_text().splitlines()
    header = text[0].split(",")
    dead = header.index("dead")
    rows = [line.split(",") for line in text[1:]]
    changed = 0
    for row in rows:
        if row[dead] == "yes" and changed < 8:
            row[dead], changed = "no", changed + 1
    path = tmp_path / "fewer_deaths.csv"
    path.write_text("\n".join([text[0]] + [",".join(r) for r in rows]) + "\n")
    assert cli.main(["reproduce", "--data", str(path)]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["reproduce", "--data", "/no/such/file.csv"], ["reproduce", "--bogus"], []])
def test_reproduce_command_bad_arguments_exit_2_with_one_line(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err


def test_reproduce_command_rejects_an_invalid_registry(tmp_path, capsys):
    path = tmp_path / "broken.csv"
    path.write_text("patient_id,age\nA,300\n")
    assert cli.main(["reproduce", "--data", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a valid registry" in err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "imet_core", "reproduce", "--data", "/no/such.csv"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr


def test_table_is_complete_even_when_statistics_cannot_be_computed(frame, table):
    only_it = frame[frame["group"] == "IT"].head(20).reset_index(drop=True)
    small = reproduce.reproduction_table(only_it)
    assert list(small["key"]) == list(table["key"])
    assert not small["passed"].all()
    row = small.set_index("key")
    assert not row.loc["os.it.hr", "passed"]
    assert math.isnan(row.loc["os.it.p", "computed"])  # a log-rank test needs two groups
