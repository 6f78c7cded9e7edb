"""content/site.toml -> Settings: values, every mistake named with file, field and line."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from generator.cli import main
from generator.config import settings as settings_module
from generator.config.options import SCHEMA, default
from generator.config.settings import (
    OPTIONS,
    DayRange,
    Secret,
    check_settings,
    load_settings,
    parse_duration,
    parse_hours,
    parse_range,
)
from generator.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "content" / "site.toml").read_text(encoding="utf-8")
ENV = {"CAL_URL": "https://calendar.example.org/private-abc/basic.ics", "SMTP_PASSWORD": "pw",
       "HOOK": "https://hooks.example.org/T1", "WHS": "k", "BH": "https://api.example.org/b",
       "FK": "feedkey"}  # fmt: skip

SECOND_CALL_TYPE = [i for i, x in enumerate(EXAMPLE.splitlines(), 1) if x == "[[call_types]]"][1]

# A settings file that sets every option once.
FULL = """\
[owner]
name = "Ann"
timezone = "America/New_York"
language = "en"
email = "ann@example.org"
phone = "+1 555 0100"

[[calendars]]
name = "Work"
source = "env:CAL_URL"

[[calendars]]
source = "extra.ics"

[availability]
monday = ["09:00-12:00", "11:00-13:00", "14:00-17:00"]
tuesday = "09:00-12:00"
wednesday = ["09:00-12:00"]
thursday = ["09:00-12:00"]
friday = ["09:00-12:00"]
saturday = ["10:00-11:00"]
sunday = ["00:00-24:00"]

[availability.dates]
"2026-12-23" = ["09:00-11:00"]
"2026-12-31" = []

[[availability.closed]]
from = "2026-12-24"
until = "2026-12-26"
reason = "holidays"

[[availability.closed]]
from = 2027-01-01

[booking]
notice = "4h"
horizon = "2w"
buffer_before = "10m"
buffer_after = "1h30m"
max_per_day = 4
offers_per_day = 3
endpoint = "/api/book"
taken_endpoint = "/api/taken"
who_calls = "either"
require_phone = false
require_email = true
rate_limit = "5/10m"
backend = "handler"
recheck_calendars = false

[[call_types]]
slug = "call-30"
title = "Call"
duration = "30m"
description = "A short call"

[[call_types]]
slug = "talk"
title = "Talk"
duration = "1h"
step = "15m"

[site]
title = "Talk to Ann"
description = "Book a call"
base_url = "https://call.example.org/"
theme = "default"
intro = "intro.md"
robots_index = true
allow_framing = true
languages = ["en", "de", "pl"]

[notify]
webhooks = ["env:HOOK"]
webhook_secret = "env:WHS"
build_hook = "env:BH"
feed_key = "env:FK"

[notify.email]
host = "smtp.example.org"
port = 2525
security = "starttls"
username = "ann"
password = "env:SMTP_PASSWORD"
sender = "bookings@example.org"

[privacy]
keep = "30d"
require_consent = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "content" / "site.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def mistake(
    tmp_path: Path,
    old: str,
    new: str,
    *,
    base: str = EXAMPLE,
    count: int = 1,
    env: dict[str, str] | None = None,
) -> tuple[ConfigError, str | None]:
    """Load ``base`` with ``old`` replaced (the ``count``-th occurrence); the error and its line."""
    assert base.count(old) >= count, old
    head, *rest = base.split(old)
    text = old.join([head, *rest[: count - 1]]) + new + old.join(rest[count - 1 :])
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env or {})
    error = info.value
    assert error.file == str(path)
    assert error.message.startswith(str(path))
    line = text.splitlines()[error.line - 1] if error.line else None
    return error, line


# --------------------------------------------------------------------------
# Durations and ranges


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("14d", timedelta(days=14)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
        (" 1h 30m ", timedelta(minutes=90)),
        ("90S", timedelta(seconds=90)),
        ("0m", timedelta(0)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "30",
        "m",
        "30x",
        "1.5h",
        "-5m",
        "1h30",
        "h1",
        "30 minutes",
        30,
        True,
        None,
        "99999999999999d",
    ],
)
def test_wrong_durations_say_how_to_write_one(text):
    with pytest.raises(ConfigError, match=r"booking\.notice") as info:
        parse_duration(text, field="booking.notice", file="site.toml")
    assert info.value.field == "booking.notice"
    assert re.search(r"\"30m\"|far too long", info.value.message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-12:00", DayRange(540, 720)),
        ("9:30-10:00", DayRange(570, 600)),
        ("00:00-24:00", DayRange(0, 1440)),
        (" 13:30 - 17:00 ", DayRange(810, 1020)),
    ],
)
def test_ranges(text, expected):
    assert parse_range(text) == expected
    assert str(expected) in {text.strip().replace(" ", ""), f"0{text}"}


