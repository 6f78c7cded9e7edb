"""Calendars by URL, against a real local HTTP server in a thread.

The secret part of a calendar link (its token) must never show in an error.
"""

from __future__ import annotations

import base64
import gzip
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from generator.busy.calendars import fetch_calendar, read_busy
from generator.config.settings import CalendarSource, Secret
from generator.errors import CalendarError

CALENDARS = Path(__file__).resolve().parent / "calendars"
ICS = (CALENDARS / "moved_instance.ics").read_bytes()
TOKEN = "s3cr3t-t0ken-4f9a"
LOGIN = "anna:pa ss@w0rd"  # user:password, as a Nextcloud app password may look
BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = (datetime(2026, 11, 29, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))


class Handler(BaseHTTPRequestHandler):
    """Routes by path; records each request's headers on the server."""

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        if path == f"/cal/{TOKEN}.ics":
            self.send(200, ICS, {"Content-Type": "text/calendar"})
        elif path == "/etag.ics":
            if self.headers.get("If-None-Match") == '"v1"':
                self.send(304, b"", {"ETag": '"v1"'})
            else:
                self.send(200, ICS, {"ETag": '"v1"'})
        elif path == "/modified.ics":
            stamp = "Mon, 23 Nov 2020 10:00:00 GMT"  # well before any answer's Date
            if self.headers.get("If-Modified-Since") == stamp:
                self.send(304, b"")
            else:
                self.send(200, ICS, {"Last-Modified": stamp})
        elif path == "/same-second.ics":
            # A static file host whose file changed in the second it was first served: the
            # old and the new bytes share one Last-Modified, so If-Modified-Since gets a 304.
            stamp = "Mon, 23 Nov 2026 10:00:00 GMT"
            if self.headers.get("If-Modified-Since") == stamp:
                self.send_response_only(304)
                self.send_header("Date", "Mon, 23 Nov 2026 10:00:05 GMT")
                self.end_headers()
            else:
                self.send_response_only(200)
                self.send_header("Date", stamp)
                self.send_header("Last-Modified", stamp)
                self.send_header("Content-Length", str(len(self.server.body)))  # type: ignore[attr-defined]
                self.end_headers()
                self.wfile.write(self.server.body)  # type: ignore[attr-defined]
        elif path == "/gzip.ics":
            self.send(200, gzip.compress(ICS), {"Content-Encoding": "gzip"})
        elif path.startswith("/redirect/"):
            hops = int(path.rsplit("/", 1)[1])
            target = f"/redirect/{hops - 1}" if hops > 1 else f"/cal/{TOKEN}.ics"
            self.send(302, b"", {"Location": target})
        elif path == "/loop":
            self.send(302, b"", {"Location": f"/loop?token={TOKEN}"})
        elif path == "/to-file":
            self.send(302, b"", {"Location": "file:///etc/passwd"})
        elif path == "/to-nowhere":
            self.send(302, b"", {"Location": "http://[not-a-host/cal.ics"})
        elif path == "/login":
            self.send(
                200,
                b"<!DOCTYPE html><html><body><form>Sign in</form></body></html>",
                {"Content-Type": "text/html"},
            )
        elif path == "/huge":
            self.send(200, ICS + b"X" * 5000)
        elif path == "/huge-chunked":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the size is only known while reading
            for _ in range(100):
                self.wfile.write(b"X" * 1000)
        elif path == "/slow":
            time.sleep(2)
            self.send(200, ICS)
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(ICS)))
            self.end_headers()
            for i in range(0, len(ICS), 100):
                self.wfile.write(ICS[i : i + 100])
                self.wfile.flush()
                time.sleep(0.1)
        elif path == "/error":
            self.send(500, b"Internal Server Error")
        elif path == "/dav/personal":  # a Nextcloud-style export behind a login
            login = "Basic " + base64.b64encode(LOGIN.encode()).decode()
            if self.headers.get("Authorization") == login:
                self.send(200, ICS, {"Content-Type": "text/calendar"})
            else:
                self.send(401, b"", {"WWW-Authenticate": 'Basic realm="dav"'})
        elif path == "/dav/moved":
            target = f"http://localhost:{self.server.server_address[1]}/dav/personal"
            self.send(302, b"", {"Location": target})
        else:
            self.send(404, b"not found")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client gave up (size or time limit): that is what the tests want


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.requests = []  # type: ignore[attr-defined]
    httpd.body = ICS  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def source(address: str, name: str = "Arbeit") -> CalendarSource:
    return CalendarSource(name=name, location=Secret(address, env="CAL_URL"), kind="url")


def failure(address: str, **options: object) -> CalendarError:
    with pytest.raises(CalendarError) as caught:
        fetch_calendar(source(address), **options)  # type: ignore[arg-type]
    error = caught.value
    assert error.calendar == "Arbeit"
    text = error.format_message()
    assert "calendar 'Arbeit'" in text
    assert TOKEN not in text and "127.0.0.1" not in text and address not in text
    return error


def test_reads_a_calendar_by_url_into_busy_time(server):
    busy = read_busy([source(url(server, f"/cal/{TOKEN}.ics?key={TOKEN}"))], BERLIN, *WINDOW)
    assert [(b.start.isoformat(), b.end.isoformat()) for b in busy] == [
        ("2026-12-01T13:00:00+00:00", "2026-12-01T14:30:00+00:00"),  # the moved instance
        ("2026-12-07T09:00:00+00:00", "2026-12-07T10:00:00+00:00"),
    ]


