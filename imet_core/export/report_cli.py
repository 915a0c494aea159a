"""``python -m imet_core report``: prepare a meeting's deck or report in advance.

Example::

    python -m imet_core report --subgroup age_lt_55=yes --subgroup site=liver --endpoint os \\
        --out deck.pptx

``--data`` defaults to the embedded synthetic cohort. The output format follows ``--out``'s
suffix (``.pptx`` slide deck, ``.html`` self-contained report). Progress goes to stderr, the
written path to stdout. Exit codes (as every ``imet_core`` subcommand): 0 written; 1 the
deck could not be produced (e.g. no Chromium to draw figures); 2 bad arguments or unreadable
input, with a one-line message and never a traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from imet_core.subgroups import COMPARISONS, ENDPOINTS, SITE_LEVELS, SUBGROUP_KEYS

__all__ = ["HELP", "add_arguments", "run", "add_report_parser", "run_report", "DEFAULT_DATA",
           "FORMATS"]

HELP = "write a slide deck (.pptx) or a self-contained HTML report of one subgroup"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT / "data" / "imet_synthetic.csv"
"""The embedded synthetic cohort (what ``--data`` defaults to)."""
FORMATS = {".pptx": "slide deck", ".html": "HTML report", ".htm": "HTML report"}


class _UsageError(Exception):
    """Bad arguments or input: one line on stderr, exit code 2."""


class _Progress:
    """Step-by-step progress on stderr: '[2/6]  0.4 s  Kaplan-Meier curves' (time since start)."""

    def __init__(self, stream: TextIO, steps: int, quiet: bool) -> None:
        self.stream, self.steps, self.quiet = stream, steps, quiet
        self.step = 0
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        self.step = min(self.step + 1, self.steps)
        print(f"[{self.step}/{self.steps}] {self.elapsed:5.1f} s  {message}", file=self.stream, flush=True)

    def detail(self, message: str) -> None:
        if not self.quiet:
            print(f"               {message}", file=self.stream, flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``report`` subcommand."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "subgroup keys: " + ", ".join(SUBGROUP_KEYS) + " (yes/no/any); site (" + ", ".join(SITE_LEVELS)
        + "; comma-separated or repeated)\n"
        "examples:\n"
        "  python -m imet_core report --out deck.pptx\n"
        "  python -m imet_core report --subgroup age_lt_55=yes --subgroup site=liver --endpoint os --out deck.pptx\n"
        "  python -m imet_core report --data registry.xlsx --endpoint pdrs --compare mdfi_gt_24 --out report.html")
    parser.add_argument("--data", default=None, metavar="FILE",
                        help="registry file (CSV, TSV, XLSX or Parquet; default: the embedded synthetic cohort)")
    parser.add_argument("--subgroup", action="append", default=[], metavar="KEY=VALUE",
                        help="restrict to a subgroup; repeat for several (e.g. age_lt_55=yes, site=liver)")
    parser.add_argument("--endpoint", default="os", metavar="|".join(ENDPOINTS),
                        help="os: overall survival from breast cancer diagnosis (default); pdrs: survival "
                             "from metastasis diagnosis")
    parser.add_argument("--compare", default="group", metavar="GROUP",
                        help="comparison: " + ", ".join(COMPARISONS) + " (default: group, IT vs ST)")
    parser.add_argument("--landmarks", default="3,5", metavar="YEARS",
                        help="milestone survival times in years, comma-separated (default: 3,5)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file: .pptx (slide deck) or .html (self-contained report)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``report`` sub-parser to an ``argparse`` subparsers object; returns it."""
    parser = subparsers.add_parser("report", help=HELP, description=HELP)
    add_arguments(parser)
    parser.set_defaults(_run=run)
    return parser


def _selection(args: argparse.Namespace):
    from imet_core.subgroups import Selection, parse_subgroup_args

    endpoint = str(args.endpoint).strip().lower()
    if endpoint not in ENDPOINTS:
        raise _UsageError(f"unknown endpoint {args.endpoint!r}; allowed: {', '.join(ENDPOINTS)}")
    compare = str(args.compare).strip()
    if compare not in COMPARISONS:
        raise _UsageError(f"unknown comparison {args.compare!r}; allowed: {', '.join(COMPARISONS)}")
    try:
        subgroup = parse_subgroup_args(args.subgroup)
    except ValueError as error:
        raise _UsageError(str(error)) from None
    return Selection(subgroup=subgroup, endpoint=endpoint, comparison=compare)


