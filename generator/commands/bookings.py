"""The owner's bookings (`callslot bookings`): a table, CSV, JSON or an iCalendar file, and
moving a call (`callslot bookings move ID --to ISO`).

Times are shown in the owner's zone; JSON also carries UTC. CSV cells that a
spreadsheet would run as a formula (a topic typed by a stranger starting with
"=", or a phone number starting with "+") are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from generator.commands.phrases import clock, count, day_and_time
from generator.config.settings import Settings
from generator.domain import Booking
from generator.errors import CallslotError, ConfigError
from generator.store.base import DayFull, MoveRefused, SlotTaken, Store, day_limits

__all__ = [
    "FORMATS",
    "format_bookings",
    "move_booking",
    "parse_move_time",
    "unknown_booking",
]

# check_slot's reasons, as the owner reads them.
_NOT_OPEN = {
    "grid": "is not a start time of this call type (see call_types.step)",
    "notice": "is sooner than booking.notice allows",
    "horizon": "is later than booking.horizon allows",
    "hours": "is outside your open hours ([availability])",
    "busy": "is busy in your calendar or too close to another call (buffers included)",
    "full": "is on a day that already has booking.max_per_day calls",
}

FORMATS = ("table", "csv", "json", "ics")
_CSV_FIELDS = (
    "id",
    "status",
    "start",
    "end",
    "call_type",
    "topic",
    "name",
    "phone",
    "email",
    "who_calls",
    "note",
    "language",
    "caller_timezone",
    "created_at",
    "outcome",
)


def _local(settings: Settings, moment: datetime) -> str:
    return moment.astimezone(settings.tz).isoformat(timespec="minutes")


def _row(settings: Settings, b: Booking) -> dict[str, str]:
    return {
        "id": b.id,
        "status": b.status,
        "start": _local(settings, b.start),
        "end": _local(settings, b.end),
        "call_type": b.call_type,
        "topic": b.topic,
        "name": b.name,
        "phone": b.phone,
        "email": b.email,
        "who_calls": b.who_calls,
        "note": b.note,
        "language": b.language,
        "caller_timezone": b.caller_timezone,
        "created_at": _local(settings, b.created_at),
        "outcome": b.outcome or "",
    }


def _cell(value: str) -> str:
    # Formula injection: = + - @ (and tab/CR) start a formula in Excel and LibreOffice.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _table(settings: Settings, bookings: Sequence[Booking]) -> str:
    if not bookings:
        return "No bookings.\n"
    header = ("ID", "When", "Call", "Topic", "Name", "Contact", "Calls", "Status")
    rows = []
    for b in bookings:
        start, end = b.start.astimezone(settings.tz), b.end.astimezone(settings.tz)
        status = b.status if b.status == "cancelled" else (b.outcome or "confirmed")
        contact = " / ".join(v for v in (b.phone, b.email) if v)
        who = "you" if b.who_calls == "owner" else "they"
        rows.append(
            (
                b.id,
                f"{day_and_time(start)}–{clock(end)}",
                b.call_type,
                b.topic,
                b.name,
                contact,
                who,
                status,
            )
        )
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    zone = settings.owner.timezone
    return "\n".join(lines) + f"\n\n{count(len(bookings), 'booking')}; times in {zone}.\n"


def format_bookings(settings: Settings, bookings: Sequence[Booking], fmt: str) -> str:
    """The bookings in one of FORMATS, as text ready to print."""
    if fmt == "table":
        return _table(settings, bookings)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for b in bookings:
            writer.writerow({k: _cell(v) for k, v in _row(settings, b).items()})
        return out.getvalue()
    if fmt == "json":
        data = []
        for b in bookings:
            row: dict[str, object] = dict(_row(settings, b))
            row["start_utc"] = b.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            row["end_utc"] = b.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            row["outcome"] = b.outcome
            data.append(row)
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt == "ics":
        from generator.notify.invite import bookings_feed

        # The list is already what the owner asked for: with --all, cancelled calls
        # are in it and are written as STATUS:CANCELLED.
        return bookings_feed(settings, bookings, include_cancelled=True).decode("utf-8")
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def unknown_booking(store: Store, booking_id: str) -> str:
    """What to say about an ID no booking has: the likely one, and where to find them."""
    from generator.config.suggest import did_you_mean

    known = [b.id for b in store.bookings(include_cancelled=True)]
    return (f"no booking with the id {booking_id!r}{did_you_mean(booking_id, known)}; "
            "list them with `callslot bookings --all`")


# "2026-12-08T9:00" or "2026-12-08 9:00": the hour as the tool itself writes it.
_SHORT_HOUR = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d):")


def parse_move_time(value: str, settings: Settings) -> datetime:
    """--to: an ISO time; without an offset it is the owner's local time."""
    text = _SHORT_HOUR.sub(r"\1T0\2:", value.strip())
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{value!r} is not an ISO-8601 time; write e.g. 2026-12-01T10:30", field="--to"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.tz)
    return moment.astimezone(UTC)


