"""No personal data and no token in any log line of `callslot serve`, gunicorn or Lambda.

Each adapter gets the same visit with marker values nobody else uses: a booking
by form (its booking page, the cancel page, the cancel itself), a booking by
JSON, a refused booking; the mail server refuses the caller's address and
quotes it, as real servers do. Then every line the process wrote (access log,
error log, notification lines, tracebacks; logging at DEBUG where we choose the
level) is searched for the caller's name, number, email, topic, note and the
booking's token.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from notify_support import Controller, free_port

from generator.cli import main

NOW = "2026-11-30T06:00:00Z"  # Monday 07:00 in Berlin; CALLSLOT_NOW pins every process
SECRET = "logs-test-secret-0123456789abcdef"
NAME = "Zacharias Quetschenpaua"
PHONE = "+49 171 9988776"
EMAIL = "zq.marker@example.org"
TOPIC = "Kuckucksuhrreparatur"
NOTE = "Schlüssel unter der Matte Nr. 4711"
SECOND_TOPIC = "Ziegenkäsetorte"
# What must not appear: each personal value, and the parts a log might cut out of them.
MARKERS = (NAME, "Quetschenpaua", "9988776", EMAIL, "zq.marker", TOPIC, SECOND_TOPIC,
           "Matte Nr. 4711", "Schlüssel")

Send = Callable[[str, str, bytes, str], tuple[int, dict[str, str], str]]


class RefusingMailServer:
    """Accepts mail for the owner; refuses the caller's address, quoting it back."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address == EMAIL:
            return f"550 5.1.1 <{address}>: Recipient address rejected: {NAME} unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@contextmanager
