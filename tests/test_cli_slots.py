"""`callslot slots`: the example content, checking a calendar without settings, failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.availability import open_slots
from generator.cli import main
from generator.commands.slots import settings_for_check
from generator.errors import ConfigError

CALENDARS = Path(__file__).resolve().parent / "calendars"
NOW = "2026-11-30T07:00+01:00"  # Monday morning in Berlin

# Tuesday 1 December 2026, 10:00-11:00 in Berlin: one busy hour.
ONE_MEETING = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//callslot tests//EN\r
BEGIN:VEVENT\r
UID:meeting@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261201T090000Z\r
DTEND:20261201T100000Z\r
SUMMARY:Secret board meeting\r
END:VEVENT\r
END:VCALENDAR\r
"""


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main, ["slots", *args])
    return result.exit_code, result.stdout, result.output


def slots_json(runner: CliRunner, *args: str) -> dict:
    code, stdout, output = run(runner, *args, "--format", "json")
    assert code == 0, output
    return json.loads(stdout)


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder without content/site.toml."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def meeting_ics(tmp_path: Path) -> Path:
    path = tmp_path / "meeting.ics"
    path.write_bytes(ONE_MEETING)
    return path


# --------------------------------------------------------------------------
# The example content


def test_example_content_prints_slots_grouped_by_day(runner, example_site, monkeypatch):
    monkeypatch.chdir(example_site)
    code, stdout, output = run(runner, "--now", NOW)
    assert code == 0, output
    assert "Open slots (Europe/Berlin):" in stdout
    assert "Montag, 30. November 2026" in stdout  # the owner writes German
    assert "Rückruf (30 Minuten)" in stdout
    assert any("open slots." in line for line in stdout.splitlines()[-2:])


def test_example_content_as_json_respects_its_rules(runner, example_site, monkeypatch):
    monkeypatch.chdir(example_site)
    data = slots_json(runner, "--now", NOW)
    assert data["timezone"] == "Europe/Berlin"
    slots = data["slots"]
    assert slots and set(slots[0]) == {"start", "end", "call_type"}
    starts = [datetime.fromisoformat(s["start"]) for s in slots]
    assert starts == sorted(starts)
    assert all(s.utcoffset().total_seconds() == 3600 for s in starts)  # Berlin in winter
    assert {s["call_type"] for s in slots} == {"rueckruf", "beratung"}
    # offers_per_day = 3 in site.toml: at most three starts per day and call type
    per_day: dict[tuple[str, str], int] = {}
    for s in slots:
        key = (s["start"][:10], s["call_type"])
        per_day[key] = per_day.get(key, 0) + 1
    assert max(per_day.values()) <= 3
    # The Monday jour fixe 09:30-10:30 (+10m buffers) blocks the Monday morning.
    monday = [s for s in slots if s["start"].startswith("2026-11-30")]
    assert all(not ("09:00" <= s["start"][11:16] < "10:40") for s in monday)


def test_config_option_reads_settings_from_another_folder(runner, example_site, empty_dir):
    data = slots_json(
        runner,
        "--config",
        str(example_site / "content" / "site.toml"),
        "--now",
        NOW,
        "--call-type",
        "beratung",
        "--days",
        "2",
    )
    assert {s["call_type"] for s in data["slots"]} == {"beratung"}
    assert all(s["start"] < "2026-12-02T07:00" for s in data["slots"])


def test_options_override_the_settings(runner, example_site, monkeypatch, meeting_ics):
    monkeypatch.chdir(example_site)
    data = slots_json(
        runner,
        "--now",
        NOW,
        "--calendar",
        str(meeting_ics),
        "--hours",
        "10:00-12:00",
        "--duration",
        "60",
        "--step",
        "60",
        "--days",
        "2",
        "--timezone",
        "Europe/London",
        "--call-type",
        "rueckruf",
    )
    assert data["timezone"] == "Europe/London"
    # Notice 4h (from 06:00 London) and max 3 offers per day still come from site.toml;
    # the meeting 09:00-10:00 UTC with 10m buffers blocks Tuesday 10:00 London.
    assert [(s["start"], s["end"]) for s in data["slots"]] == [
        ("2026-11-30T10:00:00+00:00", "2026-11-30T11:00:00+00:00"),
        ("2026-11-30T11:00:00+00:00", "2026-11-30T12:00:00+00:00"),
        ("2026-12-01T11:00:00+00:00", "2026-12-01T12:00:00+00:00"),
    ]


