"""Start the app: ``python -m ui.launch [streamlit options]`` (what ``make run`` calls).

Streamlit decides per server process whether an app with a ``pages/`` folder uses the old
folder-based navigation, and it only learns otherwise once ``app.py`` has called
``st.navigation``. A copied deep link (``/survival?age_lt_55=yes``) opened first after a restart
would then run the page without ``app.py`` (no sidebar, no filters). Setting the flag before the
server starts makes every request go through ``app.py`` from the first one.
"""
from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

from ui.charts import ensure_plotly_js

APP = Path(__file__).resolve().parents[1] / "app.py"


def main(argv: list[str] | None = None) -> None:
    PagesManager.uses_pages_directory = False
    ensure_plotly_js()  # served from static/ before the first page asks for it
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
