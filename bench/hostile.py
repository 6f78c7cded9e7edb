"""Hostile calendars: does every case build within 10 s and 500 MB, or stop with a message?

A stranger who controls a calendar (a shared feed, a compromised export, a
server) must not hold a build or a booking. Each case runs in a fresh process
(``callslot build`` on a copy of the example site whose calendar is replaced),
and reports its wall time, its own peak resident memory (``os.wait4``) and how
it ended: built, or stopped with the message the owner reads.

- 200 MINUTELY rules in 95 KB, begun a year ago;
- FREQ=SECONDLY from the start of the year;
- one booking's re-check (the handler's calendar check for one day) against
  the MINUTELY calendar, timed inside a process as the handler runs it;
- 100,000 VTIMEZONEs (about 30 MB);
- a calendar server that sends one byte every 2 s (headers included), for a
  build and for one booking's re-check.

    python bench/hostile.py            # the whole table (about a minute)
    python bench/hostile.py --cases secondly,slow
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/hostile.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from bench.build import BUILD_CHILD, Run, _load, child_env  # noqa: E402

NOW = datetime(2026, 11, 30, 8, tzinfo=UTC)
LIMIT_SECONDS = 10.0
LIMIT_MB = 500.0
CALENDAR_FILE = "hostile.ics"
CASES = ("minutely", "secondly", "recheck", "vtimezones", "slow", "slow-recheck")

RECHECK_CHILD = """\
import sys, time
from datetime import datetime, timedelta
from generator.config.settings import load_settings
from generator.domain import Slot
from generator.errors import CallslotError
from generator.web.wsgi import _CalendarCheck
settings = load_settings(None)
check = _CalendarCheck(settings)
start = datetime.fromisoformat(sys.argv[1])
slot = Slot(start=start, end=start + timedelta(minutes=30), call_type="beratung")
try:
    busy = check(slot)
    print(f"read {len(busy)} busy intervals")
except CallslotError as exc:
    print("stopped: " + exc.format_message())
