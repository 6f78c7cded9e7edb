"""Size limits checked while a calendar is read, before the full parse, and the re-check's deadline.

A stranger's calendar (a shared feed, a compromised server) of 200,000 plain events
in the window took 69 s and 800 MB, and then blamed one event for the instance
budget; these tests read such calendars from files and a local HTTP server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from bigcal_support import many_dates, many_events

from generator.busy import prefilter
from generator.busy.calendars import busy_from_ics, read_busy
from generator.busy.expansion import MAX_OCCURRENCES
from generator.busy.prefilter import MAX_DATES, MAX_EVENTS, OutOfTime, filter_events
from generator.config.settings import CalendarSource, Secret
from generator.errors import CalendarError

ROOT = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 12, 1, tzinfo=UTC)
WINDOW = (START, START + timedelta(days=14))
TOKEN = "s3cr3t-t0ken-77ab"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.body = b""  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def url_source(server: ThreadingHTTPServer) -> CalendarSource:
    address = f"http://anna:pa55w0rd@127.0.0.1:{server.server_address[1]}/cal/{TOKEN}.ics"
    return CalendarSource(name="Arbeit", location=Secret(address, env="CAL_URL"), kind="url")


def file_source(path: Path) -> CalendarSource:
    return CalendarSource(name="Arbeit", location=Secret(str(path)), kind="file")


def refused(sources: list[CalendarSource], **options: object) -> tuple[str, float]:
    began = time.monotonic()
    with pytest.raises(CalendarError) as caught:
        read_busy(sources, BERLIN, *WINDOW, **options)  # type: ignore[arg-type]
    took = time.monotonic() - began
    text = caught.value.format_message()
    assert caught.value.calendar == "Arbeit"
    assert "calendar 'Arbeit'" in text
    for secret in (TOKEN, "127.0.0.1", "pa55w0rd", "anna", "http"):
        assert secret not in text
    return text, took


# --------------------------------------------------------------------------
# Events in the window


def test_a_calendar_just_under_the_event_limit_is_read(tmp_path):
    path = tmp_path / "full.ics"
    every = timedelta(seconds=90)
    path.write_bytes(many_events(MAX_EVENTS, START + timedelta(hours=8), every=every))
    busy = read_busy([file_source(path)], BERLIN, *WINDOW)
    assert len(busy) == MAX_EVENTS
    assert busy[-1].end == START + timedelta(hours=8, minutes=1) + every * (MAX_EVENTS - 1)


def test_one_event_over_the_limit_is_refused_fast_naming_the_calendar(server):
    server.body = many_events(MAX_EVENTS + 1, START + timedelta(hours=8))
    text, took = refused([url_source(server)])
    assert f"has more than {MAX_EVENTS:,} events in the 14 days" in text
    assert "export a smaller calendar or check the address" in text
    assert took < 3, took


def test_events_outside_the_window_do_not_count(tmp_path):
    # 3 * MAX_EVENTS events, all in the year before the window: the pre-filter skips them.
    path = tmp_path / "past.ics"
    every = timedelta(minutes=10)
    path.write_bytes(many_events(3 * MAX_EVENTS, START - timedelta(days=400), every=every))
    assert read_busy([file_source(path)], BERLIN, *WINDOW) == []


def test_the_bench_calendar_of_three_years_is_still_read():
    from bench.calendars import generate_calendar

    data = generate_calendar(10_000, now=datetime(2026, 11, 30, 8, tzinfo=UTC))
    kept = filter_events(data, *WINDOW)
    assert kept.events - kept.skipped < MAX_EVENTS // 10
    assert busy_from_ics(data, BERLIN, *WINDOW, name="Arbeit")


_ATTACK = """
import json, resource, sys, time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo
from generator.busy.calendars import read_busy
from generator.config.settings import CalendarSource, Secret
from generator.errors import CalendarError
from bigcal_support import many_events
start = datetime(2026, 12, 1, tzinfo=UTC)
path = sys.argv[1]
with open(path, "wb") as out:
    out.write(many_events(200_000, start))
source = CalendarSource(name="Arbeit", location=Secret(path), kind="file")
began = time.monotonic()
try:
    read_busy([source], ZoneInfo("Europe/Berlin"), start, start + timedelta(days=14),
              deadline=time.monotonic() + 5.0)
    text = ""
except CalendarError as exc:
    text = exc.format_message()