@pytest.mark.parametrize("dash", ["\u2013", "\u2014"])
def test_a_range_copied_from_callslots_own_output_is_taken(dash):
    # `callslot slots` and `check` print "09:00–12:00"; an owner pastes that into site.toml.
    assert parse_range(f"09:00{dash}12:00") == DayRange(540, 720)
    assert parse_range(f"09:00 {dash} 24:00") == DayRange(540, 1440)


@pytest.mark.parametrize(
    ("text", "fix"),
    [("9-17", "09:00-17:00"), ("09.00-12.00", "09:00-12:00"), ("9.30\u201312", "09:30-12:00"),
     ("0900-1200", "09:00-12:00")],
)
def test_a_range_written_another_way_gets_the_exact_fix(text, fix):
    with pytest.raises(ConfigError) as caught:
        parse_range(text, field="availability.monday")
    assert f'did you mean "{fix}"?' in caught.value.message


@pytest.mark.parametrize(
    ("text", "says"),
    [("24:00-25:00", "24:00 is the end of the day, so nothing can start at it"),
     ("09:00-25:00", "25:00 is not a time of day: the day ends at 24:00"),
     ("09:60-10:00", "09:60 is not a time of day: an hour has minutes 00 to 59")],
)
def test_an_impossible_time_is_named(text, says):
    with pytest.raises(ConfigError) as caught:
        parse_range(text, field="availability.monday")
    assert says in caught.value.message
    assert "(00:00 to 24:00)" not in caught.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12:00-09:00", "ends before it starts"),
        ("09:00-09:00", "ends before it starts"),
        ("09:60-10:00", "not a time of day"),
        ("24:30-25:00", "not a time of day"),
        ("0900-1200", "HH:MM-HH:MM"),
        ("09:00", "HH:MM-HH:MM"),
        (None, "HH:MM-HH:MM"),
    ],
)
def test_wrong_ranges(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_range(text, field="availability.monday")


def test_hours_are_sorted_and_overlapping_or_touching_ranges_merged():
    hours = parse_hours(["14:00-17:00", "09:00-12:00", "11:00-12:30", "12:30-13:00"], field="x")
    assert hours == (DayRange(540, 780), DayRange(840, 1020))
    assert parse_hours("09:00-10:00", field="x") == (DayRange(540, 600),)
    with pytest.raises(ConfigError, match="list of ranges"):
        parse_hours({"a": 1}, field="x")


# --------------------------------------------------------------------------
# Loading


def test_example_content_loads():
    s = load_settings(ROOT / "content" / "site.toml", env={})
    assert (s.owner.name, s.owner.timezone, s.owner.language) == (
        "Dr. Anna Beispiel",
        "Europe/Berlin",
        "de",
    )
    assert [c.slug for c in s.call_types] == ["rueckruf", "beratung"]
    assert s.call_types[1].duration == timedelta(hours=1)
    assert s.call_types[1].step == timedelta(minutes=30)
    assert s.booking.notice == timedelta(hours=4) and s.booking.max_per_day == 4
    assert s.availability.ranges_for(date(2026, 11, 30)) == (
        DayRange(540, 720),
        DayRange(810, 1020),
    )
    assert s.availability.ranges_for(date(2026, 12, 23)) == (DayRange(540, 660),)
    assert s.availability.ranges_for(date(2026, 12, 31)) == ()
    assert s.availability.ranges_for(date(2026, 12, 25)) == ()
    assert s.calendars[0].kind == "file" and s.calendars[0].path().exists()
    assert check_settings(s) == []


def test_every_option_in_one_file(tmp_path):
    s = load_settings(write(tmp_path, FULL), env=ENV)
    assert s.owner.tz.key == "America/New_York"
    assert s.availability.weekly[0] == (DayRange(540, 780), DayRange(840, 1020))
    assert s.availability.weekly[1] == (DayRange(540, 720),)
    assert s.availability.closed == (
        (date(2026, 12, 24), date(2026, 12, 26)),
        (date(2027, 1, 1), date(2027, 1, 1)),
    )
    assert s.booking.horizon == timedelta(days=14)
    assert s.booking.buffer_after == timedelta(minutes=90)
    assert s.booking.offers_per_day == 3 and not s.booking.recheck_calendars
    assert s.call_types[0].step == timedelta(minutes=30)  # default: the duration
    assert s.call_types[1].step == timedelta(minutes=15)
    assert s.site.base_url == "https://call.example.org"
    assert s.notify.email is not None and s.notify.email.port == 2525
    assert s.notify.email.password is not None and s.notify.email.password.get() == "pw"
    assert [c.name for c in s.calendars] == ["Work", "extra.ics"]
    assert s.calendars[1].path() == tmp_path / "content" / "extra.ics"
    assert s.root == tmp_path and s.content_dir == tmp_path / "content"
    assert s.privacy.keep == timedelta(days=30) and s.privacy.require_consent


def test_minimal_file_gets_the_documented_defaults(tmp_path):
    s = load_settings(
        write(
            tmp_path,
            '[owner]\nname = "A"\ntimezone = "UTC"\n'
            '[[call_types]]\nslug = "c"\ntitle = "C"\n'
            'duration = "20m"\n',
        ),
        env={},
    )
    assert s.owner.language == "de"
    assert s.booking.horizon == timedelta(days=14) and s.booking.notice == timedelta(0)
    assert s.booking.max_per_day is None and s.booking.offers_per_day is None
    assert s.call_types[0].step == timedelta(minutes=20)
    assert s.calendars == ()
    assert s.privacy.keep == timedelta(days=90) and not s.privacy.require_consent
    assert len(check_settings(s)) == 2  # no calendar, no open weekday: both worth a warning


# --------------------------------------------------------------------------
# Secrets from the environment


def test_env_secrets_are_read_from_the_environment_and_never_shown(tmp_path):
    s = load_settings(write(tmp_path, FULL), env=ENV)
    source = s.calendars[0]
    assert source.kind == "url" and source.url() == ENV["CAL_URL"]
    assert source.name == "Work"
    for shown in (repr(source), str(source.location), repr(s)):
        assert "private-abc" not in shown and "pw" not in shown.split("password")[-1][:20]
    assert "private-abc" not in repr(s) and "feedkey" not in repr(s)


def test_missing_env_variable_fails_only_when_the_secret_is_needed(tmp_path):
    s = load_settings(write(tmp_path, FULL), env={})
    assert not s.calendars[0].location.present
    with pytest.raises(ConfigError, match="CAL_URL is not set") as info:
        s.calendars[0].url()
    assert 'calendars.source = "env:CAL_URL"' in info.value.message


def test_a_settings_file_saved_by_windows_notepad_is_read(tmp_path):
    # Notepad writes a byte order mark and CRLF line ends; tomllib alone rejects the mark.
    text = EXAMPLE.replace("\n", "\r\n")
    path = tmp_path / "content" / "site.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_settings(path, env=ENV).owner.name == "Dr. Anna Beispiel"


def test_a_settings_file_not_in_utf8_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "content" / "site.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(EXAMPLE.encode("latin-1"))
    line = next(i for i, x in enumerate(EXAMPLE.splitlines(), 1) if not x.isascii())
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=ENV)
    assert info.value.line == line
    assert "save it as UTF-8" in info.value.message


