"""The PostgreSQL store (psycopg 3): for serverless deployments and more than one machine.

No double booking is guaranteed by the database itself: an exclusion
constraint on ``tstzrange(start_at, end_at)`` over confirmed bookings refuses
any overlap, whatever the call type. The per-day limit and the idempotency
check are serialised with a transaction-scoped advisory lock on the owner's
day, so two requests on one day take turns and the second sees the first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors

from generator.domain import Booking, OutboxItem
from generator.errors import StoreError
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

__all__ = ["PostgresStore"]

log = logging.getLogger("callslot.store")

# Advisory lock namespaces (first key of pg_advisory_xact_lock(int, int)).
_LOCK_DAY = 0x63616C6C  # "call"
_LOCK_RATE = 0x72617465  # "rate"
_LOCK_MIGRATE = 0x736C6F74  # "slot"

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE bookings (
        id text PRIMARY KEY,
        call_type text NOT NULL,
        start_at timestamptz NOT NULL,
        end_at timestamptz NOT NULL,
        name text NOT NULL,
        phone text NOT NULL DEFAULT '',
        email text NOT NULL DEFAULT '',
        topic text NOT NULL,
        note text NOT NULL DEFAULT '',
        who_calls text NOT NULL,
        language text NOT NULL,
        caller_timezone text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL,
        status text NOT NULL DEFAULT 'confirmed',
        cancelled_at timestamptz,
        outcome text,
        sequence integer NOT NULL DEFAULT 0,
        cancel_hash text NOT NULL UNIQUE,
        idem_key text UNIQUE,
        CHECK (start_at < end_at),
        -- gist on a range needs no btree_gist: only the range itself is compared.
        CONSTRAINT bookings_no_overlap EXCLUDE USING gist
            (tstzrange(start_at, end_at, '[)') WITH &&) WHERE (status = 'confirmed')
    );
    CREATE INDEX bookings_start ON bookings (start_at);
    CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        booking_id text NOT NULL REFERENCES bookings (id),
        channel text NOT NULL,
        event text NOT NULL,
        status text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        last_error text NOT NULL DEFAULT '',
        next_attempt_at timestamptz NOT NULL,
        claimed_by text,
        lease_until timestamptz
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE TABLE rate_hits (
        key text NOT NULL,
        at timestamptz NOT NULL
    );
    CREATE INDEX rate_hits_key ON rate_hits (key, at);
    CREATE INDEX rate_hits_at ON rate_hits (at);
    """,
    # 2: consent with the booking; erased_at marks a call whose personal data is gone.
    """
    ALTER TABLE bookings ADD COLUMN consent_text text NOT NULL DEFAULT '';
    ALTER TABLE bookings ADD COLUMN consent_at timestamptz;
    ALTER TABLE bookings ADD COLUMN erased_at timestamptz;
    CREATE INDEX bookings_unerased_end ON bookings (end_at) WHERE erased_at IS NULL;
    """,
    # 3: the move link's token hash; the old time of a moved call on its "moved" rows.
    """
    ALTER TABLE bookings ADD COLUMN move_hash text UNIQUE;
    ALTER TABLE outbox ADD COLUMN previous_start timestamptz,
        ADD COLUMN previous_end timestamptz;
    CREATE INDEX outbox_booking ON outbox (booking_id);
    """,
    # 4: how far a claimed mail got (NULL, 'data': DATA under way, 'accepted': the server
    # took it), so a sender that died can be recovered from without sending blindly again.
    """
    ALTER TABLE outbox ADD COLUMN handoff text;
    """,
)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
    return moment.astimezone(UTC)


def _booking(row: Sequence[Any]) -> Booking:
    return booking_from_row(row, _utc)


def _outbox(row: Sequence[Any]) -> OutboxItem:
    return outbox_from_row(row, _utc)


