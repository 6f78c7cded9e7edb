"""How fast and how small is `callslot build`, next to parsing the same calendar with icalendar?

For each size (1,000, 10,000 and 50,000 events from bench/calendars.py) this
measures, each in a fresh process so nothing is shared or pre-warmed:

- parse: ``icalendar.Calendar.from_ical`` on the calendar's bytes, nothing else;
- cold:  ``callslot build`` with no cache (.callslot/ and public/ removed);
- warm:  ``callslot build`` again with the calendar unchanged and the cache present;

as the child process's wall time (interpreter start and imports included, on
both sides) and its peak resident memory (``ru_maxrss`` from ``os.wait4``).
Small sizes take the median of a few runs; 50,000 events run once to keep the
whole script under five minutes on two cores.

Then, against the 10,000-event calendar, the handler's re-check: ``read_busy``
for one local day around a slot, timed inside a process (the handler is
already running when a booking arrives), without and with the build's cache.

Last, the slots of every size are computed twice, with the pre-filter and with
a full parse, and must be identical.

    python bench/build.py                      # all sizes, the full table
    python bench/build.py --sizes 1000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/build.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from bench.calendars import SIZES  # noqa: E402

NOW = "2026-11-30T08:00Z"
SECRET = "bench-secret-not-for-production"
CALENDAR_FILE = "bench.ics"

# The goals of issue 7.
GOAL_COLD_VS_PARSE_10K = 0.3
GOAL_COLD_50K_SECONDS = 10.0
GOAL_COLD_50K_MB = 300.0
GOAL_WARM_SPEEDUP = 10.0
GOAL_RECHECK_SECONDS = 0.5

PARSE_CHILD = """\
import sys, icalendar
with open(sys.argv[1], "rb") as f:
    data = f.read()
