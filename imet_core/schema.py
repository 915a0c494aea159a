"""The registry schema: the single source of truth for every column IMET Explorer knows.

Every column of the registry file (``../shared/docs/contract.md`` section 1) and every column the
core derives from it is described once here: its canonical name, kind, when it is required,
its levels, a display label and a plain-language description. The loader
(:mod:`imet_core.io`), the data dictionary, the blank template and the pages all read from this
module, so a column is renamed or a level added in one place only.

Two forms of registry file exist (contract section 1):

* the **dates form** gives ``date_diagnosis``, ``date_surgery``, ``date_metastasis`` and
  ``date_last_followup`` (plus optional ``date_intervention`` and ``date_progression``);
* the **intervals form** gives ``mdfi_months``, ``os_months`` and ``pdrs_months`` instead (plus
  optional ``pfs_months`` with ``progressed``, and ``intervention_months``).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pandas as pd

__all__ = [
    "AGE_MAX",
    "AGE_MIN",
    "AGE_LT_CUTOFF",
    "AXILLARY_SURGERY_LEVELS",
    "BREAST_SURGERY_LEVELS",
    "GROUP_LEVELS",
    "HISTOLOGY_LEVELS",
    "MENOPAUSE_LEVELS",
    "NODAL_LEVELS",
    "RECEPTOR_LEVELS",
    "COLUMNS",
    "COLUMNS_BY_NAME",
    "Column",
    "CONTRACT_COLUMNS",
    "DATE_AGREEMENT_MONTHS",
    "DATES_FORM_COLUMNS",
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "DERIVED_ONLY_COLUMNS",
    "FALSE_SPELLINGS",
    "FRAME_COLUMNS",
    "INTERVAL_COLUMNS",
    "INTERVALS_FORM_COLUMNS",
    "INTERVENTION_LEVELS",
    "INTERVENTION_ORGAN",
    "Kind",
    "LABELS",
    "LEVEL_LABELS",
    "MDFI_GT_CUTOFF_MONTHS",
    "MISSING_SPELLINGS",
    "Requirement",
    "SITE_LEVELS",
    "TRUE_SPELLINGS",
    "YES_NO",
    "blank_template",
    "canonical_header",
    "data_dictionary",
]


class Kind(str, Enum):
    """What a column holds; decides how the loader reads and checks it."""

    TEXT = "text"
    NUMBER = "number"
    CATEGORY = "category"
    YES_NO = "yes/no"
    DATE = "date"


class Requirement(str, Enum):
    """When a column must be present and filled in."""

    ALWAYS = "always"
    DATES_FORM = "dates form"
    INTERVALS_FORM = "intervals form"
    IT_ROWS = "IT rows only"
    OPTIONAL = "optional"
    DERIVED = "derived (not in the file)"


@dataclass(frozen=True)
class Column:
    """One registry or derived column.

    Attributes
    ----------
    name : str
        Canonical lower-case name (as the contract spells it).
    kind : Kind
        Text, number, category, yes/no or date.
    required : Requirement
        When the column must be present and every cell filled in.
    label : str
        Short display label for pages and exports (e.g. ``"ER/PR+"``).
    description : str
        One plain sentence for the data dictionary.
    levels : tuple of str
        Allowed values of a category column, spelled as the contract spells them.
    minimum, maximum : float or None
        Allowed range of a number column (inclusive), ``None`` when open.
    unit : str
        Unit of a number column (``"years"``, ``"months"``), empty otherwise.
    derived : bool
        True when the core computes the column (always, or from dates in the dates form).
    """

    name: str
    kind: Kind
    required: Requirement
    label: str
    description: str
    levels: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    derived: bool = False


# --- levels and spellings (contract section 1) ----------------------------------------------

RECEPTOR_LEVELS: tuple[str, ...] = ("positive", "negative")
MENOPAUSE_LEVELS: tuple[str, ...] = ("pre", "post")
HISTOLOGY_LEVELS: tuple[str, ...] = ("IDC", "ILC", "IDC+ILC", "metaplastic", "other")
NODAL_LEVELS: tuple[str, ...] = ("NX", "N0", "N1", "N2", "N3")
BREAST_SURGERY_LEVELS: tuple[str, ...] = ("mastectomy", "segmental")
AXILLARY_SURGERY_LEVELS: tuple[str, ...] = ("SLNB", "ALND")
GROUP_LEVELS: tuple[str, ...] = ("IT", "ST")
INTERVENTION_LEVELS: tuple[str, ...] = (
    "lung_metastasectomy",
    "liver_metastasectomy",
    "liver_rfa",
    "lung_radiosurgery",
    "liver_radiosurgery",
    "liver_tare",
)
SITE_LEVELS: tuple[str, ...] = ("lung", "liver", "lung+bone", "liver+bone", "multiple")
"""The five metastasis-site levels the paper uses; ``multiple`` = lung and liver, with or without bone."""

INTERVENTION_ORGAN: dict[str, str] = {
    level: level.split("_", 1)[0] for level in INTERVENTION_LEVELS
}
"""Organ each intervention treats (``"lung"`` or ``"liver"``): the code's prefix."""