def describe_url(url: str) -> str:
    """host:port/database of a DATABASE_URL, without user or password (safe to print)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname or 'localhost'}{port}{parts.path or ''}"


# A connection idle this long is asked "SELECT 1" before it is used again: a firewall or
# a server setting (idle_session_timeout) may have dropped it without a word.
_PING_AFTER = 30.0


class _Pool:
    """A few reusable connections shared by threads; a fork starts a fresh pool.

    A connection is checked before it is handed out: one whose server went away (a
    restart, pg_terminate_backend, an idle timeout) is closed and replaced by a new
    one, so the query that was about to run goes to a live server instead of failing.
    """

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self._idle: queue.LifoQueue[tuple[psycopg.Connection, float]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._pid = os.getpid()

    def _connect(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(
                f"cannot connect to PostgreSQL at {describe_url(self.url)} (DATABASE_URL): {first}"
            ) from None
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    @staticmethod
    def _alive(conn: psycopg.Connection, idle_since: float) -> bool:
        """False for a connection the server closed while it sat idle."""
        import select

        if conn.closed or conn.broken:
            return False
        try:
            # An idle connection has nothing to read: anything there is the server's
            # goodbye (a FATAL message from pg_terminate_backend or a shutdown, or EOF).
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError, psycopg.Error):
            return False
        if readable:
            return False
        if time.monotonic() - idle_since > _PING_AFTER:
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                return False
        return True

    def _take(self) -> psycopg.Connection:
        while True:
            try:
                conn, since = self._idle.get_nowait()
            except queue.Empty:
                return self._connect()
            if self._alive(conn, since):
                return conn
            with contextlib.suppress(psycopg.Error):
                conn.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self._pid != os.getpid():
            # Connections inherited from the parent process are not ours to use.
            self.__init__(self.url, self.size)  # type: ignore[misc]
        self._slots.acquire()
        conn = None
        try:
            conn = self._take()
            yield conn
        finally:
            if conn is not None:
                if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()
                else:
                    self._idle.put((conn, time.monotonic()))
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                conn, _since = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(psycopg.Error):
                conn.close()


class PostgresStore(Store):
    """Bookings in a PostgreSQL database named by a postgresql:// URL."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self._pool = _Pool(url, pool_size)
        self.migrate()

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection]:
        for attempt in (1, 2):
            stack = contextlib.ExitStack()
            conn = stack.enter_context(self._pool.connection())
            try:
                stack.enter_context(conn.transaction())  # BEGIN: the first thing sent
            except psycopg.OperationalError:
                stack.close()
                if attempt == 1 and (conn.broken or conn.closed):
                    # Died between its check and BEGIN: nothing ran, so once more afresh.
                    continue
                raise
            with stack:
                yield conn
            return

    def _read(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(sql, args).fetchall()
        except psycopg.OperationalError:
            if not conn.broken and not conn.closed:
                raise
            # The connection died between its check and the query: a read changes nothing,
            # so it is sent once more on a fresh connection.
            with self._pool.connection() as conn:
                return conn.execute(sql, args).fetchall()

    # -- schema ---------------------------------------------------------------------

    def migrate(self) -> None:
        with self._tx() as conn:
            # Several workers may start at once: one migrates, the others wait and see it done.
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_MIGRATE,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS callslot_schema_version (version integer NOT NULL)"
            )
            current = conn.execute(
                "SELECT coalesce(max(version), 0) FROM callslot_schema_version"
            ).fetchone()[0]
            if current > len(_MIGRATIONS):
                raise StoreError(
                    f"the database {describe_url(self.url)} has callslot schema "
                    f"version {current}, newer than this callslot knows "
                    f"({len(_MIGRATIONS)}); upgrade callslot"
                )
            for version in range(current + 1, len(_MIGRATIONS) + 1):
                conn.execute(_MIGRATIONS[version - 1])
                conn.execute(
                    "INSERT INTO callslot_schema_version (version) VALUES (%s)", (version,)
                )

    def schema_version(self) -> int:
        return self._read("SELECT max(version) FROM callslot_schema_version")[0][0]

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
        try:
            with self._tx() as conn:
                self._lock_days(
                    conn, booking.end, day_start, day_end, max(buffer_before, buffer_after)
                )
                row = conn.execute(
                    f"SELECT {BOOKING_COLS} FROM bookings WHERE idem_key = %s", (idempotency_key,)
                ).fetchone()
                if row:
                    return _booking(row), False
                if check is not None:
                    pad = buffer_before + buffer_after
                    around = conn.execute(
                        "SELECT start_at, end_at FROM bookings WHERE status = 'confirmed' "
                        "AND end_at > %s AND start_at < %s ORDER BY start_at",
                        (_aware(day_start) - pad, _aware(day_end) + pad),
                    ).fetchall()
                    check([(_utc(s), _utc(e)) for s, e in around])
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
                        time=_aware,
                        mark="%s",
                        move_token_hash=move_token_hash,
                    )
                )
                self._enqueue(
                    conn, booking.id, channels, "booked", booking.created_at, reminders=reminders
                )
        except pg_errors.ExclusionViolation:
            # An overlap the day lock did not serialise (a call across midnight): the
            # constraint is the last word.
            raise SlotTaken(f"{booking.start:%Y-%m-%d %H:%M} UTC is already booked") from None
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "bookings_idem_key_key":
                rows = self._read(
                    f"SELECT {BOOKING_COLS} FROM bookings WHERE idem_key = %s", (idempotency_key,)
                )
                if rows:
                    return _booking(rows[0]), False
            raise
        return self.get(booking.id) or booking, True

    @staticmethod
    def _lock_days(
        conn: psycopg.Connection,
        end: datetime,
        day_start: datetime,
        day_end: datetime,
        reach: timedelta,
    ) -> None:
        """Serialise the writers of the owner's day (and of the next, when a buffer reaches it)."""
        # Minutes since the epoch fit the lock's int4 key until the year 6053.
        day_key = int(_aware(day_start).timestamp()) // 60
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_DAY, day_key))
        if _aware(end) + reach > _aware(day_end):
            # Its buffer reaches into the next day, whose bookings lock only that
            # day: take its lock too (ascending order, so no deadlock). A call of
            # the next day always holds that lock, so the two are serialised.
            next_key = int(_aware(day_end).timestamp()) // 60
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_DAY, next_key))

    @staticmethod
    def _check_free(
        conn: psycopg.Connection,
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
            "SELECT 1 FROM bookings WHERE status = 'confirmed' AND start_at < %s "
            "AND end_at > %s AND id <> %s LIMIT 1",
            (_aware(end) + buffer_before, _aware(start) - buffer_after, leave_out),
        ).fetchone()
        if clash:
            raise SlotTaken(f"{_aware(start):%Y-%m-%d %H:%M} UTC is already booked")
        if max_per_day is not None:
            (count,) = conn.execute(
                "SELECT count(*) FROM bookings WHERE status = 'confirmed' "
                "AND start_at >= %s AND start_at < %s AND id <> %s",
                (_aware(day_start), _aware(day_end), leave_out),
            ).fetchone()
            if count >= max_per_day:
                raise DayFull(f"{max_per_day} calls already booked that day")

    @staticmethod
    def _enqueue(
        conn: psycopg.Connection,
        booking_id: str,
        channels: Sequence[str],
        event: str,
        now: datetime,
        *,
        reminders: Sequence[tuple[str, datetime]] = (),
        previous: tuple[datetime, datetime] | None = None,
    ) -> None:
        sql, rows = outbox_rows(
            booking_id, channels, event, now, reminders=reminders, previous=previous, time=_aware
        )
        if rows:
            with conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)

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
        try:
            with self._tx() as conn:
                # The new day's lock first, as a booking takes it: a booking and a move
                # aiming at one day take turns. The row lock keeps a cancel or a second
                # move of this call out until this one commits.
                self._lock_days(conn, end, day_start, day_end, max(buffer_before, buffer_after))
                row = conn.execute(
                    f"SELECT {BOOKING_COLS} FROM bookings WHERE id = %s FOR UPDATE",
                    (booking_id,),
                ).fetchone()
                if row is None:
                    return None
                old = _booking(row)
                if old.status != "confirmed":
                    raise MoveRefused("cancelled")
                if old.start <= _aware(now):
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
                    "UPDATE bookings SET start_at = %s, end_at = %s, sequence = sequence + 1 "
                    "WHERE id = %s",
                    (_aware(start), _aware(end), booking_id),
                )
                conn.execute(
                    DROP_REMINDERS.format(reason="%s", booking="%s"),
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
        except pg_errors.ExclusionViolation:
            raise SlotTaken(f"{_aware(start):%Y-%m-%d %H:%M} UTC is already booked") from None
        return self.get(booking_id)

    def get(self, booking_id: str) -> Booking | None:
        rows = self._read(f"SELECT {BOOKING_COLS} FROM bookings WHERE id = %s", (booking_id,))
        return _booking(rows[0]) if rows else None

    def by_cancel_hash(self, token_hash: str) -> Booking | None:
        rows = self._read(
            f"SELECT {BOOKING_COLS} FROM bookings WHERE cancel_hash = %s", (token_hash,)
        )
        return _booking(rows[0]) if rows else None

    def by_idempotency_key(self, key: str) -> Booking | None:
        rows = self._read(f"SELECT {BOOKING_COLS} FROM bookings WHERE idem_key = %s", (key,))
        return _booking(rows[0]) if rows else None

    def by_move_hash(self, token_hash: str) -> Booking | None:
        rows = self._read(
            f"SELECT {BOOKING_COLS} FROM bookings WHERE move_hash = %s", (token_hash,)
        )
        return _booking(rows[0]) if rows else None

    def cancel(self, booking_id: str, *, now: datetime, channels: Sequence[str]) -> Booking | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT status FROM bookings WHERE id = %s FOR UPDATE", (booking_id,)
            ).fetchone()
            if row is None:
                return None
            if row[0] == "confirmed":
                # The idempotency key is released so the same caller may book the slot again.
                conn.execute(
                    "UPDATE bookings SET status = 'cancelled', cancelled_at = %s, "
                    "sequence = sequence + 1, idem_key = NULL WHERE id = %s",
                    (_aware(now), booking_id),
                )
                conn.execute(
                    DROP_REMINDERS.format(reason="%s", booking="%s"),
                    ("the call was cancelled", booking_id),
                )
                self._enqueue(conn, booking_id, channels, "cancelled", now)
        return self.get(booking_id)

    def taken(
        self, after: datetime, *, before: datetime | None = None
    ) -> list[tuple[datetime, datetime]]:
        rows = self._read(
            "SELECT start_at, end_at FROM bookings WHERE status = 'confirmed' "
            "AND end_at > %s AND (%s::timestamptz IS NULL OR start_at < %s) ORDER BY start_at",
            (_aware(after), before and _aware(before), before and _aware(before)),
        )
        return [(_utc(s), _utc(e)) for s, e in rows]

    def bookings(
        self, *, since: datetime | None = None, include_cancelled: bool = False
    ) -> list[Booking]:
        sql, args = bookings_query(
            since=since, include_cancelled=include_cancelled, time=_aware, mark="%s"
        )
        return [_booking(r) for r in self._read(sql, args)]

    def set_outcome(self, booking_id: str, outcome: str) -> Booking | None:
        if outcome not in ("held", "missed"):
            raise ValueError(f"outcome must be 'held' or 'missed', not {outcome!r}")
        with self._tx() as conn:
            conn.execute("UPDATE bookings SET outcome = %s WHERE id = %s", (outcome, booking_id))
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
            time=_aware,
            named=lambda name: f"%({name})s",
            channels=channels,
        )
        with self._tx() as conn:
            # SKIP LOCKED: a second worker passes over rows the first is claiming right now.
            rows = conn.execute(
                f"WITH due AS (SELECT id FROM outbox WHERE {where} "
                "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
                "UPDATE outbox o SET claimed_by = %(worker)s, lease_until = %(until)s "
                f"FROM due WHERE o.id = due.id RETURNING "
                + ", ".join(f"o.{c.strip()}" for c in OUTBOX_COLS.split(",")),
                params,
            ).fetchall()
        return sorted((_outbox(r) for r in rows), key=lambda item: item.id)

    def finish_outbox(
        self, item_id: int, *, sent: bool, error: str = "", next_attempt_at: datetime | None = None
    ) -> None:
        sql, args = finish_outbox_update(
            item_id,
            sent=sent,
            error=error,
            next_attempt_at=next_attempt_at,
            time=_aware,
            mark="%s",
        )
        with self._tx() as conn:
            conn.execute(sql, args)

    def outbox(self, *, booking_id: str | None = None) -> list[OutboxItem]:
        return [_outbox(r) for r in self._read(*outbox_query(booking_id, mark="%s"))]

    def mark_handoff(self, item_id: int, stage: str) -> None:
        with self._tx() as conn:
            conn.execute(*handoff_update(item_id, stage, mark="%s"))

    def release_claims(self, *, now: datetime, alive: Callable[[str], bool]) -> list[int]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, claimed_by, handoff FROM outbox WHERE status = 'pending' "
                "AND claimed_by IS NOT NULL AND lease_until > %s FOR UPDATE SKIP LOCKED",
                (_aware(now),),
            ).fetchall()
            released = []
            for item_id, worker, handoff in rows:
                if alive(worker):
                    continue
                for sql, args in release_statements(item_id, handoff, now=_aware(now), mark="%s"):
                    conn.execute(sql, args)
                released.append(item_id)
        return released

    # -- the rest -------------------------------------------------------------------

    def rate_hit(self, key: str, *, now: datetime, window: timedelta, limit: int) -> bool:
        hashed = hash_rate_key(key)
        with self._tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_RATE, hashed))
            conn.execute(
                "DELETE FROM rate_hits WHERE at <= %s",
                (_aware(now - max(window, timedelta(days=1))),),
            )
            (count,) = conn.execute(
                "SELECT count(*) FROM rate_hits WHERE key = %s AND at > %s",
                (hashed, _aware(now - window)),
            ).fetchone()
            if count >= limit:
                return False
            conn.execute("INSERT INTO rate_hits (key, at) VALUES (%s, %s)", (hashed, _aware(now)))
        return True

    def rate_refund(self, key: str, *, at: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM rate_hits WHERE ctid = (SELECT ctid FROM rate_hits "
                "WHERE key = %s AND at = %s LIMIT 1)",
                (hash_rate_key(key), _aware(at)),
            )

    def rate_retry_after(self, key: str, *, now: datetime, window: timedelta) -> timedelta:
        (oldest,) = self._read(
            "SELECT min(at) FROM rate_hits WHERE key = %s AND at > %s",
            (hash_rate_key(key), _aware(now - window)),
        )[0]
        return max(timedelta(0), oldest + window - now) if oldest else timedelta(0)

    # -- privacy --------------------------------------------------------------------

    def erasable(self, *, ended_before: datetime) -> list[Booking]:
        sql, args = erasable_query(ended_before=ended_before, time=_aware, mark="%s")
        return [_booking(r) for r in self._read(sql, args)]

    def erase(self, booking_ids: Sequence[str], *, now: datetime) -> int:
        erased = 0
        with self._tx() as conn:
            for number, (sql, args) in enumerate(
                erase_statements(booking_ids, now=now, time=_aware, mark="%s")
            ):
                changed = conn.execute(sql, args).rowcount
                erased = changed if number == 0 else erased
        if booking_ids:
            self._vacuum()
        return erased

    def _vacuum(self) -> None:
        """Let PostgreSQL reclaim the row versions from before the erasure now rather than
        whenever autovacuum comes by (an UPDATE leaves the old version in the table)."""
        try:
            with self._pool.connection() as conn:
                conn.execute("VACUUM bookings, outbox")
        except psycopg.Error as exc:
            # Not the table's owner (a shared database): autovacuum still gets there.
            log.info("VACUUM after erasing was not possible: %s", type(exc).__name__)

    def ping(self) -> None:
        try:
            self._read("SELECT 1")
        except psycopg.Error as exc:
            raise StoreError(
                f"PostgreSQL at {describe_url(self.url)} does not answer: {type(exc).__name__}"
            ) from None

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore({describe_url(self.url)!r})"
