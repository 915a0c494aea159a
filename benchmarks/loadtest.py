"""Load test (issue 8): a tumour board opens the same link at once.

``make loadtest`` (``.venv/bin/python benchmarks/loadtest.py``) starts the app once on loopback
and drives N simultaneous headless browser sessions (default 20; Playwright's async API, one
Debian chromium, one context per session, so sessions share no cookie or storage). Every
session, at the same moment:

1. opens the Data page and uploads **its own** registry (a different size per session, its
   patient ids and file name tagged with the session's token);
2. runs a bounded plan of rounds (default 4): switch page, change a sidebar filter, switch page
   again; half-way through it uploads a second, different file that replaces the first;
3. after every action checks: no exception on the page, the banner names *its* file and *its*
   number of patients (the Overview's "Patients in the registry" too), and no other session's
   token appears anywhere on the page (no cross-talk).

Latency of an action is measured in the page: from the click's ``pointerdown`` (or the moment
the file is handed to the uploader) to the first poll (every 50 ms) at which the script run is
over (the app's ``data-test-script-state`` is ``notRunning``, no status widget) and the main area
shows new content; a rerun starting within 250 ms after that counts as part of the action. It prints count, median, p95 and max
per kind of action and overall, and writes everything to JSON
(default ``benchmarks/results/loadtest.json``). Exit status 1 if any error or cross-talk.

    .venv/bin/python benchmarks/loadtest.py [--sessions 20] [--rounds 4] [--out FILE]

Not part of the unit suite: with 20 sessions it takes a few minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, stop  # noqa: E402
from tests.support.random_registry import random_registry_table  # noqa: E402

PAGES = ("Survival", "Subgroups", "Table 1", "Overview", "Cox models")
FILTER_KEYS = ("age_lt_55", "hr_positive", "her2_positive", "mdfi_gt_24")
"""The sidebar's segmented controls, in the order they are drawn (ui/sidebar.py)."""
BUTTONS = {"any": "Any", "yes": "Yes", "no": "No"}
STATUS = '[data-testid="stStatusWidget"]'
MAIN = '[data-testid="stMain"]'
ACTION_TIMEOUT_MS = 240_000

_PROBE = """
() => {
  const probe = {t0: null};
  window.__imetLoad = probe;
  document.addEventListener('pointerdown', () => { if (probe.t0 === null) probe.t0 = performance.now(); },
                            {capture: true, once: true});
}
"""
_START_NOW = "() => { window.__imetLoad = {t0: performance.now()}; }"
_IDLE = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
         && !document.querySelector('[data-testid="stStatusWidget"]');
}
"""
_DONE = """
([before, needle]) => {
  const main = document.querySelector('[data-testid="stMain"]');
  const app = document.querySelector('[data-testid="stApp"]');
  if (!main || !app || app.getAttribute('data-test-script-state') !== 'notRunning'
      || document.querySelector('[data-testid="stStatusWidget"]')) return false;
  const text = main.innerText;
  if (text === before || (needle && !text.includes(needle))) return false;
  const probe = window.__imetLoad;
  if (probe && probe.t1 === undefined) probe.t1 = performance.now();
  return true;
}
"""


@dataclass
class Measure:
    session: int
    action: str
    seconds: float | None
    ok: bool
    problem: str = ""


@dataclass
class Session:
    index: int
    token: str
    uploads: list[tuple[str, bytes, int]]  # (file name, content, patients)
    measures: list[Measure] = field(default_factory=list)
    cross_talk: list[str] = field(default_factory=list)


def registry_upload(index: int, which: int, token: str) -> tuple[str, bytes, int]:
    """A valid registry of its own size, patient ids and file name tagged with the token."""
    patients = 120 + 17 * index + 60 * which
    raw = random_registry_table(patients, seed=1000 * which + index)
    raw["patient_id"] = [f"{token}-{which}-{i:04d}" for i in range(patients)]
    name = f"{token}-upload{which + 1}.csv"
    return name, raw.to_csv(index=False).encode(), patients


async def _settle(page, before: str, needle: str | None) -> float:
    """Wait for the run to end with new content; seconds since the probe's start."""
    await page.wait_for_function(_DONE, arg=[before, needle], timeout=ACTION_TIMEOUT_MS, polling=50)
    await page.wait_for_timeout(250)  # a rerun that starts right after counts as part of it
    if not await page.evaluate(_IDLE):
        await page.wait_for_function(_IDLE, timeout=ACTION_TIMEOUT_MS, polling=50)
        await page.evaluate("() => { window.__imetLoad.t1 = performance.now(); }")
    timing = await page.evaluate("() => window.__imetLoad")
    return (timing["t1"] - timing["t0"]) / 1000.0


