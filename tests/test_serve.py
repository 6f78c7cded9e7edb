"""End to end: `callslot build`, then `callslot serve` as a real process, a real HTTP client books.

The build and the server use the real clock (no pinned time): the example's
weekly hours always leave future slots, and the handler checks bookings
against the real clock just as in production. So the test books a slot it
reads from the page the server shows, on whatever day it runs.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from page_support import parse_page
from werkzeug.test import Client

from generator.cli import main
from generator.commands.serve import static_app

SECRET = "serve-test-secret-0123456789"


@pytest.fixture
def env(example_site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SMTP_URL")}
    env.update(CALLSLOT_SECRET=SECRET, CALLSLOT_RATE_LIMIT="off")
    return env


@contextmanager
def running_server(example_site: Path, env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """`callslot serve --port 0` in the example site, as its own process.

    Yields its URL and the list its output lines keep arriving in (read in a thread,
    so the server never blocks on a full pipe).
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", "from generator.cli import main; main()", "serve", "--port", "0"],
        cwd=example_site,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving http://"):
                started.set()
        started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(60), "".join(lines)
        url = next(
            (line.split()[1].rstrip("/") for line in lines if line.startswith("Serving http://")),
            None,
        )
        assert url, "".join(lines)
        yield url, lines
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        proc.stdout.close()


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def wait_for(check, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_build_serve_book_and_see_it_everywhere(example_site, env, runner, monkeypatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(example_site)
    built = runner.invoke(main, ["build"])
    assert built.exit_code == 0, built.output

    with running_server(example_site, env) as (url, log):
        status, page, headers = get(url + "/")
        assert status == 200
        # The slot to book comes from the page the caller sees ("/" lists the first call
        # type only), not from the earliest slot of any type: the server built it at its own
        # now, and the choice must not depend on the day or the time of day.
        on_page = {r.attrs["value"] for r in parse_page(page.decode()).slot_radios}
        data = json.loads((example_site / "public" / "slots.json").read_text())
        # Not the earliest slot: it may slip inside the 4-hour notice while the test runs.
        margin = datetime.fromisoformat(data["generated"].replace("Z", "+00:00")) + timedelta(
            hours=4, minutes=15
        )
        slots = [
            s
            for s in data["slots"]
            if s["token"] in on_page
            and datetime.fromisoformat(s["start"].replace("Z", "+00:00")) > margin
        ]
        assert slots, "the example offers slots in any week of the year"
        chosen = slots[0]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]

        body = urllib.parse.urlencode(
            {
                "slot": chosen["token"],
                "name": "Erika Muster",
                "phone": "+49 30 9876543",
                "topic": "Steuerbescheid",
                "who_calls": "owner",
                "lang": "de",
                "website": "",
            }
        )
        request = urllib.request.Request(url + "/api/book", data=body.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=15) as response:
            # urllib follows the 303 to the booking's own page.
            assert "/api/booking?token=" in response.url
            assert "Steuerbescheid" in response.read().decode()
            token = response.url.split("token=")[1].split("&")[0]

        listed = runner.invoke(main, ["bookings", "--format", "json"])
        assert listed.exit_code == 0, listed.output
        [booking] = json.loads(listed.output)
        assert (booking["topic"], booking["start_utc"]) == ("Steuerbescheid", chosen["start"])

        status, taken, headers = get(url + "/api/taken")
        assert status == 200 and headers["Cache-Control"] == "public, max-age=10"
        assert json.loads(taken) == {"taken": [{"start": chosen["start"], "end": chosen["end"]}]}

        # The server rebuilds after the booking: the page stops offering the slot.
        assert wait_for(
            lambda: chosen["token"] not in (example_site / "public" / "slots.json").read_text()
        )

        # And after a content change.
        intro = example_site / "content" / "intro.md"
        intro.write_text(intro.read_text() + "\nNeu: Rückrufe auch freitags.\n")
        assert wait_for(lambda: b"auch freitags" in get(url + "/")[1])

        assert get(url + "/api/health")[1] == b'{"ok": true}'
        assert get(url + "/../content/site.toml")[0] == 404
        assert get(url + "/_headers")[0] == 404
        # The server's log shows the requests, never the caller's cancel token.
        assert any("GET /api/booking " in line for line in log)
        assert not any(token in line for line in log)


def test_static_files_carry_the_sites_headers(example_site, runner, monkeypatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET)
    monkeypatch.chdir(example_site)
    assert runner.invoke(main, ["build"]).exit_code == 0
    client = Client(static_app(example_site / "public"))

    def fetch(path: str, method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
        response = client.open(path, method=method)
        try:
            return response.status_code, response.get_data(), dict(response.headers)
        finally:
            response.close()

    status, body, headers = fetch("/")
    assert status == 200 and b"<form" in body
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert fetch("/slots.json")[2]["Cache-Control"] == "no-cache"
    assert fetch("/%2e%2e/content/site.toml")[0] == 404
    assert fetch("/", method="POST")[0] == 404


def test_port_in_use_is_a_clear_error(example_site, runner, monkeypatch) -> None:
    import socket

    monkeypatch.setenv("CALLSLOT_SECRET", SECRET)
    monkeypatch.chdir(example_site)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert str(port) in result.output and "--port" in result.output
    assert "Traceback" not in result.output
    # Checked before any work: nothing was built, no store or key was made.
    assert not (example_site / "public").exists()
    assert not (example_site / ".callslot").exists()


def _raw_request(sock: socket.socket) -> bytes:
    """Send GET /api/health on a kept-alive connection and read the whole answer."""
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(4096)
    return head


def test_trickling_clients_are_cut_and_cannot_take_every_connection(example_site, env) -> None:
    """Slowloris against the real server: one client (127.0.0.2) opens 120 connections
    and sends each a byte a second. It keeps at most CONNECTIONS_PER_CLIENT of them, those
    are cut once the read deadline passes, and another caller is answered all along."""
    from generator.commands.serve import CONNECTIONS_PER_CLIENT

    read_seconds = 2.0
    env = dict(env, CALLSLOT_SERVE_READ_SECONDS=str(read_seconds))
    with running_server(example_site, env) as (url, _lines):
        address = ("127.0.0.1", int(urllib.parse.urlsplit(url).port))
        # A caller with a kept-alive connection, idle between its requests for longer
        # than the deadline: the deadline counts only while a request is being read.
        keeper = socket.create_connection(address, timeout=5)
        assert b" 200 " in _raw_request(keeper)
        opened = time.monotonic()
        attack = []
        for _ in range(120):
            sock = socket.create_connection(address, timeout=5, source_address=("127.0.0.2", 0))
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            attack.append(sock)
        silent = socket.create_connection(address, timeout=5)  # never sends a byte
        # Blank lines end no request (waitress skips them): they do not restart the clock.
        blank = socket.create_connection(address, timeout=5, source_address=("127.0.0.3", 0))
        others = [silent, blank]
        closed_at: dict[int, float] = {}
        answered = []
        while (len(closed_at) < len(attack) + len(others)
               and time.monotonic() - opened < read_seconds + 6):
            for number, sock in enumerate([*attack, *others]):
                if number in closed_at:
                    continue
                readable, _, _ = select.select([sock], [], [], 0)
                try:
                    gone = bool(readable) and sock.recv(1) == b""
                    if not gone and sock is blank:
                        sock.sendall(b"\r\n")
                    elif not gone and sock is not silent:
                        sock.sendall(b"X")  # one more byte of a header that never ends
                except OSError:
                    gone = True
                if gone:
                    closed_at[number] = time.monotonic() - opened
            started = time.monotonic()
            status, _body, _headers = get(url + "/api/health")
            answered.append((status, time.monotonic() - started))
            time.sleep(0.5)
        assert b" 200 " in _raw_request(keeper)
        keeper.close()
        for sock in [*attack, *others]:
            sock.close()
    assert len(closed_at) == len(attack) + len(others), "a connection outlived the deadline"
    held = [t for t in closed_at.values() if t > 1.0]
    assert len(held) == CONNECTIONS_PER_CLIENT + len(others), sorted(closed_at.values())
    assert max(held) < read_seconds + 3.0, sorted(held)
    assert all(status == 200 and seconds < 2.0 for status, seconds in answered), answered