def test_webcal_means_https():
    assert source(f"webcal://calendar.example.org/{TOKEN}.ics").url() == (
        f"https://calendar.example.org/{TOKEN}.ics"
    )


def test_follows_a_few_redirects(server):
    assert fetch_calendar(source(url(server, "/redirect/3"))) == ICS


def test_too_many_redirects_fail(server):
    assert "redirect" in failure(url(server, "/loop")).format_message()
    assert len(server.requests) <= 10


def test_a_redirect_away_from_http_fails(server):
    assert "redirect" in failure(url(server, "/to-file")).format_message()
    # A Location no URL parser can read is refused the same way, not a traceback.
    assert "redirect" in failure(url(server, "/to-nowhere")).format_message()


def test_an_address_with_a_bracket_in_its_password_is_refused_in_our_words():
    text = failure("https://anna:pa[ss@cloud.example.org/cal.ics").format_message()
    assert "not a valid URL" in text and "%5B" in text
    assert "pa[ss" not in text and "cloud.example.org" not in text


@pytest.mark.parametrize(
    "path, words",
    [
        (f"/missing/{TOKEN}.ics", "404"),
        (f"/error?token={TOKEN}", "500"),
        ("/login", "HTML page"),
    ],
)
def test_http_errors_and_non_calendars_fail_without_showing_the_url(server, path, words):
    with pytest.raises(CalendarError) as caught:
        read_busy([source(url(server, path))], BERLIN, *WINDOW)
    text = caught.value.format_message()
    assert words in text and TOKEN not in text and "127.0.0.1" not in text
    assert caught.value.calendar == "Arbeit"


def test_404_says_how_to_fix_it(server):
    assert "check the address" in failure(url(server, f"/gone/{TOKEN}")).format_message()


@pytest.mark.parametrize("path", ["/huge", "/huge-chunked"])
def test_an_answer_over_the_size_limit_fails(server, path):
    assert "limit" in failure(url(server, path), max_bytes=len(ICS) + 100).format_message()


def test_a_server_that_does_not_answer_in_time_fails(server):
    began = time.monotonic()
    assert "0.3 s" in failure(url(server, "/slow"), timeout=0.3).format_message()
    assert time.monotonic() - began < 1.5


def test_a_slow_drip_cannot_outlast_the_time_limit(server):
    began = time.monotonic()
    failure(url(server, "/drip"), timeout=0.5)
    assert time.monotonic() - began < 1.5


def test_no_server_listening_fails(server):
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    assert "connect" in failure(f"http://127.0.0.1:{port}/{TOKEN}.ics").format_message()


def test_gzip_answers_are_unpacked(server):
    assert fetch_calendar(source(url(server, "/gzip.ics"))) == ICS


@pytest.mark.parametrize(
    "path, header",
    [
        ("/etag.ics", "If-None-Match"),
        ("/modified.ics", "If-Modified-Since"),
    ],
)
def test_validators_are_sent_back_and_304_reuses_the_stored_bytes(server, tmp_path, path, header):
    cache = tmp_path / "cache"
    first = read_busy([source(url(server, path))], BERLIN, *WINDOW, cache_dir=cache)
    second = read_busy([source(url(server, path))], BERLIN, *WINDOW, cache_dir=cache)
    assert first == second and first
    assert header not in server.requests[0][1]
    assert header in server.requests[1][1]
    # Without a cache folder nothing is remembered: a plain request every time.
    fetch_calendar(source(url(server, path)))
    assert header not in server.requests[2][1]


def test_a_stored_copy_that_does_not_match_its_validators_is_not_trusted(server, tmp_path):
    cache = tmp_path / "cache"
    fetch_calendar(source(url(server, "/etag.ics")), cache_dir=cache)
    for stored in (cache / "http").glob("*.ics"):
        stored.write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")  # half-written by another run
    assert fetch_calendar(source(url(server, "/etag.ics")), cache_dir=cache) == ICS
    assert "If-None-Match" not in server.requests[1][1]


def test_a_last_modified_in_the_second_of_the_answer_is_not_trusted(server, tmp_path):
    # RFC 9110 8.8.2.2: a Last-Modified less than a second before the answer's Date is weak;
    # the file may change again within that second. Sent back, it got a 304 and the
    # changed calendar (a new meeting) was never read: its time was offered as free.
    cache = tmp_path / "cache"
    assert fetch_calendar(source(url(server, "/same-second.ics")), cache_dir=cache) == ICS
    server.body = ICS.replace(b"END:VCALENDAR", b"X-CHANGED:1\r\nEND:VCALENDAR")
    again = fetch_calendar(source(url(server, "/same-second.ics")), cache_dir=cache)
    assert again == server.body
    assert "If-Modified-Since" not in server.requests[1][1]


def test_a_login_in_the_address_is_sent_as_basic_auth(server):
    # Nextcloud, Radicale and Baikal export behind a login; owners write it into the URL.
    port = server.server_address[1]
    address = f"http://anna:pa%20ss%40w0rd@127.0.0.1:{port}/dav/personal?export"
    assert fetch_calendar(source(address)) == ICS


def test_a_wrong_login_fails_without_showing_the_password(server):
    port = server.server_address[1]
    error = failure(f"http://anna:wr0ng-pa55@127.0.0.1:{port}/dav/personal?export")
    assert "wants a login" in error.format_message()
    assert "wr0ng-pa55" not in error.format_message()


def test_the_login_is_not_sent_on_to_another_host_after_a_redirect(server):
    port = server.server_address[1]
    failure(f"http://anna:pa%20ss%40w0rd@127.0.0.1:{port}/dav/moved")
    assert "Authorization" not in server.requests[-1][1]
