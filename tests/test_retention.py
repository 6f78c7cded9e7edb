"""Retention: a call's personal data is gone `[privacy] keep` after it, on SQLite and PostgreSQL,
down to the bytes of the SQLite file, while `callslot stats` still counts the call."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from generator.cli import main
from generator.commands.stats import compute_stats
from generator.config.settings import load_settings
from generator.domain import Booking
from generator.store import Store, open_store
from generator.store.retention import purge_expired

# Marker values: nothing else in a store looks like them.
NAME = "Zacharias Quetschenpaua"
PHONE = "+49 171 9988776"
EMAIL = "zq.marker@example.org"
TOPIC = "Kuckucksuhrreparatur"
NOTE = "Schlüssel liegt unter der Matte. " * 300  # 10 kB: spills into overflow pages
ZONE = "Pacific/Chatham"
MARKERS = (NAME, "9988776", EMAIL, TOPIC, "Schlüssel liegt", ZONE)

CALL = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
KEEP = timedelta(days=90)
AFTER_KEEP = CALL + timedelta(minutes=30) + KEEP  # the first moment the call may be erased


def caller_booking(id_: str, start: datetime, *, name: str = NAME) -> Booking:
    return Booking(
        id=id_,
        call_type="rueckruf",
        start=start,
        end=start + timedelta(minutes=30),
        name=name,
        phone=PHONE,
        email=EMAIL,
        topic=TOPIC,
        note=NOTE,
        who_calls="owner",
        language="de",
        caller_timezone=ZONE,
        created_at=start - timedelta(days=3),
        consent_text="Ich bin einverstanden.",
        consent_at=start - timedelta(days=3),
    )


def book(store: Store, booking: Booking, channels=("email:owner", "email:caller")) -> None:
    store.book(
        booking,
        cancel_token_hash=f"hash-{booking.id}",
        idempotency_key=f"key-{booking.id}",
        channels=channels,
        day_start=booking.start - timedelta(hours=9),
        day_end=booking.start + timedelta(hours=15),
        max_per_day=None,
    )


def fail_caller_mail(store: Store, booking_id: str, now: datetime) -> None:
    """A mail server's refusal quotes the address: error texts hold personal data too."""
    [item] = [
        i
        for i in store.claim_outbox(now=now, worker="w", lease=timedelta(minutes=5),
                                    booking_id=booking_id, include_waiting=True)
        if i.channel == "email:caller"
    ] or [None]
    assert item is not None
    store.finish_outbox(item.id, sent=False, error=f"550 <{EMAIL}> ({NAME}) mailbox unknown")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def test_a_call_keep_after_it_loses_its_personal_data_and_still_counts(store: Store) -> None:
    book(store, caller_booking("old", CALL))
    book(store, caller_booking("recent", CALL + timedelta(days=1)))
    book(store, caller_booking("gone", CALL + timedelta(hours=2)))
    store.cancel("gone", now=CALL - timedelta(days=1), channels=("email:owner",))
    store.set_outcome("old", "held")
    fail_caller_mail(store, "old", CALL - timedelta(days=3))
    before = compute_stats(store.bookings(include_cancelled=True), tz=UTC, since=None)

    # One second early, nothing is due.
    early = purge_expired(store, keep=KEEP, now=AFTER_KEEP - timedelta(seconds=1))
    assert early.due == () and early.erased == 0

    # A dry run names what is due and changes nothing.
    dry = purge_expired(store, keep=KEEP, now=AFTER_KEEP + timedelta(hours=2), dry_run=True)
    assert [b.id for b in dry.due] == ["old", "gone"] and dry.erased == 0
    assert store.get("old").name == NAME  # type: ignore[union-attr]

    report = purge_expired(store, keep=KEEP, now=AFTER_KEEP + timedelta(hours=2))
    assert report.erased == 2
    for id_ in ("old", "gone"):
        erased = store.get(id_)
        assert erased is not None
        assert (erased.name, erased.phone, erased.email, erased.topic, erased.note,
                erased.caller_timezone, erased.consent_at) == ("", "", "", "", "", "", None)
        assert erased.erased_at == AFTER_KEEP + timedelta(hours=2)
    kept = store.get("recent")
    assert kept is not None and kept.name == NAME and kept.erased_at is None
    # What stats read stays: type, times, status, outcome, notice.
    old = store.get("old")
    assert old is not None
    assert (old.call_type, old.start, old.status, old.outcome) == ("rueckruf", CALL, "confirmed",
                                                                  "held")
    assert old.start - old.created_at == timedelta(days=3)
    assert store.get("gone").status == "cancelled"  # type: ignore[union-attr]
    after = compute_stats(store.bookings(include_cancelled=True), tz=UTC, since=None)
    assert (after.total, after.confirmed, after.cancelled, after.held) == (
        before.total, before.confirmed, before.cancelled, before.held) == (3, 2, 1, 1)
    assert after.notice_median == before.notice_median and after.weeks == before.weeks
    # The outbox keeps its counts but no text about the caller; nothing left to send.
    for item in store.outbox(booking_id="old"):
        assert item.last_error == "" and item.status in ("sent", "failed")

    # Idempotent: a second run erases nothing and moves no erasure time.
    again = purge_expired(store, keep=KEEP, now=AFTER_KEEP + timedelta(hours=3))
    assert again.due == () and again.erased == 0
    assert store.get("old").erased_at == AFTER_KEEP + timedelta(hours=2)  # type: ignore[union-attr]


