"""What the SQLite and PostgreSQL stores share: columns, row mapping and common SQL.

The two backends keep times differently (ISO text in SQLite, timestamptz in
PostgreSQL) and write parameters differently (``?`` against ``%s``), so each
helper takes the backend's time conversion and placeholder; the column order
and the statements themselves are written once here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from generator.domain import Booking, OutboxItem

__all__ = [
    "BOOKING_COLS",
    "DROP_REMINDERS",
    "OUTBOX_COLS",
    "booking_from_row",
    "booking_insert",
    "bookings_query",
    "claimable_outbox",
    "erasable_query",
    "erase_statements",
    "finish_outbox_update",
    "handoff_update",
    "hash_rate_key",
    "outbox_from_row",
    "outbox_query",
    "outbox_rows",
    "release_statements",
]

# The order of the columns is the order booking_from_row and outbox_from_row unpack.
BOOKING_COLS = (
    "id, call_type, start_at, end_at, name, phone, email, topic, note, who_calls, "
    "language, caller_timezone, created_at, status, cancelled_at, outcome, sequence, "
    "consent_text, consent_at, erased_at"
)
OUTBOX_COLS = (
    "id, booking_id, channel, event, status, attempts, last_error, next_attempt_at, "
    "previous_start, previous_end"
)
# A call's reminders still to come, dropped when it is moved or cancelled.
DROP_REMINDERS = (
    "UPDATE outbox SET status = 'dropped', last_error = {reason}, claimed_by = NULL, "
    "lease_until = NULL WHERE booking_id = {booking} AND event = 'reminder' "
    "AND status = 'pending'"
)

FromDb = Callable[[Any], Any]  # a stored time (or None) -> an aware UTC datetime (or None)
ToDb = Callable[[datetime], Any]  # an aware datetime -> what the backend stores


def hash_rate_key(key: str) -> str:
    """Client addresses are personal data: the rate table only keeps a hash."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def booking_from_row(row: Sequence[Any], time: FromDb) -> Booking:
    """A Booking from a row selected with BOOKING_COLS."""
    (
        id_,
        call_type,
        start,
        end,
        name,
        phone,
        email,
        topic,
        note,
        who_calls,
        language,
        tz,
        created,
        status,
        cancelled,
        outcome,
        sequence,
        consent_text,
        consent_at,
        erased_at,
    ) = row
    return Booking(
        id=id_,
        call_type=call_type,
        start=time(start),
        end=time(end),
        name=name,
        phone=phone,
        email=email,
        topic=topic,
        note=note,
        who_calls=who_calls,
        language=language,
        caller_timezone=tz,
        created_at=time(created),
        status=status,
        cancelled_at=time(cancelled),
        outcome=outcome,
        sequence=sequence,
        consent_text=consent_text,
        consent_at=time(consent_at),
        erased_at=time(erased_at),
    )


def outbox_from_row(row: Sequence[Any], time: FromDb) -> OutboxItem:
    """An OutboxItem from a row selected with OUTBOX_COLS."""
    id_, booking_id, channel, event, status, attempts, last_error, next_at, prev_s, prev_e = row
    return OutboxItem(
        id=id_,
        booking_id=booking_id,
        channel=channel,
        event=event,
        status=status,
        attempts=attempts,
        last_error=last_error,
        next_attempt_at=time(next_at),
        previous_start=time(prev_s),
        previous_end=time(prev_e),
    )


def outbox_rows(
    booking_id: str,
    channels: Sequence[str],
    event: str,
    now: datetime,
    *,
    reminders: Sequence[tuple[str, datetime]] = (),
    previous: tuple[datetime, datetime] | None = None,
    time: ToDb,
    mark: str,
) -> tuple[str, list[tuple[Any, ...]]]:
    """The INSERT and its rows: ``channels`` for ``event`` due now, and each
    (channel, due) reminder; ``previous`` is the old time of a moved call."""
    prev = (time(previous[0]), time(previous[1])) if previous else (None, None)
    rows = [(booking_id, channel, event, time(now), *prev) for channel in channels]
    rows += [(booking_id, channel, "reminder", time(due), None, None) for channel, due in reminders]
    sql = (
        "INSERT INTO outbox (booking_id, channel, event, next_attempt_at, previous_start, "
        f"previous_end) VALUES ({', '.join([mark] * 6)})"
    )
    return sql, rows


