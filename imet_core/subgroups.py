"""Subgroup filters and the dashboard's selection (subgroup, endpoint, comparison).

One immutable :class:`SubgroupFilter` holds the design card's subgroups (age < 55, ER/PR+,
HER2+, MDFI > 24 months: each any/yes/no; metastasis site: any subset of the five levels).
A :class:`Selection` adds the survival endpoint and the comparison, and round-trips exactly
through URL query parameters so that a copied link reproduces the view.  The command line's
``--subgroup key=value`` arguments are parsed by :func:`parse_subgroup_args`.

Nothing here imports Streamlit; the pages read ``st.query_params`` themselves and pass a plain
mapping to :meth:`Selection.from_query_params`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from imet_core import schema

__all__ = [
    "ANY",
    "YES",
    "NO",
    "TRI_STATES",
    "SITE_LEVELS",
    "SITE_LABELS",
    "SUBGROUP_KEYS",
    "SUBGROUP_LABELS",
    "ENDPOINTS",
    "COMPARISONS",
    "QUERY_KEYS",
    "Endpoint",
    "SubgroupFilter",
    "Selection",
    "ComparisonArms",
    "comparison_arms",
    "parse_subgroup_args",
]

TriState = Literal["any", "yes", "no"]
ANY: TriState = "any"
YES: TriState = "yes"
NO: TriState = "no"
TRI_STATES: tuple[str, ...] = (ANY, YES, NO)

SITE_LEVELS: tuple[str, ...] = schema.SITE_LEVELS
"""The five metastasis-site levels of the registry frame's ``site`` column (from the schema)."""

SITE_LABELS: dict[str, str] = dict(schema.LEVEL_LABELS["site"])
"""Display names of the site levels ("multiple" = lung and liver, with or without bone)."""

SUBGROUP_KEYS: tuple[str, ...] = ("age_lt_55", "hr_positive", "her2_positive", "mdfi_gt_24")
"""The tri-state subgroup filters, in display order; each is a bool column of the frame."""

SUBGROUP_LABELS: dict[str, dict[str, str]] = {
    "age_lt_55": {YES: "Age < 55", NO: "Age ≥ 55", "name": "Age < 55"},
    "hr_positive": {YES: "ER/PR+", NO: "ER/PR−", "name": "ER/PR+"},
    "her2_positive": {YES: "HER2+", NO: "HER2−", "name": "HER2+"},
    "mdfi_gt_24": {YES: "MDFI > 24 months", NO: "MDFI ≤ 24 months", "name": "MDFI > 24 months"},
}
"""For each tri-state key: the text shown for ``yes``, for ``no``, and the sidebar label
(the design card's and issue 4's wording; the minus sign is U+2212)."""

_SITE_KEY = "site"
_ALL_LABEL = "All patients"
_SEPARATOR = " · "


