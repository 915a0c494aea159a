"""Privacy helpers: columns that look like direct identifiers, and small-cell suppression.

Two independent tools, both pure (no Streamlit, no rounding, no I/O):

* :func:`identifier_columns` finds columns of an uploaded registry that look like direct
  identifiers (names, hospital record or national ID numbers, full birth dates, phone numbers,
  e-mail or postal addresses), from the headers as written (including the columns the loader
  ignored, ``frame.attrs["ignored_columns"]``) and from the free-text cells the loaded frame keeps
  (``patient_id``, ``center``). It never returns or echoes a cell's value, only counts.

* Small-cell suppression: counts from 1 to ``threshold - 1`` (default 5, so 1-4) are shown as
  ``"<5"`` (*primary suppression*). A hidden count must not be recoverable from the totals around
  it, so whenever a sum of displayed cells is known (the cells of a Table 1 variable add up to the
  arm's n; at risk + cumulative events + censored add up to the arm's n; the levels of a subgroup
  variable add up to "All patients") and exactly one member of that sum is unknown, one more cell
  is hidden, the smallest shown one (*complementary* or *secondary suppression*, marked ``"[c]"``
  because it is not necessarily small). This is the classic single-equation rule of statistical
  disclosure control (Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, section
  4.2.2, "secondary cell suppression"); it stops the reader from subtracting one displayed number
  from another, not every possible combination of several tables. Zero counts stay visible by
  default (a zero identifies nobody).

The suppression functions return copies of their input with count columns of object dtype:
the untouched cells keep their numbers, suppressed cells hold the label text. Figures and pages
print such cells as they are.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DEFAULT_THRESHOLD",
    "COMPLEMENT_LABEL",
    "IDENTIFIER_KINDS",
    "Relation",
    "identifier_columns",
    "identifier_header_kind",
    "identifier_warning",
    "small_count_label",
    "is_small_count",
    "suppression_status",
    "suppress_counts",
    "suppress_risk_table",
    "suppress_forest_table",
    "suppress_table_one",
    "suppress_summary_arms",
]

DEFAULT_THRESHOLD: int = 5
"""Counts below this (1-4) are hidden in suppression mode."""

COMPLEMENT_LABEL: str = "[c]"
"""Shown for a cell hidden only so that a total does not reveal a small count next to it."""

SHOWN, SMALL, COMPLEMENT = "shown", "small", "complement"

# --------------------------------------------------------------------------------------------
# Identifier-like columns
# --------------------------------------------------------------------------------------------

IDENTIFIER_KINDS: dict[str, str] = {
    "name": "a person's name",
    "record_number": "a hospital record, insurance or national ID number",
    "birth_date": "a full date of birth",
    "phone": "a phone or fax number",
    "email": "an e-mail address",
    "address": "a postal address or postcode",
}
"""Kinds of direct identifier :func:`identifier_columns` looks for, with the words a warning uses
(the HIPAA Safe Harbor list, 45 CFR 164.514(b)(2), restricted to what a registry export carries)."""

# Header words, matched on the header's lower-case alphanumeric tokens (and their concatenation,
# so "PatientName", "patient name" and "patient_name" all match).
_HEADER_TOKENS: dict[str, frozenset[str]] = {
    "name": frozenset({"name", "names", "surname", "firstname", "lastname", "forename",
                       "givenname", "familyname", "fullname", "maidenname", "nachname",
                       "vorname", "nom", "prenom", "nombre", "apellido", "apellidos", "cognome",
                       "initials"}),
    "record_number": frozenset({"mrn", "medicalrecord", "medicalrecordnumber", "recordnumber",
                                "recordno", "hospitalnumber", "hospitalid", "hospitalno",
                                "chartnumber", "chartno", "nhsnumber", "nhsno", "ssn",
                                "socialsecurity", "socialsecuritynumber", "nationalid",
                                "insurancenumber", "insuranceno", "personnummer", "bsn",
                                "versichertennummer", "tckn", "tcno", "tckimlikno", "passport",
                                "passportnumber", "healthcardnumber", "ahv", "nir", "pesel",
                                "cpr"}),
    "birth_date": frozenset({"dob", "birthdate", "dateofbirth", "birthday", "born",
                             "geburtsdatum", "fechanacimiento", "datenaissance", "dogum",
                             "dogumtarihi", "birth"}),
    "phone": frozenset({"phone", "telephone", "tel", "mobile", "cellphone", "fax",
                        "phonenumber", "telefon", "telefono", "gsm"}),
    "email": frozenset({"email", "mail", "emailaddress"}),
    "address": frozenset({"address", "street", "postcode", "zipcode", "zip", "postalcode",
                          "adresse", "direccion", "plz"}),
}
# A header naming a centre, a drug, a file ... is not a person's name.
_NOT_PERSONAL = frozenset({"center", "centre", "hospital", "site", "institution", "clinic",
                           "drug", "study", "file", "trial", "regimen", "protocol", "sheet",
                           "device", "lab", "surgeon", "physician", "doctor", "investigator"})

_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
_PHONE_CHARS = r"^\+?[\d\s().\-/]+$"
_FULL_DATE = r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})$"
_PERSON_NAME = (r"^(?:[A-ZÀ-Ý][a-zà-ÿ'’\-]+(?:\s+[A-ZÀ-Ý][a-zà-ÿ'’\-]+)+"
                r"|[A-ZÀ-Ý][a-zà-ÿ'’\-]+,\s*[A-ZÀ-Ý][a-zà-ÿ'’\-]+)$")
_FREE_TEXT_COLUMNS = ("patient_id", "center")


def _header_tokens(header: str) -> set[str]:
    """Lower-case alphanumeric tokens of a header, split at non-letters and at camelCase humps,
    plus every run of adjacent tokens glued together ("date of birth" -> "dateofbirth")."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(header))
    words = [w for w in re.split(r"[^0-9a-zA-Zà-ÿÀ-Ý]+", spaced.lower()) if w]
    tokens = set(words)
    for start in range(len(words)):
        for stop in range(start + 2, len(words) + 1):
            tokens.add("".join(words[start:stop]))
    return tokens


