"""Which registry this browser session looks at: the embedded synthetic cohort, or an upload.

An upload lives only in this session's memory (``st.session_state``): it is never written to
disk, never logged, and never put in a cache another session can read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from imet_core.io import frame_fingerprint, load_registry

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILES = (ROOT / "data" / "imet_synthetic.parquet", ROOT / "data" / "imet_synthetic.csv")
SYNTHETIC_LABEL = "Synthetic IMET cohort (not real patients)"
_SESSION_KEY = "_uploaded_registry"


@dataclass(frozen=True)
class Registry:
    """A loaded registry and what to call it."""

    frame: pd.DataFrame
    fingerprint: str
    source: str          # shown in banners, footers and exports
    is_synthetic: bool
    file_name: str | None = None

    @property
    def n(self) -> int:
        return int(len(self.frame))


def default_registry() -> Registry:
    """The embedded synthetic cohort, loaded and validated once per server process.

    ``IMET_EXPLORER_DATA`` may point at another synthetic file (tests and benchmarks use it)."""
    override = os.environ.get("IMET_EXPLORER_DATA")
    candidates = [Path(override)] if override else list(DEFAULT_FILES)
    for path in candidates:
        if path.exists():
            return _load_default(str(path))
    raise FileNotFoundError("The embedded synthetic cohort (data/imet_synthetic.csv) is missing.")


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_default(path: str) -> Registry:
    frame = load_registry(Path(path))
    return Registry(frame=frame, fingerprint=frame_fingerprint(frame), source=SYNTHETIC_LABEL,
                    is_synthetic=True, file_name=Path(path).name)


def current_registry() -> Registry:
    """The upload of this session if there is one, else the synthetic cohort."""
    uploaded = st.session_state.get(_SESSION_KEY)
    return uploaded if uploaded is not None else default_registry()


def use_upload(frame: pd.DataFrame, file_name: str) -> Registry:
    """Make a validated upload this session's registry (memory only)."""
    registry = Registry(frame=frame, fingerprint=frame_fingerprint(frame), source=f"Uploaded file: {file_name}",
                        is_synthetic=False, file_name=file_name)
    st.session_state[_SESSION_KEY] = registry
    st.session_state.pop("_view_cache", None)
    return registry


def use_default() -> None:
    """Forget this session's upload and return to the synthetic cohort."""
    st.session_state.pop(_SESSION_KEY, None)
    st.session_state.pop("_view_cache", None)


def load_upload(uploaded_file) -> pd.DataFrame:
    """Validate an ``st.file_uploader`` file in memory (raises RegistryError)."""
    return load_registry(uploaded_file, name=getattr(uploaded_file, "name", None))
