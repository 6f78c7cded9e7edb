"""`callslot serve` and gunicorn as production servers: headers, gzip, 404 page, logs, stop.

Real processes on loopback, read with http.client so every header arrives as sent
(two Date headers stay two).
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "production-test-secret-0123456789"
TOKEN = "Tok3nThatMustNeverBeLogged_0123456789"


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SMTP_URL", "CALLSLOT_SECRET", "CALLSLOT_CONFIG")
    }
    env.update(PYTHONUNBUFFERED="1", CALLSLOT_RATE_LIMIT="off", **extra)
    return env


@contextmanager
def process(
    argv: list[str], cwd: Path, env: dict[str, str], ready: str
) -> Iterator[tuple[subprocess.Popen[str], list[str], str]]:
    """Start ``argv``; yield it, its output lines (read in a thread) and the first URL
    printed on a line containing ``ready``."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if ready in line:
                started.set()
        started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(90), "".join(lines)
        url = next(
            (m.group(1) for line in lines if (m := re.search(r"(http://[\d.:]+)", line))), ""
        )
        yield proc, lines, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                proc.kill()
                proc.wait()
        reader.join(timeout=10)
        proc.stdout.close()


def fetch(url: str, path: str, headers: dict[str, str] | None = None):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.msg, response.read()
    finally:
        conn.close()


def serve_argv(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from generator.cli import main; main()",
        "serve",
        "--port",
        "0",
        *extra,
    ]


def test_serve_answers_as_a_production_server(example_site) -> None:
    env = _env(CALLSLOT_SECRET=SECRET)
    with process(serve_argv(), example_site, env, "Serving http://") as (proc, lines, url):
        status, headers, body = fetch(url, "/")
        assert status == 200
        assert len(headers.get_all("Date")) == 1
        assert headers["ETag"] and headers["Cache-Control"] == "no-cache"
        assert headers["Vary"] == "Accept-Encoding"
        assert "Content-Encoding" not in headers and b"<form" in body

        status, zipped_headers, zipped = fetch(url, "/", {"Accept-Encoding": "gzip, br"})
        assert zipped_headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped) == body
        assert len(zipped) < len(body) / 2
        assert len(zipped_headers.get_all("Date")) == 1

        # A revalidation of either copy ends in 304, naming the copy the client holds.
        assert fetch(url, "/", {"If-None-Match": headers["ETag"]})[0] == 304
        status, again, _ = fetch(
            url, "/", {"If-None-Match": zipped_headers["ETag"], "Accept-Encoding": "gzip"}
        )
        assert status == 304 and again["ETag"] == zipped_headers["ETag"]

        status, headers, body = fetch(url, "/no/such/page.html")
        assert status == 404 and headers["Content-Type"].startswith("text/html")
        html = body.decode()
        assert '<html lang="de"' in html and "Seite nicht gefunden" in html
        assert "<link" not in html or "stylesheet" not in html  # the theme's inline style

        status, headers, body = fetch(url, f"/api/booking?token={TOKEN}")
        assert status == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    output = "".join(lines)
    assert "GET /api/booking 404" in output and "GET /no/such/page.html 404" in output
    assert TOKEN not in output and "token=" not in output
    assert output.rstrip().endswith("Stopped.")