def test_missing_env_variable_names_the_settings_file_and_line(tmp_path):
    # The owner must find which [[calendars]] entry wants the variable.
    text = (
        '[owner]\nname = "Ann"\ntimezone = "Europe/Berlin"\n\n'
        '[[calendars]]\nname = "Home"\nsource = "home.ics"\n\n'
        '[[calendars]]\nname = "Work"\nsource = "env:WORK_ICS"\n\n'
        '[[call_types]]\nslug = "call"\ntitle = "Call"\nduration = "30m"\n'
    )
    path = write(tmp_path, text)
    s = load_settings(path, env={})
    with pytest.raises(ConfigError, match="WORK_ICS is not set") as info:
        s.calendars[1].url()
    assert info.value.file == str(path) and info.value.line == 11
    assert info.value.message.startswith(f"{path}, line 11: calendars.source: ")


def test_env_secret_holding_a_path_is_a_file_beside_the_content(tmp_path):
    s = load_settings(write(tmp_path, FULL), env={**ENV, "CAL_URL": "private/work.ics"})
    assert s.calendars[0].kind == "file"
    assert s.calendars[0].path() == tmp_path / "content" / "private" / "work.ics"
    assert s.calendars[0].name == "Work"


def test_webcal_means_https(tmp_path):
    s = load_settings(write(tmp_path, FULL), env={**ENV, "CAL_URL": "webcal://x.example/c.ics"})
    assert s.calendars[0].url() == "https://x.example/c.ics"