took = time.monotonic() - began
print(json.dumps({"took": took, "text": text,
                  "mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_the_attackers_200000_events_are_refused_in_seconds_and_bounded_memory(tmp_path):
    # In its own process, so the peak memory is this read's alone.
    path = tmp_path / "attack.ics"
    run = subprocess.run(
        [sys.executable, "-c", _ATTACK, str(path)],
        cwd=ROOT / "tests", capture_output=True, text=True, timeout=120, check=True,
    )
    result = json.loads(run.stdout)
    assert path.stat().st_size > 20_000_000
    assert f"more than {MAX_EVENTS:,} events" in result["text"]
    assert "repeats too often" not in result["text"]
    assert result["took"] < 5, result
    assert result["mb"] < 400, result  # was 800 MB


# --------------------------------------------------------------------------
# RDATE and EXDATE values of one event


def test_an_event_just_under_the_date_limit_is_read(tmp_path):
    path = tmp_path / "dates.ics"
    path.write_bytes(many_dates(MAX_DATES - 1, START - timedelta(days=100), per_line=100))
    busy = read_busy([file_source(path)], BERLIN, *WINDOW)
    assert len(busy) == 14 * 24  # one instance an hour, each 30 minutes


@pytest.mark.parametrize("per_line", [0, 1000])
def test_an_event_over_the_date_limit_is_refused_naming_its_line(server, per_line):
    server.body = many_dates(MAX_DATES + 1, START, per_line=per_line)
    text, took = refused([url_source(server)])
    assert f"the event on line 4 has more than {MAX_DATES:,} extra or left-out dates" in text
    assert took < 3, took


def test_rdate_and_exdate_values_count_together(tmp_path):
    rdates = many_dates(MAX_DATES // 2 + 1, START)
    exdates = many_dates(MAX_DATES // 2 + 1, START, prop="EXDATE")
    line = next(x for x in exdates.splitlines() if x.startswith(b"EXDATE"))
    data = rdates.replace(b"SUMMARY:Many dates", line + b"\r\nSUMMARY:Many dates")
    with pytest.raises(CalendarError, match="more than 5,000 extra or left-out dates"):
        busy_from_ics(data, BERLIN, *WINDOW, name="Arbeit")


def test_300000_rdates_are_refused_fast(server):
    server.body = many_dates(300_000, START - timedelta(days=400))
    text, took = refused([url_source(server)])
    assert "extra or left-out dates" in text
    assert took < 3, took


# --------------------------------------------------------------------------
# The instance budget spent by many events blames none of them


def test_many_events_over_the_instance_budget_blame_the_calendar_not_one_event():
    events = MAX_OCCURRENCES // (MAX_DATES - 1) + 2
    data = many_dates(MAX_DATES - 1, START - timedelta(days=10), events=events)
    with pytest.raises(CalendarError) as caught:
        busy_from_ics(data, BERLIN, *WINDOW, name="Arbeit")
    text = caught.value.format_message()
    assert "has too many events and repetitions to read" in text
    assert "the event" not in text and "line" not in text


def test_one_rule_over_the_instance_budget_is_still_named():
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:sec@t\r\n"
        b"DTSTAMP:20261101T000000Z\r\nDTSTART:20261101T000000Z\r\nDTEND:20261101T000030Z\r\n"
        b"RRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with pytest.raises(CalendarError, match=r"the event 'sec@t'.*repeats too often"):
        busy_from_ics(data, BERLIN, *WINDOW, name="Arbeit")


# --------------------------------------------------------------------------
# The booking's re-check keeps to its deadline while reading


def test_the_scan_stops_at_the_deadline(monkeypatch):
    monkeypatch.setattr(prefilter, "_DEADLINE_EVERY", 1)
    with pytest.raises(OutOfTime):
        filter_events(many_events(10, START), *WINDOW, deadline=time.monotonic() - 1)


def test_a_read_past_the_deadline_is_refused_not_taken_as_free(tmp_path):
    path = tmp_path / "cal.ics"
    path.write_bytes(many_events(5_000, START + timedelta(hours=8)))
    with pytest.raises(CalendarError) as caught:
        busy_from_ics(path.read_bytes(), BERLIN, *WINDOW, name="Arbeit",
                      deadline=time.monotonic() + 0.01)
    assert "not read in time" in caught.value.format_message()


def test_the_recheck_of_a_calendar_just_under_the_limits_ends_within_its_budget(server):
    from generator.web.wsgi import RECHECK_SECONDS

    server.body = many_events(MAX_EVENTS, START + timedelta(hours=8))
    began = time.monotonic()
    try:
        read_busy([url_source(server)], BERLIN, *WINDOW, timeout=RECHECK_SECONDS,
                  deadline=time.monotonic() + RECHECK_SECONDS)
    except CalendarError as exc:
        assert "not read in time" in exc.format_message()
    assert time.monotonic() - began < RECHECK_SECONDS + 1.5
