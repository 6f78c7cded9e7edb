"""`callslot check`: good and broken set-ups, against real local servers (HTTP, SMTP, databases)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner, Result
from notify_support import Controller

from generator.cli import main
from generator.store import open_store

SECRET = "check-secret-0123456789abcdef"
SMTP_PASSWORD = "pw-Xy7-very-secret"
NOW = "2026-11-30T07:00Z"
# Variables a developer's shell may hold; every test starts without them.
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "CALLSLOT_SECRET",
        "DATABASE_URL",
        "SMTP_URL",
        "NETLIFY_SITE_ID",
        "SITE_ID",
        "NETLIFY_AUTH_TOKEN",
        "CALLSLOT_NETLIFY_API",
        "TEAM_ICS",
    )
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sink:
    """What the local SMTP and HTTP servers received."""

    mails: list[Any] = field(default_factory=list)
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(envelope)
        return "250 OK"


def only_anna(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = auth_data.login == b"anna" and auth_data.password == SMTP_PASSWORD.encode()
    # handled=False: aiosmtpd then answers 535 itself (the default leaves the client waiting).
    return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(sink: Sink) -> Iterator[int]:
    """aiosmtpd with AUTH (over plain text, as on a local relay) for the user anna."""
    port = free_port()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, authenticator=only_anna, auth_require_tls=False
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def http_server(sink: Sink, calendar: bytes | None) -> Iterator[str]:
    """Serves /team.ics (404 when ``calendar`` is None) and takes webhook POSTs."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.startswith("/team.ics") and calendar is not None:
                self.answer(200, calendar, "text/calendar")
            else:
                self.answer(404, b"not found")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            sink.posts.append((self.path, dict(self.headers.items()), body))
            self.answer(200, b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def add_settings(site: Path, toml: str) -> Path:
    path = site / "content" / "site.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + toml, encoding="utf-8")
    return path


def check(
    runner: CliRunner, config: Path, env: dict[str, str], *args: str, mail: bool = True
) -> Result:
    """`callslot check`; the example's owner.email needs a mail server, so unless the test
    names its own mail server (or ``mail`` is False) a local one answers."""
    command = ["check", "--config", str(config), "--now", NOW, "--timeout", "3", *args]
    if not mail or "SMTP_URL" in env or "[notify.email]" in config.read_text(encoding="utf-8"):
        return runner.invoke(main, command, env={**CLEAN_ENV, **env})
    with smtp_server(Sink()) as port:
        return runner.invoke(
            main, command, env={**CLEAN_ENV, "SMTP_URL": f"smtp://127.0.0.1:{port}", **env}
        )


def fail_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("FAIL")]


# -- good set-ups ------------------------------------------------------------------------


def test_example_content_passes_when_the_secret_and_mail_are_set(
    runner: CliRunner, example_site: Path
) -> None:
    with smtp_server(Sink()) as port:
        result = check(
            runner,
            example_site / "content/site.toml",
            {"CALLSLOT_SECRET": SECRET, "SMTP_URL": f"smtp://127.0.0.1:{port}"},
        )
    assert result.exit_code == 0, result.output
    assert "ok    settings: site.toml is valid" in result.output
    # The example calendar's first event after 08:00 Berlin on Monday 30 Nov.
    assert "calendar 'Arbeit': " in result.output and "events read" in result.output
    assert "times: Europe/Berlin (VTIMEZONE in the file), UTC, next busy Mon 2026-11-30 " in (
        result.output
    )
    assert "All good." in result.output.splitlines()


