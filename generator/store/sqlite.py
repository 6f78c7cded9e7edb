"""The SQLite store: one file, WAL mode, each booking written in one immediate transaction.

``BEGIN IMMEDIATE`` takes SQLite's single write lock before the overlap check,
so the check and the insert cannot interleave with another writer, in this
process or any other: many simultaneous requests for one slot give exactly
one booking. Each thread (and each process after a fork) gets its own
connection; ``busy_timeout`` makes writers queue instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from generator.domain import Booking, OutboxItem
from generator.errors import StoreError
from generator.files import create_private_file, make_dirs
from generator.store.base import BookingCheck, DayFull, MoveRefused, SlotTaken, Store
from generator.store.sql import (
    BOOKING_COLS,
    DROP_REMINDERS,
    OUTBOX_COLS,
    booking_from_row,
    booking_insert,
    bookings_query,
    claimable_outbox,
    erasable_query,
    erase_statements,
    finish_outbox_update,
    handoff_update,
    hash_rate_key,
    outbox_from_row,
    outbox_query,
    outbox_rows,
    release_statements,
)

__all__ = ["SQLiteStore"]

log = logging.getLogger("callslot.store")

_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"
_IDLE_CONNECTIONS = 8

# Each entry upgrades the schema by one version; never edit a released entry, append one.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE bookings (
        id TEXT PRIMARY KEY,
        call_type TEXT NOT NULL,
        start_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        name TEXT NOT NULL,
        phone TEXT NOT NULL DEFAULT '',
        email TEXT NOT NULL DEFAULT '',
        topic TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        who_calls TEXT NOT NULL,
        language TEXT NOT NULL,
        caller_timezone TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'confirmed',
        cancelled_at TEXT,
        outcome TEXT,
        sequence INTEGER NOT NULL DEFAULT 0,
        cancel_hash TEXT NOT NULL UNIQUE,
        idem_key TEXT UNIQUE,
        CHECK (start_at < end_at)
    );
    CREATE INDEX bookings_confirmed_time ON bookings (status, start_at, end_at);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        booking_id TEXT NOT NULL REFERENCES bookings (id),
        channel TEXT NOT NULL,
        event TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        next_attempt_at TEXT NOT NULL,
        claimed_by TEXT,
        lease_until TEXT
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE TABLE rate_hits (
        key TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX rate_hits_key ON rate_hits (key, at);
    CREATE INDEX rate_hits_at ON rate_hits (at);
    """,
    # 2: consent with the booking; erased_at marks a call whose personal data is gone.
    """
    ALTER TABLE bookings ADD COLUMN consent_text TEXT NOT NULL DEFAULT '';
    ALTER TABLE bookings ADD COLUMN consent_at TEXT;
    ALTER TABLE bookings ADD COLUMN erased_at TEXT;
    CREATE INDEX bookings_unerased_end ON bookings (end_at) WHERE erased_at IS NULL;
    """,
    # 3: the move link's token hash; the old time of a moved call on its "moved" rows.
    """
    ALTER TABLE bookings ADD COLUMN move_hash TEXT;
    CREATE UNIQUE INDEX bookings_move_hash ON bookings (move_hash);
    ALTER TABLE outbox ADD COLUMN previous_start TEXT;
    ALTER TABLE outbox ADD COLUMN previous_end TEXT;
    CREATE INDEX outbox_booking ON outbox (booking_id);
    """,
    # 4: how far a claimed mail got (NULL, 'data': DATA under way, 'accepted': the server
    # took it), so a sender that died can be recovered from without sending blindly again.
    """
    ALTER TABLE outbox ADD COLUMN handoff TEXT;
    """,
)


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
    return moment.astimezone(UTC).strftime(_FMT)


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, _FMT).replace(tzinfo=UTC)


def _booking(row: Sequence[object]) -> Booking:
    return booking_from_row(row, _dt)


def _outbox(row: Sequence[object]) -> OutboxItem:
    return outbox_from_row(row, _dt)