# --------------------------------------------------------------------------------------------
# Subgroup filter
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubgroupFilter:
    """An immutable subgroup definition.

    Parameters
    ----------
    age_lt_55, hr_positive, her2_positive, mdfi_gt_24 : {"any", "yes", "no"}
        Keep every patient ("any"), only those with the property ("yes"), or only those
        without it ("no").  ``hr_positive`` is ER+ or PR+.
    sites : frozenset of str
        Metastasis-site levels to keep (subset of :data:`SITE_LEVELS`).  Empty means no site
        filter.  Selecting all five is the same as no site filter and is normalised to the
        empty set, so that equal subgroups compare equal and round-trip to the same link.

    Raises
    ------
    ValueError
        For a tri-state value other than any/yes/no or an unknown site level.
    """

    age_lt_55: TriState = ANY
    hr_positive: TriState = ANY
    her2_positive: TriState = ANY
    mdfi_gt_24: TriState = ANY
    sites: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for key in SUBGROUP_KEYS:
            value = getattr(self, key)
            if value not in TRI_STATES:
                raise ValueError(
                    f"subgroup {key}={value!r} is not allowed; allowed values: {', '.join(TRI_STATES)}"
                )
        sites = self.sites
        if isinstance(sites, str):
            sites = (sites,)
        sites = frozenset(sites)
        unknown = sorted(str(s) for s in sites if s not in SITE_LEVELS)
        if unknown:
            raise ValueError(
                f"site={','.join(unknown)} is not allowed; allowed sites: {', '.join(SITE_LEVELS)}"
            )
        if sites == frozenset(SITE_LEVELS):
            sites = frozenset()
        object.__setattr__(self, "sites", sites)

    # -- state ------------------------------------------------------------------------------
    @property
    def is_default(self) -> bool:
        """True when the filter keeps every patient (no subgroup chosen)."""
        return self == SubgroupFilter()

    @property
    def ordered_sites(self) -> tuple[str, ...]:
        """The selected site levels in the canonical order of :data:`SITE_LEVELS`."""
        return tuple(level for level in SITE_LEVELS if level in self.sites)

    def active_steps(self) -> list[tuple[str, str]]:
        """The filters that restrict the cohort, in order, as ``(key, label)`` pairs."""
        steps = [
            (key, SUBGROUP_LABELS[key][getattr(self, key)])
            for key in SUBGROUP_KEYS
            if getattr(self, key) != ANY
        ]
        if self.sites:
            steps.append((_SITE_KEY, _describe_sites(self.ordered_sites)))
        return steps

    # -- text -------------------------------------------------------------------------------
    def describe(self) -> str:
        """A readable one-line description, e.g. ``"Age < 55 · HER2+ · Liver only"``.

        Returns ``"All patients"`` for the default filter.
        """
        steps = self.active_steps()
        if not steps:
            return _ALL_LABEL
        return _SEPARATOR.join(label for _, label in steps)

    # -- data -------------------------------------------------------------------------------
    def step_masks(self, frame: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
        """One boolean array per active filter: ``(key, label, rows passing this filter)``.

        Each array is for that filter alone (not cumulative).  A row whose filter column is
        missing (NaN) does not pass an active filter on that column.

        Raises
        ------
        ValueError
            If a column needed by an active filter is absent from ``frame``.
        """
        self._require_columns(frame)
        masks = []
        for key in SUBGROUP_KEYS:
            state = getattr(self, key)
            if state != ANY:
                masks.append((key, SUBGROUP_LABELS[key][state], _tri_state_mask(frame[key], state)))
        if self.sites:
            label = _describe_sites(self.ordered_sites)
            masks.append((_SITE_KEY, label, frame[_SITE_KEY].isin(self.ordered_sites).to_numpy(dtype=bool)))
        return masks

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows of ``frame`` inside the subgroup, as a boolean ndarray of length ``len(frame)``.

        Vectorised (one pass per active filter), so a million rows take milliseconds.
        """
        keep = np.ones(len(frame), dtype=bool)
        for _, _, step in self.step_masks(frame):
            keep &= step
        return keep

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` inside the subgroup (a copy; the original index is kept, so
        spreadsheet row numbers = index + 2 stay meaningful)."""
        return frame.loc[self.mask(frame)].copy()

    def flow(self, frame: pd.DataFrame) -> pd.DataFrame:
        """How many patients each filter removed, in the order the filters are applied.

        Returns
        -------
        pandas.DataFrame
            One row per step; step 0 is the whole cohort, then one row per active filter.
            Columns:

            - ``step`` (int): 0, 1, 2, ...
            - ``key`` (str): ``"all"`` for step 0, else the filter key (``age_lt_55``,
              ``hr_positive``, ``her2_positive``, ``mdfi_gt_24``, ``site``).
            - ``label`` (str): ``"All patients"`` or the filter's text (``"Age < 55"``).
            - ``n_remaining`` (int): patients left after this step.
            - ``n_removed`` (int): patients this step removed (0 for step 0).

            The last ``n_remaining`` equals ``mask(frame).sum()``.
        """
        keep = np.ones(len(frame), dtype=bool)
        rows = [{"step": 0, "key": "all", "label": _ALL_LABEL, "n_remaining": len(frame), "n_removed": 0}]
        for number, (key, label, step) in enumerate(self.step_masks(frame), start=1):
            before = int(keep.sum())
            keep &= step
            after = int(keep.sum())
            rows.append({"step": number, "key": key, "label": label, "n_remaining": after,
                         "n_removed": before - after})
        result = pd.DataFrame(rows, columns=["step", "key", "label", "n_remaining", "n_removed"])
        return result.astype({"step": "int64", "n_remaining": "int64", "n_removed": "int64"})

    # -- links ------------------------------------------------------------------------------
    def to_query_params(self) -> dict[str, str]:
        """Only the non-default filters, as URL query parameters (see :class:`Selection`)."""
        params = {key: getattr(self, key) for key in SUBGROUP_KEYS if getattr(self, key) != ANY}
        if self.sites:
            params[_SITE_KEY] = ",".join(self.ordered_sites)
        return params

    def _require_columns(self, frame: pd.DataFrame) -> None:
        needed = [key for key in SUBGROUP_KEYS if getattr(self, key) != ANY]
        if self.sites:
            needed.append(_SITE_KEY)
        absent = [column for column in needed if column not in frame.columns]
        if absent:
            raise ValueError(
                f"the subgroup needs column(s) {', '.join(absent)}, which the data does not have"
            )


def _tri_state_mask(column: pd.Series, state: str) -> np.ndarray:
    """Rows where a yes/no column is True (state "yes") or False (state "no"); NaN never passes."""
    values = column.to_numpy()
    if values.dtype == bool:
        return values.copy() if state == YES else ~values
    wanted = state == YES
    # object or nullable columns: compare element-wise; missing values compare unequal.
    return column.eq(wanted).fillna(False).to_numpy(dtype=bool)


def _describe_sites(sites: Sequence[str]) -> str:
    """``("liver",)`` -> "Liver only"; several sites -> "Lung only, liver only or lung + bone"."""
    labels = [SITE_LABELS[s] for s in sites]
    if len(labels) == 1:
        return labels[0]
    labels = [labels[0]] + [label[0].lower() + label[1:] for label in labels[1:]]
    return ", ".join(labels[:-1]) + " or " + labels[-1]


# --------------------------------------------------------------------------------------------
# Endpoints and comparisons
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """A survival endpoint: which columns of the registry frame define it.

    Attributes
    ----------
    key : str
        ``"os"`` or ``"pdrs"`` (the value in links and on the command line).
    label : str
        Full display name.
    short_label : str
        Abbreviation (``"OS"``, ``"PDRS"``).
    origin : str
        The time origin in words.
    time_column, event_column : str
        Columns of the frame holding the time (months) and the event indicator (bool).
    delayed_entry_column : str or None
        Column with the left-truncation (delayed-entry) time, for analyses that correct the
        immortal time between the origin and registry entry (metastasis diagnosis).  The
        paper's own analysis does not (everyone is at risk from time 0); pass it as
        ``entry=`` only for the corrected analysis.  None when the origin is registry entry.
    """

    key: str
    label: str
    short_label: str
    origin: str
    time_column: str
    event_column: str
    delayed_entry_column: str | None


ENDPOINTS: dict[str, Endpoint] = {
    "os": Endpoint(
        key="os",
        label="Overall survival (from breast cancer diagnosis)",
        short_label="OS",
        origin="breast cancer diagnosis",
        time_column="os_months",
        event_column="dead",
        delayed_entry_column="entry_months",
    ),
    "pdrs": Endpoint(
        key="pdrs",
        label="Post-distant-recurrence survival (from metastasis diagnosis)",
        short_label="PDRS",
        origin="metastasis diagnosis",
        time_column="pdrs_months",
        event_column="dead",
        delayed_entry_column=None,
    ),
}
"""The two survival endpoints of the paper, by key."""


@dataclass(frozen=True)
class _ComparisonSpec:
    key: str
    label: str
    column: str
    # (stored value, arm label) pairs in display order
    arms: tuple[tuple[object, str], ...]
    reference: str


COMPARISONS: dict[str, _ComparisonSpec] = {
    spec.key: spec
    for spec in (
        _ComparisonSpec("group", "IT vs ST", "group", (("IT", "IT"), ("ST", "ST")), "ST"),
        _ComparisonSpec("age_lt_55", "Age < 55 vs ≥ 55", "age_lt_55",
                        ((True, "Age < 55"), (False, "Age ≥ 55")), "Age ≥ 55"),
        _ComparisonSpec("hr_positive", "ER/PR+ vs ER/PR−", "hr_positive",
                        ((True, "ER/PR+"), (False, "ER/PR−")), "ER/PR−"),
        _ComparisonSpec("her2_positive", "HER2+ vs HER2−", "her2_positive",
                        ((True, "HER2+"), (False, "HER2−")), "HER2−"),
        _ComparisonSpec("mdfi_gt_24", "MDFI > 24 vs ≤ 24 months", "mdfi_gt_24",
                        ((True, "MDFI > 24 months"), (False, "MDFI ≤ 24 months")), "MDFI ≤ 24 months"),
        _ComparisonSpec("menopause", "Premenopausal vs postmenopausal", "menopause",
                        (("pre", "Premenopausal"), ("post", "Postmenopausal")), "Postmenopausal"),
        _ComparisonSpec("mets_biopsy", "Metastasis biopsy vs none", "mets_biopsy",
                        ((True, "Biopsy-confirmed"), (False, "No biopsy")), "No biopsy"),
        _ComparisonSpec("site", "Metastasis site", "site",
                        tuple((level, SITE_LABELS[level]) for level in SITE_LEVELS), SITE_LABELS["lung"]),
    )
}
"""The comparisons the dashboard offers, by key.  Reference arms follow the paper's Table 2
(ST; age ≥ 55; ER/PR−; HER2−; MDFI ≤ 24; postmenopausal; lung only)."""


@dataclass(frozen=True, eq=False)
class ComparisonArms:
    """The arms of a comparison for one frame.

    Attributes
    ----------
    comparison : str
        The comparison key (``"group"``, ``"age_lt_55"``, ..., ``"site"``).
    label : str
        Display name of the comparison, e.g. ``"IT vs ST"``.
    column : str
        The frame column the arms come from.
    levels : tuple of str
        Arm labels in display order (all arms, even those with no patient in this frame).
    reference : str
        The reference arm's label (hazard ratios are for each other arm versus it).
    arm : pandas.Series
        Categorical Series aligned with the frame's index, categories = ``levels``; NaN for a
        row whose comparison column is missing or holds a value outside the arms.
    """

    comparison: str
    label: str
    column: str
    levels: tuple[str, ...]
    reference: str
    arm: pd.Series

    @property
    def non_reference(self) -> tuple[str, ...]:
        """The arms other than the reference, in display order."""
        return tuple(level for level in self.levels if level != self.reference)

    def counts(self) -> pd.Series:
        """Patients per arm (every arm, zeros included), in display order."""
        return self.arm.value_counts(sort=False).reindex(list(self.levels), fill_value=0)


def comparison_arms(frame: pd.DataFrame, comparison: str) -> ComparisonArms:
    """Split the rows of ``frame`` into the arms of ``comparison``.

    Parameters
    ----------
    frame : pandas.DataFrame
        A loaded registry frame (or a subgroup of it).
    comparison : str
        One of :data:`COMPARISONS`: ``"group"`` (IT vs ST, reference ST), a binary subgroup
        variable (``age_lt_55``, ``hr_positive``, ``her2_positive``, ``mdfi_gt_24``,
        ``menopause``, ``mets_biopsy``; reference = the "no"/postmenopausal arm) or ``"site"``
        (five arms, reference lung only).

    Returns
    -------
    ComparisonArms
        Arm labels, their order, the reference arm and the per-row arm Series.

    Raises
    ------
    ValueError
        For an unknown comparison or a frame without the comparison's column.
    """
    spec = _comparison_spec(comparison)
    if spec.column not in frame.columns:
        raise ValueError(f"the comparison {comparison!r} needs column {spec.column!r}, which the data does not have")
    labels = tuple(label for _, label in spec.arms)
    values = frame[spec.column]
    codes = np.full(len(frame), -1, dtype=np.int8)  # -1 = no arm (missing or other value)
    for code, (stored, _) in enumerate(spec.arms):
        codes[values.eq(stored).fillna(False).to_numpy(dtype=bool)] = code
    arm = pd.Series(pd.Categorical.from_codes(codes, categories=list(labels)), index=frame.index, name="arm")
    return ComparisonArms(comparison=spec.key, label=spec.label, column=spec.column,
                          levels=labels, reference=spec.reference, arm=arm)


def _comparison_spec(comparison: str) -> _ComparisonSpec:
    try:
        return COMPARISONS[comparison]
    except (KeyError, TypeError):
        raise ValueError(
            f"comparison={comparison!r} is not allowed; allowed: {', '.join(COMPARISONS)}"
        ) from None


# --------------------------------------------------------------------------------------------
# Selection and its URL round trip
# --------------------------------------------------------------------------------------------
QUERY_KEYS: tuple[str, ...] = (*SUBGROUP_KEYS, _SITE_KEY, "endpoint", "compare")
"""Query-parameter keys written by :meth:`Selection.to_query_params`, in order."""

_DEFAULT_ENDPOINT = "os"
_DEFAULT_COMPARISON = "group"


@dataclass(frozen=True)
class Selection:
    """Everything that defines a dashboard view: subgroup, endpoint and comparison.

    Parameters
    ----------
    subgroup : SubgroupFilter
    endpoint : {"os", "pdrs"}
        ``"os"``: overall survival from breast cancer diagnosis (the paper's; ``os_months``,
        ``dead``).  ``"pdrs"``: survival from metastasis diagnosis (``pdrs_months``, ``dead``).
    comparison : str
        A key of :data:`COMPARISONS` (default ``"group"``: IT vs ST, reference ST).

    Raises
    ------
    ValueError
        For an unknown endpoint or comparison.
    """

    subgroup: SubgroupFilter = field(default_factory=SubgroupFilter)
    endpoint: str = _DEFAULT_ENDPOINT
    comparison: str = _DEFAULT_COMPARISON

    def __post_init__(self) -> None:
        if not isinstance(self.subgroup, SubgroupFilter):
            raise ValueError(f"subgroup must be a SubgroupFilter, not {type(self.subgroup).__name__}")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint={self.endpoint!r} is not allowed; allowed: {', '.join(ENDPOINTS)}")
        _comparison_spec(self.comparison)

    # -- endpoint helpers ---------------------------------------------------------------------
    @property
    def endpoint_spec(self) -> Endpoint:
        """The :class:`Endpoint` (columns and labels) of this selection."""
        return ENDPOINTS[self.endpoint]

    @property
    def time_column(self) -> str:
        """Column with the survival time in months (``os_months`` or ``pdrs_months``)."""
        return self.endpoint_spec.time_column

    @property
    def event_column(self) -> str:
        """Column with the event indicator (``dead``)."""
        return self.endpoint_spec.event_column

    @property
    def delayed_entry_column(self) -> str | None:
        """Left-truncation column for an immortal-time-corrected analysis (see :class:`Endpoint`)."""
        return self.endpoint_spec.delayed_entry_column

    @property
    def endpoint_label(self) -> str:
        """Display name of the endpoint."""
        return self.endpoint_spec.label

    # -- comparison helpers -------------------------------------------------------------------
    @property
    def comparison_label(self) -> str:
        """Display name of the comparison, e.g. ``"IT vs ST"``."""
        return COMPARISONS[self.comparison].label

    def arms(self, frame: pd.DataFrame) -> ComparisonArms:
        """:func:`comparison_arms` for this selection's comparison."""
        return comparison_arms(frame, self.comparison)

    def describe(self) -> str:
        """One line: subgroup · endpoint · comparison, e.g. ``"HER2+ · OS · IT vs ST"``."""
        return _SEPARATOR.join([self.subgroup.describe(), self.endpoint_spec.short_label, self.comparison_label])

    @property
    def is_default(self) -> bool:
        """True for the app's opening view (all patients, OS, IT vs ST)."""
        return self == Selection()

    # -- links --------------------------------------------------------------------------------
    def to_query_params(self) -> dict[str, str]:
        """The selection as URL query parameters, only the keys that differ from the default.

        Returns
        -------
        dict of str to str
            Keys in the order of :data:`QUERY_KEYS`: ``age_lt_55``, ``hr_positive``,
            ``her2_positive``, ``mdfi_gt_24`` (``yes``/``no``), ``site`` (comma-separated levels
            in canonical order, e.g. ``lung,liver+bone``), ``endpoint`` (``pdrs``), ``compare``
            (a comparison key).  Empty for the default selection.
        """
        params = self.subgroup.to_query_params()
        if self.endpoint != _DEFAULT_ENDPOINT:
            params["endpoint"] = self.endpoint
        if self.comparison != _DEFAULT_COMPARISON:
            params["compare"] = self.comparison
        return params

    @classmethod
    def from_query_params(
        cls,
        params: Mapping[str, str | Sequence[str]],
        *,
        other_keys: Iterable[str] = (),
    ) -> tuple["Selection", list[str]]:
        """Rebuild a selection from URL query parameters, never raising.

        Parameters
        ----------
        params : mapping of str to str or list of str
            E.g. ``st.query_params.to_dict()`` or a dict of lists from
            ``urllib.parse.parse_qs``.  Values are matched case-insensitively after trimming.
            ``site`` may be comma-separated, repeated, or both.
        other_keys : iterable of str
            Keys that belong to other parts of the app (passed over without a notice).

        Returns
        -------
        (Selection, list of str)
            The selection, and one plain-English notice per parameter that was ignored
            (unknown key, value not allowed, a key given several times with different values).
            Each ignored parameter keeps its default; the valid ones are used.
        """
        notices: list[str] = []
        ignored = set(other_keys)
        subgroup_values: dict[str, object] = {}
        endpoint, comparison = _DEFAULT_ENDPOINT, _DEFAULT_COMPARISON
        for raw_key, raw_value in params.items():
            key = str(raw_key).strip().lower()
            if raw_key in ignored or key in ignored:
                continue
            if key == _SITE_KEY:
                sites, site_notices = _parse_site_values(_as_list(raw_value))
                notices.extend(site_notices)
                subgroup_values["sites"] = sites
                continue
            if key not in QUERY_KEYS:
                notices.append(f"Ignored the unknown link parameter {raw_key!r}.")
                continue
            value, value_notice = _single_value(key, _as_list(raw_value))
            if value_notice:
                notices.append(value_notice)
            if value is None:
                continue
            if key in SUBGROUP_KEYS:
                if value in TRI_STATES:
                    subgroup_values[key] = value
                else:
                    notices.append(_not_allowed_notice(key, value, TRI_STATES))
            elif key == "endpoint":
                if value in ENDPOINTS:
                    endpoint = value
                else:
                    notices.append(_not_allowed_notice(key, value, tuple(ENDPOINTS)))
            elif key == "compare":
                if value in COMPARISONS:
                    comparison = value
                else:
                    notices.append(_not_allowed_notice(key, value, tuple(COMPARISONS)))
        selection = cls(subgroup=SubgroupFilter(**subgroup_values), endpoint=endpoint, comparison=comparison)
        return selection, notices


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def _single_value(key: str, values: list[str]) -> tuple[str | None, str | None]:
    """The one value of a scalar parameter, or None with a notice when it is ambiguous or empty."""
    cleaned = [v.strip().lower() for v in values]
    distinct = list(dict.fromkeys(cleaned))
    if not distinct or distinct == [""]:
        return None, f"Ignored the link parameter {key!r}: it has no value."
    if len(distinct) > 1:
        values_text = ", ".join(distinct)
        return None, f"Ignored the link parameter {key!r}: it was given several different values ({values_text})."
    return distinct[0], None


def _parse_site_values(values: list[str]) -> tuple[frozenset[str], list[str]]:
    """Site levels from comma-separated and/or repeated values; unknown levels get a notice."""
    notices = []
    sites = set()
    for value in values:
        for piece in value.split(","):
            level = piece.strip().lower()
            if not level or level in {ANY, "all"}:
                continue
            if level in SITE_LEVELS:
                sites.add(level)
            else:
                notices.append(_not_allowed_notice(_SITE_KEY, piece.strip(), SITE_LEVELS))
    return frozenset(sites), notices


def _not_allowed_notice(key: str, value: str, allowed: Sequence[str]) -> str:
    return f"Ignored {key}={value!r} in the link: allowed values are {', '.join(allowed)}."


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def parse_subgroup_args(args: Iterable[str]) -> SubgroupFilter:
    """Build a subgroup from the CLI's ``--subgroup key=value`` arguments.

    Parameters
    ----------
    args : iterable of str
        E.g. ``["age_lt_55=yes", "site=liver"]``.  Keys: ``age_lt_55``, ``hr_positive``,
        ``her2_positive``, ``mdfi_gt_24`` (values yes/no/any) and ``site`` (one or more
        comma-separated site levels; repeating ``site=`` adds levels).

    Returns
    -------
    SubgroupFilter

    Raises
    ------
    ValueError
        With a one-line message naming the offending argument and the allowed keys or values:
        an argument without ``=``, an unknown key, a value not allowed, or a key given twice with
        different values.
    """
    values: dict[str, str] = {}
    sites: set[str] = set()
    for argument in args:
        key, separator, value = str(argument).partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        allowed_keys = ", ".join((*SUBGROUP_KEYS, _SITE_KEY))
        if not separator:
            raise ValueError(f"subgroup {argument!r} is not key=value; allowed keys: {allowed_keys}")
        if key == _SITE_KEY:
            levels = [piece.strip() for piece in value.split(",") if piece.strip()]
            if not levels:
                raise ValueError(f"subgroup {argument!r} names no site; allowed sites: {', '.join(SITE_LEVELS)}")
            for level in levels:
                if level not in SITE_LEVELS:
                    raise ValueError(
                        f"unknown site {level!r} in subgroup {argument!r}; allowed sites: {', '.join(SITE_LEVELS)}"
                    )
            sites.update(levels)
        elif key in SUBGROUP_KEYS:
            if value not in TRI_STATES:
                raise ValueError(
                    f"unknown value {value!r} for subgroup key {key!r}; allowed values: {', '.join(TRI_STATES)}"
                )
            if key in values and values[key] != value:
                raise ValueError(f"subgroup key {key!r} given twice with different values ({values[key]}, {value})")
            values[key] = value
        else:
            raise ValueError(f"unknown subgroup key {key!r} in {argument!r}; allowed keys: {allowed_keys}")
    return SubgroupFilter(**values, sites=frozenset(sites))