def test_smtp_url_overrides_notify_email(tmp_path):
    env = {**ENV, "SMTP_URL": "smtps://bob:s%40cret@mail.example.org"}
    email = load_settings(write(tmp_path, FULL), env=env).notify.email
    assert email is not None
    assert (email.host, email.port, email.security, email.username) == (
        "mail.example.org",
        465,
        "ssl",
        "bob",
    )
    assert email.password is not None and email.password.get() == "s@cret"
    assert "s@cret" not in repr(email)


def test_secret_equality_and_hash_do_not_need_the_value_shown():
    a, b = Secret("x", env="A"), Secret("x", env="A")
    assert a == b and hash(a) == hash(b) and a != Secret("y", env="A")
    assert repr(a) == "Secret(env:A, set)"


# --------------------------------------------------------------------------
# Each mistake names the file, the field and the line


@pytest.mark.parametrize(
    ("old", "new", "count", "field", "says"),
    [
        (
            'timezone = "Europe/Berlin"',
            'timezone = "Europe/Berln"',
            1,
            "owner.timezone",
            "not an IANA time zone",
        ),
        ('language = "de"', 'language = "sv"', 1, "owner.language", '"de", "en", "es", "fr"'),
        ('email = "anna@example.org"', 'email = "anna"', 1, "owner.email", "not an email"),
        ('name = "Dr. Anna Beispiel"', "name = 7", 1, "owner.name", "expected text"),
        ('source = "calendar.ics"', 'source = "ftp://x/c.ics"', 1, "calendars.source", "http://"),
        (
            'source = "calendar.ics"',
            'source = "env:not a name"',
            1,
            "calendars.source",
            "variable name",
        ),
        (
            'wednesday = ["09:00-12:00"]',
            'wednesday = ["09:00-1200"]',
            1,
            "availability.wednesday",
            "HH:MM-HH:MM",
        ),
        (
            'wednesday = ["09:00-12:00"]',
            'wednesday = ["12:00-09:00"]',
            1,
            "availability.wednesday",
            "ends before it starts",
        ),
        (
            '"2026-12-31" = []',
            '"2026-13-31" = []',
            1,
            "availability.dates.2026-13-31",
            "not a date",
        ),
        (
            '"2026-12-23" = ["09:00-11:00"]',
            '"2026-12-23" = ["9-11"]',
            1,
            "availability.dates.2026-12-23",
            "HH:MM-HH:MM",
        ),
        (
            'until = "2026-12-27"',
            'until = "2026-12-20"',
            1,
            "availability.closed[0].until",
            "2026-12-20 is before the first closed day",
        ),
        ('notice = "4h"', 'notice = "4 hours"', 1, "booking.notice", '"30m"'),
        ('horizon = "14d"', 'horizon = "0d"', 1, "booking.horizon", "longer than zero"),
        ('horizon = "14d"', 'horizon = "400d"', 1, "booking.horizon", "at most a year"),
        ('horizon = "14d"', 'horizon = "99999999999d"', 1, "booking.horizon", "far too long"),
        (
            'buffer_before = "10m"',
            'buffer_before = "2d"',
            1,
            "booking.buffer_before",
            "at most a day",
        ),
        ("max_per_day = 4", "max_per_day = 0", 1, "booking.max_per_day", "at least 1"),
        ("offers_per_day = 3", 'offers_per_day = "3"', 1, "booking.offers_per_day", "whole number"),
        ('who_calls = "either"', 'who_calls = "me"', 1, "booking.who_calls", '"owner"'),
        # Callers may call the owner: without owner.phone they were told to dial "—".
        ('phone = "+49 30 1234567"', "", 1, "booking.who_calls", "set owner.phone"),
        (
            "require_phone = true",
            'require_phone = "yes"',
            1,
            "booking.require_phone",
            "true or false",
        ),
        (
            "require_phone = true",
            "require_phone = false",
            1,
            "booking.require_email",
            "at least one",
        ),
        (
            'notice = "4h"',
            'notice = "4h"\nnotise = "3h"',
            1,
            "booking.notise",
            "unknown setting 'notise' (did you mean 'notice'?); known here: allowed_origins, "
            "backend",
        ),
        ('slug = "rueckruf"', 'slug = "Rückruf"', 1, "call_types[0].slug", "lowercase"),
        ('slug = "beratung"', 'slug = "rueckruf"', 1, "call_types[1].slug", "used twice"),
        ('duration = "60m"', 'duration = "1 hour"', 1, "call_types[1].duration", '"30m"'),
        ('duration = "60m"', 'duration = "13h"', 1, "call_types[1].duration", "1m and 12h"),
        ('step = "30m"', 'step = "3m"', 2, "call_types[1].step", "at least 5m"),
        (
            'title = "Beratungsgespräch (60 Minuten)"',
            'titel = "B"',
            1,
            "call_types[1].titel",
            "unknown setting",
        ),
        (
            'base_url = "https://anna-beispiel.example.org"',
            'base_url = "anna.example.org"',
            1,
            "site.base_url",
            "full address",
        ),
        ("[site]", "[site]\ncolour = 1", 1, "site.colour", "unknown setting"),
    ],
)
def test_each_mistake_is_named_with_file_field_and_line(tmp_path, old, new, count, field, says):
    error, line = mistake(tmp_path, old, new, count=count)
    assert error.field == field
    assert says in error.message
    assert f", line {error.line}: {field}: " in error.message
    # The line shown is where the mistake is (in the right [[call_types]] table).
    key = re.sub(r"\[\d+\]", "", field.split(".")[-1])
    assert line is not None and line.lstrip().lstrip('"').startswith(key)
    if field.startswith("call_types[1]"):
        assert error.line > SECOND_CALL_TYPE