def test_full_set_up_with_mail_webhook_url_calendar_and_database(
    runner: CliRunner, example_site: Path, tmp_path: Path
) -> None:
    sink = Sink()
    ics = (example_site / "content/calendar.ics").read_bytes()
    with smtp_server(sink) as port, http_server(sink, ics) as web:
        config = add_settings(
            example_site,
            """
[notify]
webhooks = ["env:CHAT_HOOK"]
""",
        )
        text = config.read_text(encoding="utf-8").replace(
            'source = "calendar.ics"', 'source = "env:TEAM_ICS"'
        )
        config.write_text(text, encoding="utf-8")
        env = {
            "CALLSLOT_SECRET": SECRET,
            "TEAM_ICS": f"{web}/team.ics?key=private-calendar-key",
            "CHAT_HOOK": f"{web}/hooks/T000/B000/private-hook-key",
            "SMTP_URL": f"smtp://anna:{SMTP_PASSWORD}@127.0.0.1:{port}",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bookings.sqlite3'}",
        }
        open_store(env["DATABASE_URL"]).close()  # the handler made it earlier
        result = check(runner, config, env, "--send-test")
    assert result.exit_code == 0, result.output
    assert f"ok    SMTP: 127.0.0.1:{port} accepts the connection (unencrypted) and the login" in (
        result.output
    )
    assert "ok    DATABASE_URL: SQLite reachable" in result.output
    assert "ok    test mail: sent to anna@example.org" in result.output
    assert "ok    test webhook 1: delivered (HTTP 200)" in result.output
    assert [m.rcpt_tos for m in sink.mails] == [["anna@example.org"]]
    assert b"callslot: test message" in sink.mails[0].original_content
    ((path, headers, body),) = sink.posts
    assert path == "/hooks/T000/B000/private-hook-key"
    assert b'"text"' in body and headers["X-Callslot-Signature"].startswith("sha256=")
    for secret in ("private-calendar-key", "private-hook-key", SMTP_PASSWORD, SECRET):
        assert secret not in result.output


@pytest.mark.postgres
def test_reachable_postgresql_is_reported(
    runner: CliRunner, example_site: Path, postgres_url: str
) -> None:
    with smtp_server(Sink()) as port:
        result = check(
            runner,
            example_site / "content/site.toml",
            {
                "CALLSLOT_SECRET": SECRET,
                "DATABASE_URL": postgres_url,
                "SMTP_URL": f"smtp://127.0.0.1:{port}",
            },
        )
    assert result.exit_code == 0, result.output
    assert "ok    DATABASE_URL: PostgreSQL reachable" in result.output


def test_owner_email_without_a_mail_server_fails(runner: CliRunner, example_site: Path) -> None:
    # owner.email says mail is expected; without a server nobody would hear of a booking.
    result = check(
        runner, example_site / "content/site.toml", {"CALLSLOT_SECRET": SECRET}, mail=False
    )
    assert result.exit_code == 1
    [line] = fail_lines(result)
    assert line.startswith("FAIL  SMTP: owner.email is anna@example.org but no mail server")
    assert "SMTP_URL=" in line
    # Without owner.email it stays a note: a site may take calls without any mail.
    config = example_site / "content/site.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('email = "anna@example.org"\n', ""),
        encoding="utf-8",
    )
    result = check(runner, config, {"CALLSLOT_SECRET": SECRET}, mail=False)
    assert result.exit_code == 0, result.output
    assert "note  SMTP: no mail configured" in result.output


# -- broken set-ups: exit 1, one line each saying what to do -------------------------------


def test_calendar_404_fails_without_showing_the_url(runner: CliRunner, example_site: Path) -> None:
    sink = Sink()
    with http_server(sink, None) as web:
        config = example_site / "content/site.toml"
        config.write_text(
            config.read_text(encoding="utf-8").replace(
                'source = "calendar.ics"', 'source = "env:TEAM_ICS"'
            ),
            encoding="utf-8",
        )
        result = check(
            runner,
            config,
            {"CALLSLOT_SECRET": SECRET, "TEAM_ICS": f"{web}/gone.ics?key=private-calendar-key"},
        )
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert line.startswith("FAIL  calendar 'Arbeit': ") and "404" in line
    assert "private-calendar-key" not in result.output and web not in result.output
    assert "1 problem found" in result.output