def booking_insert(
    booking: Booking,
    *,
    cancel_token_hash: str,
    idempotency_key: str,
    time: ToDb,
    mark: str,
    move_token_hash: str | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of a new confirmed booking and its parameters."""
    marks = ", ".join([mark] * 13)
    sql = (
        f"INSERT INTO bookings ({BOOKING_COLS}, cancel_hash, idem_key, move_hash) "
        f"VALUES ({marks}, 'confirmed', NULL, NULL, 0, {mark}, {mark}, NULL, {mark}, {mark}, "
        f"{mark})"
    )
    values = (
        booking.id,
        booking.call_type,
        time(booking.start),
        time(booking.end),
        booking.name,
        booking.phone,
        booking.email,
        booking.topic,
        booking.note,
        booking.who_calls,
        booking.language,
        booking.caller_timezone,
        time(booking.created_at),
        booking.consent_text,
        time(booking.consent_at) if booking.consent_at is not None else None,
        cancel_token_hash,
        idempotency_key,
        move_token_hash,
    )
    return sql, values


def bookings_query(
    *, since: datetime | None, include_cancelled: bool, time: ToDb, mark: str
) -> tuple[str, list[Any]]:
    """The SELECT behind Store.bookings: calls ending after ``since``, sorted by start."""
    where: list[str] = []
    args: list[Any] = []
    if since is not None:
        where.append(f"end_at > {mark}")
        args.append(time(since))
    if not include_cancelled:
        where.append("status = 'confirmed'")
    sql = f"SELECT {BOOKING_COLS} FROM bookings"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY start_at, created_at", args


def outbox_query(
    booking_id: str | None, *, due_by: Any = None, mark: str
) -> tuple[str, tuple[Any, ...]]:
    """The SELECT behind Store.outbox: all rows, one booking's, and/or the pending ones
    due by ``due_by`` (a value already in the database's time form)."""
    where: list[str] = []
    args: list[Any] = []
    if booking_id is not None:
        where.append(f"booking_id = {mark}")
        args.append(booking_id)
    if due_by is not None:
        where.append(f"status = 'pending' AND next_attempt_at <= {mark}")
        args.append(due_by)
    sql = f"SELECT {OUTBOX_COLS} FROM outbox"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY id", tuple(args)


def claimable_outbox(
    *,
    now: datetime,
    worker: str,
    lease: timedelta,
    include_waiting: bool,
    booking_id: str | None,
    limit: int,
    time: ToDb,
    named: Callable[[str], str],
    channels: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The WHERE of the rows Store.claim_outbox may take, and the named parameters
    (now, until, worker, booking, limit) of the backend's claiming statement.

    ``named`` writes a named placeholder: ``:now`` in SQLite, ``%(now)s`` in PostgreSQL.
    """
    # A row whose lease ran out is claimable again: its worker died or hangs.
    where = ["status = 'pending'", f"(lease_until IS NULL OR lease_until <= {named('now')})"]
    if include_waiting:
        # Only rows waiting out a backoff: a reminder not yet due has no attempts.
        where.append(f"(next_attempt_at <= {named('now')} OR attempts > 0)")
    else:
        where.append(f"next_attempt_at <= {named('now')}")
    if booking_id is not None:
        where.append(f"booking_id = {named('booking')}")
    params: dict[str, Any] = {}
    if channels is not None:
        # Rows of a channel that is not configured wait untouched, attempts uncounted.
        names = [f"channel{i}" for i in range(len(channels))]
        where.append(f"channel IN ({', '.join(named(n) for n in names)})" if names else "1 = 0")
        params.update(zip(names, channels, strict=True))
    params |= {
        "now": time(now),
        "until": time(now + lease),
        "worker": worker,
        "booking": booking_id,
        "limit": limit,
    }
    return " AND ".join(where), params


def finish_outbox_update(
    item_id: int,
    *,
    sent: bool,
    error: str,
    next_attempt_at: datetime | None,
    time: ToDb,
    mark: str,
) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE that releases a claimed row: sent, due again later, or failed for good."""
    if sent:
        return (
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, "
            "last_error = '', claimed_by = NULL, lease_until = NULL, handoff = NULL "
            f"WHERE id = {mark}",
            (item_id,),
        )
    if next_attempt_at is not None:
        return (
            f"UPDATE outbox SET attempts = attempts + 1, last_error = {mark}, "
            f"next_attempt_at = {mark}, claimed_by = NULL, lease_until = NULL, handoff = NULL "
            f"WHERE id = {mark}",
            (error[:2000], time(next_attempt_at), item_id),
        )
    return (
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, "
        f"last_error = {mark}, claimed_by = NULL, lease_until = NULL, handoff = NULL "
        f"WHERE id = {mark}",
        (error[:2000], item_id),
    )


# The personal fields of a booking and what they become once erased. The time zone
# goes too (it tells where the caller lives); language, call type, times, status,
# outcome and the consent sentence (the same for every caller) stay for stats.
_ERASED = (
    "name = '', phone = '', email = '', topic = '', note = '', caller_timezone = '', "
    "consent_at = NULL, idem_key = NULL"
)


def erasable_query(*, ended_before: datetime, time: ToDb, mark: str) -> tuple[str, tuple[Any, ...]]:
    """The SELECT of calls that ended by ``ended_before`` and still hold personal data."""
    return (
        f"SELECT {BOOKING_COLS} FROM bookings WHERE erased_at IS NULL AND end_at <= {mark} "
        "ORDER BY start_at, id",
        (time(ended_before),),
    )


def erase_statements(
    booking_ids: Sequence[str], *, now: datetime, time: ToDb, mark: str
) -> list[tuple[str, tuple[Any, ...]]]:
    """The UPDATEs that erase these bookings' personal data and that of their outbox rows.

    A notification still pending for an erased booking can no longer be sent (its
    address is gone), so it ends as failed. The last pass clears every error text
    of erased bookings, including one a worker wrote while the erasure ran.
    """
    ids = tuple(booking_ids)
    if not ids:
        return []
    marks = ", ".join([mark] * len(ids))
    return [
        (
            f"UPDATE bookings SET {_ERASED}, erased_at = {mark} "
            f"WHERE erased_at IS NULL AND id IN ({marks})",
            (time(now), *ids),
        ),
        (
            "UPDATE outbox SET status = 'failed', claimed_by = NULL, lease_until = NULL "
            f"WHERE status = 'pending' AND booking_id IN ({marks})",
            ids,
        ),
        (
            "UPDATE outbox SET last_error = '' WHERE last_error <> '' AND booking_id IN "
            "(SELECT id FROM bookings WHERE erased_at IS NOT NULL)",
            (),
        ),
    ]


HANDOFF_STAGES = ("data", "accepted")
# What a released row says about the mail its dead sender was handing over.
MAYBE_TWICE = (
    "the sender stopped while the mail server was receiving this mail; sent again "
    "with the same Message-ID, so it may arrive twice"
)


def handoff_update(item_id: int, stage: str, *, mark: str) -> tuple[str, tuple[Any, ...]]:
    """Record how far a claimed mail got: "data" just before DATA, "accepted" once the
    server answered 250 to it (before the row is marked sent)."""
    if stage not in HANDOFF_STAGES:
        raise ValueError(f"hand-off stage must be one of {HANDOFF_STAGES}, not {stage!r}")
    return f"UPDATE outbox SET handoff = {mark} WHERE id = {mark}", (stage, item_id)


def release_statements(
    item_id: int, handoff: str | None, *, now: Any, mark: str
) -> list[tuple[str, tuple[Any, ...]]]:
    """What becomes of a row whose sender died: sent when the server had accepted it;
    otherwise due again at once (with a note when DATA was under way)."""
    if handoff == "accepted":
        return [
            (
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1, last_error = '', "
                f"claimed_by = NULL, lease_until = NULL, handoff = NULL WHERE id = {mark}",
                (item_id,),
            )
        ]
    note = MAYBE_TWICE if handoff == "data" else "the sender stopped before sending this"
    return [
        (
            f"UPDATE outbox SET last_error = {mark}, next_attempt_at = {mark}, "
            f"claimed_by = NULL, lease_until = NULL WHERE id = {mark}",
            (note, now, item_id),
        )
    ]
