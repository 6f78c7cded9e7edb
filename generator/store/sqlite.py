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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generator.errors import StoreError
from generator.files import create_private_file, make_dirs
from generator.store.sql import OUTBOX_COLS
from generator.store.sqlstore import SQLStore

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


class SQLiteStore(SQLStore):
    """Bookings in one SQLite file (created with its folder when missing)."""

    # The dialect (see SQLStore): ISO text times, ``?`` parameters, no locks beyond
    # the immediate transaction's write lock, which already serialises every writer.
    mark = "?"
    to_db = staticmethod(_ts)
    from_db = staticmethod(_dt)

    @staticmethod
    def named(name: str) -> str:
        return f":{name}"

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

    def _read(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[tuple]:
        with self._connection() as conn:
            return conn.execute(sql, args).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate write transaction: the write lock is held from the first read."""
        with self._connection() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                raise StoreError(
                    f"the booking database {self.path} stayed locked by another program for "
                    f"{self.timeout:.0f} s, so nothing was changed; try again in a moment, "
                    "or close what holds it (an sqlite3 shell, a backup, another callslot)"
                ) from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _execute_many(self, conn: sqlite3.Connection, sql: str, rows: list[tuple]) -> None:
        conn.executemany(sql, rows)

    def _claim(self, conn: sqlite3.Connection, where: str, params: dict[str, Any]) -> list[tuple]:
        return conn.execute(
            "UPDATE outbox SET claimed_by = :worker, lease_until = :until "
            f"WHERE id IN (SELECT id FROM outbox WHERE {where} "
            f"ORDER BY id LIMIT :limit) RETURNING {OUTBOX_COLS}",
            params,
        ).fetchall()

    # -- schema ---------------------------------------------------------------------

    def migrate(self) -> None:
        if self._schema_is_current():
            return  # nothing to write: reading bookings needs no write lock
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
        return self._read("SELECT max(version) FROM schema_version")[0][0]

    def _schema_is_current(self) -> bool:
        """The schema is this callslot's (a read: WAL lets it pass a writer's lock)."""
        try:
            return self.schema_version() == len(_MIGRATIONS)
        except sqlite3.OperationalError:  # no such table yet (a new file), or locked
            return False

    # -- privacy --------------------------------------------------------------------

    def _after_erase(self) -> None:
        """Write the WAL back into the file and empty it: until then it holds page images
        from before the erasure, names and numbers included."""
        with self._connection() as conn:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            # A reader kept the WAL in use; the next erasure (or checkpoint) empties it.
            log.info("the booking database's write-ahead log is in use; emptied later")

    def ping(self) -> None:
        try:
            self._read("SELECT 1")
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

    def __str__(self) -> str:
        return f"the SQLite file {self.path}"
