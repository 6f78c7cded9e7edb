"""The owner's list of bookings (`callslot bookings`): a table, CSV, JSON or an iCalendar file.

Times are shown in the owner's zone; JSON also carries UTC. CSV cells that a
spreadsheet would run as a formula (a topic typed by a stranger starting with
"=", or a phone number starting with "+") are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from generator.commands.phrases import count
from generator.config.settings import Settings
from generator.domain import Booking

__all__ = ["FORMATS", "format_bookings"]

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
                f"{start:%a %Y-%m-%d %H:%M}–{end:%H:%M}",
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
