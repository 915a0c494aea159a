"""``python -m imet_core report``: good runs write a deck or report; bad arguments and files exit
with code 2 and one line on stderr, never a traceback."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imet_core.export.report_cli import DEFAULT_DATA
from tests.support.random_registry import random_registry_table

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "imet_core", "report", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "hospital_registry.csv"
    random_registry_table(300, seed=6).to_csv(path, index=False)
    return path


def _in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same command through ``imet_core.__main__.main`` (fast; for the many bad-argument cases)."""
    from imet_core.__main__ import main

    code = main(["report", *args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    return lines[0]


def test_help_lists_the_options():
    result = _run("--help")
    assert result.returncode == 0
    for option in ("--data", "--subgroup", "--endpoint", "--compare", "--out", "age_lt_55", "site"):
        assert option in result.stdout


@pytest.mark.parametrize("args, words", [
    (["--subgroup", "colour=blue"], ["unknown subgroup key 'colour'", "allowed keys"]),
    (["--subgroup", "age_lt_55=maybe"], ["unknown value 'maybe'", "age_lt_55"]),
    (["--subgroup", "site=brain"], ["unknown site 'brain'", "liver"]),
    (["--subgroup", "age_lt_55"], ["is not key=value"]),
    (["--endpoint", "dfs"], ["unknown endpoint 'dfs'", "os, pdrs"]),
    (["--compare", "colour"], ["unknown comparison 'colour'", "group"]),
    (["--landmarks", "3,x"], ["--landmarks"]),
])
def test_unknown_keys_and_values_exit_2_with_one_line(registry, tmp_path, capsys, args, words):
    out = tmp_path / "deck.pptx"
    line = _one_line_error(_in_process(capsys, "--data", str(registry), *args, "--out", str(out)))
    for word in words:
        assert word in line
    assert not out.exists()


def test_in_a_real_process_bad_arguments_exit_2_without_traceback(registry, tmp_path):
    line = _one_line_error(_run("--data", str(registry), "--subgroup", "colour=blue", "--out",
                                str(tmp_path / "d.pptx")))
    assert "unknown subgroup key 'colour'" in line
    line = _one_line_error(_run("--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "d.pptx")))
    assert "no registry file" in line and "nope.csv" in line


def test_invalid_registry(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,age\nP1,300\n")
    line = _one_line_error(_in_process(capsys, "--data", str(bad), "--out", str(tmp_path / "d.html")))
    assert "bad.csv is not a valid registry" in line


@pytest.mark.parametrize("out", ["deck.pdf", "deck", "missing_folder/deck.pptx"])
def test_bad_output_names(registry, tmp_path, capsys, out):
    line = _one_line_error(_in_process(capsys, "--data", str(registry), "--out", str(tmp_path / out)))
    assert "--out" in line


def test_missing_out_is_a_usage_error(registry, capsys):
    result = _in_process(capsys, "--data", str(registry))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--out" in result.stderr


def test_html_report_of_a_subgroup(registry, tmp_path):
    out = tmp_path / "report.html"
    result = _run("--data", str(registry), "--subgroup", "age_lt_55=yes", "--subgroup", "site=liver",
                  "--endpoint", "pdrs", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "[1/" in result.stderr and "wrote HTML report" in result.stderr, "progress on stderr"
    text = out.read_text(encoding="utf-8")
    assert "Subgroup: Age &lt; 55 · Liver only" in text
    assert "hospital_registry.csv" in text
    assert "Post-distant-recurrence survival" in text
    assert not list(tmp_path.glob("*.part")), "no half-written file left"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium for kaleido")
def test_deck_of_a_subgroup(registry, tmp_path):
    from pptx import Presentation

    out = tmp_path / "deck.pptx"
    result = _run("--data", str(registry), "--subgroup", "age_lt_55=yes", "--subgroup", "site=liver",
                  "--endpoint", "os", "--compare", "group", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "rendering" in result.stderr and "wrote slide deck" in result.stderr
    prs = Presentation(io.BytesIO(out.read_bytes()))
    titles = [s.shapes.title.text for s in prs.slides]
    assert titles[0] == "IT vs ST: overall survival"
    assert titles[-2:] == ["Methods", "Caveats"]
    first = "\n".join(s.text_frame.text for s in prs.slides[0].shapes if s.has_text_frame)
    assert "Subgroup: Age < 55 · Liver only" in first
    assert "Data source: hospital_registry.csv" in first
    pictures = [s for slide in prs.slides for s in slide.shapes if s.shape_type == 13]
    assert len(pictures) >= 2, "Kaplan-Meier and forest plot"


def test_default_data_is_the_synthetic_cohort(tmp_path, capsys):
    out = tmp_path / "report.html"
    result = _in_process(capsys, "--out", str(out))
    if DEFAULT_DATA.exists():
        assert result.returncode == 0, result.stderr
        assert "Synthetic IMET cohort" in out.read_text(encoding="utf-8")
    else:
        line = _one_line_error(result)
        assert "synthetic cohort is missing" in line and "--data" in line
