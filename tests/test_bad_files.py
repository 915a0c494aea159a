"""The bad-file suite: every malformed registry is refused with exactly the right problems.

Each case in ``tests/bad_files/cases.py`` is written to ``tmp_path`` and loaded from disk and
from memory. The loader must raise ``RegistryError`` (any other exception fails the test),
report exactly the expected ``(row, column)`` pairs, all at once, each with a clear sentence.
"""
from __future__ import annotations

import io

import pandas as pd
import pytest

import imet_core.io as loader
from bad_files import cases as C
from bad_files import registry as R
from imet_core.io import Problem, RegistryError, load_registry, problems_frame

CASES = C.all_cases()
BY_NAME = {bad.filename: bad for bad in CASES}


def _refusal(source, **kwargs) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        load_registry(source, **kwargs)
    return caught.value


def test_the_corpus_is_large_and_names_are_unique():
    assert len(CASES) >= 25
    assert len({bad.filename for bad in CASES}) == len(CASES)


@pytest.mark.parametrize("bad", CASES, ids=[bad.id for bad in CASES])
def test_bad_file_reports_exactly_the_expected_rows_and_columns(bad: C.BadCase, tmp_path):
    path = tmp_path / bad.filename
    path.write_bytes(bad.content)
    error = _refusal(path)
    reported = {(p.row, p.column) for p in error.problems}
    assert reported == set(bad.expected), bad.why
    assert error.total == len(error.problems)
    if bad.message is not None:
        assert any(bad.message in p.message for p in error.problems), bad.message
    if bad.notice is not None:
        assert any(bad.notice in n for n in error.notices), error.notices


@pytest.mark.parametrize("bad", CASES, ids=[bad.id for bad in CASES])
def test_bad_file_problems_are_well_formed_and_the_same_from_memory(bad: C.BadCase):
    from_bytes = _refusal(bad.content, name=bad.filename)
    from_upload = _refusal(io.BytesIO(bad.content), name=bad.filename)
    assert from_bytes.problems == from_upload.problems
    for problem in from_bytes.problems:
        assert isinstance(problem, Problem)
        assert problem.row is None or (isinstance(problem.row, int) and problem.row >= 1)
        assert problem.column is None or isinstance(problem.column, str)
        assert problem.value is None or isinstance(problem.value, str)
        assert problem.message[:1].isupper() and problem.message.endswith("."), problem.message
        if problem.row is None:
            assert problem.column is None  # file-level problems name no column
    assert bad.filename in str(from_bytes)
    problems_are_sorted = [(p.row is not None, p.row or 0) for p in from_bytes.problems]
    assert problems_are_sorted == sorted(problems_are_sorted)


def test_every_problem_is_reported_at_once_with_its_value():
    bad = BY_NAME["everything.csv"]
    error = _refusal(bad.content, name=bad.filename)
    by_place = {(p.row, p.column): p for p in error.problems}
    assert by_place[(2, "age")].value == "130"
    assert by_place[(2, "age")].message == "Age 130 is outside 18-100 years."
    assert by_place[(3, "date_metastasis")].value == "2013-02-30"
    assert "ISO" in by_place[(3, "date_metastasis")].message
    assert "rows 4 and 5" in by_place[(4, "patient_id")].message
    assert by_place[(1, "menopause")].value is None
    assert str(error).startswith("'everything.csv' could not be loaded: 7 problems found.")


def test_file_too_large_is_refused_before_parsing(tmp_path, monkeypatch):
    data = R.csv_bytes(R.dates_rows())
    monkeypatch.setattr(loader, "READ_BYTES_LIMIT", len(data) - 1)
    path = tmp_path / "big.csv"
    path.write_bytes(data)

    class Stream:  # a file-like object without getbuffer(): read in bounded pieces
        name = "stream.csv"

        def __init__(self, payload: bytes) -> None:
            self._inner = io.BytesIO(payload)

        def read(self, size: int = -1) -> bytes:
            return self._inner.read(size)

    for source in (path, str(path), data, io.BytesIO(data), Stream(data)):
        error = _refusal(source)
        assert [(p.row, p.column) for p in error.problems] == [(None, None)]
        assert "over the" in error.problems[0].message and "limit" in error.problems[0].message
    monkeypatch.setattr(loader, "READ_BYTES_LIMIT", len(data))
    assert len(load_registry(data)) == 12  # exactly at the limit is fine


