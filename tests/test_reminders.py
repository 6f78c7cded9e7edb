"""Reminders before a call, and every booking announced: pinned clocks (across a DST change),
a real SMTP server (aiosmtpd), a real HTTP receiver, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_support import SECRET, HttpSink, site_settings, smtp_server

from generator.cli import main
from generator.config.notify import parse_reminder
from generator.config.settings import Settings
from generator.domain import Booking
from generator.errors import ConfigError
from generator.notify.outbox import (
    channels_for,
    reminders_for,
    run_due,
    run_forever,
)
from generator.notify.webhook import verify
from generator.signing import move_token
from generator.store import Store, open_store

UTC = dt.UTC
# Sunday 29 March 2026, 10:00 in Berlin (CEST, UTC+2): the clocks went forward at 02:00.
SUNDAY = dt.datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
BOOKED_AT = dt.datetime(2026, 3, 26, 12, 0, tzinfo=UTC)  # the Thursday before
OWNER, CALLER = "anna@example.org", "max@example.com"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def settings_with(site: Path, port: int, toml: str = "", **env: str) -> Settings:
    return site_settings(site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}", **env},
                         extra_toml=toml)


def call(start: dt.datetime = SUNDAY, **changes: object) -> Booking:
    values: dict[str, object] = {
        "id": "r1",
        "call_type": "rueckruf",
        "start": start,
        "end": start + dt.timedelta(minutes=30),
        "name": "Max Muster",
        "phone": "+1 212 555 0101",
        "email": CALLER,
        "topic": "Mietvertrag",
        "note": "",
        "who_calls": "caller",
        "language": "de",
        "caller_timezone": "America/New_York",
        "created_at": BOOKED_AT,
    }
    values.update(changes)
    return Booking(**values)  # type: ignore[arg-type]


def book(settings: Settings, store: Store, booking: Booking) -> Booking:
    """As the handler records a booking: its announcements and its reminders in one go."""
    recorded, _ = store.book(
        booking,
        cancel_token_hash=hashlib.sha256(booking.id.encode()).hexdigest(),
        move_token_hash=hashlib.sha256(move_token(SECRET, booking.id).encode()).hexdigest(),
        idempotency_key=f"idem-{booking.id}",
        channels=channels_for(settings, "booked"),
        day_start=booking.start - dt.timedelta(hours=12),
        day_end=booking.start + dt.timedelta(hours=12),
        max_per_day=None,
        reminders=reminders_for(settings, booking.start, booking.created_at),
    )
    return recorded


def reminders_sent(sink, address: str = CALLER) -> list:
    return [m for m in sink.to(address) if "Erinnerung" in m.message["Subject"]]


# -- when a reminder is due ----------------------------------------------------------------


def test_days_count_on_the_owners_calendar_hours_exactly_across_dst() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    day, hours = parse_reminder("1d", field=""), parse_reminder("24h", field="")
    # The day before at the same time: Saturday 10:00 CET is 09:00 UTC (23 hours before).
    assert day.due(SUNDAY, berlin) == dt.datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    # 24 hours before: Saturday 08:00 UTC, 09:00 on the owner's clock.
    assert hours.due(SUNDAY, berlin) == dt.datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    # And back in October: the day before a call on Sunday 25 Oct is 25 hours earlier.
    october = dt.datetime(2026, 10, 25, 9, 0, tzinfo=UTC)  # 10:00 CET
    assert october - day.due(october, berlin) == dt.timedelta(hours=25)
    assert parse_reminder("1d2h", field="").due(SUNDAY, berlin) == dt.datetime(
        2026, 3, 28, 7, 0, tzinfo=UTC
    )


def test_reminder_settings_are_checked_with_file_and_line(example_site: Path) -> None:
    settings = site_settings(example_site)
    assert [r.text for r in settings.notify.reminders] == ["1d"]  # the day before
    assert settings.notify.remind_owner is False
    settings = site_settings(example_site, extra_toml='[notify]\nreminders = ["1d", "1h"]\n')
    assert [r.text for r in settings.notify.reminders] == ["1d", "1h"]
    path = example_site / "content" / "site.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('reminders = ["1d", "1h"]', "reminders = []"), encoding="utf-8")
    assert site_settings(example_site).notify.reminders == ()
    for bad, says in (('["soon"]', "not a duration"), ('["0h"]', "before the call"),
                      ("3", "expected a list")):
        path.write_text(text.replace('["1d", "1h"]', bad), encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            site_settings(example_site)
        message = info.value.format_message()
        assert "notify.reminders" in message and says in message
        assert "site.toml, line" in message


def test_no_reminder_whose_time_passed_before_the_booking(example_site: Path) -> None:
    settings = site_settings(example_site, extra_toml='[notify]\nreminders = ["1d", "1h"]\n')
    # Booked on Saturday evening for Sunday morning: only the 1-hour reminder is left.
    late = dt.datetime(2026, 3, 28, 18, 0, tzinfo=UTC)
    due = reminders_for(settings, SUNDAY, late)
    assert due == [("email:caller", SUNDAY - dt.timedelta(hours=1))]
    assert reminders_for(settings, SUNDAY, SUNDAY - dt.timedelta(minutes=30)) == []


# -- sent once, in the caller's zone, with the links ------------------------------------------


def test_the_day_before_reminder_arrives_once_in_the_callers_zone(example_site, store) -> None:
    with smtp_server() as (sink, port):
        settings = settings_with(example_site, port, '[notify]\nreminders = ["1d", "1h"]\n')
        booking = book(settings, store, call())
        run_due(settings, store, now=BOOKED_AT, secret=SECRET)  # the booking mails
        assert reminders_sent(sink) == []
        before = dt.datetime(2026, 3, 28, 8, 59, tzinfo=UTC)  # 23 h 1 min before
        assert run_due(settings, store, now=before, secret=SECRET).sent == 0
        due = dt.datetime(2026, 3, 28, 9, 0, tzinfo=UTC)  # Saturday 10:00 in Berlin
        report = run_due(settings, store, now=due, secret=SECRET)
        assert [(d.channel, d.event, d.outcome) for d in report.deliveries] == [
            ("email:caller", "reminder", "sent")
        ]
        # Again and again: nothing more until the next reminder's time.
        for minutes in (1, 30, 600):
            later = due + dt.timedelta(minutes=minutes)
            assert run_due(settings, store, now=later, secret=SECRET).sent == 0
        run_due(settings, store, now=SUNDAY - dt.timedelta(hours=1), secret=SECRET)
        run_due(settings, store, now=SUNDAY, secret=SECRET)
    first, second = reminders_sent(sink)
    assert len(reminders_sent(sink, OWNER)) == 0  # the owner is not reminded by default
    message = first.message
    # New York is on summer time since 8 March: 10:00 in Berlin is 04:00 there.
    assert "So 29.03. 4:00" in message["Subject"], message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_body(("calendar",)) is None  # nothing changed: no invitation
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Mietvertrag" in text
    assert "4:00" in text and "Nordamerikanische Ostküstenzeit" in text
    # The caller dials: the owner's number as a tel: link, and a button for it.
    assert 'href="tel:+49301234567"' in html
    token = move_token(SECRET, booking.id)
    assert f"https://anna-beispiel.example.org/api/move?token={token}" in text
    assert "/api/cancel?token=" in text and "/api/cancel?token=" in html
    assert second.message["Subject"] == first.message["Subject"]


def test_the_owner_is_reminded_when_asked(example_site, store) -> None:
    with smtp_server() as (sink, port):
        settings = settings_with(
            example_site, port, '[notify]\nreminders = ["2h"]\nremind_owner = true\n'
        )
        book(settings, store, call(who_calls="owner"))
        run_due(settings, store, now=SUNDAY - dt.timedelta(hours=2), secret=SECRET)
    [owner] = reminders_sent(sink, OWNER)
    html = owner.message.get_body(("html",)).get_content()
    # The owner dials the caller: the caller's number as a link and a button.
    assert 'href="tel:+12125550101"' in html
    assert owner.message["Subject"].startswith("Erinnerung: Telefontermin So 29.03. 10:00")
    assert "/api/cancel" not in html  # the caller's links stay the caller's


def test_no_reminder_for_a_cancelled_call_and_a_moved_one_follows_its_new_time(
    example_site, store
) -> None:
    with smtp_server() as (sink, port):
        settings = settings_with(example_site, port, '[notify]\nreminders = ["1h"]\n')
        cancelled = book(settings, store, call())
        store.cancel(cancelled.id, now=BOOKED_AT, channels=channels_for(settings, "cancelled"))
        moved = book(settings, store, call(SUNDAY + dt.timedelta(hours=3), id="r2"))
        new_start = SUNDAY + dt.timedelta(days=1)
        store.move(
            moved.id,
            start=new_start,
            end=new_start + dt.timedelta(minutes=30),
            now=BOOKED_AT,
            channels=channels_for(settings, "moved"),
            reminders=reminders_for(settings, new_start, BOOKED_AT),
            day_start=new_start - dt.timedelta(hours=12),
            day_end=new_start + dt.timedelta(hours=12),
            max_per_day=None,
        )
        run_due(settings, store, now=BOOKED_AT, secret=SECRET)
        for at in (SUNDAY - dt.timedelta(hours=1), SUNDAY + dt.timedelta(hours=2)):
            assert run_due(settings, store, now=at, secret=SECRET).sent == 0
        assert reminders_sent(sink) == []
        report = run_due(settings, store, now=new_start - dt.timedelta(hours=1), secret=SECRET)
        assert [(d.booking_id, d.event) for d in report.deliveries] == [("r2", "reminder")]
    [reminder] = reminders_sent(sink)
    assert "Mo 30.03." in reminder.message["Subject"]


def test_reminder_sent_is_announced_to_webhooks_signed(example_site, store) -> None:
    with HttpSink() as hook:
        settings = site_settings(
            example_site,
            env={"HOOK": hook.url + "/hook"},
            extra_toml='[notify]\nreminders = ["1h"]\nwebhooks = ["env:HOOK"]\n',
        )
        book(settings, store, call())
        run_due(settings, store, now=SUNDAY - dt.timedelta(hours=1), secret=SECRET)
    events = [json.loads(r.body)["event"] for r in hook.requests]
    assert events == ["booking.created", "reminder.sent"]
    request = hook.requests[1]
    assert verify(SECRET, request.body, request.headers["X-Callslot-Signature"])
    assert json.loads(request.body)["text"].startswith("Erinnerung verschickt: So 29.03. 10:00")


def test_callslot_serve_sends_reminders_by_itself(example_site, tmp_path) -> None:
    """serve's background loop is run_forever: a reminder that falls due goes out."""
    with smtp_server() as (sink, port):
        settings = settings_with(example_site, port, '[notify]\nreminders = ["1h"]\n')
        store = open_store(f"sqlite:///{tmp_path / 'b.sqlite3'}")
        book(settings, store, call())
        run_due(settings, store, now=BOOKED_AT, secret=SECRET)
        clock = [SUNDAY - dt.timedelta(hours=2)]
        stop = threading.Event()
        loop = threading.Thread(
            target=run_forever,
            args=(settings, store),
            kwargs={"secret": SECRET, "stop": stop, "clock": lambda: clock[0], "interval": 0.05},
            daemon=True,
        )
        loop.start()
        time.sleep(0.3)
        assert reminders_sent(sink) == []
        clock[0] = SUNDAY - dt.timedelta(minutes=59)
        deadline = time.monotonic() + 10
        while not reminders_sent(sink) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        loop.join(5)
        store.close()
    assert len(reminders_sent(sink)) == 1