def test_a_calendar_without_any_event_is_pointed_out(runner: CliRunner, example_site: Path) -> None:
    # Google's public address of a private calendar answers an empty VCALENDAR: the
    # page would then offer every open hour while the owner is busy.
    (example_site / "content" / "calendar.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN"
        "\r\nX-WR-TIMEZONE:Europe/Berlin\r\nEND:VCALENDAR\r\n",
        encoding="utf-8",
    )
    result = check(runner, example_site / "content/site.toml", {"CALLSLOT_SECRET": SECRET})
    (line,) = [x for x in result.output.splitlines() if "calendar 'Arbeit'" in x]
    assert line.startswith("note  calendar 'Arbeit': holds no events at all")
    assert "Secret address in iCal format" in line


def test_zones_without_vtimezone_are_described_as_they_were_read(
    runner: CliRunner, example_site: Path
) -> None:
    # Every event carries a TZID and the file defines none: the times were read right
    # (a Windows name), and check must say so instead of "none given".
    (example_site / "content" / "calendar.ics").write_bytes(
        (Path(__file__).parent / "calendars" / "windows_tz_without_vtimezone.ics").read_bytes()
    )
    result = check(runner, example_site / "content/site.toml", {"CALLSLOT_SECRET": SECRET})
    (line,) = [x for x in result.output.splitlines() if "calendar 'Arbeit'" in x]
    assert "times: Pacific Standard Time (Windows name for America/Los_Angeles)" in line, line
    assert "none given" not in line


def test_bad_toml_names_the_file_and_line(runner: CliRunner, example_site: Path) -> None:
    config = add_settings(example_site, "[booking\nnotice = 4h")
    result = check(runner, config, {"CALLSLOT_SECRET": SECRET})
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert "site.toml" in line and "not valid TOML" in line and "line" in line


def test_smtp_port_with_nothing_listening(runner: CliRunner, example_site: Path) -> None:
    port = free_port()
    result = check(
        runner,
        example_site / "content/site.toml",
        {"CALLSLOT_SECRET": SECRET, "SMTP_URL": f"smtp://127.0.0.1:{port}"},
    )
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert line == (
        f"FAIL  SMTP: the mail server at 127.0.0.1:{port} refused the connection; is it "
        "running? (check notify.email.host and port, or SMTP_URL)"
    )


def test_mail_without_base_url_is_pointed_out(runner: CliRunner, example_site: Path) -> None:
    path = example_site / "content/site.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('base_url = "https://anna-beispiel.example.org"\n', ""))
    with smtp_server(Sink()) as port:
        env = {"CALLSLOT_SECRET": SECRET, "SMTP_URL": f"smtp://127.0.0.1:{port}"}
        result = check(runner, path, env)
    assert result.exit_code == 0, result.output
    assert "note  settings: site.base_url is not set: confirmation mails cannot link" in (
        result.output
    )


def test_smtp_server_rejecting_the_login(runner: CliRunner, example_site: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        result = check(
            runner,
            example_site / "content/site.toml",
            {
                "CALLSLOT_SECRET": SECRET,
                "SMTP_URL": f"smtp://anna:wrong-password-123@127.0.0.1:{port}",
            },
            "--send-test",
        )
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert "rejected the login of 'anna'" in line and "password" in line
    assert "wrong-password-123" not in result.output
    assert sink.mails == []  # no test mail through a server that refused the login


def test_missing_env_secret_says_which_variable_to_export(
    runner: CliRunner, example_site: Path
) -> None:
    config = example_site / "content/site.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'source = "calendar.ics"', 'source = "env:TEAM_ICS"'
        ),
        encoding="utf-8",
    )
    result = check(runner, config, {"CALLSLOT_SECRET": SECRET})
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert line == (
        "FAIL  calendar 'Arbeit': environment variable TEAM_ICS is not set; export it "
        '(site.toml says calendars.source = "env:TEAM_ICS") or remove the setting'
    )