TRUE_SPELLINGS: tuple[str, ...] = ("yes", "true", "1")
FALSE_SPELLINGS: tuple[str, ...] = ("no", "false", "0")
YES_NO: dict[str, bool] = {
    **{spelling: True for spelling in TRUE_SPELLINGS},
    **{spelling: False for spelling in FALSE_SPELLINGS},
}
"""Accepted yes/no spellings (compared case-insensitively after trimming spaces)."""

MISSING_SPELLINGS: tuple[str, ...] = ("", "na", "n/a", "nan", "null", "none")
"""Cell contents read as an empty cell (case-insensitive, after trimming spaces), e.g. R's ``NA``."""

AGE_MIN: float = 18.0
AGE_MAX: float = 100.0
AGE_LT_CUTOFF: float = 55.0
"""``age_lt_55`` is ``age < 55`` (the paper's subgroup, "younger than 55 years")."""
MDFI_GT_CUTOFF_MONTHS: float = 24.0
"""``mdfi_gt_24`` is ``mdfi_months > 24`` (the paper's "MDFI longer than 24 months")."""
EARLIEST_YEAR: int = 1900
LATEST_YEAR: int = 2100
"""Dates outside these years (inclusive) are taken for typing errors."""
DATE_AGREEMENT_MONTHS: float = 0.5
"""A given interval may differ from the one computed from dates by at most this many months."""


def _receptor(name: str, label: str, description: str, required: Requirement) -> Column:
    return Column(name, Kind.CATEGORY, required, label, description, levels=RECEPTOR_LEVELS)


def _yes_no(name: str, label: str, description: str, required: Requirement = Requirement.ALWAYS,
            derived: bool = False) -> Column:
    return Column(name, Kind.YES_NO, required, label, description, derived=derived)


def _date(name: str, label: str, description: str, required: Requirement) -> Column:
    return Column(name, Kind.DATE, required, label, f"{description}; ISO date YYYY-MM-DD.")


def _months(name: str, label: str, description: str, required: Requirement) -> Column:
    return Column(name, Kind.NUMBER, required, label, description, minimum=0.0, unit="months",
                  derived=True)


