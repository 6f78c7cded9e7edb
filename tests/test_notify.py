"""The outbox worker end to end: a down mail server loses nothing, nothing is sent twice."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import smtplib
import socket
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_support import (
    SECRET,
    START,
    HttpSink,
    book,
    free_port,
    make_booking,
    site_settings,
    smtp_server,
)
from testenv import PG_ADMIN_URL, ROOT

from generator.cli import main
from generator.notify.outbox import MAX_ATTEMPTS, backoff_after, channels_for, run_due, send_now
from generator.store import open_store

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
OWNER = "anna@example.org"
START_MONDAY = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # 09:00 in Berlin


def _env(db: Path | str, smtp_port: int, **extra: str) -> dict[str, str]:
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    return {
        "DATABASE_URL": url,
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "CALLSLOT_SECRET": SECRET.decode(),
        **extra,
    }


def test_channels_for_follows_the_settings(example_site: Path) -> None:
    bare = site_settings(example_site)
    # Mail rows are queued while no mail server is configured: announced once it is.
    assert channels_for(bare, "booked") == ["email:owner", "email:caller"]
    settings = site_settings(
        example_site,
        env={
            "SMTP_URL": "smtp://127.0.0.1:25",
            "HOOK": "https://hooks.example/x",
            "BH": "https://b",
        },
        extra_toml='[notify]\nwebhooks = ["https://a.example/1", "env:HOOK"]\n'
        'build_hook = "env:BH"\n',
    )
    expected = ["email:owner", "email:caller", "webhook:0", "webhook:1", "build_hook"]
    assert channels_for(settings, "booked") == expected
    assert channels_for(settings, "cancelled") == expected
    assert channels_for(settings, "moved") == expected
    with pytest.raises(ValueError):
        channels_for(settings, "reminder")  # reminders are queued by reminders_for


def test_backoff_grows_then_gives_up() -> None:
    waits = [backoff_after(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert waits[0] == dt.timedelta(minutes=1)
    assert all(a < b for a, b in itertools.pairwise(waits[:-1]))
    assert waits[-1] is None


def test_smtp_down_keeps_the_booking_and_notify_sends_each_mail_once(
    example_site: Path, runner, tmp_path: Path
) -> None:
    db = tmp_path / "bookings.sqlite3"
    port = free_port()  # nothing listens here yet: the mail server is down
    env = _env(db, port)
    settings = site_settings(example_site, env=env)
    store = open_store(env["DATABASE_URL"], settings=settings)
    booking = book(store, make_booking(), channels_for(settings, "booked"))
    report = send_now(settings, store, booking.id, now=NOW, secret=SECRET)
    assert [d.outcome for d in report.deliveries] == ["retry", "retry"]
    assert store.get(booking.id) == booking
    rows = store.outbox()
    assert [(r.status, r.attempts) for r in rows] == [("pending", 1), ("pending", 1)]
    assert all("refused the connection; is it running?" in r.last_error for r in rows)
    store.close()

    config = str(example_site / "content" / "site.toml")
    later = (NOW + dt.timedelta(minutes=2)).isoformat()
    with smtp_server(port) as (sink, _):
        first = runner.invoke(main, ["notify", "--config", config, "--now", later], env=env)
        assert first.exit_code == 0, first.output
        assert "2 sent" in first.output
        second = runner.invoke(main, ["notify", "--config", config, "--now", later], env=env)
        assert second.exit_code == 0, second.output
        assert "0 sent" in second.output
    assert sorted(r for m in sink.messages for r in m.rcpt_tos) == [OWNER, "max@example.com"]


def test_retry_now_sends_before_the_backoff_is_over(example_site: Path, runner, tmp_path) -> None:
    port = free_port()
    env = _env(tmp_path / "b.sqlite3", port)
    settings = site_settings(example_site, env=env)
    store = open_store(env["DATABASE_URL"], settings=settings)
    booking = book(store, make_booking(email=""), channels_for(settings, "booked"))
    send_now(settings, store, booking.id, now=NOW, secret=SECRET)
    store.close()
    config = str(example_site / "content" / "site.toml")
    with smtp_server(port) as (sink, _):
        waiting = runner.invoke(
            main, ["notify", "--config", config, "--now", NOW.isoformat()], env=env
        )
        assert waiting.exit_code == 0, waiting.output
        assert sink.messages == []
        forced = runner.invoke(
            main, ["notify", "--config", config, "--now", NOW.isoformat(), "--retry-now"], env=env
        )
        assert forced.exit_code == 0, forced.output
    assert [m.rcpt_tos for m in sink.messages] == [[OWNER]]
    assert "1 sent" in forced.output
    # The caller gave no address: that row was marked done at once, never retried.
    store = open_store(env["DATABASE_URL"], settings=settings)
    assert [(r.channel, r.status, r.attempts) for r in store.outbox()] == [
        ("email:owner", "sent", 2),
        ("email:caller", "sent", 1),
    ]
    store.close()


def test_gives_up_after_the_last_attempt_and_keeps_the_error(example_site: Path, tmp_path) -> None:
    env = _env(tmp_path / "b.sqlite3", free_port())
    settings = site_settings(example_site, env=env)
    store = open_store(env["DATABASE_URL"], settings=settings)
    # Far enough ahead that every retry is still before the call (later ones are dropped).
    later = dt.timedelta(days=60)
    book(store, make_booking(start=START + later, end=START + later + dt.timedelta(minutes=30)),
         ["email:owner"])
    moment = NOW
    outcomes = []
    for _ in range(MAX_ATTEMPTS + 2):
        report = run_due(settings, store, now=moment, secret=SECRET)
        outcomes += [d.outcome for d in report.deliveries]
        moment += dt.timedelta(days=2)  # longer than any backoff
    assert outcomes == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    [row] = store.outbox()
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert "refused the connection" in row.last_error
    store.close()


def test_a_booked_mail_not_yet_sent_is_dropped_once_cancelled(example_site: Path, tmp_path) -> None:
    with smtp_server() as (sink, port):
        env = _env(tmp_path / "b.sqlite3", port)
        settings = site_settings(example_site, env=env)
        store = open_store(env["DATABASE_URL"], settings=settings)
        booking = book(store, make_booking(), channels_for(settings, "booked"))
        store.cancel(booking.id, now=NOW, channels=channels_for(settings, "cancelled"))
        report = run_due(settings, store, now=NOW, secret=SECRET)
        store.close()
    # A REQUEST arriving after the CANCEL would put the call back into the calendars.
    assert [(d.event, d.outcome) for d in report.deliveries] == [
        ("booked", "skipped"),
        ("booked", "skipped"),
        ("cancelled", "sent"),
        ("cancelled", "sent"),
    ]
    assert len(sink.messages) == 2
    assert all("CANCEL" in m.message.get_body(("calendar",)).get_content() for m in sink.messages)


def test_build_hook_is_posted_at_most_once_a_minute(example_site: Path, tmp_path: Path) -> None:
    with HttpSink() as hook:
        settings = site_settings(
            example_site,
            env={"BUILD_HOOK": hook.url + "/build_hooks/abc"},
            extra_toml='[notify]\nbuild_hook = "env:BUILD_HOOK"\n',
        )
        assert channels_for(settings, "booked") == ["email:owner", "email:caller", "build_hook"]
        store = open_store(f"sqlite:///{tmp_path / 'b.sqlite3'}", settings=settings)
        first = book(store, make_booking(0), ["build_hook"])
        send_now(settings, store, first.id, now=NOW, secret=SECRET)
        assert len(hook.requests) == 1
        # Two more bookings within the minute: no POST now, they wait for the next window.
        for n in (1, 2):
            booking = book(store, make_booking(n), ["build_hook"])
            report = send_now(
                settings, store, booking.id, now=NOW + dt.timedelta(seconds=10 * n), secret=SECRET
            )
            assert [d.outcome for d in report.deliveries] == ["delayed"]
        assert len(hook.requests) == 1
        # After the minute, one POST covers both waiting changes.
        report = run_due(settings, store, now=NOW + dt.timedelta(seconds=90), secret=SECRET)
        assert [d.outcome for d in report.deliveries] == ["sent", "coalesced"]
        assert len(hook.requests) == 2
        assert {row.status for row in store.outbox()} == {"sent"}
        store.close()


def test_broken_configuration_exits_non_zero_without_secrets(example_site: Path, runner) -> None:
    site_settings(example_site, extra_toml='[notify]\nwebhooks = ["env:CHAT_HOOK_URL"]\n')
    result = runner.invoke(
        main,
        ["notify", "--config", str(example_site / "content" / "site.toml")],
        env={"CALLSLOT_SECRET": SECRET.decode(), "CHAT_HOOK_URL": None, "DATABASE_URL": None},
    )
    assert result.exit_code == 1
    assert "CHAT_HOOK_URL" in result.output and "notify.webhooks" in result.output
    assert SECRET.decode() not in result.output


# --------------------------------------------------------------------------
# Two workers at once


@pytest.fixture
def fresh_pg_url(postgres_url: str) -> Iterator[str]:
    """A database of our own, so outbox rows of other tests in the session are not counted."""
    import psycopg

    name = f"callslot_notify_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _two_workers_send_each_mail_once(site: Path, database_url: str) -> None:
    bookings = 12
    with smtp_server() as (sink, port):
        sink.delay = 0.02  # each mail takes a moment, so the two workers overlap
        env = _env(database_url, port)
        settings = site_settings(site, env=env)
        store = open_store(database_url, settings=settings)
        for n in range(bookings):
            book(
                store,
                make_booking(n, id=f"b{n:03d}", email=f"caller{n}@example.com"),
                channels_for(settings, "booked"),
            )
        store.close()
        command = [
            sys.executable,
            "-c",
            "from generator.cli import main; main()",
            "notify",
            "--config",
            str(site / "content" / "site.toml"),
            "--now",
            NOW.isoformat(),
        ]
        workers = [
            subprocess.Popen(
                command,
                cwd=ROOT,
                env={"PATH": "/usr/bin:/bin", **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=120) for w in workers]
        for worker, (out, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, out + err
    # Between them the two workers report every row sent exactly once.
    lines = [line for out, _ in outputs for line in out.splitlines() if line.startswith("sent ")]
    assert len(lines) == 2 * bookings
    print(
        "rows sent per worker:",
        [out.count("\nsent ") + out.startswith("sent ") for out, _ in outputs],
    )
    recipients = collections.Counter(r for m in sink.messages for r in m.rcpt_tos)
    assert recipients[OWNER] == bookings
    assert all(recipients[f"caller{n}@example.com"] == 1 for n in range(bookings))
    assert len(sink.messages) == 2 * bookings
    store = open_store(database_url, settings=settings)
    assert {row.status for row in store.outbox()} == {"sent"}
    store.close()


def test_two_notify_processes_on_one_sqlite_file_send_each_mail_once(
    example_site: Path, tmp_path: Path
) -> None:
    _two_workers_send_each_mail_once(example_site, f"sqlite:///{tmp_path / 'shared.sqlite3'}")


@pytest.mark.postgres
def test_two_notify_processes_on_postgres_send_each_mail_once(
    example_site: Path, fresh_pg_url: str
) -> None:
    _two_workers_send_each_mail_once(example_site, fresh_pg_url)


def test_booking_through_the_handler_survives_a_down_mail_server(
    example_site: Path, runner, tmp_path: Path
) -> None:
    import dataclasses

    from werkzeug.test import Client

    from generator.domain import Slot
    from generator.signing import slot_token
    from generator.web.wsgi import create_app

    port = free_port()
    env = {**_env(tmp_path / "b.sqlite3", port), "CALLSLOT_RATE_LIMIT": "off"}
    settings = site_settings(example_site, env=env)
    # No calendar re-check: this test is about what happens after the booking is recorded.
    settings = dataclasses.replace(settings, calendars=())
    # The caller posts lang=en: the site is answered in English as well as German.
    settings = dataclasses.replace(
        settings, site=dataclasses.replace(settings.site, languages=("de", "en"))
    )
    app = create_app(settings, secret=SECRET, clock=lambda: NOW, env=env)
    slot = Slot(
        start=START_MONDAY, end=START_MONDAY + dt.timedelta(minutes=30), call_type="rueckruf"
    )
    response = Client(app).post(
        "/api/book",
        json={
            "slot": slot_token(SECRET, slot),
            "name": "Max Muster",
            "phone": "+49 170 5550101",
            "email": "max@example.com",
            "topic": "Vertrag XY",
            "who_calls": "owner",
            "lang": "en",
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert app.ctx.after_commit.wait()  # tried on the background thread, after the answer
    store = app.ctx.store
    [booking] = store.bookings()
    assert (booking.start, booking.topic) == (START_MONDAY, "Vertrag XY")
    assert {(r.channel, r.event, r.status, r.attempts) for r in store.outbox()} == {
        ("email:owner", "booked", "pending", 1),
        ("email:caller", "booked", "pending", 1),
        ("email:caller", "reminder", "pending", 0),  # the day before, not due yet
    }
    store.close()

    config = str(example_site / "content" / "site.toml")
    later = (NOW + dt.timedelta(minutes=5)).isoformat()
    with smtp_server(port) as (sink, _):
        for _ in range(2):
            result = runner.invoke(main, ["notify", "--config", config, "--now", later], env=env)
            assert result.exit_code == 0, result.output
    assert sorted(r for m in sink.messages for r in m.rcpt_tos) == [OWNER, "max@example.com"]
    to_caller = sink.to("max@example.com")[0].message
    assert to_caller["Subject"] == "Your call with Dr. Anna Beispiel: Mon 30 Nov 9:00"


def test_background_loop_sends_queued_mail_once_and_stops(example_site: Path, tmp_path) -> None:
    import threading
    import time

    from generator.notify.outbox import run_forever

    with smtp_server() as (sink, port):
        env = _env(tmp_path / "b.sqlite3", port)
        settings = site_settings(example_site, env=env)
        store = open_store(env["DATABASE_URL"], settings=settings)
        book(store, make_booking(), channels_for(settings, "booked"))
        stop = threading.Event()
        thread = threading.Thread(
            target=run_forever,
            args=(settings, store),
            kwargs={"secret": SECRET, "stop": stop, "clock": lambda: NOW, "interval": 0.05},
        )
        thread.start()
        deadline = time.monotonic() + 10
        while {r.status for r in store.outbox()} != {"sent"} and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # a few more rounds: nothing is sent again
        stop.set()
        thread.join(5)
        assert not thread.is_alive()
        store.close()
    assert len(sink.messages) == 2


def test_notify_exits_zero_when_deliveries_fail_and_says_so(
    example_site: Path, runner, tmp_path: Path
) -> None:
    env = _env(tmp_path / "b.sqlite3", free_port())  # nothing listens: every mail fails
    settings = site_settings(example_site, env=env)
    store = open_store(env["DATABASE_URL"], settings=settings)
    book(store, make_booking(), channels_for(settings, "booked"))
    store.close()
    config = str(example_site / "content" / "site.toml")
    result = runner.invoke(main, ["notify", "--config", config, "--now", NOW.isoformat()], env=env)
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("retry ") for line in result.output.splitlines()) == 2
    assert f"the mail server at 127.0.0.1:{env['SMTP_URL'].rsplit(':', 1)[1]} refused the " \
        "connection; is it running?" in result.output
    assert "(next attempt Fri 2026-11-27 11:01)" in result.output  # the owner's clock
    assert "0 sent, 0 skipped (nothing to send), 2 not sent" in result.output


def test_a_hanging_mail_server_does_not_keep_the_caller_waiting(
    example_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that accepts and never greets held each booking request 20 s per mail (40 s:
    # longer than the proxy's and Lambda's timeouts, so the recorded booking looked failed).
    import contextlib
    import dataclasses
    import socket
    import threading
    import time

    from werkzeug.test import Client

    import generator.notify.outbox
    from generator.domain import Slot
    from generator.signing import slot_token
    from generator.web.wsgi import create_app

    monkeypatch.setattr(generator.notify.outbox, "IMMEDIATE_BUDGET", 1.5)  # 8 s in production
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    env = {
        **_env(tmp_path / "b.sqlite3", listener.getsockname()[1]),
        "CALLSLOT_RATE_LIMIT": "off",
        # The bounded attempt inside the request is Lambda's (elsewhere a thread sends later).
        "CALLSLOT_NOTIFY": "inline",
    }
    settings = dataclasses.replace(site_settings(example_site, env=env), calendars=())
    app = create_app(settings, secret=SECRET, clock=lambda: NOW, env=env)
    end = START_MONDAY + dt.timedelta(minutes=30)
    slot = Slot(start=START_MONDAY, end=end, call_type="rueckruf")
    fields = {
        "slot": slot_token(SECRET, slot),
        "name": "Max Muster",
        "phone": "+49 170 5550101",
        "email": "max@example.com",
        "topic": "Vertrag XY",
        "lang": "en",
    }
    try:
        started = time.monotonic()
        response = Client(app).post("/api/book", json=fields)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert response.status_code == 201, response.get_data(as_text=True)
    assert elapsed < 4, f"the caller waited {elapsed:.1f} s"
    store = app.ctx.store
    rows = {r.channel: r for r in store.outbox() if r.event == "booked"}
    assert set(rows) == {"email:owner", "email:caller"}
    assert all(r.status == "pending" for r in rows.values())
    # The row there was no time for is due at once for `callslot notify`.
    assert "not tried yet" in rows["email:caller"].last_error
    assert rows["email:caller"].next_attempt_at == NOW
    store.close()


def test_notify_counts_a_skipped_caller_mail_apart_from_sent_ones(
    example_site: Path, runner, tmp_path: Path
) -> None:
    # A caller who gave no email address: the owner's mail goes out, the caller's row is
    # skipped; "2 sent" would tell the owner the caller got a confirmation.
    with smtp_server() as (sink, port):
        env = _env(tmp_path / "b.sqlite3", port)
        settings = site_settings(example_site, env=env)
        store = open_store(env["DATABASE_URL"], settings=settings)
        book(store, make_booking(email=""), channels_for(settings, "booked"))
        store.close()
        config = str(example_site / "content" / "site.toml")
        args = ["notify", "--config", config, "--now", NOW.isoformat()]
        result = runner.invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert len(sink.messages) == 1
    assert "skipped   email:caller" in result.output
    assert "1 sent, 1 skipped (nothing to send), 0 not sent" in result.output


def test_a_retry_is_said_in_our_words_at_the_owners_time(
    example_site: Path, runner, tmp_path: Path
) -> None:
    # The night the clocks go back: "ConnectionRefusedError: [Errno 111] ... (next attempt
    # 2027-10-30T23:06:00+00:00)" was Python's words and UTC's clock.
    port = free_port()
    env = _env(tmp_path / "b.sqlite3", port)
    settings = site_settings(example_site, env=env)
    store = open_store(env["DATABASE_URL"], settings=settings)
    start = dt.datetime(2027, 11, 2, 8, 0, tzinfo=dt.UTC)
    book(store, make_booking(start=start, end=start + dt.timedelta(minutes=30)),
         ["email:owner"])
    store.close()
    config = str(example_site / "content" / "site.toml")
    result = runner.invoke(
        main, ["notify", "--config", config, "--now", "2027-10-31T01:01+02:00"], env=env
    )
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("retry ")]
    assert line.endswith(f"the mail server at 127.0.0.1:{port} refused the connection; is it "
                         "running? (check notify.email.host and port, or SMTP_URL) "
                         "(next attempt Sun 2027-10-31 1:02)"), line
    assert "Errno" not in result.output and "Error:" not in result.output
    store = open_store(env["DATABASE_URL"], settings=settings)
    [row] = store.outbox()
    store.close()
    assert f"127.0.0.1:{port} refused the connection" in row.last_error
    assert SECRET.decode() not in row.last_error


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (ConnectionRefusedError(111, "Connection refused"),
         "refused the connection; is it running?"),
        (TimeoutError("timed out"), "did not answer in time"),
        (socket.gaierror(-2, "Name or service not known"),
         "the mail server's name 'mail.example.org' cannot be found (DNS)"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"),
         "certificate that cannot be trusted"),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
         "rejected the login of 'anna'"),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
         "closed the connection unexpectedly"),
    ],
)
def test_mail_server_failures_are_said_in_our_words(exc: BaseException, says: str) -> None:
    from generator.config.notify import EmailSettings
    from generator.config.settings import Secret
    from generator.notify.mail import smtp_problem

    email = EmailSettings(host="mail.example.org", port=587, security="starttls",
                          username="anna", password=Secret("hunter2-secret"),
                          sender="anna@example.org")
    text = smtp_problem(email, exc)
    assert says in text, text
    assert "mail.example.org" in text and "hunter2" not in text
    assert type(exc).__name__ not in text and "Errno" not in text
