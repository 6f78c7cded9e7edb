"""Seeded generator of realistic calendars for the benchmarks and equivalence tests.

The calendar is the feed of a busy professional over three years, ending about
six weeks after ``now``: single meetings in Europe/Berlin (with a VTIMEZONE, as
Google, Outlook and iCloud export them), UTC events, weekly and daily series
with EXDATEs and moved or cancelled instances (RECURRENCE-ID overrides),
all-day and transparent events, cancelled events, long folded descriptions with
non-ASCII text, attendees and alarms. Most events lie in the past, as in a real
feed; the future holds a working schedule that still leaves free time, so the
slots computed from it are worth comparing.

The output is valid RFC 5545 (CRLF, lines folded at 75 octets without splitting
a UTF-8 character, DTSTAMP and UID on every event) and the same bytes for the
same (n_events, seed, now). Only the standard library is used, so the script
runs anywhere:

    python bench/calendars.py --events 10000 --now 2026-11-30T08:00Z --out cal.ics
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["SIZES", "WINDOW", "generate_calendar", "main"]

SIZES = (1_000, 10_000, 50_000)
BERLIN = ZoneInfo("Europe/Berlin")
# The feed reaches this far past `now` (the booking horizon plus some) ...
WINDOW = timedelta(days=42)
# ... and covers three years in all.
SPAN = timedelta(days=3 * 365)
# Future single events per working day, whatever the size: a full but bookable diary.
FUTURE_PER_WORKDAY = 3.5

VTIMEZONE_BERLIN = (
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Berlin",
    "X-LIC-LOCATION:Europe/Berlin",
    "BEGIN:DAYLIGHT",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "TZNAME:CEST",
    "DTSTART:19700329T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "END:DAYLIGHT",
    "BEGIN:STANDARD",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "TZNAME:CET",
    "DTSTART:19701025T030000",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "END:STANDARD",
    "END:VTIMEZONE",
)

TOPICS = (
    "Jour fixe",
    "Abstimmung Angebot",
    "Kundentermin",
    "Workshop",
    "Review Vertrag",
    "Telefonat",
    "Strategiegespräch",
    "Übergabe",
    "Projektstart",
    "Budgetplanung",
    "Schulung",
    "Mandantengespräch",
    "Interview",
    "Präsentation",
    "1:1",
)
CLIENTS = (
    "Müller GmbH",
    "Bäckerei Schäfer",
    "Öko-Energie Süd",
    "Straßenbau Groß AG",
    "Kanzlei Weiß & Söhne",
    "Jürgens Logistik",
    "Café Hörnchen",
    "Nordlicht e.V.",
    "Zürcher Versicherung",
    "Łódź Textiles",
    "Société Générale de Conseil",
)
PEOPLE = (
    ("Jörg Müller", "joerg.mueller"),
    ("Petra Schäfer", "petra.schaefer"),
    ("Özlem Yılmaz", "oezlem.yilmaz"),
    ("Søren Ødegård", "soeren.oedegaard"),
    ("Zoë Brontë", "zoe.bronte"),
    ("Łukasz Wójcik", "lukasz.wojcik"),
    ("François Lefèvre", "francois.lefevre"),
    ("Ana Núñez", "ana.nunez"),
)
PLACES = (
    "Besprechungsraum Elbe",
    "Büro, 3. OG",
    "Videokonferenz",
    "Café am Marktplatz",
    "Müller GmbH, Hamburg",
    "Hauptbahnhof, Gleis 14",
    "Zoom; Kennung folgt",
)
SENTENCES = (
    "Bitte die Unterlagen vorab durchsehen und Rückfragen sammeln.",
    "Agenda: 1. Stand der Dinge, 2. offene Punkte; 3. nächste Schritte.",
    "Größere Änderungen am Vertrag müssen vor Quartalsende geklärt werden.",
    "Ansprechpartnerin vor Ort: Frau Schäfer, Durchwahl -214.",
    "Die Präsentation liegt im gemeinsamen Ordner \\ Projekte \\ 2026.",
    "Kosten bisher ca. 12.500 € (netto), Budget für das Jahr: 40.000 €.",
    "Zugangsdaten für die Videokonferenz kommen am Vortag per E-Mail.",
    "Rückblick auf die letzten Wochen – was lief gut, was nicht?",
    "Bitte an „Protokoll führen“ denken; wer übernimmt diesmal?",
    "Treffpunkt: Empfang im Erdgeschoß, Parkplätze hinter dem Gebäude.",
    "Notizen: Überarbeitung der Preisliste, Lieferzeiten prüfen, Rückmeldung an Łukasz.",
    "Join: https://meet.example.org/abc-defg-hij?pwd=öäü – Einwahl +49 30 1234567.",
)


@dataclass(frozen=True)
class _Times:
    start: datetime  # the first day of the feed (UTC)
    now: datetime
    end: datetime  # the last day of the feed (UTC)


def generate_calendar(n_events: int, *, seed: int = 1, now: datetime) -> bytes:
    """An RFC 5545 calendar with exactly ``n_events`` VEVENTs, the same bytes for a seed."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if n_events < 10:
        raise ValueError("n_events must be at least 10 (room for each kind of event)")
    now = now.astimezone(UTC)
    rng = random.Random(f"callslot-bench-{seed}-{n_events}")
    times = _Times(start=now + WINDOW - SPAN, now=now, end=now + WINDOW)
    stamp = _utc(now.replace(microsecond=0))

    # The mix of event kinds, as fractions of all VEVENTs; singles fill the rest.
    n_series = max(4, n_events // 100)
    n_overrides = max(2, n_events // 50)
    n_allday = max(1, n_events // 20)
    n_transparent = max(1, n_events // 20)
    n_cancelled = max(1, n_events // 33)
    n_utc = max(1, n_events // 12)
    n_single = n_events - n_series - n_overrides - n_allday - n_transparent - n_cancelled - n_utc

    # Past or future: the future keeps a bounded diary, the past holds the rest.
    workdays_ahead = WINDOW.days * 5 / 7
    timed = n_single + n_transparent + n_cancelled + n_utc + n_allday
    p_future = min(0.04, FUTURE_PER_WORKDAY * workdays_ahead / timed)

    events: list[list[str]] = []
    events += _series(rng, times, stamp, n_series, n_overrides)
    for kind, count in (
        ("single", n_single),
        ("utc", n_utc),
        ("transparent", n_transparent),
        ("cancelled", n_cancelled),
        ("allday", n_allday),
    ):
        for _ in range(count):
            future = rng.random() < p_future
            events.append(_single(rng, times, stamp, kind, future, len(events)))
    assert len(events) == n_events, (len(events), n_events)
    # Exports are not in time order, and masters and their overrides are not adjacent.
    rng.shuffle(events)

    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//callslot//bench calendar generator//DE",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Arbeit (Benchmark)",
        "X-WR-TIMEZONE:Europe/Berlin",
        *VTIMEZONE_BERLIN,
    ]
    for event in events:
        lines += event
    lines.append("END:VCALENDAR")
    return b"".join(_fold(line) for line in lines)


# --------------------------------------------------------------------------
# Event kinds


def _series(
    rng: random.Random, t: _Times, stamp: str, count: int, n_overrides: int
) -> list[list[str]]:
    """Weekly and daily series (masters) and their overrides, ``count + n_overrides`` VEVENTs."""
    result: list[list[str]] = []
    per_series = [
        n_overrides // count + (1 if i < n_overrides % count else 0) for i in range(count)
    ]
    for i in range(count):
        uid = f"series-{i:05d}-{rng.getrandbits(40):010x}@bench.callslot.example"
        # The first four series run into the window: a daily stand-up without end, two
        # open weekly meetings and one with a COUNT; the rest ended before now.
        daily = i == 0 or (i >= 4 and rng.random() < 0.25)
        running = i < 4
        if running:
            first_day = (t.now - timedelta(days=rng.randint(60, 500))).date()
        else:
            first_day = _day_between(rng, t.start.date(), (t.now - timedelta(days=70)).date())
        first_day -= timedelta(days=first_day.weekday())  # a Monday
        if not daily:
            first_day += timedelta(days=rng.randrange(5))
        if daily:
            hour, minute, minutes = 9, rng.choice((0, 15)), 15
        else:
            hour, minute = rng.randint(8, 16), rng.choice((0, 30))
            minutes = rng.choice((30, 45, 60, 90))
        start = datetime(
            first_day.year, first_day.month, first_day.day, hour, minute, tzinfo=BERLIN
        )
        step = timedelta(days=1) if daily else timedelta(weeks=rng.choice((1, 1, 1, 2)))
        byday = "MO,TU,WE,TH,FR" if daily else _WEEKDAY_CODES[first_day.weekday()]

        if i in (0, 1, 2):
            rule_end = ""
            last = t.end + timedelta(days=30)  # for picking instances; the rule is open
        elif i == 3:
            weeks = (t.end - start).days // 7 + 8
            rule_end = f";COUNT={weeks * 7 // (step.days)}"
            last = start + step * (weeks * 7 // step.days - 1)
        else:
            last = min(start + timedelta(weeks=rng.randint(6, 80)), t.now - timedelta(days=2))
            rule_end = f";UNTIL={_utc(last.replace(hour=23, minute=59))}"
        interval = f";INTERVAL={step.days // 7}" if step.days == 14 else ""
        freq = "DAILY" if daily else "WEEKLY"
        instances = _instances(start, last, step, daily)

        # Instances to change: in the window for the running series (so the window
        # really holds a moved and a missing instance), anywhere for the others.
        if running:
            ahead = [d for d in instances if t.now < d.astimezone(UTC) < t.end - timedelta(days=3)]
            pool = ahead[:6] + rng.sample(instances, min(len(instances), 6))
        else:
            pool = rng.sample(instances, min(len(instances), 12))
        picked = list(dict.fromkeys(pool))  # unique, order kept
        moved = picked[: per_series[i]]
        excluded = picked[per_series[i] : per_series[i] + rng.randint(1, 3)]

        summary = f"{rng.choice(TOPICS)} {rng.choice(CLIENTS)}" if not daily else "Stand-up Team"
        master = [
            "BEGIN:VEVENT",
            f"DTSTART;TZID=Europe/Berlin:{_local(start)}",
            f"DTEND;TZID=Europe/Berlin:{_local(start + timedelta(minutes=minutes))}",
            f"RRULE:FREQ={freq}{interval};BYDAY={byday}{rule_end}",
        ]
        if excluded:
            master.append("EXDATE;TZID=Europe/Berlin:" + ",".join(_local(d) for d in excluded))
        master += [
            f"DTSTAMP:{stamp}",
            f"UID:{uid}",
            f"CREATED:{_utc(start - timedelta(days=rng.randint(1, 20)))}",
            f"SUMMARY:{_text(summary)}",
            "SEQUENCE:0",
            "STATUS:CONFIRMED",
            "TRANSP:OPAQUE",
        ]
        master += _extras(rng, start)
        master.append("END:VEVENT")
        result.append(master)

        for original in moved:
            # In turn across all series: moved later the same day, to the next day, cancelled.
            how = (len(result) - i - 1) % 3
            new_start = original + (timedelta(hours=2) if how == 0 else timedelta(days=1))
            override = [
                "BEGIN:VEVENT",
                f"DTSTART;TZID=Europe/Berlin:{_local(new_start)}",
                f"DTEND;TZID=Europe/Berlin:{_local(new_start + timedelta(minutes=minutes))}",
                f"DTSTAMP:{stamp}",
                f"UID:{uid}",
                f"RECURRENCE-ID;TZID=Europe/Berlin:{_local(original)}",
                f"SUMMARY:{_text(summary + (' (verschoben)' if how < 2 else ''))}",
                "SEQUENCE:1",
                "STATUS:CANCELLED" if how == 2 else "STATUS:CONFIRMED",
                "TRANSP:OPAQUE",
                "END:VEVENT",
            ]
            result.append(override)
    return result


_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _instances(start: datetime, last: datetime, step: timedelta, daily: bool) -> list[datetime]:
    """The local start times of a series' instances (weekdays only for a daily one)."""
    result = []
    moment = start
    while moment <= last and len(result) < 2000:
        if not daily or moment.weekday() < 5:
            result.append(moment)
        moment = _add_local(moment, step)
    return result


def _single(
    rng: random.Random, t: _Times, stamp: str, kind: str, future: bool, number: int
) -> list[str]:
    """One non-recurring event of the given kind."""
    if future:
        day = _day_between(rng, t.now.date(), t.end.date())
    else:
        day = _day_between(rng, t.start.date(), t.now.date() - timedelta(days=1))
    if rng.random() < 0.9 and day.weekday() >= 5:
        day -= timedelta(days=day.weekday() - 4)  # most meetings on weekdays: to Friday
    uid = f"{kind}-{number:06d}-{rng.getrandbits(48):012x}@bench.callslot.example"
    topic = rng.choice(TOPICS)
    lines = ["BEGIN:VEVENT"]
    if kind == "allday":
        days = rng.choice((1, 1, 1, 1, 2, 3, 5))
        lines += [
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + timedelta(days=days):%Y%m%d}",
        ]
        start = datetime(day.year, day.month, day.day, tzinfo=BERLIN)
        # Birthdays and holidays are free time; vacation and conferences are not.
        transparent = rng.random() < 0.5
        summary = (
            rng.choice(("Geburtstag ", "Namenstag ")) + rng.choice(PEOPLE)[0]
            if transparent
            else rng.choice(("Urlaub", "Konferenz in Köln", "Messe"))
        )
    else:
        start = datetime(
            day.year,
            day.month,
            day.day,
            rng.randint(8, 17),
            rng.choice((0, 15, 30, 45)),
            tzinfo=BERLIN,
        )
        end = start + timedelta(minutes=rng.choice((15, 30, 30, 45, 60, 60, 90, 120)))
        if kind == "utc":
            lines += [f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}"]
        elif rng.random() < 0.15:
            # Some exporters write a DURATION instead of DTEND.
            lines += [
                f"DTSTART;TZID=Europe/Berlin:{_local(start)}",
                f"DURATION:PT{(end - start).seconds // 60}M",
            ]
        else:
            lines += [
                f"DTSTART;TZID=Europe/Berlin:{_local(start)}",
                f"DTEND;TZID=Europe/Berlin:{_local(end)}",
            ]
        transparent = kind == "transparent"
        summary = f"{topic} {rng.choice(CLIENTS)}"
    lines += [
        f"DTSTAMP:{stamp}",
        f"UID:{uid}",
        f"CREATED:{_utc(start - timedelta(days=rng.randint(1, 60)))}",
        f"LAST-MODIFIED:{_utc(start - timedelta(hours=rng.randint(1, 48)))}",
        f"SUMMARY:{_text(summary)}",
        f"SEQUENCE:{rng.choice((0, 0, 0, 1, 2))}",
        "STATUS:CANCELLED" if kind == "cancelled" else "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT" if transparent else "TRANSP:OPAQUE",
    ]
    lines += _extras(rng, start)
    lines.append("END:VEVENT")
    return lines


def _extras(rng: random.Random, start: datetime) -> list[str]:
    """Location, description, organizer, attendees and an alarm, each on some events."""
    lines = []
    if rng.random() < 0.6:
        lines.append(f"LOCATION:{_text(rng.choice(PLACES))}")
    if rng.random() < 0.35:
        # Long descriptions: a few hundred to over a thousand octets, folded many times.
        text = "\n".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 18)))
        lines.append(f"DESCRIPTION:{_text(text)}")
    if rng.random() < 0.5:
        lines.append("ORGANIZER;CN=Dr. Anna Beispiel:mailto:anna@example.org")
        for name, mail in rng.sample(PEOPLE, rng.randint(1, 4)):
            status = rng.choice(("ACCEPTED", "ACCEPTED", "TENTATIVE", "NEEDS-ACTION"))
            lines.append(
                f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={status};"
                f'CN="{name}";X-NUM-GUESTS=0:mailto:{mail}@example.com'
            )
    if rng.random() < 0.2:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "DESCRIPTION:Erinnerung",
            f"TRIGGER:-PT{rng.choice((5, 10, 15, 30))}M",
            "END:VALARM",
        ]
    return lines


# --------------------------------------------------------------------------
# Formatting


def _day_between(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


def _add_local(moment: datetime, step: timedelta) -> datetime:
    """Wall-clock arithmetic: the same local time ``step`` later, across DST changes."""
    return (moment.replace(tzinfo=None) + step).replace(tzinfo=BERLIN)


def _local(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y%m%dT%H%M%S")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11)."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> bytes:
    """One content line as CRLF-terminated octets, folded at 75 octets (RFC 5545 3.1)."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return data + b"\r\n"
    parts = []
    limit = 75  # the first line holds 75 octets, continuations a space and 74
    while len(data) > limit:
        cut = limit
        while data[cut] & 0xC0 == 0x80:  # never split a UTF-8 character
            cut -= 1
        parts.append(data[:cut])
        data = data[cut:]
        limit = 74
    parts.append(data)
    return b"\r\n ".join(parts) + b"\r\n"


# --------------------------------------------------------------------------
# Command line


def _parse_now(value: str) -> datetime:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no UTC offset; add one, e.g. Z")
    return moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a realistic seeded calendar (.ics) for benchmarks and tests."
    )
    parser.add_argument("--events", type=int, default=10_000, help="number of VEVENTs")
    parser.add_argument(
        "--now",
        type=_parse_now,
        required=True,
        metavar="ISO-8601",
        help="the build's clock, e.g. 2026-11-30T08:00Z; the feed ends six weeks later",
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same bytes")
    parser.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    data = generate_calendar(args.events, seed=args.seed, now=args.now)
    if args.out is None:
        sys.stdout.buffer.write(data)
    else:
        args.out.write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