def move_booking(
    settings: Settings,
    store: Store,
    booking_id: str,
    start: datetime,
    *,
    now: datetime,
    force: bool = False,
) -> tuple[Booking, Booking]:
    """Move call ``booking_id`` to ``start`` (same call type and length): (before, after).

    The new time must be open as the page would offer it (open hours, notice,
    horizon, the calendars) unless ``force``; overlap with other calls (buffers
    included) and the calls per day are checked by the store in any case, in
    the same transaction that moves the call. Raises CallslotError saying why not.
    """
    from generator.availability import Slot, check_slot
    from generator.busy.calendars import Busy, read_busy
    from generator.notify.outbox import channels_for, reminders_for
    from generator.web.core import day_bounds_in

    booking = store.get(booking_id)
    if booking is None:
        raise CallslotError(unknown_booking(store, booking_id))
    if booking.status != "confirmed":
        raise CallslotError(f"{booking_id} is cancelled; a cancelled call cannot be moved")
    if booking.start <= now:
        raise CallslotError(f"{booking_id} has already begun; it cannot be moved any more")
    slot = Slot(start, start + (booking.end - booking.start), booking.call_type)
    local = start.astimezone(settings.tz)
    when = day_and_time(local)
    if slot.start <= now:
        raise CallslotError(f"{when} has passed; choose a later time")
    if slot.start == booking.start:
        # A move to the same time would send both sides a "moved from 9:00 to 9:00".
        raise CallslotError(f"{booking_id} is at {when} already; nothing was changed")
    day_start, day_end = day_bounds_in(slot.start, settings.tz)
    rules = settings.booking
    if not force:
        pad = rules.buffer_before + rules.buffer_after
        taken = store.taken_by_others(booking, day_start - pad, before=day_end + pad)
        busy = read_busy(
            settings.calendars,
            settings.tz,
            day_start - pad - timedelta(hours=1),
            day_end + pad + timedelta(hours=1),
            cache_dir=settings.state_dir / "cache",
        )
        reason = check_slot(
            settings, slot, now, busy=busy, booked=[Busy(s, e) for s, e in taken]
        )
        if reason is not None:
            raise CallslotError(
                f"{when} {_NOT_OPEN.get(reason, 'is not open')}; choose another time "
                "(`callslot slots` lists open ones) or add --force"
            )
    try:
        moved = store.move(
            booking_id,
            start=slot.start,
            end=slot.end,
            now=now,
            channels=channels_for(settings, "moved"),
            reminders=reminders_for(settings, slot.start, now),
            **day_limits(rules, day_start, day_end),
        )
    except SlotTaken:
        raise CallslotError(
            f"{when} overlaps another call (buffers included); nothing was changed"
        ) from None
    except DayFull:
        raise CallslotError(
            f"{local:%a %Y-%m-%d} already has {rules.max_per_day} calls "
            "(booking.max_per_day); nothing was changed"
        ) from None
    except MoveRefused as exc:
        raise CallslotError(f"{booking_id} cannot be moved: it is {exc.reason}") from None
    if moved is None:
        raise CallslotError(unknown_booking(store, booking_id))
    return booking, moved