async def _check(page, session: Session, others: list[str], upload: tuple[str, bytes, int],
                 where: str) -> str:
    """'' when the page is healthy and shows only this session's data, else the problem."""
    if await page.locator('[data-testid="stException"]').count():
        return f"{where}: exception on the page"
    text = await page.locator("body").inner_text()
    name, _, patients = upload
    if f"{name} · {patients:,} patients" not in text:
        return f"{where}: the banner does not name this session's upload ({name}, {patients})"
    leaked = [token for token in others if token in text]
    if leaked:
        session.cross_talk.append(f"{where}: saw {leaked}")
        return f"{where}: another session's data on the page ({leaked})"
    if where.startswith("Overview"):
        metric = page.locator('[data-testid="stMetric"]', has_text="Patients in the registry")
        value = (await metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()
        if value != f"{patients:,}":
            return f"{where}: Patients in the registry = {value}, expected {patients:,}"
    return ""


async def _upload(page, session: Session, upload: tuple[str, bytes, int], label: str) -> Measure:
    name, content, patients = upload
    before = await page.locator(MAIN).inner_text()
    await page.evaluate(_START_NOW)
    await page.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": content}])
    seconds = await _settle(page, before, f"Now analysing {name}: {patients:,} patients")
    return Measure(session.index, label, seconds, True)


async def _navigate(page, title: str) -> float:
    before = await page.locator(MAIN).inner_text()
    await page.evaluate(_PROBE)
    await page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first.click()
    return await _settle(page, before, None)


async def _change_filter(page, state: dict[str, str], rng: random.Random) -> float:
    key = rng.choice(FILTER_KEYS)
    value = rng.choice([v for v in BUTTONS if v != state[key]])
    state[key] = value
    before = await page.locator(MAIN).inner_text()
    await page.evaluate(_PROBE)
    control = page.locator('[data-testid="stSidebar"] [data-testid="stButtonGroup"]').nth(FILTER_KEYS.index(key))
    await control.get_by_text(BUTTONS[value], exact=True).click()
    return await _settle(page, before, None)


async def run_session(browser, url: str, session: Session, others: list[str], rounds: int,
                      start: asyncio.Event) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)  # 20 browsers share the server's CPUs here
    context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    page = await context.new_page()
    rng = random.Random(session.index)
    state = {key: "any" for key in FILTER_KEYS}
    upload = session.uploads[0]
    try:
        await start.wait()
        started = time.perf_counter()
        await page.goto(f"{url}/data", wait_until="commit")
        await page.locator('input[type="file"]').wait_for(state="attached", timeout=ACTION_TIMEOUT_MS)
        await page.wait_for_function(_IDLE, timeout=ACTION_TIMEOUT_MS, polling=100)
        session.measures.append(Measure(session.index, "open app", time.perf_counter() - started, True))
        measure = await _upload(page, session, upload, "upload")
        measure.problem = await _check(page, session, others, upload, "upload")
        measure.ok = not measure.problem
        session.measures.append(measure)
        for round_ in range(rounds):
            if round_ == rounds // 2 and len(session.uploads) > 1:  # replace the data mid-way
                await _navigate(page, "Data")
                upload = session.uploads[1]
                measure = await _upload(page, session, upload, "second upload")
                measure.problem = await _check(page, session, others, upload, "second upload")
                measure.ok = not measure.problem
                session.measures.append(measure)
            plan = [("page", PAGES[(session.index + 2 * round_) % len(PAGES)]), ("filter", None),
                    ("page", PAGES[(session.index + 2 * round_ + 1) % len(PAGES)])]
            for kind, title in plan:
                try:
                    if kind == "page":
                        seconds = await _navigate(page, title)
                        label, where = "switch page", f"{title} (round {round_ + 1})"
                    else:
                        seconds = await _change_filter(page, state, rng)
                        label, where = "change filter", f"filter (round {round_ + 1})"
                    problem = await _check(page, session, others, upload, where)
                    session.measures.append(Measure(session.index, label, seconds, not problem, problem))
                except Exception as error:  # noqa: BLE001 - recorded, the session goes on
                    session.measures.append(Measure(session.index, kind, None, False,
                                                    f"{type(error).__name__}: {str(error)[:300]}"))
    except Exception as error:  # noqa: BLE001 - a session that cannot start is an error
        session.measures.append(Measure(session.index, "session", None, False,
                                        f"{type(error).__name__}: {str(error)[:300]}"))
    finally:
        await context.close()