CONTRACT_COLUMNS: tuple[Column, ...] = (
    Column("patient_id", Kind.TEXT, Requirement.ALWAYS, "Patient ID",
           "Pseudonymous registry id, unique per patient (never a name or hospital record number)."),
    Column("center", Kind.TEXT, Requirement.ALWAYS, "Centre", "Code of the enrolling centre."),
    Column("age", Kind.NUMBER, Requirement.ALWAYS, "Age",
           "Age at breast cancer diagnosis, in years (18-100).",
           minimum=AGE_MIN, maximum=AGE_MAX, unit="years"),
    Column("menopause", Kind.CATEGORY, Requirement.ALWAYS, "Menopausal status",
           "Menopausal status at diagnosis.", levels=MENOPAUSE_LEVELS),
    _receptor("er", "ER", "Oestrogen receptor status of the primary tumour.", Requirement.ALWAYS),
    _receptor("pr", "PR", "Progesterone receptor status of the primary tumour.",
              Requirement.ALWAYS),
    _receptor("her2", "HER2", "HER2 status of the primary tumour.", Requirement.ALWAYS),
    Column("histology", Kind.CATEGORY, Requirement.OPTIONAL, "Histology",
           "Histology of the primary tumour (blank = unknown).", levels=HISTOLOGY_LEVELS),
    Column("nodal_status", Kind.CATEGORY, Requirement.ALWAYS, "Nodal status",
           "Pathological nodal status.", levels=NODAL_LEVELS),
    Column("breast_surgery", Kind.CATEGORY, Requirement.OPTIONAL, "Breast surgery",
           "Primary breast surgery (blank = unknown).", levels=BREAST_SURGERY_LEVELS),
    Column("axillary_surgery", Kind.CATEGORY, Requirement.OPTIONAL, "Axillary surgery",
           "Axillary surgery (blank = unknown).", levels=AXILLARY_SURGERY_LEVELS),
    _yes_no("mets_lung", "Lung metastases", "Lung metastases at metastasis diagnosis."),
    _yes_no("mets_liver", "Liver metastases", "Liver metastases at metastasis diagnosis."),
    _yes_no("mets_bone", "Bone metastases", "Bone metastases at metastasis diagnosis."),
    _yes_no("mets_biopsy", "Metastasis biopsy", "Metastasis confirmed by biopsy."),
    Column("group", Kind.CATEGORY, Requirement.ALWAYS, "Treatment group",
           "IT = intervention for metastases, ST = systemic therapy only.", levels=GROUP_LEVELS),
    Column("intervention", Kind.CATEGORY, Requirement.IT_ROWS, "Intervention",
           "Metastasis-directed intervention; required for IT patients, blank for ST patients.",
           levels=INTERVENTION_LEVELS),
    _date("date_diagnosis", "Date of diagnosis", "Breast cancer diagnosis",
          Requirement.DATES_FORM),
    _date("date_surgery", "Date of breast surgery", "Primary breast surgery",
          Requirement.DATES_FORM),
    _date("date_metastasis", "Date of metastasis", "Diagnosis of the first distant metastasis",
          Requirement.DATES_FORM),
    _date("date_intervention", "Date of intervention",
          "Metastasis-directed intervention (IT patients only; blank if unknown)",
          Requirement.OPTIONAL),
    _date("date_progression", "Date of progression",
          "Progression after metastasis (blank if none)", Requirement.OPTIONAL),
    _date("date_last_followup", "Date of last follow-up", "Last contact or death",
          Requirement.DATES_FORM),
    _yes_no("dead", "Dead", "Vital status at last follow-up (yes = died)."),
    _receptor("er_met", "ER on metastasis",
              "Oestrogen receptor status on the metastasis biopsy (blank = not tested).",
              Requirement.OPTIONAL),
    _receptor("pr_met", "PR on metastasis",
              "Progesterone receptor status on the metastasis biopsy (blank = not tested).",
              Requirement.OPTIONAL),
    _receptor("her2_met", "HER2 on metastasis",
              "HER2 status on the metastasis biopsy (blank = not tested).", Requirement.OPTIONAL),
)
"""The contract's registry columns (dates form), in the contract's order."""