def test_serve_refuses_to_start_without_a_secret_unless_dev(example_site, tmp_path) -> None:
    env = _env()
    refused = subprocess.run(
        serve_argv(), cwd=example_site, env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "CALLSLOT_SECRET is not set" in refused.stderr + refused.stdout
    assert "--dev" in refused.stderr + refused.stdout
    assert not (example_site / ".callslot" / "secret").exists()
    with process(serve_argv("--dev"), example_site, env, "Serving http://") as (_proc, lines, url):
        assert fetch(url, "/api/health")[0] == 200
    assert "development key" in "".join(lines)


def test_the_wsgi_app_does_not_fall_back_to_a_leftover_development_key(
    example_site, tmp_path, monkeypatch, caplog
) -> None:
    from werkzeug.test import Client

    import generator.web.wsgi as wsgi

    (example_site / ".callslot").mkdir()
    (example_site / ".callslot" / "secret").write_text("leftover-development-key-0123")
    monkeypatch.delenv("CALLSLOT_SECRET", raising=False)
    monkeypatch.setenv("CALLSLOT_CONFIG", str(example_site / "content" / "site.toml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/b.sqlite3")
    response = Client(wsgi._LazyApp()).get("/api/health")
    assert response.status_code == 503
    assert "CALLSLOT_SECRET" in caplog.text and "not set" in caplog.text
    assert "leftover-development-key" not in caplog.text


def _documented_gunicorn() -> list[str]:
    """Every gunicorn command line of the guides and the README."""
    found = []
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
        for line in text.splitlines():
            if "gunicorn " in line and "generator.handler:app" in line:
                found.append(line)
    return found


def test_every_documented_gunicorn_command_keeps_tokens_out_of_the_log() -> None:
    commands = _documented_gunicorn()
    assert len(commands) >= 3
    for line in commands:
        assert "-c python:generator.web.gunicorn_config" in line, line
        assert "--access-logformat" not in line, line


def test_gunicorn_with_the_documented_config_logs_no_token_and_needs_the_secret(
    example_site,
) -> None:
    argv = [
        str(BIN / "gunicorn"),
        "-c",
        "python:generator.web.gunicorn_config",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "generator.handler:app",
    ]
    env = _env(CALLSLOT_CONFIG=str(example_site / "content" / "site.toml"))
    refused = subprocess.run(
        argv, cwd=example_site, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "CALLSLOT_SECRET is not set" in refused.stderr
    env["CALLSLOT_SECRET"] = SECRET
    env["DATABASE_URL"] = f"sqlite:///{example_site}/b.sqlite3"
    with process(argv, example_site, env, "Listening at: http://") as (_proc, lines, url):
        fetch(url, f"/api/booking?token={TOKEN}")
        fetch(url, f"/api/bookings.ics?key={TOKEN}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("bookings.ics" in line for line in lines):
            time.sleep(0.1)
    output = "".join(lines)
    assert '"GET /api/booking HTTP/1.1" 404' in output, output
    assert TOKEN not in output and "127.0.0.1 -" not in output


def test_every_guides_example_sets_the_proxy_count() -> None:
    # Behind the guide's reverse proxy (or Netlify's rewrite) every caller had the proxy's
    # address: without CALLSLOT_TRUSTED_PROXIES they all shared one rate limit.
    for path in sorted((ROOT / "docs").glob("deploy-*.md")):
        blocks = re.findall(r"```[a-z]*\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
        assert any("CALLSLOT_TRUSTED_PROXIES" in block for block in blocks), path.name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "CALLSLOT_TRUSTED_PROXIES=1 \\\n      gunicorn" in readme


def test_sigterm_lets_a_booking_under_way_finish(example_site) -> None:
    import json
    import urllib.parse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calendar = (example_site / "content" / "calendar.ics").read_bytes()
    fetched: list[float] = []
    in_recheck = threading.Event()

    class SlowSecondTime(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(time.monotonic())
            if len(fetched) > 1:  # the build's read is quick; the booking's re-check is not
                in_recheck.set()
                time.sleep(3)
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(calendar)))
            self.end_headers()
            self.wfile.write(calendar)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowSecondTime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    toml = example_site / "content" / "site.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            'source = "calendar.ics"', 'source = "env:CAL_URL"'
        ),
        encoding="utf-8",
    )
    env = _env(CALLSLOT_SECRET=SECRET, CAL_URL=f"http://127.0.0.1:{server.server_address[1]}/c.ics")
    answer: dict[str, int] = {}
    try:
        with process(serve_argv(), example_site, env, "Serving http://") as (proc, lines, url):
            slots = json.loads((example_site / "public" / "slots.json").read_text())["slots"]
            chosen = slots[len(slots) // 2]  # far from the notice period, whenever this runs
            body = urllib.parse.urlencode(
                {"slot": chosen["token"], "name": "Max", "phone": "+49 30 1234567", "topic": "X"}
            )

            def book() -> None:
                host, port = url.removeprefix("http://").split(":")
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request(
                    "POST",
                    "/api/book",
                    body=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                answer["status"] = conn.getresponse().status
                conn.close()

            booking = threading.Thread(target=book)
            booking.start()
            assert in_recheck.wait(30), "".join(lines)
            proc.send_signal(signal.SIGTERM)  # while the booking waits for the calendar
            booking.join(30)
            assert proc.wait(timeout=30) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert answer == {"status": 303}, "".join(lines)
    assert "".join(lines).rstrip().endswith("Stopped.")