def mail_server() -> Iterator[int]:
    port = free_port()
    controller = Controller(RefusingMailServer(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def site(example_site: Path) -> Path:
    """The example site with email confirmations, built at NOW (slots.json names the slots)."""
    toml = example_site / "content" / "site.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        "require_email = false", "require_email = true"), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["build", "--config", str(toml), "--now", NOW, "--out", str(example_site / "public")],
        env={"CALLSLOT_SECRET": SECRET, "DATABASE_URL": None},
    )
    assert result.exit_code == 0, result.output
    return example_site


def offered(site: Path) -> list[str]:
    data = json.loads((site / "public" / "slots.json").read_text(encoding="utf-8"))
    tokens = [s["token"] for s in data["slots"] if s.get("call_type", "rueckruf") == "rueckruf"]
    # Calls on different days: the example allows few calls a day, with buffers.
    by_day: dict[str, str] = {}
    for token in tokens:
        by_day.setdefault(token.split(".")[1][:8], token)
    assert len(by_day) >= 2
    return list(by_day.values())


def visit(send: Send, slots: list[str]) -> list[str]:
    """The caller's visit; returns the secrets it was handed (the cancel token)."""
    fields = {"slot": slots[0], "name": NAME, "phone": PHONE, "email": EMAIL, "topic": TOPIC,
              "note": NOTE, "who_calls": "owner", "tz": "Europe/Berlin", "lang": "de",
              "website": "", "idem": "i-1", "back": "/"}
    form = "application/x-www-form-urlencoded"
    status, headers, body = send("POST", "/api/book", urllib.parse.urlencode(fields).encode(), form)
    assert status == 303, body
    location = headers["location"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["token"][0]
    assert len(token) >= 20
    status, _, page = send("GET", location, b"", "")
    assert status == 200 and TOPIC in page  # the caller's own page shows it; logs must not
    status, _, _ = send("GET", f"/api/cancel?token={token}", b"", "")
    assert status == 200
    status, _, _ = send("POST", "/api/cancel", urllib.parse.urlencode({"token": token}).encode(),
                        form)
    assert status in (200, 303)
    # A JSON booking, and a refused one (a slot that was never offered).
    second = {**fields, "slot": slots[1], "topic": SECOND_TOPIC, "idem": "i-2"}
    status, _, body = send("POST", "/api/book", json.dumps(second).encode(), "application/json")
    assert status == 201, body
    forged = {**fields, "slot": slots[0][:-4] + "AAAA", "idem": "i-3"}
    status, _, _ = send("POST", "/api/book", urllib.parse.urlencode(forged).encode(), form)
    assert 400 <= status < 500
    return [token]


def leaks(lines: list[str], secrets: list[str]) -> list[str]:
    return [line for line in lines if any(m in line for m in (*MARKERS, *secrets))]


def http_sender(base: str) -> Send:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def send(method: str, path: str, body: bytes, content_type: str) -> tuple[int, dict, str]:
        request = urllib.request.Request(base + path, data=body or None, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with opener.open(request, timeout=30) as response:
                return (response.status, {k.lower(): v for k, v in response.headers.items()},
                        response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            return (exc.code, {k.lower(): v for k, v in exc.headers.items()},
                    exc.read().decode("utf-8", "replace"))

    return send


@contextmanager
def process(argv: list[str], cwd: Path, env: dict[str, str],
            ready: Callable[[list[str]], str | None]) -> Iterator[tuple[str, list[str]]]:
    """Run ``argv``; yield the base URL ``ready`` finds in its output and the output lines
    (read in a thread, so the server never blocks on a full pipe)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            url = ready(lines)
            time.sleep(0.1)
        yield url, lines
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        reader.join(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]


def base_env(site: Path, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSLOT_", "SMTP_"))}
    env.update(
        CALLSLOT_SECRET=SECRET,
        CALLSLOT_NOW=NOW,
        CALLSLOT_RATE_LIMIT="5/10m",  # the rate limit keeps its own records: they must not leak
        CALLSLOT_CONFIG=str(site / "content" / "site.toml"),
        DATABASE_URL=f"sqlite:///{site / 'bookings.sqlite3'}",
        SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        PYTHONUNBUFFERED="1",
    )
    return env


def test_callslot_serve_logs_nothing_personal(site: Path) -> None:
    with mail_server() as smtp_port:
        env = base_env(site, smtp_port)
        argv = [sys.executable, "-c", "from generator.cli import main; main()", "serve",
                "--port", "0"]

        def ready(lines: list[str]) -> str | None:
            found = re.search(r"Serving (http://[^/\s]+)/", "".join(lines))
            return found.group(1) if found else None

        with process(argv, site, env, ready) as (url, lines):
            with urllib.request.urlopen(f"{url}/slots.json", timeout=10) as answer:
                served = json.loads(answer.read())
            slots = [s["token"] for s in served["slots"]]
            by_day: dict[str, str] = {}
            for token in slots:
                by_day.setdefault(token.split(".")[1][:8], token)
            secrets = visit(http_sender(url), list(by_day.values()))
            time.sleep(0.5)  # the access log line of the last request
        # The retries' report, as cron (or serve's loop) writes it to a log file.
        retried = subprocess.run(
            [sys.executable, "-c", "from generator.cli import main; main()", "notify",
             "--retry-now"], cwd=site, env=env, capture_output=True, text=True, timeout=120,
        )
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "550" in retried.stdout  # the refusal was reported, without what it quoted
    assert any("/api/cancel" in line for line in lines), "".join(lines)  # the log was written
    lines += (retried.stdout + retried.stderr).splitlines()
    assert leaks(lines, secrets) == []


def test_gunicorn_with_the_shipped_config_logs_nothing_personal(site: Path) -> None:
    port = free_port()
    with mail_server() as smtp_port:
        env = base_env(site, smtp_port)
        gunicorn = Path(sys.executable).parent / "gunicorn"
        argv = [str(gunicorn), "-c", "python:generator.web.gunicorn_config", "--bind",
                f"127.0.0.1:{port}", "--workers", "1", "--log-level", "debug",
                "--error-logfile", "-", "generator.handler:app"]

        def ready(lines: list[str]) -> str | None:
            return f"http://127.0.0.1:{port}" if any("Booting worker" in x for x in lines) else None

        with process(argv, site, env, ready) as (url, lines):
            secrets = visit(http_sender(url), offered(site))
            time.sleep(0.5)
    assert any("/api/cancel" in line for line in lines), "".join(lines)
    assert leaks(lines, secrets) == []


def test_lambda_logs_nothing_personal(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.web.lambda_adapter import make_handler
    from generator.web.wsgi import _LazyApp

    with mail_server() as smtp_port:
        for key, value in base_env(site, smtp_port).items():
            monkeypatch.setenv(key, value)
        # Lambda's log is whatever the function writes, and logging at the level the
        # function is configured with: take all of it.
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        # The test's own mail server runs in this process and logs what it receives.
        handler.addFilter(lambda record: not record.name.startswith(("mail.log", "asyncio")))
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        lambda_handler = make_handler(_LazyApp())

        def send(method: str, path: str, body: bytes, content_type: str):  # type: ignore[no-untyped-def]
            split = urllib.parse.urlsplit(path)
            event = {
                "version": "2.0",
                "rawPath": split.path,
                "rawQueryString": split.query,
                "body": body.decode(),
                "headers": {"host": "call.example.org", "content-type": content_type},
                "requestContext": {"http": {"method": method, "sourceIp": "192.0.2.9",
                                            "path": split.path, "protocol": "HTTP/1.1"}},
                "isBase64Encoded": False,
                "cookies": [],
            }
            answer = lambda_handler(event, None)
            return (answer["statusCode"],
                    {k.lower(): v for k, v in answer.get("headers", {}).items()},
                    answer["body"])

        try:
            with redirect_stdout(stream), redirect_stderr(stream):
                secrets = visit(send, offered(site))
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
    lines = stream.getvalue().splitlines()
    assert leaks(lines, secrets) == []