INTERVAL_COLUMNS: tuple[Column, ...] = (
    _months("mdfi_months", "MDFI (months)",
            "Metastasis detection-free interval: breast surgery to first distant metastasis, "
            "in months (computed from the dates in the dates form).", Requirement.INTERVALS_FORM),
    _months("os_months", "Overall survival (months)",
            "Breast cancer diagnosis to last follow-up or death, in months (computed from the "
            "dates in the dates form).", Requirement.INTERVALS_FORM),
    _months("pdrs_months", "PDRS (months)",
            "Post-distant-recurrence survival: metastasis diagnosis to last follow-up or death, "
            "in months (computed from the dates in the dates form).", Requirement.INTERVALS_FORM),
    _months("pfs_months", "PFS (months)",
            "Metastasis diagnosis to progression, or to last follow-up without progression, in "
            "months (computed from the dates in the dates form; blank = unknown).",
            Requirement.OPTIONAL),
    _yes_no("progressed", "Progressed",
            "Progression after metastasis (goes with pfs_months; in the dates form: a date of "
            "progression is given).", Requirement.OPTIONAL, derived=True),
    _months("intervention_months", "Time to intervention (months)",
            "Metastasis diagnosis to the metastasis-directed intervention, in months (IT patients "
            "only; computed from the dates in the dates form).", Requirement.OPTIONAL),
)
"""Columns of the intervals form; the core derives them from the dates in the dates form."""

DERIVED_ONLY_COLUMNS: tuple[Column, ...] = (
    Column("entry_months", Kind.NUMBER, Requirement.DERIVED, "Diagnosis to metastasis (months)",
           "Breast cancer diagnosis to metastasis diagnosis, in months (os_months - pdrs_months): "
           "the delayed-entry time of overall survival.", unit="months", derived=True),
    _yes_no("age_lt_55", "Age < 55", "Younger than 55 years at diagnosis.",
            Requirement.DERIVED, derived=True),
    _yes_no("hr_positive", "ER/PR+", "Hormone-receptor positive: ER positive or PR positive.",
            Requirement.DERIVED, derived=True),
    _yes_no("her2_positive", "HER2+", "HER2 positive primary tumour.",
            Requirement.DERIVED, derived=True),
    _yes_no("mdfi_gt_24", "MDFI > 24 months", "Metastasis detection-free interval longer than "
            "24 months.", Requirement.DERIVED, derived=True),
    Column("site", Kind.CATEGORY, Requirement.DERIVED, "Metastasis site",
           "Metastatic organs as the paper groups them: lung, liver, lung+bone, liver+bone, or "
           "multiple (lung and liver, with or without bone).", levels=SITE_LEVELS, derived=True),
)
"""Columns the core always computes; a file never needs them (they are ignored if present)."""

COLUMNS: tuple[Column, ...] = CONTRACT_COLUMNS + INTERVAL_COLUMNS + DERIVED_ONLY_COLUMNS
"""Every column of a loaded registry frame, in the frame's order."""

COLUMNS_BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}

FRAME_COLUMNS: tuple[str, ...] = tuple(column.name for column in COLUMNS)
"""Column names of the frame :func:`imet_core.io.load_registry` returns, in order."""

DATES_FORM_COLUMNS: tuple[str, ...] = tuple(c.name for c in CONTRACT_COLUMNS)
"""File columns of the dates form, in the contract's order."""

def _intervals_form_columns() -> tuple[str, ...]:
    names: list[str] = []
    for name in DATES_FORM_COLUMNS:
        if name == "date_diagnosis":
            names.extend(column.name for column in INTERVAL_COLUMNS)
        elif COLUMNS_BY_NAME[name].kind is not Kind.DATE:
            names.append(name)
    return tuple(names)


INTERVALS_FORM_COLUMNS: tuple[str, ...] = _intervals_form_columns()
"""File columns of the intervals form: the dates replaced by the intervals, in the same place."""

LABELS: dict[str, str] = {column.name: column.label for column in COLUMNS}
"""Display label of every column, e.g. ``LABELS["hr_positive"] == "ER/PR+"``."""

