"""Issue 8's bad-input corpus: every file is either refused with exactly the right problems or
loads cleanly, from disk and from an upload-like buffer; never any other exception.

The cases live in ``tests/bad_inputs/corpus.py``; the three large ones (over the upload limit,
10,000 columns, a million blank rows) are written to ``tmp_path`` here.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

import imet_core.io as loader
from bad_files import cases as issue2_cases
from imet_core import schema
from imet_core.io import Problem, RegistryError, load_registry
from tests.bad_inputs import corpus as C

CASES = C.all_cases()
ROOT = Path(__file__).resolve().parents[1]


class Upload(io.BytesIO):
    """What Streamlit hands the app: an in-memory buffer with a file name."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def _outcome(source, **kwargs):
    """The loaded frame, or the RegistryError; any other exception fails the test."""
    try:
        return load_registry(source, **kwargs)
    except RegistryError as error:
        return error


def test_corpus_has_at_least_30_new_files():
    names = [item.filename for item in CASES]
    assert len(names) >= 30
    assert len(set(names)) == len(names)
    assert not set(names) & {bad.filename for bad in issue2_cases.all_cases()}, \
        "the corpus must not repeat issue 2's files"
    assert sum(isinstance(item.outcome, C.Refused) for item in CASES) >= 25


def _assert_refused(result, expected: C.Refused, filename: str) -> None:
    assert isinstance(result, RegistryError), f"{filename} loaded but must be refused"
    reported = {(p.row, p.column) for p in result.problems}
    assert reported == set(expected.problems)
    assert result.total == len(result.problems)
    for problem in result.problems:
        assert isinstance(problem, Problem)
        assert problem.message[:1].isupper() and problem.message.endswith("."), problem.message
        assert problem.row is None or problem.row >= 1
    if expected.message is not None:
        assert any(expected.message in p.message for p in result.problems), \
            [p.message for p in result.problems]
    if expected.notice is not None:
        assert any(expected.notice in n for n in result.notices), result.notices
    by_place = {(p.row, p.column): p for p in result.problems}
    for place, text in expected.values:
        assert by_place[place].value == text, "the cell is quoted as written, not guessed"
    assert filename in str(result)


def _assert_loads(result, expected: C.Loads, filename: str) -> None:
    assert not isinstance(result, RegistryError), f"{filename} was refused:\n{result}"
    assert len(result) == expected.patients, "no patient silently dropped or added"
    assert list(result.columns) == list(schema.FRAME_COLUMNS)
    required = [c.name for c in schema.CONTRACT_COLUMNS
                if c.required is schema.Requirement.ALWAYS]
    assert not result[required].isna().any().any()
    if expected.notice is not None:
        assert any(expected.notice in n for n in result.attrs["notices"]), result.attrs["notices"]
    for row, column, value in expected.cells:
        assert result.at[row - 2, column] == value
    if expected.check is not None:
        expected.check(result)


def _assert(result, item: C.Case) -> None:
    if isinstance(item.outcome, C.Refused):
        _assert_refused(result, item.outcome, item.filename)
    else:
        _assert_loads(result, item.outcome, item.filename)


@pytest.mark.parametrize("item", CASES, ids=[item.id for item in CASES])
def test_bad_input_from_disk(item: C.Case, tmp_path):
    path = tmp_path / item.filename
    path.write_bytes(item.content)
    _assert(_outcome(path), item)


@pytest.mark.parametrize("item", CASES, ids=[item.id for item in CASES])
def test_bad_input_as_upload_gives_the_same_answer(item: C.Case):
    from_upload = _outcome(Upload(item.content, item.filename))
    _assert(from_upload, item)
    from_bytes = _outcome(item.content, name=item.filename)
    if isinstance(from_upload, RegistryError):
        assert from_bytes.problems == from_upload.problems
    else:
        assert from_bytes.equals(from_upload)


def test_write_all_writes_every_small_case(tmp_path):
    paths = C.write_all(tmp_path / "corpus")
    assert sorted(p.name for p in paths) == sorted(item.filename for item in CASES)


# --- large files, written at test time ----------------------------------------------------------


def test_file_over_the_upload_limit_is_refused_unread(tmp_path):
    path = tmp_path / "over_limit.csv"
    C.write_over_limit(path, loader.READ_BYTES_LIMIT)  # sparse: no disk, no memory
    assert path.stat().st_size == loader.READ_BYTES_LIMIT + 1
    error = _outcome(path)
    assert isinstance(error, RegistryError)
    assert [(p.row, p.column) for p in error.problems] == [C.FILE]
    assert "over the 200 MB limit" in error.problems[0].message


def test_upload_limit_matches_streamlit_max_upload_size():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert loader.READ_BYTES_LIMIT == config["server"]["maxUploadSize"] * 1024 * 1024


def test_ten_thousand_columns_load_and_the_extra_ones_are_named(tmp_path):
    path = tmp_path / "ten_thousand_columns.csv"
    extra = C.write_ten_thousand_columns(path)
    frame = _outcome(path)
    _assert_loads(frame, C.Loads(12, notice="not part of the registry format"), path.name)
    assert len(frame.attrs["ignored_columns"]) == extra == 10_000 - len(C.R.DATES_HEADER)


@pytest.mark.parametrize("commas", [True, False], ids=["comma_rows", "bare_line_breaks"])
def test_a_million_blank_rows_are_skipped_and_said_so(tmp_path, commas):
    path = tmp_path / "million_blank_rows.csv"
    blank = C.write_million_blank_rows(path, commas=commas)
    frame = _outcome(path)
    _assert_loads(frame, C.Loads(12, notice=f"{blank:,} empty rows after the last patient"),
                  path.name)
    assert frame["patient_id"].tolist() == [f"P{i:02d}" for i in range(1, 13)]
