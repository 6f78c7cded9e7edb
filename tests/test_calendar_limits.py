"""Size limits checked while a calendar is read, before the full parse, and the re-check's deadline.

A stranger's calendar (a shared feed, a compromised server) of 200,000 plain events
in the window took 69 s and 800 MB, and then blamed one event for the instance
budget; these tests read such calendars from files and a local HTTP server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from generator.busy.calendars import busy_from_ics, read_busy
from generator.busy.expansion import MAX_OCCURRENCES
from generator.config.settings import CalendarSource, Secret
from generator.errors import CalendarError
from tests.bigcal_support import many_dates

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
# The instance budget spent by many events blames none of them


def test_many_events_over_the_instance_budget_blame_the_calendar_not_one_event():
    events = MAX_OCCURRENCES // (4_999) + 2
    data = many_dates(4_999, START - timedelta(days=10), events=events)
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


