"""A sender that dies mid-send: its claims are released at the next start, and a mail is
sent again only when its hand-off to the mail server may not have completed."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from notify_support import SECRET, book, make_booking, site_settings, smtp_server

from generator.notify.outbox import channels_for, run_due, worker_alive
from generator.store import open_store
from generator.store.sql import MAYBE_TWICE

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
OWNER = "anna@example.org"
CALLER = "max@example.com"


def _env(db: Path, smtp_port: int) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{db}",
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "CALLSLOT_SECRET": SECRET.decode(),
    }


def _dead_worker() -> str:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return f"{socket.gethostname()}:{gone.pid}:1:dead00"


def test_workers_of_this_machine_are_alive_only_while_their_process_runs() -> None:
    from generator.notify.outbox import _worker_id

    assert worker_alive(_worker_id())
    assert not worker_alive(_dead_worker())
    assert worker_alive("other-host:1:1:abc")  # cannot be checked from here: wait the lease
    assert worker_alive("not-a-callslot-id")


def test_a_crashed_senders_claims_are_released_at_the_next_start(example_site, tmp_path) -> None:
    with smtp_server() as (sink, port):
        env = _env(tmp_path / "b.sqlite3", port)
        settings = site_settings(example_site, env=env)
        store = open_store(env["DATABASE_URL"], settings=settings)
        booking = book(store, make_booking(), channels_for(settings, "booked"))
        owner_row, caller_row = (r.id for r in store.outbox())
        # A sender claimed both rows, got the owner's mail accepted, and died.
        claimed = store.claim_outbox(now=NOW, worker=_dead_worker(), lease=dt.timedelta(minutes=10))
        assert len(claimed) == 2
        store.mark_handoff(owner_row, "data")
        store.mark_handoff(owner_row, "accepted")
        report = run_due(settings, store, now=NOW + dt.timedelta(seconds=5), secret=SECRET)
        # Not ten minutes later: at once. The accepted mail is not sent a second time.
        assert [(d.item_id, d.outcome) for d in report.deliveries] == [(caller_row, "sent")]
        assert [m.rcpt_tos for m in sink.messages] == [[CALLER]]
        assert {r.id: r.status for r in store.outbox()} == {owner_row: "sent", caller_row: "sent"}
        assert store.get(booking.id).status == "confirmed"
        store.close()


class _StallingSink:
    """Takes the message, then never answers DATA: the sender waits inside its hand-off."""

    def __init__(self) -> None:
        self.received = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.set()
        await asyncio.sleep(3600)
        return "250 OK"


def test_a_sender_killed_during_data_leaves_one_possible_duplicate_with_the_same_message_id(
    example_site, tmp_path
) -> None:
    from notify_support import Controller, free_port

    db = tmp_path / "b.sqlite3"
    port = free_port()
    env = _env(db, port)
    settings = site_settings(example_site, env=env)
    store = open_store(env["DATABASE_URL"], settings=settings)
    book(store, make_booking(), channels_for(settings, "booked"))
    stalling = _StallingSink()
    controller = Controller(stalling, hostname="127.0.0.1", port=port)
    controller.start()
    config = str(example_site / "content" / "site.toml")
    sender = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from generator.cli import main; main()",
            "notify",
            "--config",
            config,
            "--now",
            NOW.isoformat(),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert stalling.received.wait(60)
        sender.send_signal(signal.SIGKILL)
        sender.wait(30)
    finally:
        controller.stop()
    owner_row, caller_row = store.outbox()
    assert owner_row.status == caller_row.status == "pending"
    with smtp_server(port) as (sink, _):
        report = run_due(settings, store, now=NOW + dt.timedelta(minutes=1), secret=SECRET)
    assert sorted(d.outcome for d in report.deliveries) == ["sent", "sent"]
    [again] = sink.to(OWNER)
    assert again.message["Message-ID"] == f"<callslot.{owner_row.id}.bk0000@example.org>"
    assert len(sink.to(CALLER)) == 1  # never handed over before the crash: sent once
    store.close()


def test_released_rows_say_whether_the_mail_may_arrive_twice(example_site, tmp_path) -> None:
    env = _env(tmp_path / "b.sqlite3", 9)
    settings = site_settings(example_site, env=env)
    store = open_store(env["DATABASE_URL"], settings=settings)
    book(store, make_booking(), channels_for(settings, "booked"))
    first, second = (r.id for r in store.outbox())
    store.claim_outbox(now=NOW, worker=_dead_worker(), lease=dt.timedelta(minutes=10))
    store.mark_handoff(first, "data")
    released = store.release_claims(now=NOW, alive=worker_alive)
    assert sorted(released) == [first, second]
    rows = {r.id: r for r in store.outbox()}
    assert rows[first].last_error == MAYBE_TWICE
    assert "before sending" in rows[second].last_error
    assert store.claim_outbox(now=NOW, worker="w", lease=dt.timedelta(minutes=1))  # claimable
    store.close()
