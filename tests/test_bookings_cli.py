"""`callslot bookings`: list (table, CSV, JSON, ICS), cancel and mark, on the real SQLite store."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from generator.cli import main
from generator.config.settings import load_settings
from generator.domain import Booking
from generator.store import open_store

NOW = "2026-11-27T08:00:00+01:00"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday 11:00 in Berlin


@pytest.fixture
def site(example_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example site with three bookings: one upcoming, one cancelled, one past."""
    monkeypatch.chdir(example_site)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.setenv("CALLSLOT_SECRET", "bookings-cli-secret-0123456789")
    settings = load_settings(example_site / "content" / "site.toml", env={})
    store = open_store(None, settings=settings)
    day = (START - timedelta(hours=11), START + timedelta(hours=13))
    for id_, start, topic, phone in [
        ("up1", START, '=HYPERLINK("x")', "+49 30 1234"),
        ("gone", START + timedelta(hours=2), "Vertrag", "0301234"),
        ("past", START - timedelta(days=7), "Altes", "0305678"),
    ]:
        store.book(
            Booking(
                id=id_,
                call_type="rueckruf",
                start=start,
                end=start + timedelta(minutes=30),
                name="Max Muster",
                phone=phone,
                email="max@example.org",
                topic=topic,
                note="Zeile 1\nZeile 2",
                who_calls="owner",
                language="de",
                caller_timezone="",
                created_at=START - timedelta(days=10),
            ),
            cancel_token_hash=f"h-{id_}",
            idempotency_key=f"k-{id_}",
            channels=(),
            day_start=day[0],
            day_end=day[1],
            max_per_day=None,
        )
    store.cancel("gone", now=START - timedelta(days=1), channels=())
    store.close()
    return example_site


def run(runner, *args: str):
    result = runner.invoke(main, list(args))
    return result


def test_table_lists_upcoming_confirmed_calls_in_the_owners_zone(site, runner) -> None:
    result = run(runner, "bookings", "--now", NOW)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["ID", "When", "Call"]
    assert any(line.startswith("up1") and "Mon 2026-11-30 11:00–11:30" in line for line in lines)
    assert "gone" not in result.output and "past" not in result.output
    assert "times in Europe/Berlin" in result.output


def test_all_includes_past_and_cancelled(site, runner) -> None:
    result = run(runner, "bookings", "--all", "--format", "json")
    ids = {b["id"]: b["status"] for b in json.loads(result.output)}
    assert ids == {"past": "confirmed", "up1": "confirmed", "gone": "cancelled"}


def test_json_has_local_and_utc_times(site, runner) -> None:
    [booking] = json.loads(run(runner, "bookings", "--now", NOW, "--format", "json").output)
    assert booking["start"] == "2026-11-30T11:00+01:00"
    assert booking["start_utc"] == "2026-11-30T10:00:00Z"
    assert booking["note"] == "Zeile 1\nZeile 2"


def test_csv_defuses_formulas(site, runner) -> None:
    output = run(runner, "bookings", "--now", NOW, "--format", "csv").output
    [row] = list(csv.DictReader(io.StringIO(output)))
    assert row["topic"] == '\'=HYPERLINK("x")'
    assert row["phone"] == "'+49 30 1234"
    assert row["note"] == "Zeile 1\nZeile 2"


def test_ics_is_a_calendar_of_the_calls(site, runner) -> None:
    output = run(runner, "bookings", "--now", NOW, "--format", "ics").output
    assert output.startswith("BEGIN:VCALENDAR")
    assert output.count("BEGIN:VEVENT") == 1
    assert "DTSTART:20261130T100000Z" in output.replace(";VALUE=DATE-TIME", "")


def test_ics_all_lists_cancelled_calls_as_cancelled(site, runner) -> None:
    from icalendar import Calendar

    output = run(runner, "bookings", "--all", "--format", "ics").output
    events = {
        str(e["UID"]).split("@")[0]: e for e in Calendar.from_ical(output).walk("VEVENT")
    }
    assert set(events) == {"past", "up1", "gone"}
    assert str(events["gone"]["STATUS"]) == "CANCELLED"
    assert int(events["gone"]["SEQUENCE"]) >= 1  # supersedes the invitation that was sent
    assert str(events["up1"]["STATUS"]) == "CONFIRMED"