# --------------------------------------------------------------------------
# Without a settings file: every rule not given is off


def test_checking_a_calendar_without_settings(runner, empty_dir, meeting_ics):
    data = slots_json(
        runner,
        "--calendar",
        str(meeting_ics),
        "--now",
        NOW,
        "--timezone",
        "Europe/Berlin",
        "--hours",
        "09:00-12:00",
        "--days",
        "2",
    )
    assert data == {
        "timezone": "Europe/Berlin",
        "slots": [
            {
                "start": f"2026-{day}T{a}:00+01:00",
                "end": f"2026-{day}T{b}:00+01:00",
                "call_type": "call",
            }
            for day, a, b in [
                ("11-30", "09:00", "09:30"),
                ("11-30", "09:30", "10:00"),
                ("11-30", "10:00", "10:30"),
                ("11-30", "10:30", "11:00"),
                ("11-30", "11:00", "11:30"),
                ("11-30", "11:30", "12:00"),
                # Tuesday 10:00-11:00 is the meeting, right up to its edges
                ("12-01", "09:00", "09:30"),
                ("12-01", "09:30", "10:00"),
                ("12-01", "11:00", "11:30"),
                ("12-01", "11:30", "12:00"),
            ]
        ],
    }


def test_defaults_without_settings_are_utc_whole_days_30_minutes_14_days(runner, empty_dir):
    code, stdout, output = run(runner, "--now", "2026-11-30T00:00Z", "--format", "json")
    assert code == 0, output
    assert "every slot is free" in output  # the warning goes to stderr
    data = json.loads(stdout)
    assert data["timezone"] == "UTC"
    assert len(data["slots"]) == 14 * 48
    assert data["slots"][0] == {
        "start": "2026-11-30T00:00:00+00:00",
        "end": "2026-11-30T00:30:00+00:00",
        "call_type": "call",
    }


def test_table_shows_offsets_on_the_fall_back_day(runner, empty_dir):
    code, stdout, output = run(
        runner,
        "--now",
        "2026-10-25T00:00+02:00",
        "--days",
        "1",
        "--timezone",
        "Europe/Berlin",
        "--hours",
        "01:00-04:00",
        "--duration",
        "60",
    )
    assert code == 0, output
    assert "Sunday, October 25, 2026" in stdout
    for line in [
        "1:00+0200–2:00+0200",
        "2:00+0200–2:00+0100",
        "2:00+0100–3:00+0100",
        "3:00+0100–4:00+0100",
    ]:
        assert f"  {line}  call" in stdout
    assert "4 open slots." in stdout


def test_no_open_slot_says_so(runner, empty_dir, meeting_ics):
    code, stdout, output = run(
        runner,
        "--calendar",
        str(meeting_ics),
        "--now",
        NOW,
        "--days",
        "1",
        "--hours",
        "03:00-04:00",
        "--duration",
        "120",
    )
    assert code == 0, output
    assert stdout.startswith("No open slots from Mon 2026-11-30 6:00 to Tue 2026-12-01 6:00 (UTC)")


# --------------------------------------------------------------------------
# Calendars over HTTP, and calendars that fail