def _percentile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, R's type 7)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarise(measures: list[Measure]) -> dict[str, dict]:
    kinds = ["open app", "upload", "second upload", "switch page", "change filter"]
    out = {}
    for kind in kinds + ["all actions"]:
        values = [m.seconds for m in measures if m.seconds is not None and m.ok
                  and (kind == "all actions" and m.action != "open app" or m.action == kind)]
        if values:
            out[kind] = {"n": len(values), "median": statistics.median(values),
                         "p95": _percentile(values, 0.95), "max": max(values)}
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def start_server(data_file: Path, logs: Path, port: int) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env["IMET_EXPLORER_DATA"] = str(data_file)
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.launch", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"], cwd=ROOT, env=env,
        stdout=open(logs / "server.stdout", "wb"), stderr=open(logs / "server.stderr", "wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return process, url
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the app did not start")
            time.sleep(0.3)


async def drive(url: str, sessions: list[Session], rounds: int) -> float:
    from playwright.async_api import async_playwright

    tokens = [s.token for s in sessions]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        start = asyncio.Event()
        tasks = [asyncio.create_task(run_session(browser, url, s, [t for t in tokens if t != s.token],
                                                 rounds, start)) for s in sessions]
        await asyncio.sleep(1.0)  # every context is being created: let them all go at once
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
        await browser.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "loadtest.json")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print("Debian's chromium is missing: run `make chromium`.", file=sys.stderr)
        return 2
    sessions = []
    for i in range(args.sessions):
        token = f"LT{i:02d}x{secrets.token_hex(4)}"
        sessions.append(Session(i, token, [registry_upload(i, 0, token), registry_upload(i, 1, token)]))
    with tempfile.TemporaryDirectory(prefix="imet-load-") as folder:
        folder = Path(folder)
        default = folder / "default_registry.csv"
        random_registry_table(300, seed=99).to_csv(default, index=False)
        load_before = os.getloadavg()
        process, url = start_server(default, folder, free_port())
        try:
            cpu_before = _cpu_seconds(process.pid)
            elapsed = asyncio.run(drive(url, sessions, args.rounds))
            server_cpu = _cpu_seconds(process.pid) - cpu_before
        finally:
            stop(process, timeout=20)
        server_errors = [line for line in (folder / "server.stderr").read_text(errors="replace").splitlines()
                         if "Traceback" in line or "Error" in line]
    measures = [m for s in sessions for m in s.measures]
    errors = [asdict(m) for m in measures if not m.ok]
    cross_talk = [c for s in sessions for c in s.cross_talk]
    summary = summarise(measures)
    result = {
        "sessions": args.sessions, "rounds": args.rounds, "elapsed_seconds": elapsed,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_before": load_before},
        "server_cpu_seconds": server_cpu,
        "server_cpu_share": server_cpu / (elapsed * (os.cpu_count() or 1)),
        "summary": summary, "errors": errors, "cross_talk": cross_talk, "server_errors": server_errors,
        "measures": [asdict(m) for m in measures],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{args.sessions} simultaneous sessions, {args.rounds} rounds, {elapsed:.0f} s wall clock, "
          f"{os.cpu_count()} CPUs (load average before: {load_before[0]:.1f}); the server process used "
          f"{server_cpu:.0f} CPU s ({100 * result['server_cpu_share']:.0f}% of the machine), the rest "
          "went to the browsers")
    print(f"{'action':<16}{'n':>5}{'median s':>10}{'p95 s':>9}{'max s':>9}")
    for kind, row in summary.items():
        print(f"{kind:<16}{row['n']:>5}{row['median']:>10.2f}{row['p95']:>9.2f}{row['max']:>9.2f}")
    print(f"errors: {len(errors)}   cross-talk: {len(cross_talk)}   server errors: {len(server_errors)}")
    for error in errors[:10]:
        print(f"  session {error['session']}, {error['action']}: {error['problem']}")
    print(f"written: {args.out}")
    return 1 if errors or cross_talk or server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
