"""Access (issue 8): the server's protective settings, and the optional sign-in with Streamlit's
built-in OpenID Connect (``st.login``), configured in ``.streamlit/secrets.toml`` (docs/access.md).

* Configuration: XSRF protection on, CORS restricted, a maximum upload size equal to the loader's
  limit, usage statistics off, no error details shown to users, no secrets file in the repository,
  and a complete, placeholder-only ``secrets.toml.example``.
* The gate (AppTest): without an ``[auth]`` section the app runs as before; with one, a visitor
  who is not logged in sees a sign-in page and nothing else (no data, no sidebar); once logged in,
  the app, their name and a sign-out button.
* End to end (browser): the real server with a secrets file pointing at a small OpenID provider
  on loopback (written here: discovery, authorize, token, JWKS with an RS256-signed ID token).
  The visitor signs in, lands on the app signed in, and signs out again.
"""
from __future__ import annotations

import http.server
import json
import os
import re
import secrets as random_secrets
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import imet_core.io as loader
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, wait_until_idle
from tests.support.random_registry import random_registry_table
from tests.test_privacy import serve

CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
EXAMPLE = ROOT / ".streamlit" / "secrets.toml.example"


# --- configuration --------------------------------------------------------------------------


def _effective_config() -> str:
    """``streamlit config show`` from the repository: the options the server will really use."""
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")})
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


@pytest.fixture(scope="module")
def effective() -> str:
    return _effective_config()


@pytest.mark.parametrize("line", [
    "enableXsrfProtection = true",   # forms and uploads need the XSRF cookie
    "enableCORS = true",             # only this origin may call the server
    "maxUploadSize = 200",           # MB, refused by Streamlit before the app sees it
    "gatherUsageStats = false",      # no telemetry
    'showErrorDetails = "none"',     # no tracebacks (and no data in them) shown to users
    "headless = true",
    'toolbarMode = "viewer"',
])
def test_protective_settings_are_in_effect(effective, line):
    assert re.search(rf"^{re.escape(line)}$", effective, re.MULTILINE), line


def test_config_file_sets_them_explicitly():
    assert CONFIG["server"]["enableXsrfProtection"] is True
    assert CONFIG["server"]["enableCORS"] is True
    assert CONFIG["browser"]["gatherUsageStats"] is False
    assert CONFIG["client"]["showErrorDetails"] == "none"


def test_upload_limit_is_the_loaders_limit():
    assert CONFIG["server"]["maxUploadSize"] * 1024 * 1024 == loader.READ_BYTES_LIMIT


