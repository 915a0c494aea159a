"""Privacy (issue 8): uploads stay in the session's memory, nothing leaves the machine, a warning
for identifier-like columns, and small-cell suppression.

The browser test uploads a registry carrying a unique marker string through the real app, walks
every page (and the meeting-pack downloads), and then searches the places a leak would land: the
temp folders, the server's home folder (a fresh one, so anything Streamlit writes there is
seen), the real ~/.streamlit and ~/.cache, the repository tree and the server's stdout/stderr,
for the marker in UTF-8 and UTF-16, in every file written since the test began, while the server
runs and after it stopped. It also checks that a second session never sees the upload and that
the browser made no request to any host but the app's (no telemetry, no fonts or icons from a
CDN). The browser's own profile and downloads (the user's machine) are the only files skipped.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imet_core import privacy
from imet_core.analysis import forest_view, survival_view, table_one_view
from imet_core.figures import forest_figure, km_figure
from imet_core.io import load_registry
from imet_core.subgroups import Selection, SubgroupFilter
from imet_core.table_one import format_table_one
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, wait_until_idle
from tests.support.random_registry import random_registry, random_registry_table
from ui import fmt


# --- identifier-like columns ---------------------------------------------------------------


@pytest.mark.parametrize("header, kind", [
    ("Patient Name", "name"), ("surname", "name"), ("FirstName", "name"), ("nachname", "name"),
    ("MRN", "record_number"), ("Medical record number", "record_number"),
    ("hospital_id", "record_number"), ("NHS number", "record_number"), ("SSN", "record_number"),
    ("DOB", "birth_date"), ("Date of birth", "birth_date"), ("birthdate", "birth_date"),
    ("Phone", "phone"), ("tel.", "phone"), ("Mobile number", "phone"),
    ("E-mail", "email"), ("email_address", "email"),
    ("Address", "address"), ("zip code", "address"), ("Postcode", "address"),
])
def test_identifier_headers_are_recognised(header, kind):
    assert privacy.identifier_header_kind(header) == kind


@pytest.mark.parametrize("header", [
    "patient_id", "Patient ID", "center", "centre name", "hospital", "age", "date_diagnosis",
    "notes", "surgeon_name", "drug name", "year_of_birth", "study_name", "mets_biopsy", "",
])
def test_harmless_headers_are_not_flagged(header):
    assert privacy.identifier_header_kind(header) is None


def _registry_csv(raw: pd.DataFrame) -> bytes:
    return raw.to_csv(index=False).encode()


def test_identifier_columns_of_an_upload_by_header_and_by_content():
    raw = random_registry_table(30, seed=3)
    raw["Patient Name"] = "x"
    raw["MRN"] = "1"
    raw["Date of birth"] = "1961-04-02"
    raw.loc[0, "patient_id"] = "jane.doe@example.org"
    raw.loc[1, "patient_id"] = "+44 20 7946 0958"
    raw.loc[2, "patient_id"] = "Jane Doe"
    raw.loc[3, "patient_id"] = "1961-04-02"
    raw.loc[4, "center"] = "030 1234 5678"
    frame = load_registry(io.BytesIO(_registry_csv(raw)), name="x.csv")
    found = privacy.identifier_columns(frame)
    assert list(found.columns) == ["column", "kind", "source", "cells", "message"]
    assert set(zip(found["column"], found["kind"], found["source"], found["cells"])) == {
        ("Patient Name", "name", "header", 0), ("MRN", "record_number", "header", 0),
        ("Date of birth", "birth_date", "header", 0),
        ("patient_id", "email", "values", 1), ("patient_id", "phone", "values", 1),
        ("patient_id", "name", "values", 1), ("patient_id", "birth_date", "values", 1),
        ("center", "phone", "values", 1),
    }
    warning = privacy.identifier_warning(found)
    for value in ("jane.doe@example.org", "7946", "Jane Doe", "1961-04-02"):
        assert value not in warning, "the warning names columns, never values"
    assert "Patient Name" in warning and "MRN" in warning


def test_a_pseudonymous_registry_raises_no_identifier_warning():
    frame = random_registry(200, seed=8)
    found = privacy.identifier_columns(frame)
    assert found.empty
    assert privacy.identifier_warning(found) is None


# --- small-cell suppression: the rule ---------------------------------------------------------


def test_primary_suppression_hides_one_to_threshold_minus_one():
    table = pd.DataFrame({"n": [0, 1, 4, 5, 9, 10, np.nan]})
    assert privacy.suppress_counts(table, ["n"])["n"].tolist()[:6] == [0, "<5", "<5", 5.0, 9.0, 10.0]
    assert privacy.suppress_counts(table, ["n"], threshold=10)["n"].tolist()[:6] == \
        [0, "<10", "<10", "<10", "<10", 10.0]
    assert privacy.suppress_counts(table, ["n"], suppress_zero=True)["n"].tolist()[0] == "<5"
    assert np.isnan(privacy.suppress_counts(table, ["n"])["n"].tolist()[6])
    with pytest.raises(ValueError):
        privacy.suppress_counts(table, ["n"], threshold=0)


def test_a_total_never_reveals_a_hidden_cell():
    # at risk + events + censored = n (34): censored 4 at 24 months would follow from the others
    risk = pd.DataFrame({"arm": ["IT"] * 4, "time": [0.0, 24.0, 48.0, 72.0],
                         "at_risk": [34.0, 20.0, 6.0, 2.0], "events": [0.0, 10.0, 20.0, 24.0],
                         "censored": [0.0, 4.0, 8.0, 8.0]})
    hidden = privacy.suppress_risk_table(risk)
    assert hidden["at_risk"].tolist() == [34.0, 20.0, 6.0, "<5"]
    assert hidden["events"].tolist() == [0.0, "[c]", 20.0, 24.0]  # the smaller partner
    assert hidden["censored"].tolist() == [0.0, "<5", 8.0, "[c]"]
    assert privacy.suppress_risk_table(risk, threshold=2)["censored"].tolist() == [0.0, 4.0, 8.0, 8.0]


def test_an_undisplayed_small_remainder_is_protected():
    # deaths shown, survivors = n - deaths = 2 is not displayed but would follow
    arms = pd.DataFrame({"n": [40.0, 30.0], "events": [38.0, 12.0]}, index=pd.Index(["IT", "ST"], name="arm"))
    hidden = privacy.suppress_summary_arms(arms, total_known=False)
    assert hidden.loc["IT", "events"] == "[c]" and hidden.loc["IT", "n"] == 40.0
    assert hidden.loc["ST"].tolist() == [30.0, 12.0]
    assert hidden.index.name == "arm"


@st.composite
def _tables_with_sums(draw):
    rows = draw(st.integers(2, 6))  # a one-row table would publish each column total = its cell
    columns = draw(st.integers(2, 5))
    values = draw(st.lists(st.lists(st.integers(0, 30), min_size=columns, max_size=columns),
                           min_size=rows, max_size=rows))
    return pd.DataFrame(values, columns=[f"c{j}" for j in range(columns)], dtype=float)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(table=_tables_with_sums(), threshold=st.integers(2, 10))
def test_suppression_leaves_no_sum_with_a_single_unknown(table, threshold):
    """Property: with every row and every column summing to a known total, no small count shows,
    and no sum has exactly one unknown member that is hidden."""
    columns = list(table.columns)
    relations = [privacy.Relation(tuple((i, c) for c in columns)) for i in range(len(table))]
    relations += [privacy.Relation(tuple((i, c) for i in range(len(table)))) for c in columns]
    status = privacy.suppression_status(table, columns, threshold=threshold, relations=relations)
    values = table.to_numpy()
    assert not ((status.to_numpy() == "shown") & (values > 0) & (values < threshold)).any()
    for relation in relations:
        unknown = [cell for cell in relation.cells if status.at[cell[0], cell[1]] != "shown"]
        assert len(unknown) != 1, (relation, status)


def _small_table_one():
    frame = random_registry(120, seed=1)
    result = table_one_view(frame, Selection())
    return result, format_table_one(result)


def test_table_one_suppression_hides_small_counts_their_percentages_and_revealing_totals():
    result, formatted = _small_table_one()
    hidden = privacy.suppress_table_one(result, formatted)
    assert hidden.shape == formatted.shape and list(hidden.columns) == list(formatted.columns)
    count = re.compile(r"^(\d+)(?: \(|$)")
    arms = [c for c in hidden.columns if c.startswith(("IT (", "ST ("))]
    assert len(arms) == 2
    for column in arms:
        for cell in hidden[column]:
            match = count.match(str(cell))
            assert not (match and 0 < int(match.group(1)) < 5), (column, cell)
    # axillary surgery, IT arm (n = 72): SLNB 16, ALND 54, Missing 2 (read off the unsuppressed
    # table). Missing is hidden; SLNB goes with it (else 72 - 16 - 54 gives it back); ALND keeps
    # its count but loses its percentage, whose denominator (70) would give Missing back too.
    heading = int(np.flatnonzero(hidden["Characteristic"] == "Axillary surgery")[0])
    it = arms[0]
    assert formatted[it].iloc[heading + 1:heading + 4].tolist() == ["16 (22.9%)", "54 (77.1%)", "2"]
    assert hidden[it].iloc[heading + 1:heading + 4].tolist() == ["[c]", "54", "<5"]


def test_table_one_suppression_of_a_tiny_arm_hides_its_n_and_summaries():
    frame = random_registry(60, seed=1)
    selection = Selection(SubgroupFilter(sites=frozenset({"lung+bone", "multiple"})))
    result = table_one_view(frame, selection)
    hidden = privacy.suppress_table_one(result, format_table_one(result, show_p=False))
    assert "ST (n <5)" in hidden.columns
    age = hidden[hidden["Characteristic"].str.startswith("Age")]
    assert age["ST (n <5)"].tolist() == ["<5"], "a median of fewer than 5 ages is not shown"


def test_forest_table_suppression():
    frame = random_registry(80, seed=2)
    view = forest_view(frame, Selection())
    hidden = privacy.suppress_forest_table(view.table)
    for column in ("n_a", "events_a", "n_b", "events_b"):
        numbers = pd.to_numeric(hidden[column], errors="coerce")
        assert not ((numbers > 0) & (numbers < 5)).any()
    assert (hidden.drop(columns=["n_a", "events_a", "n_b", "events_b"])
            .equals(view.table.drop(columns=["n_a", "events_a", "n_b", "events_b"])))


def test_km_figure_hides_small_numbers_at_risk_in_table_and_hover():
    frame = random_registry(80, seed=2)
    view = survival_view(frame, Selection(SubgroupFilter(sites=frozenset({"lung+bone", "multiple"}))))
    shown = km_figure(view)
    hidden = km_figure(view, suppress_below=5)
    small = re.compile(r"^[1-4]$")
    texts = [t for trace in hidden.data if trace.mode == "text" for t in trace.text]
    assert texts and not any(small.match(str(t)) for t in texts)
    assert any(small.match(str(t)) for trace in shown.data if trace.mode == "text" for t in trace.text), \
        "the example has small counts to hide"
    hovers = [row[2] for trace in hidden.data if trace.mode == "lines" and trace.customdata is not None
              for row in trace.customdata]  # the curves' hover: [lower, upper, at risk]
    assert hovers and not any(small.match(str(v)) for v in hovers)
    forest = forest_figure(forest_view(frame, Selection()), suppress_below=5)
    labels = " ".join(map(str, forest.layout.yaxis.ticktext))
    assert not re.search(r"(?<![\d.])[1-4]/|/[1-4](?![\d.])", labels), labels


def test_fmt_count_follows_the_threshold_it_is_given():
    assert fmt.count(3, suppress_below=5) == "<5"
    assert fmt.count(3, suppress_below=None) == "3"
    assert fmt.count(0, suppress_below=5) == "0"
    assert fmt.count(12, suppress_below=10) == "12"
    assert fmt.count("[c]") == "[c]"
    assert fmt.suppression_threshold() is None  # outside a Streamlit session: off


# --- usage statistics -----------------------------------------------------------------------


def test_usage_statistics_are_off_in_the_effective_configuration():
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")})
    assert re.search(r"^gatherUsageStats = false$", shown.stdout, re.MULTILINE), shown.stdout[-3000:]


# --- the marker test: an upload leaves no trace on disk ---------------------------------------


@contextlib.contextmanager
def serve(tmp_path: Path, *, data_file: Path, extra_args: tuple[str, ...] = (), env: dict | None = None,
          port: int | None = None):
    """Start the app on loopback with its own (fresh, empty) HOME and TMPDIR, stdout and stderr
    captured to files in ``tmp_path``; yield (url, {home, tmp, stdout, stderr, process})."""
    port = port or free_port()
    # short paths: Chromium (kaleido's, for exports) refuses socket paths over 107 bytes
    home, tmp = Path(tempfile.mkdtemp(prefix="imh")), Path(tempfile.mkdtemp(prefix="imt"))
    out, err = tmp_path / "server.stdout", tmp_path / "server.stderr"
    process_env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "XDG_"))}
    process_env.update(HOME=str(home), TMPDIR=str(tmp), IMET_EXPLORER_DATA=str(data_file), **(env or {}))
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "ui.launch", "--server.port", str(port), "--server.address",
             "127.0.0.1", *extra_args], cwd=ROOT, env=process_env, stdout=stdout, stderr=stderr)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                        break
                except OSError:
                    if time.time() > deadline or process.poll() is not None:
                        raise RuntimeError(f"the app did not start: {err.read_text()[-2000:]}")
                    time.sleep(0.3)
            yield url, {"home": home, "tmp": tmp, "stdout": out, "stderr": err, "process": process}
        finally:
            stop(process, tmp)
            for folder in (home, tmp):
                shutil.rmtree(folder, ignore_errors=True)


def stop(process: subprocess.Popen, tmp: Path) -> None:
    """Stop the server, then wait for the helpers it started with files in ``tmp`` (the
    exporter's Chromium, which writes its profile while it shuts down) to be gone too."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    deadline = time.time() + 20
    while _processes_using(tmp) and time.time() < deadline:
        time.sleep(0.25)
    for pid in _processes_using(tmp):  # still there: ours (started by our server), so end them
        with contextlib.suppress(OSError):
            os.kill(pid, 9)


def _processes_using(folder: Path) -> list[int]:
    """Processes whose command line names ``folder``."""
    needle = str(folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def files_containing(roots, needles: list[bytes], skip: list[Path], since: float = 0.0) -> list[str]:
    """Regular files under ``roots`` (symlinks not followed), written or changed at or after
    ``since`` (a time stamp; a leak is written after the upload), holding any of ``needles``."""
    skip = [p.resolve() for p in skip]
    longest = max(len(n) for n in needles)
    hits = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        for directory, subdirectories, names in os.walk(root, followlinks=False):
            here = Path(directory).resolve()
            subdirectories[:] = [d for d in subdirectories
                                 if (here / d).resolve() not in skip and not (here / d).is_symlink()]
            for name in names:
                path = here / name
                try:
                    if path.is_symlink() or not path.is_file():
                        continue
                    info = path.stat()
                    if max(info.st_mtime, info.st_ctime) < since:
                        continue
                    if _holds(path, needles, longest):
                        hits.append(str(path))
                except OSError:  # vanished or unreadable (other users' files)
                    continue
    return hits


def _holds(path: Path, needles: list[bytes], longest: int) -> bool:
    tail = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            window = tail + chunk
            if any(n in window for n in needles):
                return True
            tail = window[-(longest - 1):]
    return False


def _host(address: str) -> str:
    """The host a request goes to. A ``blob:`` URL (the page's own in-memory module, e.g. a custom
    component's script) goes nowhere: it counts as the origin it was made by."""
    parts = urllib.parse.urlsplit(address)
    if parts.scheme == "blob":
        return urllib.parse.urlsplit(parts.path).netloc
    return parts.netloc


def _nav(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first.click()
    wait_until_idle(page, timeout_ms=60000)


PAGES = ["Overview", "Survival", "Subgroups", "Cox models", "Table 1", "Bias checks", "Paper check", "Data"]


@pytest.mark.browser
def test_an_upload_leaves_no_trace_on_disk_in_logs_or_in_other_sessions(tmp_path, monkeypatch, request):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    started = time.time() - 2  # file-system time stamps may lag a little
    marker = f"IMETPRIV{uuid.uuid4().hex}"
    needles = [marker.encode("utf-8"), marker.encode("utf-16-le")]
    default = tmp_path / "default_registry.csv"  # the app's own (non-secret) cohort for this run
    random_registry_table(200, seed=11).to_csv(default, index=False)
    upload = random_registry_table(150, seed=21)
    upload["patient_id"] = [f"{marker}-{i:03d}" for i in range(len(upload))]
    upload["Patient Name"] = f"{marker} Doe"  # an identifier-like column, ignored but warned about
    upload["notes"] = f"note {marker}"
    bad = upload.astype({"age": object})
    bad.loc[4, "age"] = f"{marker}?"  # shown back to the user in the validation table
    # the browser's own files (profile, downloads): the user's machine, not the server's
    browser_tmp = Path(tempfile.mkdtemp(prefix="imb"))
    request.addfinalizer(lambda: shutil.rmtree(browser_tmp, ignore_errors=True))
    monkeypatch.setenv("TMPDIR", str(browser_tmp))
    hosts: set[str] = set()

    with serve(tmp_path, data_file=default) as (url, server), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     downloads_path=str(browser_tmp))
        context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
        context.on("request", lambda request: hosts.add(_host(request.url)))
        page = context.new_page()
        page.goto(f"{url}/data")
        wait_until_idle(page)
        page.locator('input[type="file"]').set_input_files(
            files=[{"name": f"{marker}.csv", "mimeType": "text/csv", "buffer": _registry_csv(upload)}])
        page.wait_for_selector("text=Now analysing", timeout=60000)
        wait_until_idle(page)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert f"{marker}.csv: 150 patients" in main
        assert "Patient Name" in main and "direct identifiers" in main

        for title in PAGES:  # every page computes (and caches) its views of the upload
            _nav(page, title)
            assert page.locator('[data-testid="stException"]').count() == 0, title
            assert marker in page.locator('[data-testid="stMain"]').inner_text(), \
                f"{title}: this session analyses its own upload"
        page.locator('[data-testid="stSidebar"]').get_by_text("Suppress small counts").click()
        wait_until_idle(page)
        page.wait_for_function("() => window.location.search.includes('suppress=1')", timeout=15000)
        _nav(page, "Survival")
        assert page.locator('[data-testid="stException"]').count() == 0
        for label in ("Slide deck (PPTX)", "Report (HTML)"):  # server-side rendering, kaleido
            with page.expect_download(timeout=180000) as download:
                page.locator('[data-testid="stSidebar"]').get_by_role("button", name=label).first.click()
            assert Path(download.value.path()).stat().st_size > 1000, label

        _nav(page, "Data")
        page.locator('input[type="file"]').set_input_files(
            files=[{"name": f"bad-{marker}.csv", "mimeType": "text/csv", "buffer": _registry_csv(bad)}])
        page.wait_for_selector("text=was not loaded", timeout=60000)
        wait_until_idle(page)

        other = browser.new_context(viewport={"width": 1500, "height": 1000})
        other.on("request", lambda request: hosts.add(_host(request.url)))
        stranger = other.new_page()
        for path in ("", "/survival", "/data"):
            stranger.goto(f"{url}{path}")
            wait_until_idle(stranger)
            text = stranger.locator('[data-testid="stMain"]').inner_text()
            assert marker not in text and "Synthetic data" in text, "another session sees nothing"
        other.close()

        searched = [Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), server["home"], ROOT,
                    Path.home() / ".streamlit", Path.home() / ".cache"]
        skip = [browser_tmp, ROOT / ".git"]
        assert files_containing(searched, needles, skip, started) == [], "while the server runs"
        context.close()
        browser.close()
        stop(server["process"], server["tmp"])  # and the exporter's Chromium with it

    assert files_containing(searched, needles, skip, started) == [], "after the server stopped"
    logs = server["stdout"].read_bytes() + server["stderr"].read_bytes()
    assert not any(n in logs for n in needles), "nothing of the upload is logged"
    assert hosts == {urllib.parse.urlsplit(url).netloc}, f"third-party calls: {hosts}"