def test_missing_file_is_a_registry_error(tmp_path):
    error = _refusal(tmp_path / "nowhere.csv")
    assert [(p.row, p.column) for p in error.problems] == [(None, None)]
    assert "no file" in error.problems[0].message


def test_a_source_that_is_not_a_file_is_a_programming_error():
    with pytest.raises(TypeError):
        load_registry(12345)


def test_problem_cap_keeps_the_count(monkeypatch):
    rows = [dict(row, age="130") for row in R.dates_rows()]
    monkeypatch.setattr(loader, "PROBLEM_LIMIT", 5)
    error = _refusal(R.csv_bytes(rows))
    assert len(error.problems) == 5
    assert error.total == 12
    assert "... and 7 more problems." in str(error)


def test_problems_frame_lists_every_problem():
    bad = BY_NAME["chronology.csv"]
    error = _refusal(bad.content, name=bad.filename)
    frame = problems_frame(error.problems)
    assert list(frame.columns) == ["row", "column", "value", "message"]
    assert str(frame["row"].dtype) == "Int64"
    assert len(frame) == len(error.problems)
    assert set(zip(frame["row"].astype(int), frame["column"])) == set(bad.expected)
    file_level = problems_frame([Problem(None, None, None, "The file is empty.")])
    assert file_level["row"].isna().all()


def test_summary_spells_out_the_first_problems():
    bad = BY_NAME["unknown_levels.csv"]
    error = _refusal(bad.content, name=bad.filename)
    text = loader.summarise_problems(error.problems, limit=2)
    lines = text.splitlines()
    assert lines[0] == ("Row 2, menopause: Menopausal status 'peri' is not one of the allowed "
                        "values: pre, post.")
    assert lines[-1] == "... and 4 more problems."
    assert len(lines) == 3


def test_write_all_materialises_the_corpus(tmp_path):
    paths = C.write_all(tmp_path / "corpus")
    assert sorted(p.name for p in paths) == sorted(bad.filename for bad in CASES)
    for path in paths:
        with pytest.raises(RegistryError):
            load_registry(path)


def test_every_problem_column_is_a_registry_column_or_none():
    known = set(pd.Index(loader.schema.FRAME_COLUMNS))
    for bad in CASES:
        for _, column in bad.expected:
            assert column is None or column in known, (bad.filename, column)


# --- no input escapes as anything but RegistryError --------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VALID_TEXT = R.csv_text(R.dates_rows())
_REQUIRED = [c.name for c in loader.schema.CONTRACT_COLUMNS
             if c.required is loader.schema.Requirement.ALWAYS]


def _loads_or_refuses(data: bytes, name: str) -> None:
    try:
        frame = load_registry(data, name=name)
    except RegistryError as error:
        assert error.problems and error.total >= len(error.problems)
        assert all(p.message for p in error.problems)
        return
    assert list(frame.columns) == list(loader.schema.FRAME_COLUMNS)
    assert not frame[_REQUIRED].isna().any().any()
    assert frame["site"].isin(loader.schema.SITE_LEVELS).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), name=st.sampled_from(["x.csv", "x.tsv", "x.xlsx", None]))
def test_random_bytes_load_or_are_refused(data, name):
    _loads_or_refuses(data, name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, len(_VALID_TEXT) - 1),
                                st.sampled_from(list(',;\t\n\r"= -/.0123456789aNyesno\x00é')),
                                st.booleans()),
                      min_size=1, max_size=6))
def test_mutated_registries_load_or_are_refused(edits):
    text = list(_VALID_TEXT)
    for position, char, replace in edits:
        position = min(position, len(text) - 1)
        if replace:
            text[position] = char
        else:
            text.insert(position, char)
    _loads_or_refuses("".join(text).encode("utf-8"), "mutated.csv")
