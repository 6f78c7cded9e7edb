"""The one HTTP client against real slow local servers: one deadline holds, headers included.

A server that sends one byte at a time, each within any per-read timeout, used
to hold a build or a booking for as long as it liked: the deadline was checked
only between 64 KiB reads and not at all while the headers came in.
"""

from __future__ import annotations

import contextlib
import io
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from http_support import ICS, drip_server

from generator.busy.calendars import fetch_calendar, read_busy
from generator.busy.progress import FetchProgress
from generator.config.settings import CalendarSource, Secret
from generator.errors import CalendarError
from generator.http import HttpFailure, deadline_after, request
from generator.notify.webhook import WebhookFailed, post

BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = (datetime(2026, 11, 29, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))


def url_source(address: str, name: str = "Arbeit") -> CalendarSource:
    return CalendarSource(name=name, location=Secret(address, env="CAL_URL"), kind="url")


@pytest.mark.parametrize("headers_first", [False, True], ids=["headers drip", "body drips"])
def test_a_dripping_server_cannot_outlast_the_deadline(headers_first: bool) -> None:
    # Each byte comes well within any per-read timeout; only a deadline on every read stops it.
    with drip_server(0.05, headers_first=headers_first) as base:
        began = time.monotonic()
        with pytest.raises(HttpFailure) as caught:
            request(f"{base}/cal.ics", deadline=deadline_after(0.8), max_bytes=10**6)
        elapsed = time.monotonic() - began
    assert caught.value.kind == "timeout"
    assert elapsed < 3.0, f"took {elapsed:.2f} s"


def test_a_calendar_that_drips_stops_with_a_message_naming_it() -> None:
    with drip_server(0.05) as base:
        began = time.monotonic()
        with pytest.raises(CalendarError) as caught:
            fetch_calendar(url_source(f"{base}/secret-token.ics"), timeout=0.8)
        elapsed = time.monotonic() - began
    text = caught.value.format_message()
    assert "calendar 'Arbeit'" in text and "no complete answer within 0.8 s" in text
    assert "secret-token" not in text and "127.0.0.1" not in text
    assert elapsed < 3.0  # the drip alone would take over 30 s


def test_all_calendars_of_one_read_share_one_deadline() -> None:
    # Two slow calendars, each allowed 5 s on its own: together they end by the one deadline.
    with drip_server(0.05) as first, drip_server(0.05) as second:
        sources = [url_source(f"{first}/a.ics", "Eins"), url_source(f"{second}/b.ics", "Zwei")]
        began = time.monotonic()
        with pytest.raises(CalendarError):
            read_busy(sources, BERLIN, *WINDOW, timeout=5.0, deadline=deadline_after(1.0))
        elapsed = time.monotonic() - began
    assert elapsed < 3.5, f"took {elapsed:.2f} s"


def test_a_webhook_receiver_that_drips_is_cut_off() -> None:
    with drip_server(0.05, body=b"ok" * 200) as base:
        began = time.monotonic()
        with pytest.raises(WebhookFailed) as caught:
            post(f"{base}/hooks/SECRET", b"{}", timeout=0.8)
        elapsed = time.monotonic() - began
    assert "SECRET" not in str(caught.value)
    assert elapsed < 3.0  # the drip alone would take over 30 s


def test_the_netlify_api_that_drips_stops_the_build() -> None:
    from generator.busy.netlify_forms import fetch_submissions
    from generator.errors import BuildError

    with drip_server(0.05, body=b"[]" * 100) as base:
        began = time.monotonic()
        with pytest.raises(BuildError, match=r"no complete answer within 0\.8 s"):
            fetch_submissions("site", "token", api_base=base, timeout=0.8)
        assert time.monotonic() - began < 3.0


def test_progress_in_a_log_is_one_line_per_calendar_and_names_a_slow_one(monkeypatch) -> None:
    import generator.busy.progress

    monkeypatch.setattr(generator.busy.progress, "SLOW_SECONDS", 0.3)
    log = io.StringIO()
    with drip_server(0.0005, headers_first=True) as base:
        read_busy([url_source(f"{base}/a.ics", "Arbeit")], BERLIN, *WINDOW,
                  progress=FetchProgress(log, live=False))
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("calendar 'Arbeit': slow,"), lines
    assert lines[-1].startswith(f"calendar 'Arbeit': {len(ICS)} bytes in "), lines
    assert "127.0.0.1" not in log.getvalue()


def test_progress_on_a_terminal_shows_bytes_so_far() -> None:
    out = io.StringIO()
    with drip_server(0.001, headers_first=True) as base:
        read_busy([url_source(f"{base}/a.ics", "Arbeit")], BERLIN, *WINDOW,
                  progress=FetchProgress(out, live=True))
    text = out.getvalue()
    assert "\r" in text and "calendar 'Arbeit': " in text
    assert " bytes" in text or " KB" in text
    assert text.endswith(" s\n")


def test_a_failed_download_is_reported_as_failed() -> None:
    log = io.StringIO()
    with drip_server(0.05) as base, pytest.raises(CalendarError):
        read_busy([url_source(f"{base}/a.ics", "Arbeit")], BERLIN, *WINDOW, timeout=0.5,
                  progress=FetchProgress(log, live=False))
    assert log.getvalue().splitlines()[-1] == "calendar 'Arbeit': failed"


def test_a_refused_connection_is_said_in_words() -> None:
    with drip_server(0.0) as base:
        port = base.rsplit(":", 1)[1]
    # The server is gone: nothing listens on the port any more.
    with pytest.raises(CalendarError) as caught:
        fetch_calendar(url_source(f"http://127.0.0.1:{port}/token.ics"), timeout=2)
    text = caught.value.format_message()
    assert "the server refused the connection" in text, text
    assert "Errno" not in text and "token" not in text and "127.0.0.1" not in text


def test_a_tls_handshake_that_drips_is_cut_off_at_the_deadline(tmp_path) -> None:
    # The handshake's reads happen inside the ssl module: only a cut at the deadline ends
    # a server that sends its certificate one byte at a time.
    import socket
    import ssl
    import threading

    from notify_support import self_signed, server_context

    context = server_context(*self_signed(tmp_path))
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = context.wrap_bio(incoming, outgoing, server_side=True)
            incoming.write(conn.recv(65536))  # the ClientHello
            with contextlib.suppress(ssl.SSLError):
                tls.do_handshake()
            answer = outgoing.read()
            for i in range(len(answer)):
                if stop.wait(0.05):
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(answer[i : i + 1])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    began = time.monotonic()
    try:
        with pytest.raises(HttpFailure) as caught:
            request(
                f"https://127.0.0.1:{listener.getsockname()[1]}/cal.ics",
                deadline=deadline_after(1.0),
                max_bytes=10**6,
            )
    finally:
        stop.set()
        listener.close()
    elapsed = time.monotonic() - began
    assert caught.value.kind == "timeout"
    assert elapsed < 3.0, f"took {elapsed:.2f} s"  # the drip alone would take a minute