def test_missing_signing_key(runner: CliRunner, example_site: Path) -> None:
    result = check(runner, example_site / "content/site.toml", {})
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert line.startswith("FAIL  CALLSLOT_SECRET: not set; export a random value")


def test_unreachable_database(runner: CliRunner, example_site: Path) -> None:
    url = f"postgresql://postgres:db-password-42@127.0.0.1:{free_port()}/callslot"
    result = check(
        runner, example_site / "content/site.toml", {"CALLSLOT_SECRET": SECRET, "DATABASE_URL": url}
    )
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert line.startswith("FAIL  DATABASE_URL: ")
    assert "db-password-42" not in result.output


def test_every_problem_is_reported_not_only_the_first(
    runner: CliRunner, example_site: Path
) -> None:
    config = add_settings(example_site, '[notify]\nwebhooks = ["env:CHAT_HOOK"]\n')
    result = check(runner, config, {"SMTP_URL": f"smtp://127.0.0.1:{free_port()}"})
    assert result.exit_code == 1
    parts = [line.split(":")[0] for line in fail_lines(result)]
    assert parts == ["FAIL  CALLSLOT_SECRET", "FAIL  notify.webhooks[0]", "FAIL  SMTP"]
    assert "3 problems found" in result.output


def test_check_does_not_create_a_missing_sqlite_file(
    runner: CliRunner, example_site: Path, tmp_path: Path
) -> None:
    target = tmp_path / "typo" / "bookings.sqlite3"
    result = check(
        runner,
        example_site / "content/site.toml",
        {"CALLSLOT_SECRET": SECRET, "DATABASE_URL": f"sqlite:///{target}"},
    )
    assert result.exit_code == 0, result.output
    assert "does not exist yet" in result.output
    assert not target.parent.exists()


def test_netlify_forms_mode_needs_the_netlify_token(runner: CliRunner, example_site: Path) -> None:
    config = example_site / "content/site.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'who_calls = "either"', 'who_calls = "either"\nbackend = "netlify-forms"'
        ),
        encoding="utf-8",
    )
    result = check(runner, config, {"CALLSLOT_SECRET": SECRET})
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert line.startswith("FAIL  Netlify Forms: ")
    assert "export NETLIFY_SITE_ID and NETLIFY_AUTH_TOKEN" in line
    assert "database" not in result.output  # no handler, so no store to look at


@pytest.mark.parametrize(
    ("env", "toml"),
    [
        ({"SMTP_URL": f"smtp://anna:{SMTP_PASSWORD}@192.0.2.1:587"}, ""),
        (
            {"MAIL_PW": SMTP_PASSWORD},
            '[notify.email]\nhost = "192.0.2.1"\nport = 25\nsecurity = "none"\n'
            'username = "anna"\npassword = "env:MAIL_PW"\n',
        ),
    ],
    ids=["SMTP_URL without starttls", "notify.email security none"],
)
def test_a_password_over_unencrypted_smtp_to_another_host_fails(
    runner: CliRunner, example_site: Path, env: dict[str, str], toml: str
) -> None:
    config = add_settings(example_site, toml) if toml else example_site / "content/site.toml"
    # 192.0.2.1 (TEST-NET) answers nothing: the check must refuse before it connects.
    result = check(runner, config, {"CALLSLOT_SECRET": SECRET, **env}, "--send-test")
    assert result.exit_code == 1
    (line,) = fail_lines(result)
    assert line.startswith("FAIL  SMTP: the password would go to 192.0.2.1:")
    assert "unencrypted" in line and "starttls=true" in line
    assert SMTP_PASSWORD not in result.output


def test_a_short_secret_is_named_once(runner: CliRunner, example_site: Path) -> None:
    result = check(runner, example_site / "content/site.toml", {"CALLSLOT_SECRET": "short"})
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if "is too short" in line]
    assert line.startswith("FAIL  CALLSLOT_SECRET: is too short"), line
    assert line.count("CALLSLOT_SECRET") == 1, line