@pytest.mark.parametrize(
    ("old", "new", "field", "says"),
    [
        ('[owner]\nname = "Dr. Anna Beispiel"\n', "[owner]\n", "owner.name", "missing"),
        ('duration = "60m"\n', "", "call_types[1].duration", "missing"),
        ('slug = "beratung"\n', "", "call_types[1].slug", "missing; short name"),
    ],
)
def test_missing_settings_are_named(tmp_path, old, new, field, says):
    error, _ = mistake(tmp_path, old, new)
    assert error.field == field and says in error.message


def test_no_call_type_and_broken_toml(tmp_path):
    no_calls = EXAMPLE.split("[[call_types]]")[0]
    error, _ = mistake(tmp_path, "[owner]", "[owner]", base=no_calls)
    assert error.field == "call_types" and "at least one [[call_types]]" in error.message
    error, line = mistake(tmp_path, "max_per_day = 4", "max_per_day = ")
    assert "not valid TOML" in error.message and line == "max_per_day = "


def test_missing_settings_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="callslot init"):
        load_settings(tmp_path / "site.toml")


def test_cli_exits_non_zero_with_the_message(runner, tmp_path):
    path = write(tmp_path, EXAMPLE.replace('language = "de"', 'language = "sv"'))
    result = runner.invoke(main, ["slots", "--config", str(path)])
    assert result.exit_code == 1
    assert f"{path}, line 7: owner.language" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------
# The schema is documented


def _accepted_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> set[str]:
    """Every key the loader accepts, read from its checks for unknown keys on FULL."""
    seen: set[str] = set()
    original = settings_module.FieldReader.unknown

    def record(self, data, allowed, prefix):  # type: ignore[no-untyped-def]
        table = re.sub(r"\[\d+\]", "", prefix)
        seen.update(f"{table}.{key}" if table else key for key in allowed)
        return original(self, data, allowed, prefix)

    monkeypatch.setattr(settings_module.FieldReader, "unknown", record)
    load_settings(write(tmp_path, FULL), env=ENV)
    # A table (owner, booking, notify.email) is documented through its keys.
    return {k for k in seen if not any(o.startswith(f"{k}.") for o in seen)}