class SQLiteStore(Store):
    """Bookings in one SQLite file (created with its folder when missing)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        # Idle connections, shared by threads one at a time: a threaded server starts a
        # thread per request, so connections tied to threads would pile up.
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        try:
            make_dirs(self.path.parent)
            # Owner-only from the first byte: the file holds callers' names and numbers.
            create_private_file(self.path)
        except OSError as exc:
            raise StoreError(
                f"cannot create the booking database {self.path}: "
                f"{exc.strerror}; set DATABASE_URL=sqlite:///writable/path"
            ) from None
        self.migrate()

    # -- connections ---------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL is durable across application crashes; a power cut may lose the
            # last transactions but never corrupts the file.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Erased or deleted personal data is overwritten with zeros, not left in free
            # space of the file where anyone with a copy could read it back.
            conn.execute("PRAGMA secure_delete = ON")
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the booking database {self.path}: {exc}; check the "
                "path and its permissions, or set DATABASE_URL"
            ) from None
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one read or one transaction, returned to the idle list after."""
        with self._lock:
            if self._pid != os.getpid():
                # Connections must not cross a fork (gunicorn workers): the parent's stay its.
                self._idle, self._pid = [], os.getpid()
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            with self._lock:
                keep = len(self._idle) < _IDLE_CONNECTIONS
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def _rows(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        with self._connection() as conn:
            return conn.execute(sql, args).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate write transaction: the write lock is held from the first read."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- schema ---------------------------------------------------------------------

    def migrate(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > len(_MIGRATIONS):
                raise StoreError(
                    f"the booking database {self.path} has schema version "
                    f"{current}, newer than this callslot knows "
                    f"({len(_MIGRATIONS)}); upgrade callslot"
                )
            for version in range(current + 1, len(_MIGRATIONS) + 1):
                for statement in _MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def schema_version(self) -> int:
        return self._rows("SELECT max(version) FROM schema_version")[0][0]

    # -- bookings -------------------------------------------------------------------

    def book(
        self,
        booking: Booking,
        *,
        cancel_token_hash: str,
        idempotency_key: str,
        channels: Sequence[str],
        day_start: datetime,
        day_end: datetime,
        max_per_day: int | None,
        buffer_before: timedelta = timedelta(0),
        buffer_after: timedelta = timedelta(0),
        move_token_hash: str | None = None,
        reminders: Sequence[tuple[str, datetime]] = (),
        check: BookingCheck | None = None,
    ) -> tuple[Booking, bool]:
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {BOOKING_COLS} FROM bookings WHERE idem_key = ?", (idempotency_key,)
            ).fetchone()
            if row:
                return _booking(row), False
            if check is not None:
                pad = buffer_before + buffer_after
                around = conn.execute(
                    "SELECT start_at, end_at FROM bookings WHERE status = 'confirmed' "
                    "AND end_at > ? AND start_at < ? ORDER BY start_at",
                    (_ts(day_start - pad), _ts(day_end + pad)),
                ).fetchall()
                check([(_dt(s), _dt(e)) for s, e in around])
            self._check_free(
                conn,
                booking.start,
                booking.end,
                day_start=day_start,
                day_end=day_end,
                max_per_day=max_per_day,
                buffer_before=buffer_before,
                buffer_after=buffer_after,
            )
            conn.execute(
                *booking_insert(
                    booking,
                    cancel_token_hash=cancel_token_hash,
                    idempotency_key=idempotency_key,
                    time=_ts,
                    mark="?",
                    move_token_hash=move_token_hash,
                )
            )
            self._enqueue(
                conn, booking.id, channels, "booked", booking.created_at, reminders=reminders
            )
        return self.get(booking.id) or booking, True

    @staticmethod
    def _check_free(
        conn: sqlite3.Connection,
        start: datetime,
        end: datetime,
        *,
        day_start: datetime,
        day_end: datetime,
        max_per_day: int | None,
        buffer_before: timedelta,
        buffer_after: timedelta,
        leave_out: str = "",
    ) -> None:
        """SlotTaken or DayFull unless [start, end) fits; ``leave_out``: the call being moved."""
        clash = conn.execute(
            "SELECT 1 FROM bookings WHERE status = 'confirmed' AND start_at < ? "
            "AND end_at > ? AND id <> ? LIMIT 1",
            (_ts(end + buffer_before), _ts(start - buffer_after), leave_out),
        ).fetchone()
        if clash:
            raise SlotTaken(f"{start:%Y-%m-%d %H:%M} UTC is already booked")
        if max_per_day is not None:
            (count,) = conn.execute(
                "SELECT count(*) FROM bookings WHERE status = 'confirmed' "
                "AND start_at >= ? AND start_at < ? AND id <> ?",
                (_ts(day_start), _ts(day_end), leave_out),
            ).fetchone()
            if count >= max_per_day:
                raise DayFull(f"{max_per_day} calls already booked that day")

    @staticmethod
    def _enqueue(
        conn: sqlite3.Connection,
        booking_id: str,
        channels: Sequence[str],
        event: str,
        now: datetime,
        *,
        reminders: Sequence[tuple[str, datetime]] = (),
        previous: tuple[datetime, datetime] | None = None,
    ) -> None:
        sql, rows = outbox_rows(
            booking_id, channels, event, now, reminders=reminders, previous=previous, time=_ts
        )
        conn.executemany(sql, rows)

    def move(
        self,
        booking_id: str,
        *,
        start: datetime,
        end: datetime,
        now: datetime,
        channels: Sequence[str],
        reminders: Sequence[tuple[str, datetime]],
        day_start: datetime,
        day_end: datetime,
        max_per_day: int | None,
        buffer_before: timedelta = timedelta(0),
        buffer_after: timedelta = timedelta(0),
    ) -> Booking | None:
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {BOOKING_COLS} FROM bookings WHERE id = ?", (booking_id,)
            ).fetchone()
            if row is None:
                return None
            old = _booking(row)
            if old.status != "confirmed":
                raise MoveRefused("cancelled")
            if old.start <= now:
                raise MoveRefused("begun")
            self._check_free(
                conn,
                start,
                end,
                day_start=day_start,
                day_end=day_end,
                max_per_day=max_per_day,
                buffer_before=buffer_before,
                buffer_after=buffer_after,
                leave_out=booking_id,
            )
            conn.execute(
                "UPDATE bookings SET start_at = ?, end_at = ?, sequence = sequence + 1 "
                "WHERE id = ?",
                (_ts(start), _ts(end), booking_id),
            )
            conn.execute(
                DROP_REMINDERS.format(reason="?", booking="?"),
                ("the call was moved; reminders follow its new time", booking_id),
            )
            self._enqueue(
                conn,
                booking_id,
                channels,
                "moved",
                now,
                reminders=reminders,
                previous=(old.start, old.end),
            )
        return self.get(booking_id)

    def get(self, booking_id: str) -> Booking | None:
        rows = self._rows(f"SELECT {BOOKING_COLS} FROM bookings WHERE id = ?", (booking_id,))
        return _booking(rows[0]) if rows else None

    def by_cancel_hash(self, token_hash: str) -> Booking | None:
        rows = self._rows(
            f"SELECT {BOOKING_COLS} FROM bookings WHERE cancel_hash = ?", (token_hash,)
        )
        return _booking(rows[0]) if rows else None

    def by_idempotency_key(self, key: str) -> Booking | None:
        rows = self._rows(f"SELECT {BOOKING_COLS} FROM bookings WHERE idem_key = ?", (key,))
        return _booking(rows[0]) if rows else None

    def by_move_hash(self, token_hash: str) -> Booking | None:
        rows = self._rows(f"SELECT {BOOKING_COLS} FROM bookings WHERE move_hash = ?", (token_hash,))
        return _booking(rows[0]) if rows else None

    def cancel(self, booking_id: str, *, now: datetime, channels: Sequence[str]) -> Booking | None:
        with self._write() as conn:
            row = conn.execute("SELECT status FROM bookings WHERE id = ?", (booking_id,)).fetchone()
            if row is None:
                return None
            if row[0] == "confirmed":
                # The idempotency key is released so the same caller may book the slot again.
                conn.execute(
                    "UPDATE bookings SET status = 'cancelled', cancelled_at = ?, "
                    "sequence = sequence + 1, idem_key = NULL WHERE id = ?",
                    (_ts(now), booking_id),
                )
                conn.execute(
                    DROP_REMINDERS.format(reason="?", booking="?"),
                    ("the call was cancelled", booking_id),
                )
                self._enqueue(conn, booking_id, channels, "cancelled", now)
        return self.get(booking_id)

    def taken(
        self, after: datetime, *, before: datetime | None = None
    ) -> list[tuple[datetime, datetime]]:
        # An open end compares as later than any stored time ("9" > "2...").
        until = _ts(before) if before is not None else "9"
        rows = self._rows(
            "SELECT start_at, end_at FROM bookings WHERE status = 'confirmed' AND end_at > ? "
            "AND start_at < ? ORDER BY start_at",
            (_ts(after), until),
        )
        return [(_dt(s), _dt(e)) for s, e in rows]

    def bookings(
        self, *, since: datetime | None = None, include_cancelled: bool = False
    ) -> list[Booking]:
        sql, args = bookings_query(
            since=since, include_cancelled=include_cancelled, time=_ts, mark="?"
        )
        rows = self._rows(sql, args)
        return [_booking(r) for r in rows]

    def set_outcome(self, booking_id: str, outcome: str) -> Booking | None:
        if outcome not in ("held", "missed"):
            raise ValueError(f"outcome must be 'held' or 'missed', not {outcome!r}")
        with self._write() as conn:
            conn.execute("UPDATE bookings SET outcome = ? WHERE id = ?", (outcome, booking_id))
        return self.get(booking_id)

    # -- outbox ---------------------------------------------------------------------

    def claim_outbox(
        self,
        *,
        now: datetime,
        worker: str,
        lease: timedelta,
        include_waiting: bool = False,
        booking_id: str | None = None,
        limit: int = 50,
        channels: Sequence[str] | None = None,
    ) -> list[OutboxItem]:
        where, params = claimable_outbox(
            now=now,
            worker=worker,
            lease=lease,
            include_waiting=include_waiting,
            booking_id=booking_id,
            limit=limit,
            time=_ts,
            named=lambda name: f":{name}",
            channels=channels,
        )
        with self._write() as conn:
            rows = conn.execute(
                "UPDATE outbox SET claimed_by = :worker, lease_until = :until "
                f"WHERE id IN (SELECT id FROM outbox WHERE {where} "
                f"ORDER BY id LIMIT :limit) RETURNING {OUTBOX_COLS}",
                params,
            ).fetchall()
        return sorted((_outbox(r) for r in rows), key=lambda item: item.id)

    def finish_outbox(
        self, item_id: int, *, sent: bool, error: str = "", next_attempt_at: datetime | None = None
    ) -> None:
        sql, args = finish_outbox_update(
            item_id, sent=sent, error=error, next_attempt_at=next_attempt_at, time=_ts, mark="?"
        )
        with self._write() as conn:
            conn.execute(sql, args)

    def outbox(self, *, booking_id: str | None = None) -> list[OutboxItem]:
        return [_outbox(r) for r in self._rows(*outbox_query(booking_id, mark="?"))]

    def mark_handoff(self, item_id: int, stage: str) -> None:
        with self._write() as conn:
            conn.execute(*handoff_update(item_id, stage, mark="?"))

    def release_claims(self, *, now: datetime, alive: Callable[[str], bool]) -> list[int]:
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, claimed_by, handoff FROM outbox WHERE status = 'pending' "
                "AND claimed_by IS NOT NULL AND lease_until > ?",
                (_ts(now),),
            ).fetchall()
            released = []
            for item_id, worker, handoff in rows:
                if alive(worker):
                    continue
                for sql, args in release_statements(item_id, handoff, now=_ts(now), mark="?"):
                    conn.execute(sql, args)
                released.append(item_id)
        return released

    # -- the rest -------------------------------------------------------------------

    def rate_hit(self, key: str, *, now: datetime, window: timedelta, limit: int) -> bool:
        hashed, since = hash_rate_key(key), _ts(now - window)
        with self._write() as conn:
            conn.execute("DELETE FROM rate_hits WHERE key = ? AND at <= ?", (hashed, since))
            (count,) = conn.execute(
                "SELECT count(*) FROM rate_hits WHERE key = ?", (hashed,)
            ).fetchone()
            if count >= limit:
                return False
            conn.execute("INSERT INTO rate_hits (key, at) VALUES (?, ?)", (hashed, _ts(now)))
            # Old hits of clients that never came back.
            conn.execute(
                "DELETE FROM rate_hits WHERE at <= ?", (_ts(now - max(window, timedelta(days=1))),)
            )
        return True

    def rate_refund(self, key: str, *, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM rate_hits WHERE rowid = (SELECT rowid FROM rate_hits "
                "WHERE key = ? AND at = ? LIMIT 1)",
                (hash_rate_key(key), _ts(at)),
            )

    def rate_retry_after(self, key: str, *, now: datetime, window: timedelta) -> timedelta:
        (oldest,) = self._rows(
            "SELECT min(at) FROM rate_hits WHERE key = ? AND at > ?",
            (hash_rate_key(key), _ts(now - window)),
        )[0]
        return max(timedelta(0), _dt(oldest) + window - now) if oldest else timedelta(0)

    # -- privacy --------------------------------------------------------------------

    def erasable(self, *, ended_before: datetime) -> list[Booking]:
        return [_booking(r) for r in self._rows(*erasable_query(
            ended_before=ended_before, time=_ts, mark="?"))]

    def erase(self, booking_ids: Sequence[str], *, now: datetime) -> int:
        erased = 0
        with self._write() as conn:
            for number, (sql, args) in enumerate(
                erase_statements(booking_ids, now=now, time=_ts, mark="?")
            ):
                changed = conn.execute(sql, args).rowcount
                erased = changed if number == 0 else erased
        if booking_ids:
            self._drop_old_pages()
        return erased

    def _drop_old_pages(self) -> None:
        """Write the WAL back into the file and empty it: until then it holds page images
        from before the erasure, names and numbers included."""
        with self._connection() as conn:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            # A reader kept the WAL in use; the next erasure (or checkpoint) empties it.
            log.info("the booking database's write-ahead log is in use; emptied later")

    def ping(self) -> None:
        try:
            self._rows("SELECT 1")
        except sqlite3.Error as exc:
            raise StoreError(f"the booking database {self.path} cannot be read: {exc}") from None

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"