def test_no_secrets_file_is_committed():
    tracked = subprocess.run(["git", "ls-files", ".streamlit"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert ".streamlit/secrets.toml" not in tracked
    assert ".streamlit/secrets.toml.example" in tracked or EXAMPLE.exists()


def test_secrets_example_is_complete_and_holds_no_secret():
    example = tomllib.loads(EXAMPLE.read_text())
    auth = example["auth"]
    assert auth["redirect_uri"].endswith("/oauth2callback")
    for key in ("cookie_secret", "client_id", "client_secret", "server_metadata_url"):
        assert key in auth, key
    assert auth["server_metadata_url"].endswith("/.well-known/openid-configuration")
    for key in ("cookie_secret", "client_secret"):
        assert "REPLACE" in auth[key], "placeholders only, never a real secret"


# --- the gate (AppTest) -----------------------------------------------------------------------

AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback",
                 "cookie_secret": "a-test-cookie-secret-of-some-length",
                 "client_id": "imet-explorer", "client_secret": "test",
                 "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}


@pytest.fixture
def data_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "registry.csv"
    random_registry_table(120, seed=5).to_csv(path, index=False)
    monkeypatch.setenv("IMET_EXPLORER_DATA", str(path))
    return path


def _app(secrets: dict, user: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets.update(secrets)
    at.user = user
    return at.run()


def _shows_data(at: AppTest) -> bool:
    return bool(len(at.metric) or len(at.dataframe) or len(at.get("bidi_component")) or len(at.sidebar.children)
                or any("Synthetic data" in i.value for i in at.info))


def test_without_auth_secrets_the_app_runs_openly(data_file, through_app_py):
    at = _app({}, {})
    assert not at.exception
    assert _shows_data(at)
    assert not [b for b in at.button if b.label.startswith("Sign in")]


def test_with_auth_a_visitor_sees_only_the_sign_in_page(data_file, through_app_py):
    at = _app(AUTH, {"is_logged_in": False})
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not _shows_data(at)
    # (a copied deep link such as /survival leads to the same page: the browser test below)


def test_with_named_providers_there_is_one_button_each(data_file, through_app_py):
    shared = {k: AUTH["auth"][k] for k in ("redirect_uri", "cookie_secret")}
    provider = {k: AUTH["auth"][k] for k in ("client_id", "client_secret", "server_metadata_url")}
    at = _app({"auth": {**shared, "okta": provider, "entra": provider}}, {"is_logged_in": False})
    assert sorted(b.label for b in at.button) == ["Sign in with entra", "Sign in with okta"]
    assert not _shows_data(at)


def test_a_logged_in_user_sees_the_app_their_name_and_sign_out(data_file, through_app_py):
    at = _app(AUTH, {"is_logged_in": True, "name": "Dr Ada Test", "email": "ada@example.org"})
    assert not at.exception
    assert _shows_data(at)
    assert "Signed in as Dr Ada Test" in [c.value for c in at.sidebar.caption]
    assert "Sign out" in [b.label for b in at.sidebar.button]


# --- end to end: a real server and a small OpenID provider on loopback ----------------------------


class _Provider(http.server.ThreadingHTTPServer):
    """A minimal OpenID Connect provider: discovery, authorize (always consents), token (an
    RS256-signed ID token with the request's nonce), JWKS. Loopback only."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        from joserfc.jwk import RSAKey

        super().__init__(("127.0.0.1", 0), _ProviderHandler)
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "alg": "RS256", "use": "sig"})
        self.codes: dict[str, dict] = {}
        self.requests: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _ProviderHandler(http.server.BaseHTTPRequestHandler):
    server: _Provider

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def _json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        provider = self.server
        provider.requests.append(self.path)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/.well-known/openid-configuration":
            self._json({"issuer": provider.base, "authorization_endpoint": f"{provider.base}/authorize",
                        "token_endpoint": f"{provider.base}/token", "jwks_uri": f"{provider.base}/jwks",
                        "response_types_supported": ["code"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"]})
        elif url.path == "/jwks":
            self._json({"keys": [provider.key.as_dict(private=False)]})
        elif url.path == "/authorize":
            assert query["client_id"] == provider.client_id and query["response_type"] == "code"
            code = random_secrets.token_urlsafe(16)
            provider.codes[code] = {"nonce": query.get("nonce"), "redirect_uri": query["redirect_uri"]}
            target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:
        from joserfc import jwt

        provider = self.server
        provider.requests.append(self.path)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        grant = provider.codes.pop(form.get("code", ""), None)
        if self.path != "/token" or grant is None:
            self._json({"error": "invalid_grant"}, 400)
            return
        now = int(time.time())
        claims = {"iss": provider.base, "sub": "user-1", "aud": provider.client_id, "iat": now,
                  "exp": now + 600, "nonce": grant["nonce"], "name": "Dr Ada Test",
                  "email": "ada@example.org"}
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, provider.key)
        self._json({"access_token": random_secrets.token_urlsafe(16), "token_type": "Bearer",
                    "expires_in": 600, "id_token": id_token})


@pytest.mark.browser
def test_sign_in_and_out_through_a_real_openid_provider(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium).")
    pytest.importorskip("authlib", reason="st.login needs Authlib (pip install 'streamlit[auth]')")
    from playwright.sync_api import sync_playwright

    provider = _Provider("imet-explorer", random_secrets.token_urlsafe(16))
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    data = tmp_path / "registry.csv"
    random_registry_table(120, seed=5).to_csv(data, index=False)

    def secrets_for(port: int) -> Path:
        path = tmp_path / "secrets.toml"
        path.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{random_secrets.token_hex(32)}"\n'
            f'client_id = "{provider.client_id}"\n'
            f'client_secret = "{provider.client_secret}"\n'
            f'server_metadata_url = "{provider.base}/.well-known/openid-configuration"\n')
        return path

    port = free_port()
    try:
        with serve(tmp_path, data_file=data, port=port,
                   extra_args=("--secrets.files", str(secrets_for(port)))) as (url, _), \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/survival")  # a deep link, before signing in
            sign_in = page.get_by_role("button", name="Sign in")
            sign_in.wait_for(timeout=60000)
            wait_until_idle(page)
            body = page.locator("body").inner_text()
            assert "Synthetic data" not in body and "Hazard ratio" not in body
            assert page.locator('[data-testid="stSidebar"]').count() == 0
            assert page.locator('[data-testid="stException"]').count() == 0

            sign_in.click()
            page.wait_for_selector("text=Signed in as Dr Ada Test", timeout=60000)
            wait_until_idle(page)
            assert "Synthetic data" in page.locator('[data-testid="stMain"]').inner_text()
            assert any(r.startswith("/authorize?") for r in provider.requests)
            assert "/token" in provider.requests

            page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
            page.get_by_role("button", name="Sign in").wait_for(timeout=60000)
            assert "Synthetic data" not in page.locator("body").inner_text()
            browser.close()
    finally:
        provider.shutdown()
        provider.server_close()