def test_every_key_the_loader_accepts_is_documented_and_every_option_is_read(monkeypatch, tmp_path):
    accepted = _accepted_keys(monkeypatch, tmp_path)
    assert accepted - set(OPTIONS) == set()
    tables = {k for k in OPTIONS if any(o.startswith(f"{k}.") for o in OPTIONS)}
    assert set(OPTIONS) - accepted - tables == set()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["de", "sv"]', "'sv' is not a language callslot speaks; choose from \"de\", \"en\""),
        ('["de", "en", "de"]', "'de' is listed twice"),
        ("[]", "expected a list of language codes"),
        ('"de"', "expected a list of language codes"),
    ],
)
def test_site_languages_are_checked(tmp_path, value: str, message: str) -> None:
    text = EXAMPLE.replace('[site]\n', f"[site]\nlanguages = {value}\n", 1)
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert info.value.field == "site.languages"
    assert message in info.value.message
    assert info.value.line == text.splitlines().index(f"languages = {value}") + 1


# A language written as a name, or a code in another case, gets its code suggested.
_MEANT = [("FR", "fr"), ("PL", "pl"), ("french", "fr"), ("Polski", "pl"), ("Deutsch", "de"),
          ("German", "de"), ("Français", "fr"), ("Francais", "fr"), ("español", "es"),
          ("Nederlands", "nl"), ("Dutch", "nl"), ("italiano", "it"), ("en-GB", "en"),
          ("fra", "fr")]


@pytest.mark.parametrize(("written", "code"), _MEANT)
def test_owner_language_suggests_the_code(tmp_path, written: str, code: str) -> None:
    error, line = mistake(tmp_path, 'language = "de"', f'language = "{written}"')
    assert error.field == "owner.language" and line == f'language = "{written}"'
    assert f"{written!r} is not allowed (did you mean {code!r}?); choose one of" in error.message


@pytest.mark.parametrize(("written", "code"), _MEANT)
def test_site_languages_suggest_the_code(tmp_path, written: str, code: str) -> None:
    value = f'["de", "en", "{written}"]'
    text = EXAMPLE.replace("[site]\n", f"[site]\nlanguages = {value}\n", 1)
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert info.value.field == "site.languages"
    assert f"{written!r} is not a language callslot speaks (did you mean {code!r}?)" in (
        info.value.message
    )


@pytest.mark.parametrize("written", ["sv", "Swedish", "klingon"])
def test_a_language_callslot_does_not_speak_gets_no_guess(tmp_path, written: str) -> None:
    error, _line = mistake(tmp_path, 'language = "de"', f'language = "{written}"')
    assert "did you mean" not in error.message and '"de", "en", "es", "fr"' in error.message



# One place for each default: the schema. A minimal site.toml loads to it, the
# dataclasses start from it, the help text states it, and the loader writes none.

MINIMAL = (
    '[owner]\nname = "A"\ntimezone = "UTC"\nemail = "a@example.org"\n'
    '[[call_types]]\nslug = "c"\ntitle = "C"\nduration = "20m"\n'
    '[notify.email]\nhost = "smtp.example.org"\n'
)
PLAIN_DEFAULTS = [name for name, o in SCHEMA.items() if o.default is not None]


@pytest.mark.parametrize("name", PLAIN_DEFAULTS)
def test_an_option_not_written_takes_the_one_default_of_the_schema(tmp_path, name: str) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), env={})
    *path, key = name.split(".")
    holder: object = settings
    for part in path:
        holder = getattr(holder, part)
        if isinstance(holder, tuple):  # [[call_types]]: the first table
            holder = holder[0]
    assert getattr(holder, key) == default(name)
    declared = {f.name: f.default for f in dataclasses.fields(holder)}[key]  # type: ignore[arg-type]
    assert declared in (dataclasses.MISSING, default(name))
    option = SCHEMA[name]
    if option.says:
        assert f"Default: {option.says}." in OPTIONS[name]
    elif option.default == "":
        assert OPTIONS[name].endswith("Optional.")
    else:
        assert f"Default {json.dumps(option.default, ensure_ascii=False)}." in OPTIONS[name]


