"""The booking store, run against a real SQLite file and the real PostgreSQL server."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from generator.domain import Booking
from generator.errors import StoreError
from generator.store import DayFull, SlotTaken, Store, open_store

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
NOW = T0 - timedelta(days=1)
DAY = (datetime(2026, 11, 29, 23, 0, tzinfo=UTC), datetime(2026, 11, 30, 23, 0, tzinfo=UTC))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def make(id_: str, start: datetime, minutes: int = 30, call_type: str = "rueckruf") -> Booking:
    return Booking(
        id=id_,
        call_type=call_type,
        start=start,
        end=start + timedelta(minutes=minutes),
        name="Max Muster",
        phone="+49 30 555",
        email="",
        topic="Vertrag",
        note="",
        who_calls="owner",
        language="de",
        caller_timezone="Europe/Berlin",
        created_at=NOW,
    )


def book(
    store: Store,
    b: Booking,
    *,
    key: str | None = None,
    channels=("email:owner",),
    max_per_day: int | None = None,
) -> tuple[Booking, bool]:
    return store.book(
        b,
        cancel_token_hash=f"hash-{b.id}",
        idempotency_key=key or f"k-{b.id}",
        channels=channels,
        day_start=DAY[0],
        day_end=DAY[1],
        max_per_day=max_per_day,
    )


def test_booking_round_trips_with_aware_utc_times_and_queues_its_outbox(store: Store) -> None:
    recorded, created = book(store, make("b1", T0), channels=("email:owner", "webhook:0"))
    assert created
    assert recorded == make("b1", T0)
    assert recorded.start.tzinfo is not None and recorded.start.utcoffset() == timedelta(0)
    assert store.get("b1") == recorded
    assert store.by_cancel_hash("hash-b1") == recorded
    assert store.by_cancel_hash("nope") is None
    assert [(o.channel, o.event, o.status) for o in store.outbox(booking_id="b1")] == [
        ("email:owner", "booked", "pending"),
        ("webhook:0", "booked", "pending"),
    ]


def test_overlap_with_any_call_type_is_refused_and_records_nothing(store: Store) -> None:
    book(store, make("b1", T0, 60, "beratung"))
    for start, minutes in [
        (T0, 30),
        (T0 + timedelta(minutes=30), 30),
        (T0 - timedelta(minutes=15), 30),
    ]:
        with pytest.raises(SlotTaken):
            book(store, make("b2", start, minutes))
    assert [b.id for b in store.bookings()] == ["b1"]
    assert store.outbox(booking_id="b2") == []
    # Touching intervals are fine: [09:00, 10:00) and [10:00, 10:30).
    assert book(store, make("b3", T0 + timedelta(hours=1)))[1]


def test_buffers_keep_a_pause_around_confirmed_calls(store: Store) -> None:
    book(store, make("b1", T0, 60))  # 09:00-10:00 UTC
    pause = {"buffer_before": timedelta(minutes=10), "buffer_after": timedelta(minutes=15)}
    for start in (T0 + timedelta(minutes=70), T0 - timedelta(minutes=35)):
        with pytest.raises(SlotTaken):
            store.book(
                make("b2", start),
                cancel_token_hash="h2",
                idempotency_key="k2",
                channels=(),
                day_start=DAY[0],
                day_end=DAY[1],
                max_per_day=None,
                **pause,
            )
    after = store.book(
        make("b3", T0 + timedelta(minutes=75)),
        cancel_token_hash="h3",
        idempotency_key="k3",
        channels=(),
        day_start=DAY[0],
        day_end=DAY[1],
        max_per_day=None,
        **pause,
    )
    before = store.book(
        make("b4", T0 - timedelta(minutes=40)),
        cancel_token_hash="h4",
        idempotency_key="k4",
        channels=(),
        day_start=DAY[0],
        day_end=DAY[1],
        max_per_day=None,
        **pause,
    )
    assert after[1] and before[1]


def test_same_idempotency_key_gives_the_first_booking(store: Store) -> None:
    first, created = book(store, make("b1", T0), key="same")
    again, created_again = book(store, make("b2", T0), key="same")
    assert created and not created_again
    assert again.id == "b1"
    assert store.by_idempotency_key("same") == first
    assert store.by_idempotency_key("other") is None
    assert len(store.bookings()) == 1
    assert len(store.outbox()) == 1


def test_max_per_day_counts_confirmed_bookings_of_that_day(store: Store) -> None:
    book(store, make("b1", T0), max_per_day=2)
    book(store, make("b2", T0 + timedelta(hours=1)), max_per_day=2)
    with pytest.raises(DayFull):
        book(store, make("b3", T0 + timedelta(hours=2)), max_per_day=2)
    store.cancel("b1", now=NOW, channels=())
    assert book(store, make("b3", T0 + timedelta(hours=2)), max_per_day=2)[1]


def test_cancel_frees_the_slot_is_idempotent_and_queues_once(store: Store) -> None:
    book(store, make("b1", T0))
    cancelled = store.cancel("b1", now=NOW + timedelta(hours=1), channels=("email:owner",))
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.cancelled_at == NOW + timedelta(hours=1)
    assert cancelled.sequence == 1
    again = store.cancel("b1", now=NOW + timedelta(hours=2), channels=("email:owner",))
    assert again == cancelled
    assert [o.event for o in store.outbox(booking_id="b1")] == ["booked", "cancelled"]
    assert store.taken(NOW) == []
    assert store.cancel("unknown", now=NOW, channels=()) is None
    # The same caller may book the same slot again with the same (released) key.
    rebooked, created = book(store, make("b2", T0), key="k-b1")
    assert created and rebooked.id == "b2"


def test_taken_and_bookings_list_only_what_is_asked(store: Store) -> None:
    book(store, make("past", T0 - timedelta(days=3)))
    book(store, make("later", T0 + timedelta(hours=2)))
    book(store, make("soon", T0))
    book(store, make("gone", T0 + timedelta(hours=4)))
    store.cancel("gone", now=NOW, channels=())
    assert store.taken(NOW) == [
        (T0, T0 + timedelta(minutes=30)),
        (T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=30)),
    ]
    assert store.taken(NOW, before=T0 + timedelta(hours=2)) == [(T0, T0 + timedelta(minutes=30))]
    assert [b.id for b in store.bookings(since=NOW)] == ["soon", "later"]
    assert [b.id for b in store.bookings(since=NOW, include_cancelled=True)] == [
        "soon",
        "later",
        "gone",
    ]
    assert [b.id for b in store.bookings()] == ["past", "soon", "later"]


def test_outcome_is_marked(store: Store) -> None:
    book(store, make("b1", T0))
    assert store.set_outcome("b1", "held").outcome == "held"
    assert store.get("b1").outcome == "held"
    with pytest.raises(ValueError):
        store.set_outcome("b1", "maybe")


def test_claim_outbox_leases_rows_to_one_worker(store: Store) -> None:
    book(store, make("b1", T0), channels=("email:owner", "email:caller"))
    lease = timedelta(minutes=5)
    first = store.claim_outbox(now=NOW, worker="a", lease=lease)
    assert [o.channel for o in first] == ["email:owner", "email:caller"]
    assert store.claim_outbox(now=NOW, worker="b", lease=lease) == []
    store.finish_outbox(first[0].id, sent=True)
    store.finish_outbox(
        first[1].id, sent=False, error="smtp down", next_attempt_at=NOW + timedelta(minutes=10)
    )
    # Waiting out its backoff: not due yet, unless asked for.
    assert store.claim_outbox(now=NOW + timedelta(minutes=1), worker="b", lease=lease) == []
    waiting = store.claim_outbox(
        now=NOW + timedelta(minutes=1),
        worker="b",
        lease=lease,
        include_waiting=True,
        booking_id="b1",
    )
    assert [o.channel for o in waiting] == ["email:caller"]
    assert waiting[0].attempts == 1 and waiting[0].last_error == "smtp down"
    # A lease that ran out lets another worker take the row over.
    retaken = store.claim_outbox(now=NOW + timedelta(minutes=20), worker="c", lease=lease)
    assert [o.id for o in retaken] == [waiting[0].id]
    store.finish_outbox(retaken[0].id, sent=False, error="gave up")
    rows = {o.channel: o for o in store.outbox()}
    assert rows["email:owner"].status == "sent"
    assert rows["email:caller"].status == "failed" and rows["email:caller"].attempts == 2
    assert store.claim_outbox(now=NOW + timedelta(days=1), worker="d", lease=lease) == []


def test_outbox_due_by_reads_only_pending_rows_that_are_due(store: Store) -> None:
    book(store, make("b1", T0), channels=("email:owner", "email:caller"))
    book(store, make("b2", T0 + timedelta(hours=2)), channels=("email:owner",))
    first = store.claim_outbox(now=NOW, worker="a", lease=timedelta(minutes=5), limit=2)
    store.finish_outbox(first[0].id, sent=True)  # b1 owner: sent, never due again
    store.finish_outbox(  # b1 caller: waits ten minutes before its next try
        first[1].id, sent=False, error="smtp down", next_attempt_at=NOW + timedelta(minutes=10)
    )
    due_now = store.outbox(due_by=NOW)
    assert [(o.booking_id, o.channel) for o in due_now] == [("b2", "email:owner")]
    later = store.outbox(due_by=NOW + timedelta(minutes=10))
    assert [(o.booking_id, o.channel) for o in later] == [
        ("b1", "email:caller"), ("b2", "email:owner")
    ]
    assert [o.channel for o in store.outbox(booking_id="b1", due_by=NOW + timedelta(hours=1))] == [
        "email:caller"
    ]
    assert len(store.outbox()) == 3


def test_concurrent_claims_never_hand_a_row_to_two_workers(store: Store) -> None:
    for i in range(20):
        book(store, make(f"b{i}", T0 + timedelta(hours=i)), channels=("email:owner",))
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while rows := store.claim_outbox(now=NOW, worker=name, lease=timedelta(minutes=5), limit=3):
            with lock:
                claimed.extend(o.id for o in rows)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(o.id for o in store.outbox())


def test_rate_hit_allows_limit_per_window_and_key(store: Store) -> None:
    window = timedelta(minutes=10)
    assert all(store.rate_hit("1.2.3.4", now=NOW, window=window, limit=3) for _ in range(3))
    assert not store.rate_hit("1.2.3.4", now=NOW, window=window, limit=3)
    assert store.rate_hit("5.6.7.8", now=NOW, window=window, limit=3)
    assert store.rate_hit(
        "1.2.3.4", now=NOW + window + timedelta(seconds=1), window=window, limit=3
    )


def test_ping_and_schema_version(store: Store) -> None:
    import sys

    latest = len(sys.modules[type(store).__module__]._MIGRATIONS)
    store.ping()
    assert store.schema_version() == latest  # type: ignore[attr-defined]
    store.migrate()  # a second run changes nothing
    assert store.schema_version() == latest  # type: ignore[attr-defined]


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        book(store, replace(make("b1", T0), start=datetime(2026, 11, 30, 9, 0)))


# -- SQLite specifics ------------------------------------------------------------------


def test_sqlite_default_path_is_in_the_state_dir(example_site) -> None:
    from generator.config.settings import load_settings

    settings = load_settings(example_site / "content" / "site.toml", env={})
    s = open_store(None, settings=settings)
    try:
        assert s.path == example_site / ".callslot" / "bookings.sqlite3"  # type: ignore[attr-defined]
        mode = sqlite3.connect(s.path).execute("PRAGMA journal_mode").fetchone()[0]  # type: ignore[attr-defined]
        assert mode == "wal"
    finally:
        s.close()


def test_sqlite_relative_url_is_relative_to_the_project(example_site) -> None:
    from generator.config.settings import load_settings

    settings = load_settings(example_site / "content" / "site.toml", env={})
    s = open_store("sqlite:///data/b.sqlite3", settings=settings)
    s.close()
    assert (example_site / "data" / "b.sqlite3").exists()


def test_newer_schema_is_refused_with_a_clear_message(tmp_path) -> None:
    path = tmp_path / "b.sqlite3"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(StoreError, match="upgrade callslot"):
        open_store(f"sqlite:///{path}")


@pytest.mark.parametrize("url", ["mysql://u:hunter2@h/db", "hunter2", "sqlite://x"])
def test_bad_database_url_never_echoes_the_secret(url: str) -> None:
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert "hunter2" not in info.value.format_message()
    assert "DATABASE_URL" in info.value.format_message()


@pytest.mark.postgres
def test_postgres_unreachable_names_host_not_password(postgres_url: str) -> None:
    with pytest.raises(StoreError) as info:
        open_store("postgresql://u:hunter2@127.0.0.1:1/db")
    message = info.value.format_message()
    assert "hunter2" not in message and "127.0.0.1:1/db" in message


def test_sqlite_connections_do_not_pile_up_with_one_thread_per_request(tmp_path) -> None:
    """A threaded server runs each request in a new thread; open files must stay bounded."""
    path = tmp_path / "b.sqlite3"
    s = open_store(f"sqlite:///{path}")

    def open_files() -> int:
        fds = Path("/proc/self/fd")
        return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path))

    try:
        for _ in range(100):
            t = threading.Thread(
                target=lambda: (
                    s.get("x"),
                    s.rate_hit("k", now=NOW, window=timedelta(minutes=1), limit=1000),
                )
            )
            t.start()
            t.join()
        assert open_files() <= 8
    finally:
        s.close()
    assert open_files() == 0


def test_a_locked_sqlite_file_still_reads_and_a_write_says_what_holds_it(tmp_path: Path) -> None:
    from generator.store.sqlite import SQLiteStore

    path = tmp_path / "bookings.sqlite3"
    SQLiteStore(path).close()  # created and migrated
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program keeps the write lock
    try:
        store = SQLiteStore(path, timeout=0.5)  # opening needs no write lock
        assert store.bookings() == []  # and neither does reading
        with pytest.raises(StoreError) as refused:
            book(store, make("b1", T0))
        text = str(refused.value)
        assert "locked by another program" in text and str(path) in text, text
        store.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store = SQLiteStore(path)
    assert store.bookings() == []  # nothing half-written
    store.close()


@pytest.mark.postgres
def test_a_postgres_lock_held_elsewhere_ends_in_our_words_not_a_long_wait(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time
    import uuid

    import psycopg

    from generator.store import postgres

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store_url = f"{postgres_url}?options=-csearch_path%3D{schema}"

    monkeypatch.setattr(postgres, "LOCK_SECONDS", 1)
    store = open_store(store_url)
    holder = psycopg.connect(store_url)  # a psql session that locked the tables and waits
    holder.execute("LOCK TABLE bookings, outbox IN ACCESS EXCLUSIVE MODE")
    try:
        began = time.monotonic()
        with pytest.raises(StoreError) as waited:
            store.bookings()
        with pytest.raises(StoreError):
            book(store, make("b1", T0))
        assert time.monotonic() - began < 6, "waited for the other session's lock"
        text = str(waited.value)
        assert "kept callslot waiting for a lock" in text and "pg_stat_activity" in text, text
    finally:
        holder.rollback()
        holder.close()
    assert store.bookings() == []  # nothing half-written, and the store works again
    assert book(store, make("b1", T0))[1]
    store.close()