def test_cancel_frees_the_slot_and_is_idempotent(site, runner) -> None:
    result = run(runner, "bookings", "cancel", "up1", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Cancelled up1: Mon 2026-11-30 11:00")
    again = run(runner, "bookings", "cancel", "up1")
    assert again.exit_code == 0 and "already cancelled" in again.output
    assert run(runner, "bookings", "--now", NOW).output == "No bookings.\n"


def test_mark_records_the_outcome(site, runner) -> None:
    assert run(runner, "bookings", "mark", "past", "held").exit_code == 0
    rows = json.loads(run(runner, "bookings", "--all", "--format", "json").output)
    assert {b["id"]: b["outcome"] for b in rows}["past"] == "held"
    wrong = run(runner, "bookings", "mark", "past", "maybe")
    assert wrong.exit_code == 2


@pytest.mark.parametrize("args", [("cancel", "nope"), ("mark", "nope", "missed")])
def test_unknown_id_is_a_clear_error(site, runner, args) -> None:
    result = run(runner, "bookings", *args)
    assert result.exit_code == 1
    assert "no booking with the id 'nope'" in result.output
    assert "callslot bookings --all" in result.output


@pytest.mark.parametrize("args", [("cancel", "PAST"), ("mark", "PAST", "held"),
                                  ("move", "PAST", "--to", "2026-12-01T10:00")])
def test_an_id_in_the_wrong_case_gets_the_right_one(site, runner, args) -> None:
    result = run(runner, "bookings", *args)
    assert result.exit_code == 1
    assert "no booking with the id 'PAST' (did you mean 'past'?)" in result.output


def test_force_is_not_offered_for_an_id_no_booking_has(site, runner) -> None:
    # --force marks a cancelled or future call; it cannot make an unknown ID known.
    for extra in ((), ("--force",)):
        result = run(runner, "bookings", "mark", "nope", "held", *extra)
        assert result.exit_code == 1 and "--force" not in result.output, result.output


@pytest.mark.parametrize(
    ("booking_id", "why"),
    [("up1", "starts Mon 2026-11-30 11:00, later than now"), ("gone", "was cancelled")],
)
@pytest.mark.parametrize("outcome", ["held", "missed"])
def test_mark_refuses_a_future_or_cancelled_call_unless_forced(
    site, runner, booking_id, why, outcome
) -> None:
    # A typo in the ID must not count a call that never happened in `callslot stats`.
    refused = run(runner, "bookings", "mark", booking_id, outcome, "--now", NOW)
    assert refused.exit_code == 1
    assert why in refused.output and "--force" in refused.output
    rows = json.loads(run(runner, "bookings", "--all", "--format", "json").output)
    assert {b["id"]: b["outcome"] for b in rows}[booking_id] in (None, "")
    forced = run(runner, "bookings", "mark", booking_id, outcome, "--now", NOW, "--force")
    assert forced.exit_code == 0, forced.output
    rows = json.loads(run(runner, "bookings", "--all", "--format", "json").output)
    assert {b["id"]: b["outcome"] for b in rows}[booking_id] == outcome


@pytest.mark.parametrize("written", ["2026-12-08T9:00", "2026-12-08 9:00", "2026-12-08T09:00"])
def test_move_takes_the_hour_as_the_tool_writes_it(site, written: str) -> None:
    from generator.commands.bookings import parse_move_time

    settings = load_settings(site / "content" / "site.toml", env={})
    assert parse_move_time(written, settings) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)


def test_cancelling_without_a_mail_server_says_the_caller_is_not_told(site, runner) -> None:
    result = run(runner, "bookings", "cancel", "up1", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "The caller is not told yet: 2 mails wait for a mail server" in result.output
    assert "(030 1234)" in result.output  # how to tell them instead, written as mails do


@pytest.mark.parametrize(
    "args", [("cancel", "up1"), ("move", "up1", "--to", "2026-12-01T10:00", "--force")]
)
def test_a_change_without_the_key_is_refused_before_anything_changes(
    site, runner, monkeypatch, args
) -> None:
    # The owner on another machine (DATABASE_URL, no key): the call must stay as it was,
    # so that running the command again once the key is there changes it and tells both.
    monkeypatch.delenv("CALLSLOT_SECRET")
    assert not (site / ".callslot" / "secret").exists()
    before = run(runner, "bookings", "--all", "--format", "json").output
    result = run(runner, "bookings", *args, "--now", NOW)
    assert result.exit_code == 1
    assert "CALLSLOT_SECRET is not set" in result.output
    assert "nothing was changed" in result.output and "Traceback" not in result.output
    assert run(runner, "bookings", "--all", "--format", "json").output == before
    monkeypatch.setenv("CALLSLOT_SECRET", "bookings-cli-secret-0123456789")
    again = run(runner, "bookings", *args, "--now", NOW)
    assert again.exit_code == 0, again.output
    assert "already" not in again.output


def test_marking_one_call_reads_as_marking_several(site, runner) -> None:
    result = run(runner, "bookings", "mark", "past", "missed", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert result.output == "Marked 1 call missed: past.\n"