LEVEL_LABELS: dict[str, dict[str, str]] = {
    "intervention": {
        "lung_metastasectomy": "Lung metastasectomy",
        "liver_metastasectomy": "Liver metastasectomy",
        "liver_rfa": "Liver RF ablation",
        "lung_radiosurgery": "Lung radiosurgery",
        "liver_radiosurgery": "Liver radiosurgery",
        "liver_tare": "Liver TARE",
    },
    "site": {
        "lung": "Lung only",
        "liver": "Liver only",
        "lung+bone": "Lung + bone",
        "liver+bone": "Liver + bone",
        "multiple": "Lung + liver (± bone)",
    },
    "group": {"IT": "Intervention (IT)", "ST": "Systemic therapy only (ST)"},
    "menopause": {"pre": "Premenopausal", "post": "Postmenopausal"},
    "breast_surgery": {"mastectomy": "Mastectomy", "segmental": "Segmental mastectomy"},
}
"""Display labels of category levels where the stored code is not readable as is."""


def canonical_header(header: object) -> str:
    """Normalise a header as written to the form matched against canonical names.

    Column names are matched case-insensitively after trimming spaces (contract section 1);
    inner runs of spaces also count as one underscore, so ``"Patient ID"`` matches
    ``patient_id``.

    Parameters
    ----------
    header : object
        The header cell as read (``None`` for an empty cell).

    Returns
    -------
    str
        The lower-case, trimmed name ("" for an empty header).
    """
    if header is None:
        return ""
    text = str(header).replace("\ufeff", "").strip().lower()
    return "_".join(text.split())


def data_dictionary() -> pd.DataFrame:
    """Describe every column of the registry and of the loaded frame.

    Returns
    -------
    pandas.DataFrame
        One row per column, contract columns first (contract order), then the intervals-form
        columns, then the derived-only columns. Columns:

        - ``column``: canonical name;
        - ``label``: display label;
        - ``kind``: ``text``, ``number``, ``category``, ``yes/no`` or ``date``;
        - ``required``: ``always``, ``dates form``, ``intervals form``, ``IT rows only``,
          ``optional`` or ``derived (not in the file)``;
        - ``levels``: allowed values, comma-separated (yes/no columns list the accepted
          spellings; empty for other kinds);
        - ``description``: one plain sentence, with the unit and range where there is one;
        - ``derived``: True when the core computes the column.
    """
    rows = [
        {
            "column": column.name,
            "label": column.label,
            "kind": column.kind.value,
            "required": column.required.value,
            "levels": _levels_text(column),
            "description": column.description,
            "derived": column.derived,
        }
        for column in COLUMNS
    ]
    return pd.DataFrame(rows, columns=["column", "label", "kind", "required", "levels",
                                       "description", "derived"])


def _levels_text(column: Column) -> str:
    if column.kind is Kind.CATEGORY:
        return ", ".join(column.levels)
    if column.kind is Kind.YES_NO and column.required is not Requirement.DERIVED:
        return ", ".join(f"{t}/{f}" for t, f in zip(TRUE_SPELLINGS, FALSE_SPELLINGS))
    return ""


def blank_template(form: str = "dates") -> pd.DataFrame:
    """An empty registry with the file's headers in the contract's order.

    Parameters
    ----------
    form : {"dates", "intervals"}
        ``"dates"`` (default) gives the contract's columns with the six dates; ``"intervals"``
        replaces the dates by ``mdfi_months``, ``os_months``, ``pdrs_months``, ``pfs_months``,
        ``progressed`` and ``intervention_months``.

    Returns
    -------
    pandas.DataFrame
        Zero rows; columns :data:`DATES_FORM_COLUMNS` or :data:`INTERVALS_FORM_COLUMNS`
        (object dtype).
    """
    if form == "dates":
        names = DATES_FORM_COLUMNS
    elif form == "intervals":
        names = INTERVALS_FORM_COLUMNS
    else:
        raise ValueError(f"form must be 'dates' or 'intervals', not {form!r}")
    return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