def _landmarks(text: str) -> tuple[float, ...]:
    values = []
    for piece in str(text).split(","):
        piece = piece.strip()
        if not piece:
            continue
        try:
            years = float(piece)
        except ValueError:
            raise _UsageError(f"--landmarks {text!r}: {piece!r} is not a number of years") from None
        if not 0 < years <= 50:
            raise _UsageError(f"--landmarks {text!r}: {piece!r} must be between 0 and 50 years")
        values.append(years)
    return tuple(sorted(set(values)))


def _output(path_text: str) -> tuple[Path, str]:
    out = Path(path_text).expanduser()
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise _UsageError(f"--out {path_text!r}: the file must end in .pptx (slide deck) or .html (report)")
    if out.is_dir():
        raise _UsageError(f"--out {path_text!r} is a directory; give a file name ending in .pptx or .html")
    if not out.parent.exists():
        raise _UsageError(f"--out {path_text!r}: the folder {out.parent} does not exist")
    return out, kind


def _data_path(args: argparse.Namespace) -> tuple[Path, bool]:
    """The registry file to read and whether it is the embedded synthetic cohort."""
    data = Path(args.data).expanduser() if args.data else DEFAULT_DATA
    if not data.is_file():
        if args.data is None:
            raise _UsageError(f"the synthetic cohort is missing ({data}); give a registry with --data FILE")
        raise _UsageError(f"no registry file at {data}")
    return data, args.data is None or data.resolve() == DEFAULT_DATA.resolve()


def _load(data: Path):
    from imet_core.io import RegistryError, load_registry, summarise_problems

    try:
        return load_registry(data)
    except RegistryError as error:
        first = summarise_problems(error.problems, limit=1).splitlines()
        detail = f" (first: {first[0]})" if first else ""
        raise _UsageError(f"{data.name} is not a valid registry: {error.total} problem(s){detail}") from None


def run(args: argparse.Namespace, *, stderr: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the ``report`` subcommand; returns the exit code (0 written, 1 failed, 2 bad input)."""
    err = stderr or sys.stderr
    out_stream = stdout or sys.stdout
    try:
        return _run(args, err, out_stream)
    except _UsageError as error:
        print(f"error: {error}", file=err)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return 1
    except Exception as error:  # noqa: BLE001 - one line for the user, never a traceback
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"error: the report could not be written: {type(error).__name__}: {message}", file=err)
        return 1


run_report = run
"""Alias: ``run_report(args) -> int``."""


def _run(args: argparse.Namespace, err: TextIO, out_stream: TextIO) -> int:
    from imet_core.export.content import build_pack, options_from
    from imet_core.export.footer import source_label

    out, kind = _output(args.out)
    selection = _selection(args)
    landmarks = _landmarks(args.landmarks)
    data, synthetic = _data_path(args)
    pptx = out.suffix.lower() == ".pptx"
    if pptx:  # start the browser now: it boots while the registry loads and the views compute
        from imet_core.export.images import renderer
        renderer().warm_up()
    frame = _load(data)  # an invalid registry stops here, before any progress is shown
    progress = _Progress(err, 7 if pptx else 5, args.quiet)
    progress(f"loaded {data.name}: {len(frame):,} patients; {selection.describe()}")
    from imet_core.published import published_subgroup_hrs
    pack = build_pack(frame, selection, source=source_label(data.name, synthetic=synthetic), synthetic=synthetic,
                      options=options_from(landmark_years=landmarks), progress=progress,
                      published=published_subgroup_hrs(selection, synthetic=synthetic))
    progress.detail(f"{pack.footer.counts_text} in the subgroup")
    if pptx:
        from imet_core.export.deck import build_deck
        content = build_deck(pack, progress=progress)
    else:
        from imet_core.export.html_report import build_html
        content = build_html(pack, progress=progress)
    temporary = out.with_name(out.name + ".part")
    try:
        temporary.write_bytes(content)
        temporary.replace(out)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _UsageError(f"cannot write {out}: {error.strerror or error}") from None
    if not args.quiet:
        print(f"wrote {kind} {out} ({len(content) / 1024:,.0f} KB) in {progress.elapsed:.1f} s", file=err)
    print(str(out), file=out_stream)
    return 0
