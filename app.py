"""IMET Explorer: the Streamlit entry point.

Builds ``st.navigation`` over the page files in ``pages/`` and draws what every page shares:
the sidebar (subgroup filters, endpoint, comparison; mirrored in the URL), the data-source
banner, and presentation mode. Pages read the shared state through ``ui.page``.

Login is off by default. When ``.streamlit/secrets.toml`` has an ``[auth]`` section (Streamlit's
built-in OpenID Connect, ``st.login``; see docs/access.md), nothing but a sign-in page is shown
until the user has logged in.
"""
from __future__ import annotations

import streamlit as st

from ui import page as shared
from ui.exports import deck_and_report_buttons, presentation_layout
from ui.sidebar import presentation_mode, show_link_notices, sidebar_selection

_PRESENTING = st.query_params.get("present") == "1" or bool(st.session_state.get("present"))
# The favicon is an emoji (drawn by the browser): a ":material/...:" icon would be fetched from
# fonts.gstatic.com, a third-party call on every page load (issue 8: nothing leaves the machine).
st.set_page_config(page_title="IMET Explorer", page_icon="📈", layout="wide",
                   initial_sidebar_state="collapsed" if _PRESENTING else "auto")



def _login_required() -> bool:
    """True when OIDC login is configured ([auth] in secrets.toml) and this user has not logged in."""
    configured = st.secrets.load_if_toml_exists() and "auth" in st.secrets
    return bool(configured) and not st.user.get("is_logged_in", False)


def _sign_in_page() -> None:
    st.title("IMET Explorer")
    st.info("Sign in with your institution's account to see the registry.", icon=":material/lock:")
    auth = st.secrets["auth"]
    providers = [name for name, value in auth.items() if hasattr(value, "items")] or [None]
    for provider in providers:
        label = "Sign in" if provider is None else f"Sign in with {provider}"
        if st.button(label, type="primary", key=f"login_{provider}"):
            st.login(provider)


PAGES = {
    "Explore": [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("pages/survival.py", title="Survival", icon=":material/show_chart:"),
        st.Page("pages/subgroups.py", title="Subgroups", icon=":material/forest:"),
        st.Page("pages/cox_models.py", title="Cox models", icon=":material/functions:"),
        st.Page("pages/table_one.py", title="Table 1", icon=":material/table:"),
    ],
    "Check": [
        st.Page("pages/bias_checks.py", title="Bias checks", icon=":material/balance:"),
        st.Page("pages/paper_check.py", title="Paper check", icon=":material/fact_check:"),
    ],
    "Data": [
        st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    ],
}

if _login_required():  # the gate: no sidebar, no banner, no page reads the data before login
    # every page's address leads to the sign-in page (a copied deep link shows no "page not found")
    addresses = [page.url_path for group in PAGES.values() for page in group if page.url_path]
    st.navigation([st.Page(_sign_in_page, title="Sign in", default=True)]
                  + [st.Page(_sign_in_page, title="Sign in", url_path=address) for address in addresses],
                  position="hidden").run()
    st.stop()

navigation = st.navigation(PAGES)
selection = sidebar_selection()
with st.sidebar:
    st.divider()
    st.toggle("Presentation mode", key="present",
              help="Larger type, sidebar collapsed, one chart per screen: for a projector.")
    if st.user.get("is_logged_in", False):
        st.caption(f"Signed in as {st.user.get('name') or st.user.get('email') or 'you'}")
        st.button("Sign out", on_click=st.logout, key="logout")
shared.set_context(selection)
with st.sidebar:
    st.markdown("### Meeting pack")
    deck_and_report_buttons(shared.context())
shared.apply_presentation_style(presentation_mode())
presentation_layout(presentation_mode())
shared.data_banner()
show_link_notices()
navigation.run()
