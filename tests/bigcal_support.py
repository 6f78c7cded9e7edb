"""Generated calendars far larger than any real one, for the size-limit tests and measurements."""

from __future__ import annotations

from datetime import datetime, timedelta


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def many_events(count: int, first: datetime, *, every: timedelta = timedelta(seconds=5)) -> bytes:
    """``count`` plain (non-repeating) 1-minute events from ``first`` (UTC), ``every`` apart."""
    head = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//callslot tests//big//EN\r\n"
    minute = timedelta(minutes=1)
    body = b"".join(
        (
            f"BEGIN:VEVENT\r\nUID:e{i}@big.test\r\nDTSTAMP:20261101T000000Z\r\n"
            f"DTSTART:{_stamp(first + every * i)}\r\n"
            f"DTEND:{_stamp(first + every * i + minute)}\r\n"
            f"SUMMARY:Event {i}\r\nEND:VEVENT\r\n"
        ).encode()
        for i in range(count)
    )
    return head + body + b"END:VCALENDAR\r\n"


def many_dates(
    count: int, first: datetime, *, prop: str = "RDATE", events: int = 1, per_line: int = 0
) -> bytes:
    """``events`` events, each with ``count`` extra dates (RDATE or EXDATE) an hour apart.

    With ``per_line`` the dates are written on lines of that many values each.
    """
    dates = [_stamp(first + timedelta(hours=i)) for i in range(count)]
    step = per_line or max(count, 1)
    written = [f"{prop}:" + ",".join(dates[i : i + step]) for i in range(0, count, step)]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//callslot tests//big//EN"]
    for n in range(events):
        lines += [
            "BEGIN:VEVENT",
            f"UID:dates{n}@big.test",
            "DTSTAMP:20261101T000000Z",
            f"DTSTART:{_stamp(first)}",
            "DURATION:PT30M",
            *written,
            "SUMMARY:Many dates",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()