def test_keep_zero_erases_as_soon_as_the_call_is_over(store: Store) -> None:
    book(store, caller_booking("now", CALL))
    assert purge_expired(store, keep=timedelta(0), now=CALL + timedelta(minutes=29)).erased == 0
    assert purge_expired(store, keep=timedelta(0), now=CALL + timedelta(minutes=30)).erased == 1
    assert store.get("now").name == ""  # type: ignore[union-attr]


def _file_bytes(path: Path) -> bytes:
    """The database and whatever SQLite keeps beside it (WAL, shared memory, journal)."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def _traces(data: bytes) -> list[str]:
    return [m for m in MARKERS if m.encode("utf-8") in data]


def test_no_trace_of_the_caller_in_the_sqlite_files_after_purging_nor_after_vacuum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Debian builds SQLite with secure delete on by default, others (macOS, many wheels)
    # do not: every connection starts with it off here, as there.
    from generator.store import sqlite as sqlite_module

    connect = sqlite3.connect

    def connect_like_a_default_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete = OFF")
        return conn

    monkeypatch.setattr(sqlite_module.sqlite3, "connect", connect_like_a_default_build)
    path = tmp_path / "bookings.sqlite3"
    store = open_store(f"sqlite:///{path}")
    book(store, caller_booking("old", CALL))
    neighbour = replace(caller_booking("other", CALL + timedelta(days=200)), name="Berta Nachbar",
                        phone="+49 30 4455667", email="berta@example.org", topic="Zaun",
                        note="", caller_timezone="Europe/Berlin")
    book(store, neighbour)
    fail_caller_mail(store, "old", CALL - timedelta(days=3))
    # The control: before purging, the caller is in the files.
    assert _traces(_file_bytes(path)) == list(MARKERS)

    assert purge_expired(store, keep=KEEP, now=AFTER_KEEP).erased == 1
    assert _traces(_file_bytes(path)) == []
    assert b"Berta Nachbar" in _file_bytes(path)  # the later caller is still there

    # VACUUM rebuilds the file from its live rows; freed pages must not bring anyone back.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert _traces(_file_bytes(path)) == []
    store.close()
    assert _traces(_file_bytes(path)) == []


@pytest.mark.postgres
def test_no_trace_of_the_caller_in_any_text_column_of_any_postgres_table(
    postgres_url: str,
) -> None:
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    store = open_store(url)
    try:
        book(store, caller_booking("old", CALL))
        fail_caller_mail(store, "old", CALL - timedelta(days=3))

        def every_text() -> str:
            with psycopg.connect(url, autocommit=True) as conn:
                columns = conn.execute(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = %s", (schema,)
                ).fetchall()
                assert {t for t, _ in columns} >= {"bookings", "outbox", "rate_hits"}
                # Every column, whatever its type, read as text.
                return "\n".join(
                    str(value)
                    for table, column in columns
                    for (value,) in conn.execute(
                        f'SELECT "{column}"::text FROM "{table}"'
                    ).fetchall()
                )

        assert _traces(every_text().encode()) == list(MARKERS)  # the control
        assert purge_expired(store, keep=KEEP, now=AFTER_KEEP).erased == 1
        assert _traces(every_text().encode()) == []
        stats = compute_stats(store.bookings(include_cancelled=True), tz=UTC, since=None)
        assert stats.total == stats.confirmed == 1
    finally:
        store.close()


def test_a_database_from_before_retention_is_upgraded_with_its_bookings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.store import sqlite as sqlite_module

    path = tmp_path / "old.sqlite3"
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_module, "_MIGRATIONS", sqlite_module._MIGRATIONS[:1])
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in sqlite_module._MIGRATIONS[0].split(";"):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute(
            "INSERT INTO bookings (id, call_type, start_at, end_at, name, topic, who_calls, "
            "language, created_at, cancel_hash) VALUES ('v1', 'rueckruf', "
            "'2026-03-02T09:00:00.000000Z', '2026-03-02T09:30:00.000000Z', ?, ?, 'owner', "
            "'de', '2026-02-27T09:00:00.000000Z', 'h')",
            (NAME, TOPIC),
        )
        conn.commit()
        conn.close()
    store = open_store(f"sqlite:///{path}")
    try:
        old = store.get("v1")
        assert old is not None and old.name == NAME and old.erased_at is None
        assert old.consent_text == "" and old.consent_at is None
        assert purge_expired(store, keep=KEEP, now=AFTER_KEEP).erased == 1
        assert _traces(_file_bytes(path)) == []
    finally:
        store.close()


# --------------------------------------------------------------------------
# The commands that purge: bookings purge, notify


@pytest.fixture
def site(example_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(example_site)
    for name in ("DATABASE_URL", "SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CALLSLOT_SECRET", "retention-secret-0123456789abcdef")
    settings = load_settings(example_site / "content" / "site.toml", env={})
    assert settings.privacy.keep == KEEP
    store = open_store(None, settings=settings)
    book(store, caller_booking("old", CALL), channels=())
    book(store, caller_booking("new", CALL + timedelta(days=30)), channels=())
    store.close()
    return example_site


def _stored(site: Path) -> dict[str, Booking]:
    store = open_store(None, settings=load_settings(site / "content" / "site.toml", env={}))
    try:
        return {b.id: b for b in store.bookings(include_cancelled=True)}
    finally:
        store.close()


def test_bookings_purge_dry_run_then_for_real_and_stats_still_count(site: Path, runner) -> None:
    now = (AFTER_KEEP + timedelta(minutes=1)).isoformat()
    dry = runner.invoke(main, ["bookings", "purge", "--dry-run", "--now", now])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[0].startswith("old  Mon 2026-03-02 10:00  rueckruf")
    assert "1 call over for 90 days or more would have its personal data erased" in dry.output
    assert NAME not in dry.output and TOPIC not in dry.output
    assert _stored(site)["old"].name == NAME

    real = runner.invoke(main, ["bookings", "purge", "--now", now])
    assert real.exit_code == 0, real.output
    assert "1 call over for 90 days or more: personal data erased" in real.output
    stored = _stored(site)
    assert stored["old"].name == "" and stored["new"].name == NAME
    again = runner.invoke(main, ["bookings", "purge", "--now", now])
    assert "0 calls" in again.output

    stats = runner.invoke(main, ["stats", "--format", "json", "--now", now])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["total"] == 2


def test_notify_purges_with_the_keep_of_site_toml(site: Path, runner) -> None:
    toml = site / "content" / "site.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('keep = "90d"', 'keep = "30d"'),
                    encoding="utf-8")
    now = (CALL + timedelta(days=31)).isoformat()
    result = runner.invoke(main, ["notify", "--now", now])
    assert result.exit_code == 0, result.output
    assert "1 call over for 30 days or more: personal data erased" in result.output
    stored = _stored(site)
    assert stored["old"].name == "" and stored["new"].name == NAME


def test_serves_background_loop_purges_with_its_clock(site: Path) -> None:
    from generator.clock import fixed_clock
    from generator.commands.serve import LocalSite

    settings = load_settings(site / "content" / "site.toml", env={})
    store = open_store(None, settings=settings)
    said: list[str] = []
    try:
        local = LocalSite(site / "content" / "site.toml", store, b"retention-secret-0123456789",
                          echo=said.append, clock=fixed_clock(AFTER_KEEP))
        local.send_due()
        assert said == ["1 call over for 90 days or more: personal data erased "
                        "(stats still count them)"]
        assert store.get("old").name == "" and store.get("new").name == NAME  # type: ignore[union-attr]
        local.send_due()  # nothing more to erase: nothing said
        assert len(said) == 1
    finally:
        store.close()
