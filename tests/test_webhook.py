"""Webhooks against a real local HTTP receiver: signed JSON, Slack-compatible, failures retried."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from notify_support import SECRET, HttpSink, book, make_booking, site_settings

from generator.notify.outbox import channels_for, run_due, send_now
from generator.notify.webhook import SIGNATURE_HEADER, WebhookFailed, send_webhook, verify
from generator.store.sqlite import SQLiteStore

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
HOOK_KEY = "webhook-key-abcdefghijklmnop"


def test_body_verifies_against_its_signature_and_has_slack_text(example_site: Path) -> None:
    settings = site_settings(example_site)
    with HttpSink() as sink:
        status = send_webhook(sink.url + "/hook", settings, make_booking(), "booked", key=b"k" * 20)
    assert status == 200
    [request] = sink.requests
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    header = request.headers[SIGNATURE_HEADER]
    assert header.startswith("sha256=")
    assert verify(b"k" * 20, request.body, header)
    assert not verify(b"wrong key 0123456789", request.body, header)
    assert not verify(b"k" * 20, request.body + b" ", header)
    data = json.loads(request.body)
    assert data["event"] == "booking.created"
    assert data["text"] == "Telefontermin gebucht: Mo 30.11. 9:00–9:30 – Vertrag XY – Max Muster"
    assert data["booking"] == {
        "id": "bk0000",
        "call_type": "rueckruf",
        "start": "2026-11-30T08:00:00Z",
        "end": "2026-11-30T08:30:00Z",
        "topic": "Vertrag XY",
        "name": "Max Muster",
        "phone": "+49 170 5550101",
        "email": "max@example.com",
        "note": "Bitte nachmittags",
        "who_calls": "owner",
        "status": "confirmed",
    }


def test_slack_text_cannot_alert_the_channel_or_hide_a_link(example_site: Path) -> None:
    settings = site_settings(example_site)
    booking = make_booking(topic="<!channel> <https://evil.example|Ihr Vertrag>", name="A & B")
    with HttpSink() as sink:
        send_webhook(sink.url + "/hook", settings, booking, "booked", key=b"k" * 20)
    data = json.loads(sink.requests[0].body)
    assert "<" not in data["text"] and ">" not in data["text"]
    assert data["text"].endswith(
        "&lt;!channel&gt; &lt;https://evil.example|Ihr Vertrag&gt; – A &amp; B"
    )
    # Receivers that read the booking itself get the caller's words unchanged.
    assert data["booking"]["topic"] == booking.topic and data["booking"]["name"] == "A & B"


def test_non_2xx_fails_without_revealing_the_url(example_site: Path) -> None:
    settings = site_settings(example_site)
    with HttpSink() as sink:
        sink.status = 500
        url = sink.url + "/services/T000/SECRET-TOKEN"
        with pytest.raises(WebhookFailed) as info:
            send_webhook(url, settings, make_booking(), "booked", key=b"k" * 20)
    assert "500" in str(info.value)
    assert "SECRET-TOKEN" not in str(info.value)


def test_slow_receiver_times_out(example_site: Path) -> None:
    settings = site_settings(example_site)
    with HttpSink() as sink:
        sink.delay = 1.0
        with pytest.raises((WebhookFailed, OSError)):
            send_webhook(sink.url, settings, make_booking(), "booked", key=b"k" * 20, timeout=0.2)


def test_failed_webhook_is_retried_through_the_outbox(example_site: Path, tmp_path: Path) -> None:
    with HttpSink() as sink:
        settings = site_settings(
            example_site,
            env={"HOOK_URL": sink.url + "/secret-path", "HOOK_KEY": HOOK_KEY},
            extra_toml='[notify]\nwebhooks = ["env:HOOK_URL"]\nwebhook_secret = "env:HOOK_KEY"\n',
        )
        channels = channels_for(settings, "booked")
        assert channels == ["email:owner", "email:caller", "webhook:0"]
        store = SQLiteStore(tmp_path / "b.sqlite3")
        store.migrate()
        booking = book(store, make_booking(), channels)

        sink.status = 503
        report = send_now(settings, store, booking.id, now=NOW, secret=SECRET)
        assert [d.outcome for d in report.deliveries] == ["retry"]
        # The mail rows wait untouched for a mail server; the webhook's row was tried.
        mails, [row] = store.outbox()[:2], store.outbox()[2:]
        assert [(m.status, m.attempts) for m in mails] == [("pending", 0)] * 2
        assert (row.status, row.attempts) == ("pending", 1)
        assert "503" in row.last_error and "secret-path" not in row.last_error
        assert row.next_attempt_at == NOW + dt.timedelta(minutes=1)

        sink.status = 200
        # Not due yet: nothing is sent before the backoff has passed.
        assert run_due(settings, store, now=NOW + dt.timedelta(seconds=30), secret=SECRET).sent == 0
        report = run_due(settings, store, now=NOW + dt.timedelta(minutes=2), secret=SECRET)
        assert report.sent == 1
        assert store.outbox()[2].status == "sent"
        store.close()
    assert len(sink.requests) == 2
    last = sink.requests[-1]
    assert last.path == "/secret-path"
    # The key is notify.webhook_secret, not CALLSLOT_SECRET.
    assert verify(HOOK_KEY.encode(), last.body, last.headers[SIGNATURE_HEADER])