# -- every booking announced, even one made before mail was set up ----------------------------


def test_a_booking_made_before_mail_was_set_up_is_announced_once_it_is(
    example_site, runner, tmp_path
) -> None:
    db = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    bare = site_settings(example_site, extra_toml='[notify]\nreminders = []\n')
    assert bare.notify.email is None
    store = open_store(db)
    ahead = book(bare, store, call(dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC), id="ahead",
                                   created_at=dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)))
    past = book(bare, store, call(dt.datetime(2026, 11, 27, 9, 0, tzinfo=UTC), id="past",
                                  created_at=dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)))
    store.close()
    config = str(example_site / "content" / "site.toml")
    env = {"DATABASE_URL": db, "CALLSLOT_SECRET": SECRET.decode()}
    now = "2026-11-30T09:00:00+00:00"
    waiting = runner.invoke(main, ["notify", "--config", config, "--now", now], env=env)
    assert waiting.exit_code == 0, waiting.output
    assert "4 mails wait for a mail server: set SMTP_URL" in waiting.output
    with smtp_server() as (sink, port):
        env["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        sent = runner.invoke(main, ["notify", "--config", config, "--now", now], env=env)
        again = runner.invoke(main, ["notify", "--config", config, "--now", now], env=env)
    assert sent.exit_code == 0, sent.output
    # The call still ahead is announced to both sides; the one already over is dropped.
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [OWNER, CALLER]
    assert all("Telefontermin" in m.message["Subject"] for m in sink.messages)
    dropped = [line for line in sent.output.splitlines() if line.startswith("dropped")]
    assert len(dropped) == 2 and all(f"booking {past.id}" in line for line in dropped)
    assert "too late to send" in dropped[0]
    assert "2 sent" in sent.output and "2 dropped" in sent.output
    assert "0 sent" in again.output and "wait for a mail server" not in again.output
    assert ahead.id != past.id


# -- the caller never waits on mail ------------------------------------------------------------


def test_a_slow_mail_server_does_not_slow_the_booking_answer(example_site, tmp_path) -> None:
    from werkzeug.test import Client

    from generator.domain import Slot
    from generator.signing import slot_token
    from generator.web.wsgi import create_app

    now = dt.datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    start = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with smtp_server() as (sink, port):
        sink.delay = 2.0  # two seconds for every message
        env = {"SMTP_URL": f"smtp://127.0.0.1:{port}", "CALLSLOT_RATE_LIMIT": "off",
               "DATABASE_URL": f"sqlite:///{tmp_path / 'b.sqlite3'}"}
        settings = dataclasses.replace(site_settings(example_site, env=env), calendars=())
        app = create_app(settings, secret=SECRET, clock=lambda: now, env=env)
        slot = Slot(start, start + dt.timedelta(minutes=30), "rueckruf")
        started = time.monotonic()
        response = Client(app).post("/api/book", json={
            "slot": slot_token(SECRET, slot), "name": "Max Muster", "phone": "+49 170 5550101",
            "email": CALLER, "topic": "Vertrag", "lang": "de"})
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.get_data(as_text=True)
        # The answer came before even the first mail was through: it did not wait on them.
        assert sink.messages == []
        # Both mails take 4 s; a first booking on a loaded machine (cold imports, a
        # moved clock) has taken up to 3.5 s without waiting on any.
        assert elapsed < 2 * sink.delay, f"the caller waited {elapsed:.1f} s for the mail server"
        assert app.ctx.after_commit.wait(30)
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [OWNER, CALLER]
    app.ctx.store.close()


def test_an_eventbridge_schedule_drains_the_outbox_on_lambda(example_site, tmp_path) -> None:
    """On Lambda nothing runs after an answer: the scheduled event {"callslot": "notify"}
    sends the due reminders through the same function."""
    from generator.web.lambda_adapter import NOTIFY_EVENT, make_handler, notify

    db = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    with smtp_server() as (sink, port):
        env = {
            "CALLSLOT_CONFIG": str(example_site / "content" / "site.toml"),
            "CALLSLOT_SECRET": SECRET.decode(),
            "DATABASE_URL": db,
            "SMTP_URL": f"smtp://127.0.0.1:{port}",
            "CALLSLOT_NOW": "2026-03-26T12:00:00Z",  # the function's clock, pinned
        }
        settings = settings_with(example_site, port, '[notify]\nreminders = []\n')
        store = open_store(db)
        book(settings, store, call())
        store.close()
        assert notify(env) == {"sent": 2, "skipped": 0, "dropped": 0, "failed": 0}
        assert notify(env)["sent"] == 0  # once
        # The adapter routes the scheduled event there, and HTTP events to the app.
        routed: list[object] = []
        handler = make_handler(lambda environ, start_response: routed.append(environ) or [])
        assert NOTIFY_EVENT == {"callslot": "notify"}
        import os

        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            assert handler(dict(NOTIFY_EVENT), None)["sent"] == 0
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        assert routed == []
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [OWNER, CALLER]