@pytest.fixture
def ics_server() -> Iterator[str]:
    """A local HTTP server: /private-s3cr3t/basic.ics answers the calendar, others 500."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/private-s3cr3t/basic.ics":
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar")
                self.send_header("Content-Length", str(len(ONE_MEETING)))
                self.end_headers()
                self.wfile.write(ONE_MEETING)
            else:
                self.send_error(500)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_calendar_by_url(runner, empty_dir, ics_server):
    data = slots_json(
        runner,
        "--calendar",
        f"{ics_server}/private-s3cr3t/basic.ics",
        "--now",
        NOW,
        "--days",
        "2",
        "--hours",
        "09:00-11:00",
        "--duration",
        "60",
    )
    assert [s["start"] for s in data["slots"]] == [
        "2026-11-30T09:00:00+00:00",
        "2026-11-30T10:00:00+00:00",
        "2026-12-01T10:00:00+00:00",  # 09:00-10:00 UTC is the meeting
    ]


def test_failing_url_fails_the_command_without_printing_the_secret(runner, empty_dir, ics_server):
    code, stdout, output = run(
        runner, "--calendar", f"{ics_server}/private-wr0ng/basic.ics", "--now", NOW
    )
    assert code != 0
    assert "calendar 1 (127.0.0.1)" in output
    assert "private-wr0ng" not in output
    assert "call" not in stdout and "Open slots" not in stdout


def test_unreachable_url_fails_the_command(runner, empty_dir):
    code, stdout, output = run(runner, "--calendar", "http://127.0.0.1:9/cal.ics", "--now", NOW)
    assert code != 0
    assert "calendar 1" in output and "Open slots" not in stdout


@pytest.mark.parametrize("name", ["malformed.ics", "does-not-exist.ics"])
def test_unreadable_calendar_file_fails_the_command_and_offers_nothing(runner, empty_dir, name):
    code, stdout, output = run(
        runner, "--calendar", str(CALENDARS / name), "--now", NOW, "--format", "json"
    )
    assert code == 1
    assert name in output
    assert stdout == ""


def test_missing_calendar_file_points_at_the_option_it_came_from(runner, empty_dir):
    # No settings file is involved: sending the owner to calendars.source would mislead.
    code, _, output = run(runner, "--calendar", "work.ics", "--now", NOW)
    assert code == 1
    assert f"file not found: {empty_dir / 'work.ics'}; check the --calendar path" in output
    assert "calendars.source" not in output


def test_one_failing_calendar_among_good_ones_fails(runner, empty_dir, meeting_ics):
    code, stdout, _ = run(
        runner,
        "--calendar",
        str(meeting_ics),
        "--calendar",
        str(CALENDARS / "malformed.ics"),
        "--now",
        NOW,
    )
    assert code == 1
    assert stdout == ""


# --------------------------------------------------------------------------
# Mistakes in the options


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--hours", "9-17"], "--hours"),
        (["--hours", "17:00-09:00"], "ends before it starts"),
        (["--timezone", "Mars/Olympus"], "Mars/Olympus"),
        (["--now", "2026-11-30T07:00"], "no UTC offset"),
        (["--duration", "0"], "--duration"),
        (["--days", "0"], "--days"),
        (["--format", "xml"], "--format"),
        (["--calendar", "ftp://example.org/cal.ics"], "--calendar"),
        (["--call-type", "nope"], "known: call"),
    ],
)
def test_wrong_options_are_named(runner, empty_dir, args, expected):
    code, stdout, output = run(runner, *args)
    assert code != 0
    assert expected in output
    assert "Open slots" not in stdout


def test_missing_config_file_is_named(runner, empty_dir):
    code, _, output = run(runner, "--config", "nowhere/site.toml")
    assert code == 1
    assert "nowhere/site.toml" in output


def test_readme_example_checks_a_calendar_on_its_own(runner, empty_dir):
    """The README's `callslot slots --calendar work.ics ...` line works as written."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    line = next(
        x.strip() for x in readme.splitlines() if x.strip().startswith("callslot slots --calendar")
    )
    args = line.split()[2:]
    (empty_dir / "work.ics").write_bytes(
        (CALENDARS.parent.parent / "content" / "calendar.ics").read_bytes()
    )
    result = runner.invoke(main, ["slots", *args, "--now", NOW])
    assert result.exit_code == 0, result.output
    assert "Open slots (Europe/Berlin):" in result.stdout
    # The example calendar's Monday jour fixe (09:30-10:30) is not offered.
    monday = result.stdout.split("Monday, November 30, 2026")[1].split("\n\n")[0]
    assert " 9:30–10:00" not in monday and " 9:00–9:30" in monday


# settings for `callslot slots --calendar` without a settings file

M = timedelta(minutes=1)


def test_settings_for_check_turns_every_rule_off():
    settings = settings_for_check(
        timezone="America/New_York",
        duration=45 * M,
        step=None,
        hours=None,
        days=None,
        calendars=(),
    )
    assert settings.booking.notice == timedelta(0)
    assert settings.booking.horizon == timedelta(days=14)
    assert (settings.booking.buffer_before, settings.booking.buffer_after) == (timedelta(0),) * 2
    assert settings.booking.max_per_day is None and settings.booking.offers_per_day is None
    assert [(c.slug, c.duration, c.step) for c in settings.call_types] == [("call", 45 * M, 45 * M)]
    now = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # midnight in New York
    slots = open_slots(settings, [], now)
    assert len(slots) == 14 * 24 * 60 // 45
    assert slots[0].start == now


def test_settings_for_check_rejects_a_wrong_time_zone_naming_the_option():
    with pytest.raises(ConfigError, match=r"--timezone.*Mars/Olympus"):
        settings_for_check(
            timezone="Mars/Olympus", duration=30 * M, step=None, hours=None, days=None, calendars=()
        )