def identifier_header_kind(header: object) -> str | None:
    """The kind of direct identifier a column header suggests, or None.

    Parameters
    ----------
    header : object
        A column header as written in the file.

    Returns
    -------
    str or None
        A key of :data:`IDENTIFIER_KINDS` (``"name"``, ``"record_number"``, ``"birth_date"``,
        ``"phone"``, ``"email"``, ``"address"``), or None when the header looks harmless.
        ``patient_id`` (the registry's pseudonymous id) and ``center`` are never flagged by name.
    """
    if header is None:
        return None
    tokens = _header_tokens(str(header))
    if not tokens or tokens & {"patientid", "center", "centre"} == tokens:
        return None
    for kind, words in _HEADER_TOKENS.items():
        if tokens & words:
            if kind == "name" and tokens & _NOT_PERSONAL:
                continue
            if kind == "birth_date" and tokens & {"year", "yob", "decade"}:
                continue  # a year of birth is not a full date
            return kind
    return None


def _text_cells(values: pd.Series) -> pa.Array:
    """Distinct non-empty cells, trimmed, as an Arrow string array (RE2 regexes run on it)."""
    distinct = pd.unique(values.dropna().to_numpy(dtype=object))
    cells = pa.array([str(v) for v in distinct], type=pa.string())
    return pc.utf8_trim_whitespace(cells)


