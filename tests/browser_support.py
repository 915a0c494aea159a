"""Start the app on a free loopback port and drive Debian's chromium with Playwright."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(data_file: str | None = None, port: int | None = None):
    """Yield the base URL of a freshly started app; stop it afterwards."""
    port = port or free_port()
    env = dict(os.environ)
    if data_file:
        env["IMET_EXPLORER_DATA"] = data_file
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.launch", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("the app did not start within 60 s")
        yield url
    finally:
        stop(process, timeout=10)


def stop(process: subprocess.Popen, timeout: float) -> None:
    """Terminate a server process, killing it if it has not exited after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_until_idle(page, timeout_ms: int = 30000) -> None:
    """Wait until Streamlit has finished running the script and drawing."""
    page.wait_for_timeout(300)
    deadline = time.time() + timeout_ms / 1000
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count()
        skeleton = page.locator('[data-testid="stSkeleton"]').count()
        if not running and not skeleton:
            break
        page.wait_for_timeout(200)
    # charts (ui/charts.py) draw once the page has loaded plotly.js: wait until each one has drawn
    page.wait_for_function("() => Array.from(document.querySelectorAll('.imet-chart'))"
                           ".every(c => c.querySelector('.main-svg') || c.textContent)", timeout=timeout_ms)
    page.wait_for_timeout(500)