"""


# --------------------------------------------------------------------------
# The calendars (written by a child: this process must never hold a big one,
# or every child's peak memory would start from it)


def _event(uid: str, lines: list[str]) -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", *lines, "END:VEVENT"]


def write_calendar(case: str, out: Path) -> None:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//callslot bench//hostile//EN"]
    if case == "minutely":
        start = NOW - timedelta(days=365)
        for i in range(200):
            first = start + timedelta(minutes=i)
            lines += _event(
                f"minutely-{i}@bench",
                [
                    f"DTSTART:{first:%Y%m%dT%H%M%SZ}",
                    f"DTEND:{first + timedelta(seconds=30):%Y%m%dT%H%M%SZ}",
                    f"RRULE:FREQ=MINUTELY;INTERVAL={1 + i % 7}",
                    "SUMMARY:" + "x" * 330,  # 200 events in about 95 KB, as reported
                ],
            )
    elif case == "secondly":
        lines += _event(
            "secondly@bench",
            ["DTSTART:20260101T000000Z", "DTEND:20260101T000001Z", "RRULE:FREQ=SECONDLY"],
        )
    elif case == "vtimezones":
        for i in range(100_000):
            lines += [
                "BEGIN:VTIMEZONE",
                f"TZID:Zone-{i}",
                "BEGIN:STANDARD",
                "DTSTART:19701025T030000",
                "TZOFFSETFROM:+0200",
                "TZOFFSETTO:+0100",
                "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
                "END:STANDARD",
                "BEGIN:DAYLIGHT",
                "DTSTART:19700329T020000",
                "TZOFFSETFROM:+0100",
                "TZOFFSETTO:+0200",
                "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
                "END:DAYLIGHT",
                "END:VTIMEZONE",
            ]
        lines += _event(
            "meeting@bench",
            ["DTSTART;TZID=Zone-7:20261201T090000", "DTEND;TZID=Zone-7:20261201T100000"],
        )
    else:  # the slow server's calendar: small, harmless, only sent slowly
        lines += _event("slow@bench", ["DTSTART:20261201T090000Z", "DTEND:20261201T100000Z"])
    lines.append("END:VCALENDAR")
    out.write_bytes(("\r\n".join(lines) + "\r\n").encode())


def make_project(base: Path, case: str, source: str | None = None) -> Path:
    project = base / case
    shutil.copytree(ROOT / "content", project / "content")
    if (ROOT / "themes").exists():
        shutil.copytree(ROOT / "themes", project / "themes")
    subprocess.run(
        [sys.executable, __file__, "--write", case, str(project / "content" / CALENDAR_FILE)],
        check=True,
    )
    toml = project / "content" / "site.toml"
    text = toml.read_text(encoding="utf-8")
    if 'source = "calendar.ics"' not in text:
        raise SystemExit("content/site.toml no longer reads calendar.ics; update bench/hostile.py")
    toml.write_text(
        text.replace('source = "calendar.ics"', f'source = "{source or CALENDAR_FILE}"')
    )
    return project


# --------------------------------------------------------------------------
# A server that answers one byte every 2 s


class DripServer:
    def __init__(self, body: bytes, interval: float = 2.0) -> None:
        self.body = body
        self.interval = interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/calendar.ics"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        answer = (
            b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(self.body)).encode() + b"\r\n\r\n"
            + self.body
        )
        with conn:
            try:
                conn.recv(65536)
                for i in range(len(answer)):
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(answer[i : i + 1])
            except OSError:
                pass

    def __enter__(self) -> DripServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


# --------------------------------------------------------------------------
# The table


def run_case(base: Path, case: str) -> tuple[str, Run, str]:
    env = child_env()
    build = [sys.executable, "-c", BUILD_CHILD, "build", "--now", NOW.isoformat()]
    if case in ("slow", "slow-recheck"):
        body = base / "slow.ics"
        write_calendar("slow", body)
        with DripServer(body.read_bytes()) as server:
            env["BENCH_CALENDAR_URL"] = server.url
            project = make_project(base, case, source="env:BENCH_CALENDAR_URL")
            if case == "slow":
                run, output = measure_with_output(build, cwd=project, env=env)
                return "a server sending one byte every 2 s", run, output
            slot = (NOW + timedelta(days=1)).replace(hour=9).isoformat()
            run, output = measure_with_output(
                [sys.executable, "-c", RECHECK_CHILD, slot], cwd=project, env=env
            )
        return "one booking's re-check, the same slow server", run, output
    project = base / "minutely" if case == "recheck" else None
    if project is None or not project.exists():
        project = make_project(base, "minutely" if case == "recheck" else case)
    size = (project / "content" / CALENDAR_FILE).stat().st_size
    if case == "recheck":
        slot = (NOW + timedelta(days=1)).replace(hour=9).isoformat()
        run, output = measure_with_output(
            [sys.executable, "-c", RECHECK_CHILD, slot], cwd=project, env=env
        )
        return f"one booking's re-check, MINUTELY calendar ({size / 1000:.0f} KB)", run, output
    what = {
        "minutely": f"200 MINUTELY rules begun a year ago ({size / 1000:.0f} KB)",
        "secondly": "FREQ=SECONDLY from 1 January",
        "vtimezones": f"100,000 VTIMEZONEs ({size / 1_000_000:.0f} MB)",
    }[case]
    run, output = measure_with_output(build, cwd=project, env=env)
    return what, run, output


def measure_with_output(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[Run, str]:
    """Run ``argv``: wall time, its own peak memory (os.wait4), and the line that says how it
    ended (a build's slot count, or the message the owner reads)."""
    out = cwd / "output.txt"
    started = time.perf_counter()
    with out.open("wb") as sink:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    lines = [
        line for line in out.read_text(errors="replace").splitlines()
        if (line.strip() and not line.startswith(("wrote ", "Warning", "calendar '")))
        or line.startswith("calendar 'Arbeit': failed")
    ]
    counts = [line for line in lines if " open slots (" in line]
    ended = (counts or lines or ["(no output)"])[-1]
    code = os.waitstatus_to_exitcode(status)
    run = Run(seconds=seconds, cpu=usage.ru_utime + usage.ru_stime,
              peak_mb=usage.ru_maxrss / 1024, error="" if code == 0 else f"exit {code}")
    return run, ended


def report(rows: list[tuple[str, Run, str]]) -> str:
    head = [
        f"Load before: {LOAD_BEFORE}; limits: {LIMIT_SECONDS:g} s and {LIMIT_MB:g} MB per case.",
        "",
        "| case | wall (CPU) | peak memory | ended | within limits |",
        "|---|---:|---:|---|---|",
    ]
    body = []
    for what, run, output in rows:
        ok = run.seconds <= LIMIT_SECONDS and run.peak_mb <= LIMIT_MB
        ended = output.replace("|", "/")
        if len(ended) > 160:
            ended = ended[:157] + "..."
        body.append(
            f"| {what} | {run.seconds:.1f} s ({run.cpu:.1f} s) | {run.peak_mb:.0f} MB | {ended} | "
            f"{'yes' if ok else 'NO'} |"
        )
    return "\n".join(head + body)


LOAD_BEFORE = _load()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES)
    )
    parser.add_argument("--write", nargs=2, metavar=("CASE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write:
        write_calendar(args.write[0], Path(args.write[1]))
        return 0
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="callslot-hostile-") as tmp:
        rows = [run_case(Path(tmp), case) for case in cases]
    print(report(rows))
    over = [what for what, run, _ in rows if run.seconds > LIMIT_SECONDS or run.peak_mb > LIMIT_MB]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