def _matching(cells: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(pc.match_substring_regex(cells, pattern).to_numpy(zero_copy_only=False),
                      dtype=bool)


def _phone_like(cells: pa.Array) -> np.ndarray:
    """Cells made only of digits and phone separators, 8-15 digits, with a leading + or at least
    one separator between digits (a bare number is more likely a pseudonymous id)."""
    phone = _matching(cells, _PHONE_CHARS) & _matching(cells, r"^\+|\d[\s().\-/]+\d")
    if not phone.any():
        return phone
    candidates = cells.filter(pa.array(phone))
    digits = np.asarray(pc.count_substring_regex(candidates, r"\d").to_numpy(zero_copy_only=False))
    phone[phone] = (digits >= 8) & (digits <= 15) & ~_matching(candidates, _FULL_DATE)
    return phone


def _value_findings(column: str, values: pd.Series) -> list[tuple[str, int]]:
    """(kind, number of rows) for each kind of identifier the column's cells look like."""
    cells = _text_cells(values)
    if not len(cells):
        return []
    masks = {"email": _matching(cells, _EMAIL), "phone": _phone_like(cells),
             "birth_date": _matching(cells, _FULL_DATE)}
    if column == "patient_id":  # centre names look like people's names; ids should not
        masks["name"] = _matching(cells, _PERSON_NAME)
    findings = []
    for kind, mask in masks.items():
        if mask.any():
            flagged = set(cells.filter(pa.array(mask)).to_pylist())
            rows = values.dropna().astype(str).str.strip().isin(flagged)
            findings.append((kind, int(rows.sum())))
    return findings


def identifier_columns(frame: pd.DataFrame, headers: Iterable[str] | None = None) -> pd.DataFrame:
    """Columns of a registry that look like direct identifiers.

    Parameters
    ----------
    frame : pandas.DataFrame
        A loaded registry frame (:func:`imet_core.io.load_registry`). Its
        ``attrs["ignored_columns"]`` (headers the loader did not use) are checked by name, and
        the free-text columns it keeps (``patient_id``, ``center``) by content.
    headers : iterable of str, optional
        Further headers to check by name (e.g. every header of a raw table).

    Returns
    -------
    pandas.DataFrame
        One row per finding, columns ``column`` (the header as written, or the registry column
        name), ``kind`` (a key of :data:`IDENTIFIER_KINDS`), ``source`` (``"header"`` or
        ``"values"``), ``cells`` (int: how many cells match; 0 for a header finding) and
        ``message`` (a plain sentence that names the column and never a value). Empty (with
        these columns) when nothing looks identifying.
    """
    rows: list[dict] = []
    names = list(frame.attrs.get("ignored_columns") or []) + list(headers or [])
    seen: set[str] = set()
    for header in names:
        key = str(header)
        if key in seen:
            continue
        seen.add(key)
        kind = identifier_header_kind(key)
        if kind:
            rows.append({"column": key, "kind": kind, "source": "header", "cells": 0,
                         "message": f"Column '{key}' looks like {IDENTIFIER_KINDS[kind]} "
                                    "(from its name)."})
    for column in _FREE_TEXT_COLUMNS:
        if column not in frame.columns:
            continue
        for kind, count in _value_findings(column, frame[column]):
            rows.append({"column": column, "kind": kind, "source": "values", "cells": count,
                         "message": f"{count:,} value{'s' if count != 1 else ''} in column "
                                    f"'{column}' look{'s' if count == 1 else ''} like "
                                    f"{IDENTIFIER_KINDS[kind]}."})
    return pd.DataFrame(rows, columns=["column", "kind", "source", "cells", "message"])


def identifier_warning(findings: pd.DataFrame) -> str | None:
    """One paragraph for the app's warning, or None when there are no findings.

    Parameters
    ----------
    findings : pandas.DataFrame
        The result of :func:`identifier_columns`.

    Returns
    -------
    str or None
        The findings' messages, then what to do about it.
    """
    if findings.empty:
        return None
    lines = " ".join(findings["message"])
    return (f"This file may contain direct identifiers. {lines} IMET Explorer does not need "
            "them: remove these columns (or replace the values by pseudonymous codes) before "
            "sharing the file or any screen of it. Columns outside the registry format are "
            "never used or shown.")


# --------------------------------------------------------------------------------------------
# Small-cell suppression: the engine
# --------------------------------------------------------------------------------------------

Cell = tuple[int, str]
"""A cell of a table: (row position, column name)."""


@dataclass(frozen=True)
class Relation:
    """A sum the reader knows: these cells, plus an undisplayed remainder, add up to a total
    that is shown somewhere (or is itself one of the cells).

    If exactly one member of a relation is unknown to the reader, its value can be recovered
    by subtraction. Members are unknown when suppressed; the remainder is always unknown.

    Attributes
    ----------
    cells : tuple of Cell
        The displayed cells in the sum (the total too, when it is a cell of the same table).
    remainder : float or None
        A count that belongs to the sum but is not displayed (e.g. survivors = n - deaths, or
        the "no" row of a yes/no variable); None when every member is displayed.
    while_shown : tuple of Cell
        The total is known only while these cells are displayed (e.g. the non-missing count
        behind a percentage, known while the Missing count is shown); empty = always known.
    """

    cells: tuple[Cell, ...]
    remainder: float | None = None
    while_shown: tuple[Cell, ...] = ()


def small_count_label(threshold: int = DEFAULT_THRESHOLD) -> str:
    """The text shown for a hidden small count: ``"<5"`` for the default threshold."""
    return f"<{int(threshold)}"


def is_small_count(value: object, threshold: int = DEFAULT_THRESHOLD, *,
                   suppress_zero: bool = False) -> bool:
    """True for a finite count below ``threshold`` (and above zero unless ``suppress_zero``)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    if not math.isfinite(number):
        return False
    return number < threshold and (number > 0 or (suppress_zero and number == 0))


def _check_threshold(threshold: int) -> int:
    if int(threshold) != threshold or threshold < 1:
        raise ValueError(f"threshold must be a positive whole number, not {threshold!r}")
    return int(threshold)


def suppression_status(frame: pd.DataFrame, columns: Sequence[str], *,
                       threshold: int = DEFAULT_THRESHOLD, relations: Iterable[Relation] = (),
                       suppress_zero: bool = False) -> pd.DataFrame:
    """Which count cells to hide, and why.

    Primary suppression hides every count below ``threshold``. Then, repeatedly until nothing
    changes, any relation whose only unknown member is a hidden cell (or a small remainder) gets
    one more hidden cell: its smallest displayed one (Hundepool et al. 2012, section 4.2.2).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as computed (numbers, not text).
    columns : sequence of str
        Count columns of ``frame`` that may be hidden.
    threshold : int
        Counts from 1 to ``threshold - 1`` are hidden (default 5).
    relations : iterable of Relation
        Known sums among the cells (row positions are 0-based positions in ``frame``).
    suppress_zero : bool
        Also hide zero counts (default False: a zero identifies nobody).

    Returns
    -------
    pandas.DataFrame
        Same shape as ``frame[columns]`` (index and column names kept), values ``"shown"``,
        ``"small"`` (primary) or ``"complement"`` (secondary).
    """
    threshold = _check_threshold(threshold)
    values = frame[list(columns)]
    numbers = values.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(numbers)
    with np.errstate(invalid="ignore"):
        small = finite & (numbers < threshold) & ((numbers > 0) | (suppress_zero & (numbers == 0)))
    codes = np.where(small, _SMALL_CODE, _SHOWN_CODE).astype(np.int8)
    position = {column: j for j, column in enumerate(values.columns)}
    def indices(cells: Sequence[Cell]) -> tuple[np.ndarray, np.ndarray]:
        known = [(i, position[c]) for i, c in cells if c in position]
        return (np.array([i for i, _ in known], dtype=np.intp),
                np.array([j for _, j in known], dtype=np.intp))

    members = [(*indices(r.cells), r.remainder, indices(r.while_shown)) for r in relations]
    members = [m for m in members if len(m[0])]
    changed = True
    while changed:
        changed = False
        for rows, cols, remainder, (if_rows, if_cols) in members:
            if (codes[if_rows, if_cols] != _SHOWN_CODE).any():
                continue  # the total is no longer known
            if _protect(rows, cols, remainder, codes, numbers, finite, threshold):
                changed = True
    labels = np.array([SHOWN, SMALL, COMPLEMENT], dtype=object)
    return pd.DataFrame(labels[codes], index=values.index, columns=values.columns)


_SHOWN_CODE, _SMALL_CODE, _COMPLEMENT_CODE = 0, 1, 2


def _protect(rows: np.ndarray, cols: np.ndarray, remainder: float | None, codes: np.ndarray,
             numbers: np.ndarray, finite: np.ndarray, threshold: int) -> bool:
    """Hide one more cell of a relation if its single unknown member would be revealed."""
    member_codes = codes[rows, cols]
    hidden = int((member_codes != _SHOWN_CODE).sum())
    if hidden + (remainder is not None) != 1:
        return False
    if not hidden and not is_small_count(remainder, threshold):
        return False  # only a large remainder would be revealed: harmless
    candidates = np.flatnonzero((member_codes == _SHOWN_CODE) & finite[rows, cols])
    if not len(candidates):
        return False
    # the smallest displayed member; ties go to the first in table order
    order = sorted(candidates, key=lambda k: (numbers[rows[k], cols[k]], rows[k], cols[k]))
    k = order[0]
    codes[rows[k], cols[k]] = _COMPLEMENT_CODE
    return True


def _as_float(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.inf
    return number if math.isfinite(number) else math.inf


def _apply(frame: pd.DataFrame, status: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """A copy of ``frame`` with hidden cells replaced by their labels (object columns)."""
    out = frame.copy()
    small, complement = small_count_label(threshold), COMPLEMENT_LABEL
    for column in status.columns:
        if (status[column] == SHOWN).all():
            continue
        cells = out[column].astype(object)
        cells[(status[column] == SMALL).to_numpy()] = small
        cells[(status[column] == COMPLEMENT).to_numpy()] = complement
        out[column] = cells
    return out


def suppress_counts(frame: pd.DataFrame, columns: Sequence[str], *,
                    threshold: int = DEFAULT_THRESHOLD, relations: Iterable[Relation] = (),
                    suppress_zero: bool = False) -> pd.DataFrame:
    """Hide small counts (and the cells that would reveal them) in a table.

    Parameters
    ----------
    frame : pandas.DataFrame
    columns : sequence of str
        Count columns that may be hidden.
    threshold : int
        Counts from 1 to ``threshold - 1`` are hidden (default 5).
    relations : iterable of Relation
        Known sums among the cells (see :func:`suppression_status`).
    suppress_zero : bool
        Also hide zero counts.

    Returns
    -------
    pandas.DataFrame
        A copy of ``frame``; each of ``columns`` that has a hidden cell becomes object dtype,
        hidden cells hold ``"<5"`` (primary) or ``"[c]"`` (complementary), the others keep their
        numbers. Other columns are unchanged.
    """
    status = suppression_status(frame, columns, threshold=threshold, relations=relations,
                                suppress_zero=suppress_zero)
    return _apply(frame, status, threshold)


# --------------------------------------------------------------------------------------------
# Small-cell suppression: the tables the app shows
# --------------------------------------------------------------------------------------------


def suppress_risk_table(risk_table: pd.DataFrame, *, threshold: int = DEFAULT_THRESHOLD,
                        arm_sizes: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Hide small counts in a KMunicate at-risk table.

    For every arm and time, at risk + cumulative events + cumulative censored = the arm's n
    (counted at the start of the interval, as :func:`imet_core.survival.risk_table` does), and
    the arm's n is known to the reader (the at-risk count at time 0, or the arms table), so the
    three cells form a relation.

    Parameters
    ----------
    risk_table : pandas.DataFrame
        Columns ``arm, time, at_risk, events, censored`` (``SurvivalView.risk_table``).
    threshold : int
        Counts from 1 to ``threshold - 1`` are hidden (default 5).
    arm_sizes : mapping, optional
        Patients per arm, when the table has no row at time 0 (only used to tell which arms
        have a known n; default: every arm's n is taken as known).

    Returns
    -------
    pandas.DataFrame
        A copy with ``at_risk``, ``events`` and ``censored`` as described in
        :func:`suppress_counts`.
    """
    table = risk_table.reset_index(drop=True)
    relations = []
    for i, row in table.iterrows():
        if float(row["time"]) == 0.0 and row["events"] == 0 and row["censored"] == 0:
            continue  # at time 0 the relation is "n = n"
        relations.append(Relation(((i, "at_risk"), (i, "events"), (i, "censored"))))
    out = suppress_counts(table, ["at_risk", "events", "censored"], threshold=threshold,
                          relations=relations)
    out.index = risk_table.index
    return out


def suppress_forest_table(table: pd.DataFrame, *, threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Hide small counts in a subgroup forest table (``ForestView.table``).

    Relations: in every row and arm, events + survivors = n (survivors not displayed); for every
    subgroup variable and arm, the levels' n (and events) add up to the "All patients" row, with
    the patients missing that variable as an undisplayed remainder.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``variable, level, n_a, events_a, n_b, events_b`` (and others, left unchanged);
        the "All patients" row has ``variable == "all"``.
    threshold : int
        Counts from 1 to ``threshold - 1`` are hidden (default 5).

    Returns
    -------
    pandas.DataFrame
        A copy with ``n_a, events_a, n_b, events_b`` as described in :func:`suppress_counts`.
    """
    data = table.reset_index(drop=True)
    columns = ["n_a", "events_a", "n_b", "events_b"]
    relations: list[Relation] = []
    for arm in ("a", "b"):
        n, events = f"n_{arm}", f"events_{arm}"
        for i in range(len(data)):
            relations.append(Relation(((i, n), (i, events)),
                                      remainder=_remainder(data.at[i, n], [data.at[i, events]])))
        overall = data.index[data["variable"] == "all"]
        if not len(overall):
            continue
        top = int(overall[0])
        for _, rows in data[data["variable"] != "all"].groupby("variable", sort=False):
            positions = [int(p) for p in rows.index]
            for column in (n, events):
                parts = [data.at[p, column] for p in positions]
                relations.append(Relation(tuple((p, column) for p in positions) + ((top, column),),
                                          remainder=_remainder(data.at[top, column], parts)))
    out = suppress_counts(data, columns, threshold=threshold, relations=relations)
    out.index = table.index
    return out


def _remainder(total: object, parts: Sequence[object]) -> float | None:
    """total - sum(parts), or None when it is zero (then every member is displayed)."""
    try:
        rest = float(total) - float(np.nansum([float(p) for p in parts]))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if rest == 0 or not math.isfinite(rest) else rest


def suppress_summary_arms(arms: pd.DataFrame, *, threshold: int = DEFAULT_THRESHOLD,
                          n: str = "n", events: str = "events",
                          total_known: bool = True) -> pd.DataFrame:
    """Hide small counts in a per-arm summary (``SurvivalView.arms``, ``OverviewView.arms``).

    Relations: in every arm, events + the rest (``n - events``; ``censored`` when the table has
    it) = n; across arms, the n add up to the subgroup's size when ``total_known``.

    Parameters
    ----------
    arms : pandas.DataFrame
        One row per arm with count columns ``n`` and ``events`` (and optionally ``censored``).
    threshold : int
        Counts from 1 to ``threshold - 1`` are hidden (default 5).
    n, events : str
        Names of the count columns.
    total_known : bool
        Whether the subgroup's total is displayed elsewhere (default True).

    Returns
    -------
    pandas.DataFrame
        A copy with the count columns (``n``, ``events`` and ``censored`` if present) as
        described in :func:`suppress_counts`.
    """
    data = arms.reset_index(drop=False)
    columns = [c for c in (n, events, "censored") if c in data.columns]
    relations = []
    for i in range(len(data)):
        if "censored" in columns:
            relations.append(Relation(((i, n), (i, events), (i, "censored"))))
        else:
            relations.append(Relation(((i, n), (i, events)),
                                      remainder=_remainder(data.at[i, n], [data.at[i, events]])))
    if total_known and len(data) > 1:
        relations.append(Relation(tuple((i, n) for i in range(len(data)))))
        relations.append(Relation(tuple((i, events) for i in range(len(data)))))
    out = suppress_counts(data, columns, threshold=threshold, relations=relations)
    return out.set_index(out.columns[0]).rename_axis(arms.index.name)


def suppress_table_one(result: pd.DataFrame, formatted: pd.DataFrame, *,
                       threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Hide small counts in a formatted Table 1.

    Works on the pair (``table_one`` result, ``format_table_one`` of it): the numbers come from
    the result, the text from the formatted table. In each arm, the cells of one variable (its
    levels, or its "yes" count, and its Missing row) add up to the arm's n shown in the header,
    with the "no" count of a yes/no variable and the non-missing count of a continuous one as
    undisplayed remainders. A continuous summary (mean ± SD, median [IQR]) of fewer than
    ``threshold`` patients is hidden too (a median of three ages is an age), and so is the n in
    the header of an arm smaller than ``threshold``.

    Parameters
    ----------
    result : pandas.DataFrame
        The output of :func:`imet_core.table_one.table_one` (``attrs["groups"]`` or the columns
        between ``summary`` and ``p_value`` name the arms).
    formatted : pandas.DataFrame
        ``format_table_one(result, ...)`` (with or without the p-value columns).
    threshold : int
        Counts from 1 to ``threshold - 1`` are hidden (default 5).

    Returns
    -------
    pandas.DataFrame
        A copy of ``formatted``: hidden cells read ``"<5"`` or ``"[c]"`` (their percentages go
        with them); an arm header with a small n reads ``"IT (n <5)"``.

    Raises
    ------
    ValueError
        When ``formatted`` does not have the rows ``format_table_one`` makes of ``result``.
    """
    threshold = _check_threshold(threshold)
    groups = _table_one_groups(result)
    headers = _table_one_headers(formatted, groups)
    blocks = _table_one_blocks(result, formatted)
    kinds = result["row_type"].to_numpy(dtype=object)
    sizes = _table_one_sizes(result, groups)
    counts = np.full((len(formatted), len(groups)), np.nan)
    relations: list[Relation] = []
    forced: list[tuple[int, int]] = []  # summaries of too few patients
    percent_lines: list[tuple[int, int, list[int]]] = []  # (missing line, arm, level lines)
    for j, group in enumerate(groups):
        column = result[f"n_{group}"].to_numpy(dtype=float)
        known_total = math.isfinite(sizes[group]) and not is_small_count(sizes[group], threshold)
        for block in blocks:
            cells, parts, levels, level_parts, missing = [], [], [], [], math.nan
            missing_line = None
            for raw, line in block:
                value = column[raw]
                if not math.isfinite(value):
                    continue  # not applicable in this arm ("–")
                if kinds[raw] in ("level", "binary", "missing"):
                    counts[line, j] = value
                    cells.append((line, group))
                    parts.append(value)
                    if kinds[raw] == "missing":
                        missing, missing_line = value, line
                    else:
                        levels.append((line, group))
                        level_parts.append(value)
                elif kinds[raw] == "continuous" and is_small_count(value, threshold):
                    forced.append((line, j))  # a summary of 1-4 patients
            if missing_line is not None and levels:
                percent_lines.append((missing_line, j, [line for line, _ in levels]))
            if not known_total:  # a hidden arm n is no known total
                continue
            if levels and math.isfinite(missing):
                # a percentage is of the non-missing patients, so printing one reveals that
                # denominator: the levels alone add up to a known total (checked first: hiding a
                # level beats hiding the Missing count, which would cost the percentages)
                relations.append(Relation(tuple(levels), remainder=_remainder(
                    sizes[group] - missing, level_parts), while_shown=((missing_line, group),)))
            # every cell with the Missing row add up to the arm's n; the undisplayed rest is the
            # "no" count of a yes/no variable or the non-missing count of a continuous one
            relations.append(Relation(tuple(cells), remainder=_remainder(sizes[group], parts)))
    status = suppression_status(pd.DataFrame(counts, columns=groups), groups, threshold=threshold,
                                relations=relations).to_numpy(dtype=object)
    for line, j in forced:
        status[line, j] = SMALL
    out = formatted.copy()
    small = small_count_label(threshold)
    for j, group in enumerate(groups):
        texts = out[headers[group]].astype(object).to_numpy()
        # a hidden Missing count would follow from n and any percentage's denominator: the
        # variable's percentages go (its counts stay, protected by the relation with n)
        for missing_line, arm, level_lines in percent_lines:
            if arm == j and status[missing_line, j] != SHOWN:
                for line in level_lines:
                    texts[line] = _PERCENT.sub("", str(texts[line]))
        texts[status[:, j] == SMALL] = small
        texts[status[:, j] == COMPLEMENT] = COMPLEMENT_LABEL
        out[headers[group]] = texts
    renames = {headers[g]: f"{g} (n {small})" for g in groups if is_small_count(sizes[g], threshold)}
    return out.rename(columns=renames)


_PERCENT = re.compile(r"\s*\([^()]*%\)")


def _table_one_groups(result: pd.DataFrame) -> list[str]:
    if "groups" in result.attrs:
        return [str(g) for g in result.attrs["groups"]]
    columns = list(result.columns)
    return columns[columns.index("summary") + 1: columns.index("p_value")]


def _table_one_sizes(result: pd.DataFrame, groups: Sequence[str]) -> dict[str, float]:
    patients = result[result["row_type"].to_numpy() == "patients"]
    return {g: float(patients[f"n_{g}"].iloc[0]) if len(patients) else math.nan for g in groups}


def _table_one_headers(formatted: pd.DataFrame, groups: Sequence[str]) -> dict[str, str]:
    headers = {}
    for group in groups:
        matches = [c for c in formatted.columns if c == group or str(c).startswith(f"{group} (n = ")]
        if len(matches) != 1:
            raise ValueError(f"the formatted Table 1 has no single column for arm {group!r}")
        headers[group] = matches[0]
    return headers


def _table_one_blocks(result: pd.DataFrame, formatted: pd.DataFrame) -> list[list[tuple[int, int]]]:
    """Per variable, the (row position in ``result``, row position in ``formatted``) pairs of its
    rows, the way ``format_table_one`` lays them out (a heading line before the levels of a
    category, variables in order of first appearance)."""
    kinds = result["row_type"].to_numpy(dtype=object)
    variables = result["variable"].to_numpy(dtype=object)
    order: dict[object, list[int]] = {}
    for raw in range(len(result)):
        if kinds[raw] != "patients":
            order.setdefault(variables[raw], []).append(raw)
    blocks, line = [], 0
    for raws in order.values():
        if kinds[raws[0]] == "level":
            line += 1
        blocks.append([(raw, line + k) for k, raw in enumerate(raws)])
        line += len(raws)
    if line != len(formatted):
        raise ValueError(f"the formatted Table 1 has {len(formatted)} rows, but its result "
                         f"lays out as {line}; pass format_table_one(result) unchanged")
    return blocks