def test_the_loader_writes_no_default_of_its_own():
    """A literal default in a FieldReader call would be a second, drifting copy."""
    readers = {"string", "text", "boolean", "duration", "parsed"}
    found = []
    for path in (ROOT / "generator" / "config").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in readers and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "r"):
                continue
            given = node.args[3:] + [k.value for k in node.keywords if k.arg == "default"]
            if any(isinstance(arg, ast.Constant) for arg in given):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_a_required_option_missing_quotes_its_help(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, MINIMAL.replace('name = "A"\n', "")), env={})
    assert info.value.field == "owner.name"
    help_text = OPTIONS["owner.name"]  # "Your name ...": after the semicolon, "your name ..."
    assert info.value.reason == f"missing; {help_text[0].lower()}{help_text[1:]}"


def test_every_option_has_a_help_sentence():
    for name, text in OPTIONS.items():
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", name), name
        assert len(text) > 10 and text.rstrip().endswith((".", ")")), name


def test_a_calendar_login_written_into_site_toml_is_pointed_out_and_documented(tmp_path):
    # A login in the URL is sent as Basic auth; in site.toml it travels with the file.
    base = (
        '[owner]\nname = "A"\ntimezone = "UTC"\n[availability]\nmonday = ["09:00-17:00"]\n'
        '[[call_types]]\nslug = "c"\ntitle = "C"\nduration = "20m"\n'
    )
    literal = (
        '[[calendars]]\nname = "Cloud"\nsource = "https://anna:pw-123@cloud.example.org/c.ics"\n'
    )
    s = load_settings(write(tmp_path, base + literal), env={})
    (note,) = check_settings(s)
    assert note.startswith("calendar 'Cloud': its address in site.toml holds a login")
    assert 'source = "env:NAME"' in note and "pw-123" not in note
    from_env = '[[calendars]]\nname = "Cloud"\nsource = "env:CLOUD_ICS"\n'
    env = {"CLOUD_ICS": "https://anna:pw-123@cloud.example.org/c.ics"}
    assert check_settings(load_settings(write(tmp_path, base + from_env), env=env)) == []
    plain = '[[calendars]]\nname = "Cloud"\nsource = "https://cloud.example.org/c.ics"\n'
    assert check_settings(load_settings(write(tmp_path, base + plain), env={})) == []
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for text in (OPTIONS["calendars.source"], readme):
        assert "user:password@" in text and "Basic" in text and "env:" in text


# --------------------------------------------------------------------------
# [privacy]

PRIVACY_BASE = (
    '[owner]\nname = "A"\ntimezone = "UTC"\n'
    '[[call_types]]\nslug = "c"\ntitle = "C"\nduration = "20m"\n'
)


@pytest.mark.parametrize(("written", "kept"), [
    ('"0d"', timedelta(0)),
    ('"12h"', timedelta(hours=12)),
    ('"2w"', timedelta(days=14)),
    ('"365d"', timedelta(days=365)),
])
def test_privacy_keep_is_a_duration_and_zero_erases_right_after_the_call(tmp_path, written, kept):
    s = load_settings(write(tmp_path, PRIVACY_BASE + f"[privacy]\nkeep = {written}\n"), env={})
    assert s.privacy.keep == kept


@pytest.mark.parametrize(("line", "words"), [
    ('keep = "soon"', "is not a duration"),
    ("keep = 90", "expected a duration"),
    ('require_consent = "yes"', "expected true or false"),
    ('forget = "1d"', "unknown setting 'forget'"),
])
def test_privacy_mistakes_name_the_field_and_line(tmp_path, line, words):
    path = write(tmp_path, PRIVACY_BASE + "\n[privacy]\n" + line + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert words in info.value.message
    assert info.value.line == PRIVACY_BASE.count("\n") + 3
    assert info.value.field.startswith("privacy.")


def test_an_unknown_table_is_found_by_its_line(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    toml = content / "site.toml"
    toml.write_text(toml.read_text() + "\n[bookings]\nx = 1\n")
    line = toml.read_text().splitlines().index("[bookings]") + 1
    with pytest.raises(ConfigError) as caught:
        load_settings(toml, env={})
    assert f"line {line}: bookings: unknown setting 'bookings' (did you mean 'booking'?)" in (
        caught.value.format_message()
    )
