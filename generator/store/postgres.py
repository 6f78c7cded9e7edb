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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors

from generator.domain import Booking
from generator.errors import StoreError
from generator.store.base import SlotTaken
from generator.store.sql import OUTBOX_COLS
from generator.store.sqlstore import SQLStore, aware

__all__ = ["PostgresStore"]

log = logging.getLogger("callslot.store")

# Advisory lock namespaces (first key of pg_advisory_xact_lock(int, int)).
_LOCK_DAY = 0x63616C6C  # "call"
# How long one session waits for another's lock, and for any one statement: a booking's
# answer is due within 12 s (web.wsgi's REQUEST_SECONDS), behind proxies that wait 15 s.
LOCK_SECONDS = 5
STATEMENT_SECONDS = 10
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
        for attempt in (1, 2):
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                text = str(exc).strip()
                first = text.splitlines()[0] if text else type(exc).__name__
                raise StoreError(
                    f"cannot connect to PostgreSQL at {describe_url(self.url)} "
                    f"(DATABASE_URL): {first}"
                ) from None
            try:
                # UTC, and another session's lock (a migration, a manual LOCK, a stuck
                # transaction) must not hold a booking past its answer's deadline: give up
                # and say so instead. One round trip, after connecting (a pooler such as
                # PgBouncer refuses these as connection options).
                conn.execute(
                    "SELECT set_config('TimeZone', 'UTC', false), "
                    f"set_config('lock_timeout', '{LOCK_SECONDS}s', false), "
                    f"set_config('statement_timeout', '{STATEMENT_SECONDS}s', false)"
                )
            except psycopg.OperationalError:
                # Dropped right after connecting (a restart, idle_session_timeout on a
                # loaded machine): a fresh connection, once.
                with contextlib.suppress(psycopg.Error):
                    conn.close()
                if attempt == 2:
                    raise
                continue
            return conn
        raise AssertionError("unreachable")  # pragma: no cover

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


class PostgresStore(SQLStore):
    """Bookings in a PostgreSQL database named by a postgresql:// URL."""

    # The dialect (see SQLStore): timestamptz times, ``%s`` parameters; the day's
    # advisory lock, the row lock and SKIP LOCKED serialise what must take turns.
    mark = "%s"
    lock_row = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    row_id = "ctid"
    to_db = staticmethod(aware)
    from_db = staticmethod(_utc)

    @staticmethod
    def named(name: str) -> str:
        return f"%({name})s"

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self._pool = _Pool(url, pool_size)
        self.migrate()

    def _waited_too_long(self, exc: psycopg.Error) -> StoreError:
        what = "a lock" if isinstance(exc, pg_errors.LockNotAvailable) else "its answer"
        return StoreError(
            f"PostgreSQL at {describe_url(self.url)} (DATABASE_URL) kept callslot waiting for "
            f"{what} too long ({LOCK_SECONDS} s for a lock, {STATEMENT_SECONDS} s for a "
            "statement), so nothing was changed: another session holds the tables (look in "
            "pg_stat_activity); try again in a moment"
        )

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection]:
        try:
            with self._transaction() as conn:
                yield conn
        except (pg_errors.LockNotAvailable, pg_errors.QueryCanceled) as exc:
            raise self._waited_too_long(exc) from None

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
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
            return self._read_once_more(sql, args)
        except (pg_errors.LockNotAvailable, pg_errors.QueryCanceled) as exc:
            raise self._waited_too_long(exc) from None

    def _read_once_more(
        self, sql: str, args: Sequence[Any] | dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        conn: psycopg.Connection | None = None
        try:
            with self._pool.connection() as conn:
                return conn.execute(sql, args).fetchall()
        except psycopg.OperationalError:
            if conn is not None and not conn.broken and not conn.closed:
                raise
            # The connection died between its check and the query: a read changes nothing,
            # so it is sent once more on a fresh connection.
            with self._pool.connection() as conn:
                return conn.execute(sql, args).fetchall()

    # -- schema ---------------------------------------------------------------------

    def migrate(self) -> None:
        with self._write() as conn:
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

    def _execute_many(self, conn: psycopg.Connection, sql: str, rows: list[tuple]) -> None:
        with conn.cursor() as cur:
            cur.executemany(sql, rows)

    def _claim(self, conn: psycopg.Connection, where: str, params: dict[str, Any]) -> list[tuple]:
        # SKIP LOCKED: a second worker passes over rows the first is claiming right now.
        return conn.execute(
            f"WITH due AS (SELECT id FROM outbox WHERE {where} "
            "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
            "UPDATE outbox o SET claimed_by = %(worker)s, lease_until = %(until)s "
            f"FROM due WHERE o.id = due.id RETURNING "
            + ", ".join(f"o.{c.strip()}" for c in OUTBOX_COLS.split(",")),
            params,
        ).fetchall()

    def _lock_days(
        self,
        conn: psycopg.Connection,
        end: datetime,
        day_start: datetime,
        day_end: datetime,
        reach: timedelta,
    ) -> None:
        """Serialise the writers of the owner's day (and of the next, when a buffer reaches it)."""
        # Minutes since the epoch fit the lock's int4 key until the year 6053.
        day_key = int(aware(day_start).timestamp()) // 60
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_DAY, day_key))
        if aware(end) + reach > aware(day_end):
            # Its buffer reaches into the next day, whose bookings lock only that
            # day: take its lock too (ascending order, so no deadlock). A call of
            # the next day always holds that lock, so the two are serialised.
            next_key = int(aware(day_end).timestamp()) // 60
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_DAY, next_key))

    def _lock_rate(self, conn: psycopg.Connection, hashed_key: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_RATE, hashed_key))

    # -- bookings: the exclusion constraint has the last word ---------------------------

    def book(self, booking: Booking, **kwargs: Any) -> tuple[Booking, bool]:
        try:
            return super().book(booking, **kwargs)
        except pg_errors.ExclusionViolation:
            # An overlap the day lock did not serialise (a call across midnight): the
            # constraint is the last word.
            raise SlotTaken(f"{booking.start:%Y-%m-%d %H:%M} UTC is already booked") from None
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "bookings_idem_key_key":
                first = self.by_idempotency_key(kwargs["idempotency_key"])
                if first:
                    return first, False
            raise

    def move(self, booking_id: str, *, start: datetime, **kwargs: Any) -> Booking | None:
        try:
            return super().move(booking_id, start=start, **kwargs)
        except pg_errors.ExclusionViolation:
            raise SlotTaken(f"{aware(start):%Y-%m-%d %H:%M} UTC is already booked") from None

    # -- privacy --------------------------------------------------------------------

    def _after_erase(self) -> None:
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

    def __str__(self) -> str:
        return f"PostgreSQL {describe_url(self.url)}"
