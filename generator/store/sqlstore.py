"""The Store over SQL, written once: SQLiteStore and PostgresStore fill in the dialect.

What a booking, a move, a cancel or an erasure does is the same in both
databases; what differs is small and sits in a few hooks a backend sets:
how parameters are written (``?`` or ``%s``), how times are stored (ISO text
or timestamptz), how a transaction is opened, and what is locked (SQLite's
immediate transaction holds the one write lock; PostgreSQL locks the owner's
day, the row, and skips rows another worker is claiming).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from generator.domain import Booking, OutboxItem
from generator.store.base import BookingCheck, DayFull, MoveRefused, SlotTaken, Store
from generator.store.sql import (
    BOOKING_COLS,
    DROP_REMINDERS,
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

__all__ = ["SQLStore", "aware"]

Connection = Any  # sqlite3.Connection or psycopg.Connection: both have execute()


def aware(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is a bug in the caller, never a guess."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
    return moment.astimezone(UTC)


class SQLStore(Store):
    """The Store methods both SQL backends share, over the hooks below."""

    # -- the dialect: what a backend sets ----------------------------------------------

    mark = "?"  # a positional parameter
    lock_row = ""  # appended to a SELECT of the row a transaction is about to change
    skip_locked = ""  # appended to a SELECT of rows another worker may be claiming
    row_id = "rowid"  # the column that names one physical row

    @staticmethod
    @abstractmethod
    def to_db(moment: datetime) -> Any:
        """An aware datetime as the database stores it."""

    @staticmethod
    @abstractmethod
    def from_db(value: Any) -> datetime | None:
        """A stored time (or None) as an aware UTC datetime (or None)."""

    @staticmethod
    @abstractmethod
    def named(name: str) -> str:
        """A named parameter: ``:now`` or ``%(now)s``."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]:
        """One write transaction, committed when the block ends, rolled back on an error."""

    @abstractmethod
    def _read(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read outside a transaction."""

    @abstractmethod
    def _execute_many(self, conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One statement for each of ``rows``."""

    @abstractmethod
    def _claim(self, conn: Connection, where: str, params: dict[str, Any]) -> list[tuple]:
        """Claim the rows matching ``where`` (see claimable_outbox), returning OUTBOX_COLS."""

    def _lock_days(
        self, conn: Connection, end: datetime, day_start: datetime, day_end: datetime,
        reach: timedelta,
    ) -> None:
        """Serialise the writers of the owner's day; none needed where a write locks all."""

    def _lock_rate(self, conn: Connection, hashed_key: str) -> None:
        """Serialise the counting of one client's hits; none needed where a write locks all."""

    def _after_erase(self) -> None:
        """Leave no copy of erased data in the database's files (WAL, old row versions)."""

    # -- rows -------------------------------------------------------------------------

    def _booking(self, row: Sequence[Any]) -> Booking:
        return booking_from_row(row, self.from_db)

    def _outbox(self, row: Sequence[Any]) -> OutboxItem:
        return outbox_from_row(row, self.from_db)

    def _booking_where(self, column: str, value: str) -> Booking | None:
        rows = self._read(
            f"SELECT {BOOKING_COLS} FROM bookings WHERE {column} = {self.mark}", (value,)
        )
        return self._booking(rows[0]) if rows else None

    # -- bookings ---------------------------------------------------------------------

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
        m = self.mark
        with self._write() as conn:
            self._lock_days(conn, booking.end, day_start, day_end, max(buffer_before, buffer_after))
            row = conn.execute(
                f"SELECT {BOOKING_COLS} FROM bookings WHERE idem_key = {m}", (idempotency_key,)
            ).fetchone()
            if row:
                return self._booking(row), False
            if check is not None:
                pad = buffer_before + buffer_after
                around = conn.execute(
                    "SELECT start_at, end_at FROM bookings WHERE status = 'confirmed' "
                    f"AND end_at > {m} AND start_at < {m} ORDER BY start_at",
                    (self.to_db(day_start - pad), self.to_db(day_end + pad)),
                ).fetchall()
                check([(self.from_db(s), self.from_db(e)) for s, e in around])
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
                    time=self.to_db,
                    mark=m,
                    move_token_hash=move_token_hash,
                )
            )
            self._enqueue(
                conn, booking.id, channels, "booked", booking.created_at, reminders=reminders
            )
        return self.get(booking.id) or booking, True

    def _check_free(
        self,
        conn: Connection,
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
        m = self.mark
        clash = conn.execute(
            f"SELECT 1 FROM bookings WHERE status = 'confirmed' AND start_at < {m} "
            f"AND end_at > {m} AND id <> {m} LIMIT 1",
            (self.to_db(end + buffer_before), self.to_db(start - buffer_after), leave_out),
        ).fetchone()
        if clash:
            raise SlotTaken(f"{aware(start):%Y-%m-%d %H:%M} UTC is already booked")
        if max_per_day is not None:
            (count,) = conn.execute(
                "SELECT count(*) FROM bookings WHERE status = 'confirmed' "
                f"AND start_at >= {m} AND start_at < {m} AND id <> {m}",
                (self.to_db(day_start), self.to_db(day_end), leave_out),
            ).fetchone()
            if count >= max_per_day:
                raise DayFull(f"{max_per_day} calls already booked that day")

    def _enqueue(
        self, conn: Connection, booking_id: str, channels: Sequence[str], event: str,
        now: datetime, **more: Any,
    ) -> None:
        """Queue the outbox rows of ``event`` (``more``: reminders, previous; see outbox_rows)."""
        sql, rows = outbox_rows(
            booking_id, channels, event, now, time=self.to_db, mark=self.mark, **more
        )
        if rows:
            self._execute_many(conn, sql, rows)

    def _drop_reminders(self, conn: Connection, booking_id: str, reason: str) -> None:
        conn.execute(DROP_REMINDERS.format(reason=self.mark, booking=self.mark),
                     (reason, booking_id))

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
        m = self.mark
        with self._write() as conn:
            # The new day's lock first, as a booking takes it: a booking and a move
            # aiming at one day take turns. The row lock keeps a cancel or a second
            # move of this call out until this one commits.
            self._lock_days(conn, end, day_start, day_end, max(buffer_before, buffer_after))
            row = conn.execute(
                f"SELECT {BOOKING_COLS} FROM bookings WHERE id = {m}{self.lock_row}",
                (booking_id,),
            ).fetchone()
            if row is None:
                return None
            old = self._booking(row)
            if old.status != "confirmed":
                raise MoveRefused("cancelled")
            if old.start <= aware(now):
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
                f"UPDATE bookings SET start_at = {m}, end_at = {m}, sequence = sequence + 1 "
                f"WHERE id = {m}",
                (self.to_db(start), self.to_db(end), booking_id),
            )
            self._drop_reminders(conn, booking_id, "the call was moved; reminders follow its "
                                 "new time")
            self._enqueue(conn, booking_id, channels, "moved", now, reminders=reminders,
                          previous=(old.start, old.end))
        return self.get(booking_id)

    def get(self, booking_id: str) -> Booking | None:
        return self._booking_where("id", booking_id)

    def by_cancel_hash(self, token_hash: str) -> Booking | None:
        return self._booking_where("cancel_hash", token_hash)

    def by_idempotency_key(self, key: str) -> Booking | None:
        return self._booking_where("idem_key", key)

    def by_move_hash(self, token_hash: str) -> Booking | None:
        return self._booking_where("move_hash", token_hash)

    def cancel(self, booking_id: str, *, now: datetime, channels: Sequence[str]) -> Booking | None:
        m = self.mark
        with self._write() as conn:
            row = conn.execute(
                f"SELECT status FROM bookings WHERE id = {m}{self.lock_row}", (booking_id,)
            ).fetchone()
            if row is None:
                return None
            if row[0] == "confirmed":
                # The idempotency key is released so the same caller may book the slot again.
                conn.execute(
                    f"UPDATE bookings SET status = 'cancelled', cancelled_at = {m}, "
                    f"sequence = sequence + 1, idem_key = NULL WHERE id = {m}",
                    (self.to_db(now), booking_id),
                )
                self._drop_reminders(conn, booking_id, "the call was cancelled")
                self._enqueue(conn, booking_id, channels, "cancelled", now)
        return self.get(booking_id)

    def taken(
        self, after: datetime, *, before: datetime | None = None
    ) -> list[tuple[datetime, datetime]]:
        m = self.mark
        sql = f"SELECT start_at, end_at FROM bookings WHERE status = 'confirmed' AND end_at > {m}"
        args: list[Any] = [self.to_db(after)]
        if before is not None:
            sql += f" AND start_at < {m}"
            args.append(self.to_db(before))
        rows = self._read(sql + " ORDER BY start_at", args)
        return [(self.from_db(s), self.from_db(e)) for s, e in rows]  # type: ignore[misc]

    def bookings(
        self, *, since: datetime | None = None, include_cancelled: bool = False
    ) -> list[Booking]:
        sql, args = bookings_query(
            since=since, include_cancelled=include_cancelled, time=self.to_db, mark=self.mark
        )
        return [self._booking(r) for r in self._read(sql, args)]

    def set_outcome(self, booking_id: str, outcome: str) -> Booking | None:
        if outcome not in ("held", "missed"):
            raise ValueError(f"outcome must be 'held' or 'missed', not {outcome!r}")
        m = self.mark
        with self._write() as conn:
            conn.execute(f"UPDATE bookings SET outcome = {m} WHERE id = {m}", (outcome, booking_id))
        return self.get(booking_id)

    # -- outbox -----------------------------------------------------------------------

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
            time=self.to_db,
            named=self.named,
            channels=channels,
        )
        with self._write() as conn:
            rows = self._claim(conn, where, params)
        return sorted((self._outbox(r) for r in rows), key=lambda item: item.id)

    def finish_outbox(
        self, item_id: int, *, sent: bool, error: str = "", next_attempt_at: datetime | None = None
    ) -> None:
        sql, args = finish_outbox_update(
            item_id, sent=sent, error=error, next_attempt_at=next_attempt_at, time=self.to_db,
            mark=self.mark,
        )
        with self._write() as conn:
            conn.execute(sql, args)

    def outbox(
        self, *, booking_id: str | None = None, due_by: datetime | None = None
    ) -> list[OutboxItem]:
        due = None if due_by is None else self.to_db(due_by)
        return [
            self._outbox(r)
            for r in self._read(*outbox_query(booking_id, due_by=due, mark=self.mark))
        ]

    def mark_handoff(self, item_id: int, stage: str) -> None:
        with self._write() as conn:
            conn.execute(*handoff_update(item_id, stage, mark=self.mark))

    def release_claims(self, *, now: datetime, alive: Callable[[str], bool]) -> list[int]:
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, claimed_by, handoff FROM outbox WHERE status = 'pending' "
                f"AND claimed_by IS NOT NULL AND lease_until > {self.mark}{self.skip_locked}",
                (self.to_db(now),),
            ).fetchall()
            released = []
            for item_id, worker, handoff in rows:
                if alive(worker):
                    continue
                for sql, args in release_statements(
                    item_id, handoff, now=self.to_db(now), mark=self.mark
                ):
                    conn.execute(sql, args)
                released.append(item_id)
        return released

    # -- the rest ---------------------------------------------------------------------

    def rate_hit(self, key: str, *, now: datetime, window: timedelta, limit: int) -> bool:
        m, hashed = self.mark, hash_rate_key(key)
        with self._write() as conn:
            self._lock_rate(conn, hashed)
            # Old hits of clients that never came back.
            conn.execute(
                f"DELETE FROM rate_hits WHERE at <= {m}",
                (self.to_db(now - max(window, timedelta(days=1))),),
            )
            (count,) = conn.execute(
                f"SELECT count(*) FROM rate_hits WHERE key = {m} AND at > {m}",
                (hashed, self.to_db(now - window)),
            ).fetchone()
            if count >= limit:
                return False
            conn.execute(f"INSERT INTO rate_hits (key, at) VALUES ({m}, {m})",
                         (hashed, self.to_db(now)))
        return True

    def rate_refund(self, key: str, *, at: datetime) -> None:
        m, row_id = self.mark, self.row_id
        with self._write() as conn:
            conn.execute(
                f"DELETE FROM rate_hits WHERE {row_id} = (SELECT {row_id} FROM rate_hits "
                f"WHERE key = {m} AND at = {m} LIMIT 1)",
                (hash_rate_key(key), self.to_db(at)),
            )

    def rate_retry_after(self, key: str, *, now: datetime, window: timedelta) -> timedelta:
        m = self.mark
        (oldest,) = self._read(
            f"SELECT min(at) FROM rate_hits WHERE key = {m} AND at > {m}",
            (hash_rate_key(key), self.to_db(now - window)),
        )[0]
        first = self.from_db(oldest)
        return max(timedelta(0), first + window - now) if first else timedelta(0)

    # -- privacy ----------------------------------------------------------------------

    def erasable(self, *, ended_before: datetime) -> list[Booking]:
        sql, args = erasable_query(ended_before=ended_before, time=self.to_db, mark=self.mark)
        return [self._booking(r) for r in self._read(sql, args)]

    def erase(self, booking_ids: Sequence[str], *, now: datetime) -> int:
        erased = 0
        with self._write() as conn:
            for number, (sql, args) in enumerate(
                erase_statements(booking_ids, now=now, time=self.to_db, mark=self.mark)
            ):
                changed = conn.execute(sql, args).rowcount
                erased = changed if number == 0 else erased
        if booking_ids:
            self._after_erase()
        return erased