calendar = icalendar.Calendar.from_ical(data)
"""

BUILD_CHILD = "import sys; from generator.cli import main; sys.exit(main())"
# How the slots are computed for the equivalence check; "full" is the reference.
SLOT_WAYS = ("prefilter", "cache", "full")
# The equivalence check reads files of any size (the 50k calendar is about 42 MB);
# `callslot build` keeps its own limit, and the table shows when it refuses.
READ_LIMIT = 1_000_000_000


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time
    cpu: float  # user + system time: less disturbed by other work on the machine
    peak_mb: float
    error: str = ""  # the last line the process printed, when it failed


@dataclass(frozen=True)
class Row:
    events: int
    size_mb: float
    parse: Run
    cold: Run
    warm: Run
    runs: int


# --------------------------------------------------------------------------
# Measuring one child process


def _load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews wall times."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


LOAD_BEFORE = _load()


def measure(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` to completion; its wall time and its own peak RSS (not the parent's)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # wait4 reports the rusage of exactly this child, so runs never mix.
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    error = ""
    if code != 0:
        # Reported in the table, not raised: the other measurements still count.
        text = output.decode(errors="replace").strip().splitlines() or ["(no output)"]
        error = f"exit {code}: {text[-1]}"
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds=seconds, cpu=cpu, peak_mb=usage.ru_maxrss / 1024, error=error)


def median_run(runs: list[Run]) -> Run:
    failed = [r for r in runs if r.error]
    if failed:
        return failed[0]
    return Run(
        seconds=statistics.median(r.seconds for r in runs),
        cpu=statistics.median(r.cpu for r in runs),
        peak_mb=statistics.median(r.peak_mb for r in runs),
    )


# --------------------------------------------------------------------------
# The temporary project


def make_project(base: Path, events: int, now: datetime) -> Path:
    """A copy of the example site whose calendar is the generated one."""
    project = base / f"site-{events}"
    shutil.copytree(ROOT / "content", project / "content")
    if (ROOT / "themes").exists():
        shutil.copytree(ROOT / "themes", project / "themes")
    # In a child process: on Linux a child's ru_maxrss starts from its parent's peak
    # (fork copies the page tables, exec keeps the high-water mark), so this process
    # must never hold a big calendar, or every figure measured after would show it.
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "calendars.py"),
            "--events",
            str(events),
            "--now",
            now.isoformat(),
            "--out",
            str(project / "content" / CALENDAR_FILE),
        ],
        check=True,
    )
    toml = project / "content" / "site.toml"
    text = toml.read_text(encoding="utf-8")
    if 'source = "calendar.ics"' not in text:
        raise SystemExit("content/site.toml no longer reads calendar.ics; update bench/build.py")
    toml.write_text(text.replace('source = "calendar.ics"', f'source = "{CALENDAR_FILE}"'))
    return project


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CALLSLOT_SECRET"] = SECRET
    env.pop("DATABASE_URL", None)
    # An installed callslot has its bytecode compiled (pip does it); without this a
    # checkout whose .pyc files are stale would compile every module in every run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def clean_state(project: Path) -> None:
    for name in (".callslot", "public"):
        shutil.rmtree(project / name, ignore_errors=True)


def build_argv() -> list[str]:
    return [sys.executable, "-c", BUILD_CHILD, "build", "--now", NOW]


# --------------------------------------------------------------------------
# The measurements


def measure_size(project: Path, events: int, runs: int) -> Row:
    ics = project / "content" / CALENDAR_FILE
    env = child_env()
    parse = [measure([sys.executable, "-c", PARSE_CHILD, str(ics)]) for _ in range(runs)]
    cold, warm = [], []
    for _ in range(runs):
        clean_state(project)
        cold.append(measure(build_argv(), cwd=project, env=env))
        warm.append(measure(build_argv(), cwd=project, env=env))
    return Row(
        events=events,
        size_mb=ics.stat().st_size / 1e6,
        parse=median_run(parse),
        cold=median_run(cold),
        warm=median_run(warm),
        runs=runs,
    )


def run_child(project: Path, *args: str) -> dict:
    """Run this script's --child mode in ``project``; its JSON answer, or {"error": ...}."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        cwd=project,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or "(no output)").splitlines()
        return {"error": f"exit {proc.returncode}: {lines[-1]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Child modes: run inside the temporary project (cwd), print one JSON line


def read_window(settings, start: datetime, end: datetime, *, how: str) -> list:
    """Busy time of the settings' calendars in [start, end), read one of three ways.

    "prefilter": read_busy without a cache (events that cannot touch the window are
    skipped before parsing); "cache": read_busy with the build's cache folder;
    "full": every event parsed, the pre-filter switched off (calendars._busy's flag).
    """
    from generator.busy import calendars

    if how == "full":
        busy = []
        for source in settings.calendars:
            data = calendars.fetch_calendar(source, max_bytes=READ_LIMIT)
            busy += calendars._busy(
                data, settings.tz, start, end, name=source.name, prefilter=False
            )
        return calendars.merge_busy(busy)
    cache_dir = settings.state_dir / "cache" if how == "cache" else None
    return calendars.read_busy(
        settings.calendars, settings.tz, start, end, cache_dir=cache_dir, max_bytes=READ_LIMIT
    )


def child(mode: str) -> dict:
    # Imported before any timing: a running handler or build has these loaded already
    # (their import cost is bench/handler.py's cold-start figure).
    import generator.busy.calendars  # noqa: F401
    from generator.availability import calendar_window, open_slots
    from generator.cli import parse_now
    from generator.config.settings import load_settings

    now = parse_now(NOW)
    settings = load_settings(Path("content") / "site.toml")
    kind, how = mode.split(":")
    if kind == "slots":
        start, end = calendar_window(settings, now)
        started, cpu = time.perf_counter(), time.process_time()
        busy = read_window(settings, start, end, how=how)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        slots = open_slots(settings, busy, now)
        return {
            "slots": [[s.start.isoformat(), s.end.isoformat(), s.call_type] for s in slots],
            "busy": len(busy),
            "seconds": seconds,
            "cpu": cpu,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    if kind == "recheck":
        # A slot one week ahead: the handler reads that local day's busy time, padded
        # by the buffers and an hour (generator/handler.py, _CalendarCheck).
        tz = settings.tz
        day = (now + timedelta(days=7)).astimezone(tz).date()
        day_start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        rules = settings.booking
        pad = rules.buffer_before + rules.buffer_after + timedelta(hours=1)
        start, end = day_start - pad, day_start + timedelta(days=1) + pad
        started, cpu = time.perf_counter(), time.process_time()
        busy = read_window(settings, start, end, how=how)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return {"seconds": seconds, "cpu": cpu, "busy": len(busy)}
    if kind == "build":
        return inprocess_build(settings, now)
    raise SystemExit(f"unknown child mode {mode!r}")


def inprocess_build(settings, now: datetime) -> dict:
    """build_site cold (no cache, no output) and then warm, timed inside one process.

    Everything a build imports is imported first, so the figures leave out the
    interpreter's start-up and the imports that bound a whole process.
    """
    from generator.page.build import build_site, render_intro

    render_intro(settings)  # loads Markdown's extensions
    out = Path("public")
    shutil.rmtree(settings.state_dir / "cache", ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    figures: dict[str, float] = {}
    for what in ("cold", "warm"):
        started, cpu = time.perf_counter(), time.process_time()
        result = build_site(settings, now, out, secret=SECRET.encode())
        figures[what] = time.perf_counter() - started
        figures[what + "_cpu"] = time.process_time() - cpu
        figures[what + "_unchanged"] = result.unchanged
    return figures


# --------------------------------------------------------------------------
# The report


def secs(x: float) -> str:
    """Seconds with three decimals, four below 10 ms (a cache hit takes a few tenths of one)."""
    return f"{x:.3f}" if x >= 0.01 else f"{x:.4f}"


def ratio(a: Run, b: Run) -> str:
    """a/b in wall time, and in brackets in CPU time."""
    if a.error or b.error or not b.seconds or not b.cpu:
        return "-"
    return f"{a.seconds / b.seconds:.2f}x ({a.cpu / b.cpu:.2f}x)"


def cell(run: Run) -> str:
    return "failed | -" if run.error else f"{run.seconds:.2f} ({run.cpu:.2f}) | {run.peak_mb:.0f}"


def verdict(wall_ok: bool, cpu_ok: bool) -> str:
    """Wall time decides; CPU time tells whether a miss is only the machine being busy."""
    if wall_ok:
        return "met"
    if cpu_ok:
        return "met in CPU time, MISSED in wall time (the machine was busy: see load)"
    return "MISSED"


def goals(rows: list[Row], recheck: dict[str, dict]) -> list[str]:
    lines = []
    by_size = {r.events: r for r in rows}
    if 10_000 in by_size:
        r = by_size[10_000]
        limit = GOAL_COLD_VS_PARSE_10K
        ok = [
            not r.cold.error and c <= limit * p
            for c, p in ((r.cold.seconds, r.parse.seconds), (r.cold.cpu, r.parse.cpu))
        ]
        lines.append(
            f"- cold build of 10k events <= {limit}x the bare parse: "
            f"{ratio(r.cold, r.parse)}: {verdict(*ok)}"
        )
    if 50_000 in by_size:
        r = by_size[50_000]
        small = not r.cold.error and r.cold.peak_mb < GOAL_COLD_50K_MB
        ok = [small and t < GOAL_COLD_50K_SECONDS for t in (r.cold.seconds, r.cold.cpu)]
        shown = (
            "failed"
            if r.cold.error
            else f"{r.cold.seconds:.2f} s (CPU {r.cold.cpu:.2f} s), {r.cold.peak_mb:.0f} MB"
        )
        lines.append(
            f"- cold build of 50k events < {GOAL_COLD_50K_SECONDS:.0f} s and "
            f"< {GOAL_COLD_50K_MB:.0f} MB: {shown}: {verdict(*ok)}"
        )
    for r in rows:
        ok = [
            not r.warm.error and not r.cold.error and w * GOAL_WARM_SPEEDUP <= c
            for w, c in ((r.warm.seconds, r.cold.seconds), (r.warm.cpu, r.cold.cpu))
        ]
        speedup = (
            "-"
            if r.warm.error or r.cold.error
            else f"{r.cold.seconds / r.warm.seconds:.1f}x (CPU {r.cold.cpu / r.warm.cpu:.1f}x)"
        )
        lines.append(
            f"- warm build >= {GOAL_WARM_SPEEDUP:.0f}x faster than cold, {r.events:,} events: "
            f"{speedup}: {verdict(*ok)}"
        )
    if recheck:
        shown = ", ".join(
            f"{how}: {v['error']}"
            if "error" in v
            else f"{how} {secs(v['seconds'])} s (CPU {secs(v['cpu'])} s)"
            for how, v in recheck.items()
        )
        ok = [
            all("error" not in v and v[key] < GOAL_RECHECK_SECONDS for v in recheck.values())
            for key in ("seconds", "cpu")
        ]
        lines.append(
            f"- handler re-check, one day of the 10k calendar, < {GOAL_RECHECK_SECONDS} s "
            f"(in-process): {shown}: {verdict(*ok)}"
        )
    return lines


def report(rows: list[Row], floor: Run, recheck: dict[str, dict], equal: dict[int, str]) -> str:
    lines = [
        f"callslot build vs icalendar.Calendar.from_ical, --now {NOW}",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores. Each figure is a fresh "
        "process: wall time (start-up and imports included), in brackets its CPU time "
        "(user + system), and peak RSS.",
        f"Load average before the run: {LOAD_BEFORE}; after: {_load()}.",
        f"Start-up floor (`python -c 'import generator.cli'`): {floor.seconds:.2f} s, "
        f"{floor.peak_mb:.0f} MB. This script's own peak: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (a child's "
        "peak RSS on Linux starts from its parent's, so no figure below can be lower).",
        "",
        "| events | .ics MB | runs | parse s | parse MB | cold s | cold MB | warm s | warm MB "
        "| cold/parse | warm/cold |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.events:,} | {r.size_mb:.1f} | {r.runs} | {cell(r.parse)} | {cell(r.cold)} "
            f"| {cell(r.warm)} | {ratio(r.cold, r.parse)} | {ratio(r.warm, r.cold)} |"
        )
    failures = [
        f"- {r.events:,} events, {what}: {run.error}"
        for r in rows
        for what, run in (("parse", r.parse), ("cold build", r.cold), ("warm build", r.warm))
        if run.error
    ]
    if failures:
        lines += ["", "Failed runs:", *failures]
    lines += ["", "Goals:", *goals(rows, recheck)]
    lines += ["", "Slots equal to those of a full parse (pre-filter off):"]
    for events, result in equal.items():
        lines.append(f"- {events:,} events: {result}")
    return "\n".join(lines)


def read_ways(project: Path) -> dict[str, dict]:
    """Busy time and slots read each way (see SLOT_WAYS), each in a fresh process.

    "cache" runs twice and the second answer counts, so it is a cache hit even
    when the build that should have left the cache failed.
    """
    results = {how: run_child(project, f"slots:{how}") for how in SLOT_WAYS}
    results["cache"] = run_child(project, "slots:cache")
    return results


def compare_slots(results: dict[str, dict]) -> str:
    """One line for the report: each way's slots against the full parse's."""
    full = results["full"]
    if "error" in full:
        return f"full parse failed: {full['error']}"
    verdicts = [
        f"{how}: {r['error']}"
        if "error" in r
        else f"{how} {'identical' if r['slots'] == full['slots'] else 'DIFFERENT'}"
        for how, r in results.items()
        if how != "full"
    ]
    return f"{', '.join(verdicts)} ({len(full['slots'])} slots, {full['busy']} busy intervals)"


def stage_table(stages: dict[int, dict[str, dict]]) -> list[str]:
    """The calendar stage alone, inside one process: full parse, pre-filter, cache hit."""

    def cell(r: dict) -> str:
        if "error" in r:
            return "failed | -"
        return f"{secs(r['seconds'])} ({secs(r['cpu'])}) | {r['peak_mb']:.0f}"

    def speedup(a: dict, b: dict) -> str:
        if "error" in a or "error" in b or not b["seconds"]:
            return "-"
        return f"{a['seconds'] / b['seconds']:.0f}x"

    lines = [
        "Calendar stage alone (read_busy over the build's window, in-process seconds; "
        "MB is the process's peak RSS):",
        "",
        "| events | full parse s | MB | pre-filter s | MB | cache hit s | MB "
        "| full/pre-filter | pre-filter/cache |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for events, r in stages.items():
        lines.append(
            f"| {events:,} | {cell(r['full'])} | {cell(r['prefilter'])} | {cell(r['cache'])} "
            f"| {speedup(r['full'], r['prefilter'])} | {speedup(r['prefilter'], r['cache'])} |"
        )
    return lines


def inprocess_table(builds: dict[int, dict]) -> list[str]:
    """The whole build inside one process, imports excluded: cold and warm."""
    lines = [
        "Whole build inside one process (build_site; start-up and imports excluded):",
        "",
        "| events | cold s | warm s | cold/warm |",
        "|---:|---:|---:|---:|",
    ]
    for events, r in builds.items():
        if "error" in r or not r.get("warm_unchanged"):
            lines.append(f"| {events:,} | - | - | {r.get('error', 'warm build not skipped')} |")
            continue
        lines.append(
            f"| {events:,} | {r['cold']:.3f} ({r['cold_cpu']:.3f}) "
            f"| {r['warm']:.4f} ({r['warm_cpu']:.4f}) | {r['cold'] / r['warm']:.0f}x |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in SIZES),
        help="comma-separated event counts (default: 1000,10000,50000)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs per measurement below 50,000 events (median shown); 50,000 events run once",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="build the projects in this folder and keep them"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    now = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    started = time.perf_counter()
    floor = median_run(
        [measure([sys.executable, "-c", "import generator.cli"], env=child_env()) for _ in range(3)]
    )
    rows: list[Row] = []
    equal: dict[int, str] = {}
    stages: dict[int, dict[str, dict]] = {}
    builds: dict[int, dict] = {}
    recheck: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="callslot-bench-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for events in sizes:
            project = make_project(base, events, now)
            runs = 1 if events >= 50_000 else args.runs
            print(f"measuring {events:,} events ({runs} run(s)) ...", file=sys.stderr, flush=True)
            rows.append(measure_size(project, events, runs))
            # The last warm build left its cache: "slots:cache" and "recheck:cache" read it.
            stages[events] = read_ways(project)
            equal[events] = compare_slots(stages[events])
            if events == 10_000:
                recheck = {
                    "with the build's cache": run_child(project, "recheck:cache"),
                    "no cache": run_child(project, "recheck:prefilter"),
                }
            builds[events] = run_child(project, "build:inprocess")
    print(report(rows, floor, recheck, equal))
    print()
    print("\n".join(stage_table(stages)))
    print()
    print("\n".join(inprocess_table(builds)))
    print(f"\n(total {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
