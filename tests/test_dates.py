"""The product on the nights a booking tool lives on: New Year's Eve, a call booked at
23:55 for the next morning, local midnight, and the two DST nights.

Every test pins the clock (``--now``, ``create_app(clock=...)``, ``now=``) and
checks what the owner and the caller see: the page's days and times, the
mails' day names, the reply `callslot offer` prints, when a mail is retried.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import re
from pathlib import Path

import pytest
from notify_support import SECRET, book, free_port, make_booking, site_settings, smtp_server
from page_support import parse_page
from werkzeug.test import Client

from generator.cli import main
from generator.clock import fixed_clock
from generator.notify.outbox import run_due
from generator.store import open_store
from generator.web.wsgi import create_app

UTC = dt.UTC
OWNER = "anna@example.org"
CALLER = "max@example.com"
# 23:55 on New Year's Eve in Berlin (CET, UTC+1).
NEW_YEARS_EVE_2355 = dt.datetime(2030, 12, 31, 22, 55, tzinfo=UTC)
# 23:55 on Wednesday 16 June 2027 in Berlin (CEST, UTC+2); Thursday morning is open.
WEDNESDAY_2355 = dt.datetime(2027, 6, 16, 21, 55, tzinfo=UTC)


def close_new_years_day(site: Path) -> None:
    """The owner closes 1 January, as most do (in the example calendar it is also a
    workshop Wednesday: the biweekly series from 7 January 2026 falls on it)."""
    path = site / "content" / "site.toml"
    text = path.read_text(encoding="utf-8")
    marker = "[availability.dates]\n"
    assert marker in text
    path.write_text(text.replace(marker, marker + '"2031-01-01" = []\n'), encoding="utf-8")


def build_at(site: Path, runner, moment: dt.datetime, monkeypatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET.decode())
    monkeypatch.chdir(site)
    result = runner.invoke(main, ["build", "--now", moment.isoformat()])
    assert result.exit_code == 0, result.output


def days_and_times(page_path: Path) -> list[tuple[str, list[str]]]:
    page = parse_page(page_path)
    return [
        (legend, [page.labels[r] for r in radios])
        for legend, radios in page.fieldsets
        if radios and radios[0].startswith(("rueckruf.", "beratung."))
    ]


# -- the page ---------------------------------------------------------------------


def test_a_build_at_2355_on_new_years_eve_offers_2_january_first(
    example_site: Path, runner, monkeypatch
) -> None:
    close_new_years_day(example_site)
    build_at(example_site, runner, NEW_YEARS_EVE_2355, monkeypatch)
    days = days_and_times(example_site / "public" / "index.html")
    # Nothing of the old year (its evening is over) nor of the closed 1 January; the
    # first day is Thursday 2 January with its first free start, the last free start
    # (16:30, a 30-minute call before 17:00) and the one nearest the middle (lunch is
    # 12:00-12:45 plus a 10-minute buffer, so 13:30).
    assert days[0] == ("Donnerstag, 2. Januar", ["9:00", "13:30", "16:30"])
    assert days[1][0] == "Freitag, 3. Januar"
    # The 14-day horizon ends at 23:55 on 14 January: its Tuesday is the last day.
    assert days[-1][0] == "Dienstag, 14. Januar"
    assert not any("Dezember" in legend or legend.endswith(" 1. Januar") for legend, _ in days)
    first = parse_page(example_site / "public" / "index.html").slot_radios[0]
    # 09:00 in Berlin in winter is 08:00 UTC, in the new year.
    assert first.attrs["data-start"] == "2031-01-02T08:00:00Z"


def test_the_night_the_clocks_go_back_tells_its_repeated_times_apart(
    example_site: Path, runner, monkeypatch
) -> None:
    # On Sunday 31 October 2027 Berlin's clocks go from 3:00 CEST back to 2:00 CET: an
    # owner open 1:00-4:00 that night has two "2:00" and two "2:30".
    path = example_site / "content" / "site.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("[site]\n", '[site]\nlanguages = ["de", "en"]\n', 1)
    text = text.replace("[availability]\n", '[availability]\nsunday = ["01:00-04:00"]\n', 1)
    text = re.sub(r"(?m)^(offers_per_day|max_per_day) = \d+$", r"\1 = 20", text)
    path.write_text(text, encoding="utf-8")
    build_at(example_site, runner, dt.datetime.fromisoformat("2027-10-30T12:00+02:00"),
             monkeypatch)
    for page, day, summer, winter in (
        ("index.html", "Sonntag, 31. Oktober", "MESZ", "MEZ"),
        ("en/index.html", "Sunday, 31 October", "CEST", "CET"),
    ):
        built = example_site / "public" / page
        times = dict(days_and_times(built))[day]
        # The label is what the radio's name is read as, too: one text for eye and ear.
        assert times == [
            "1:00", "1:30", f"2:00 {summer}", f"2:30 {summer}",
            f"2:00 {winter}", f"2:30 {winter}", "3:00", "3:30",
        ], page
        # Every other day keeps its plain times.
        others = [t for d, ts in days_and_times(built) if d != day for t in ts]
        assert others and all(re.fullmatch(r"\d+:\d\d", t) for t in others), others
        assert len(gzip.compress(built.read_bytes(), 9)) <= 14 * 1024, page


# -- a call booked at 23:55 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "owner_subject", "owner_when", "caller_subject", "caller_when"),
    [
        pytest.param(
            WEDNESDAY_2355,
            "Telefontermin Do 17.06. 9:00 – Vertrag XY",
            "Donnerstag, 17. Juni 2027, 9:00–9:30",
            # Honolulu is UTC-10: for the caller the call is still on Wednesday evening.
            "Your call with Dr. Anna Beispiel: Wed 16 Jun 21:00",
            "Wednesday, 16 June 2027, 21:00–21:30",
            id="next-morning",
        ),
        pytest.param(
            NEW_YEARS_EVE_2355,
            "Telefontermin Do 02.01. 9:00 – Vertrag XY",
            "Donnerstag, 2. Januar 2031, 9:00–9:30",
            "Your call with Dr. Anna Beispiel: Wed 1 Jan 22:00",
            "Wednesday, 1 January 2031, 22:00–22:30",
            id="new-years-eve",
        ),
    ],
)
def test_a_call_booked_at_2355_is_mailed_with_the_right_day_names(
    example_site: Path,
    runner,
    monkeypatch,
    tmp_path: Path,
    now: dt.datetime,
    owner_subject: str,
    owner_when: str,
    caller_subject: str,
    caller_when: str,
) -> None:
    close_new_years_day(example_site)
    build_at(example_site, runner, now, monkeypatch)
    # The caller picks the first time the page offers; the handler judges it by the
    # same clock the build used and mails both sides at once.
    first = parse_page(example_site / "public" / "index.html").slot_radios[0]
    with smtp_server() as (sink, port):
        env = {
            "SMTP_URL": f"smtp://127.0.0.1:{port}",
            "DATABASE_URL": f"sqlite:///{tmp_path}/bookings.sqlite3",
            "CALLSLOT_RATE_LIMIT": "off",
        }
        settings = site_settings(example_site, env=env)
        # The caller posts lang=en: the site is answered in English as well as German.
        settings = dataclasses.replace(
            settings, site=dataclasses.replace(settings.site, languages=("de", "en"))
        )
        # Inline: the mails go out before the answer, so they are there to read after it.
        app = create_app(
            settings, secret=SECRET, clock=fixed_clock(now), env=env, notify_mode="inline"
        )
        response = Client(app).post(
            "/api/book",
            data={
                "slot": first.attrs["value"],
                "name": "Max Muster",
                "phone": "+49 170 5550101",
                "email": CALLER,
                "topic": "Vertrag XY",
                "who_calls": "owner",
                "tz": "Pacific/Honolulu",
                "lang": "en",
                "website": "",
            },
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        app.ctx.store.close()
    [to_owner] = sink.to(OWNER)
    [to_caller] = sink.to(CALLER)
    owner, caller = to_owner.message, to_caller.message
    assert owner["Subject"] == owner_subject
    assert owner_when in owner.get_body(("plain",)).get_content()
    assert caller["Subject"] == caller_subject
    assert caller_when in caller.get_body(("plain",)).get_content()


# -- the reply to paste, around local midnight ------------------------------------


@pytest.mark.parametrize(
    ("now", "words"),
    [
        # 23:59 on Tuesday in Berlin (21:59 UTC): Wednesday 09:00 is "tomorrow".
        ("2027-06-15T21:59:00Z", "morgen um 9:00 oder 11:00 Uhr oder am Donnerstag um 9:00"),
        # Two minutes later it is Wednesday in Berlin, though still Tuesday in UTC.
        ("2027-06-15T22:01:00Z", "heute um 9:00 oder 11:00 Uhr oder morgen um 9:00"),
    ],
)
def test_offer_says_today_and_tomorrow_by_the_owners_midnight(
    example_site: Path, runner, monkeypatch, now: str, words: str
) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET.decode())
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, ["offer", "--now", now])
    assert result.exit_code == 0, result.output
    assert f"Wie passt es bei Ihnen {words} Uhr?" in result.output


# -- retries across a DST change ----------------------------------------------------


@pytest.mark.parametrize(
    ("first_try", "start", "subject_when"),
    [
        # 01:30 CET; at 01:00 UTC the clocks jump from 02:00 to 03:00.
        pytest.param(
            dt.datetime(2027, 3, 28, 0, 30, tzinfo=UTC),
            dt.datetime(2027, 3, 29, 7, 0, tzinfo=UTC),
            "Mo 29.03. 9:00",
            id="spring-forward",
        ),
        # 02:30 CEST; at 01:00 UTC the clocks go back from 03:00 to 02:00.
        pytest.param(
            dt.datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
            dt.datetime(2027, 11, 1, 8, 0, tzinfo=UTC),
            "Mo 01.11. 9:00",
            id="fall-back",
        ),
    ],
)
def test_notify_retries_across_a_dst_change_after_real_minutes(
    example_site: Path,
    tmp_path: Path,
    first_try: dt.datetime,
    start: dt.datetime,
    subject_when: str,
) -> None:
    port = free_port()  # nothing listens yet: the mail server is down
    env = {"SMTP_URL": f"smtp://127.0.0.1:{port}"}
    settings = site_settings(example_site, env=env)
    store = open_store(f"sqlite:///{tmp_path}/bookings.sqlite3", settings=settings)
    booking = make_booking(start=start, end=start + dt.timedelta(minutes=30), created_at=first_try)
    book(store, booking, ["email:owner"])

    def attempt(moment: dt.datetime) -> list[str]:
        return [d.outcome for d in run_due(settings, store, now=moment, secret=SECRET).deliveries]

    # Waits of 1, 5 and 30 minutes of real time, whatever the wall clock does meanwhile:
    # the third retry is due at 01:06 UTC, after the change (03:06 CEST in spring, 02:06
    # CET in autumn), never an hour early or late.
    moment = first_try
    for wait in (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30)):
        assert attempt(moment) == ["retry"]
        [row] = store.outbox()
        assert row.next_attempt_at == moment + wait
        assert attempt(moment + wait - dt.timedelta(seconds=1)) == []  # not due yet
        moment += wait
    assert moment == dt.datetime(moment.year, moment.month, moment.day, 1, 6, tzinfo=UTC)
    with smtp_server(port) as (sink, _):
        assert attempt(moment) == ["sent"]
        assert attempt(moment + dt.timedelta(hours=3)) == []  # sent once, never again
    [row] = store.outbox()
    assert (row.status, row.attempts) == ("sent", 4)
    store.close()
    [mail] = sink.messages
    # The call's time in the owner's zone after the change.
    assert mail.message["Subject"] == f"Telefontermin {subject_when} – Vertrag XY"
