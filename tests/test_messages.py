"""What the terminal says to the owner: one prefix, the right plural, a likely fix, the next step.

Each test checks that a defect a new owner met is gone (a doubled prefix, "1 call
types", no hint for a mistyped name, no next step), not the exact wording.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import available_timezones

import pytest
from babel.core import get_global
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from generator.cli import main
from generator.config.settings import load_settings
from generator.config.suggest import closest_timezone
from generator.errors import ConfigError

SECRET = "test-secret-0123456789abcdef"
NOW = "2026-11-30T08:00+01:00"
RENAMED: dict[str, str] = get_global("zone_aliases")  # old zone name -> today's
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)


def config(site: Path) -> str:
    return str(site / "content" / "site.toml")


def edit(site: Path, old: str, new: str) -> None:
    path = site / "content" / "site.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def error_of(site: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(site / "content" / "site.toml", env={})
    return caught.value.format_message()


# -- one prefix --------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["Europe/Berln", "europe/berlin", "Mars/Olympus_Mons"])
def test_a_wrong_time_zone_names_its_field_once(example_site: Path, wrong: str) -> None:
    edit(example_site, 'timezone = "Europe/Berlin"', f'timezone = "{wrong}"')
    message = error_of(example_site)
    assert message.count("owner.timezone") == 1, message
    assert re.search(r"site\.toml, line \d+: owner\.timezone: ", message), message


def test_a_short_secret_names_the_variable_once(runner, example_site: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", "short")
    result = runner.invoke(main, ["build", "--config", config(example_site), "--now", NOW])
    assert result.exit_code == 1
    assert result.output.count("CALLSLOT_SECRET") == 1, result.output
    assert "Traceback" not in result.output


# -- did you mean --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong", ["europe/berlin", "EUROPE/BERLIN", "Europe/Berln", "Europe/Berlim", "Berlin"]
)
def test_a_mistyped_time_zone_suggests_the_right_one(example_site: Path, wrong: str) -> None:
    edit(example_site, 'timezone = "Europe/Berlin"', f'timezone = "{wrong}"')
    assert '"Europe/Berlin"' in error_of(example_site)


def test_a_time_zone_far_from_any_gets_an_example_instead(example_site: Path) -> None:
    edit(example_site, 'timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus_Mons"')
    message = error_of(example_site)
    assert "did you mean" not in message and "Europe/Berlin" in message


@pytest.mark.parametrize(
    ("wrong", "standard"),
    [("GMT+1", "+01:00"), ("UTC+1", "+01:00"), ("+01:00", "+01:00"), ("UTC-5", "-05:00"),
     ("CET+1", "")],
)
def test_an_offset_is_not_taken_for_the_nearest_name(
    example_site: Path, wrong: str, standard: str
) -> None:
    # "GMT+1" used to get 'did you mean "GMT+0"?': an hour off, and an offset even so.
    edit(example_site, 'timezone = "Europe/Berlin"', f'timezone = "{wrong}"')
    message = error_of(example_site)
    assert "GMT+0" not in message and "did you mean" not in message, message
    assert "offset" in message and "summer time" in message
    if standard:
        assert f"at {standard} in standard time" in message, message
    else:
        assert '"Europe/Berlin"' in message  # an example, not a guess at what CET+1 means


@pytest.mark.parametrize(
    ("typed", "zone"),
    [("Kiev", "Europe/Kyiv"), ("Europe/Kiew", "Europe/Kyiv"), ("Wien", "Europe/Vienna"),
     ("Zürich", "Europe/Zurich"), ("Munich", "Europe/Berlin"), ("münchen", "Europe/Berlin"),
     ("Köln", "Europe/Berlin"), ("Varsovie", "Europe/Warsaw")],
)
def test_a_city_in_another_language_or_an_old_name_finds_todays_zone(typed: str, zone: str) -> None:
    assert closest_timezone(typed) == zone


def test_init_suggests_the_zone_of_a_city_typed_at_the_prompt() -> None:
    from generator.config.valuetypes import parse_timezone

    with pytest.raises(ConfigError) as caught:
        parse_timezone("munich", field="--timezone")
    assert 'did you mean "Europe/Berlin"?' in caught.value.format_message()


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), flips=st.lists(st.booleans(), min_size=40, max_size=40))
def test_any_zone_in_any_case_is_found(zone: str, flips: list[bool]) -> None:
    typed = "".join(c.swapcase() if flip else c for c, flip in zip(zone, flips * 2, strict=False))
    assert closest_timezone(typed) == zone


@settings(max_examples=100, deadline=None)
@given(zone=st.sampled_from([z for z in ZONES if len(z.rsplit("/", 1)[1]) >= 8]),
       data=st.data())
def test_one_letter_dropped_from_a_long_zone_still_finds_it(zone: str, data: st.DataObject) -> None:
    city_start = zone.rindex("/") + 2  # drop a letter of the city, not its first
    i = data.draw(st.integers(city_start, len(zone) - 1))
    typed = zone[:i] + zone[i + 1:]
    # "Asia/Kathmandu" less its "h" is "Asia/Katmandu", the zone's old name and itself valid.
    assume(typed.casefold() not in {z.casefold() for z in available_timezones()})
    # A misspelt old name ("Asia/Ashkhabd") gets today's ("Asia/Ashgabat").
    assert closest_timezone(typed) == RENAMED.get(zone, zone)


def test_a_mistyped_settings_key_suggests_the_right_one(example_site: Path) -> None:
    edit(example_site, "[booking]", '[booking]\nnotcie = "4h"')
    message = error_of(example_site)
    assert "'notice'" in message and "notcie" in message


def test_a_wrong_choice_in_another_case_suggests_the_right_one(example_site: Path) -> None:
    edit(example_site, 'language = "de"', 'language = "DE"')
    assert "did you mean 'de'" in error_of(example_site)


@pytest.mark.parametrize("command", ["slots", "offer"])
@pytest.mark.parametrize("wrong", ["Beratung", "beratun", "beartung"])
def test_a_mistyped_call_type_suggests_the_right_one(runner, example_site: Path,
                                                      command: str, wrong: str) -> None:
    result = runner.invoke(main, [command, "--config", config(example_site), "--now", NOW,
                                  "--call-type", wrong])
    assert result.exit_code == 1, result.output
    assert "did you mean 'beratung'" in result.output, result.output
    assert result.output.count("--call-type") == 1


def test_the_interactive_init_names_the_question_not_the_flag(runner, tmp_path: Path) -> None:
    answers = "Anna Beispiel\neurope/berlin\nEurope/Berlin\nde\nnone\n9:00-12:00\n\n\n"
    result = runner.invoke(main, ["init", str(tmp_path)], input=answers)
    assert result.exit_code == 0, result.output
    assert "--timezone" not in result.output
    error = next(line for line in result.output.splitlines() if "Error:" in line)
    assert "Time zone" in error and '"Europe/Berlin"' in error
    assert load_settings(tmp_path / "content" / "site.toml", env={}).owner.timezone == (
        "Europe/Berlin"
    )


# -- plurals -------------------------------------------------------------------------------


def test_check_counts_one_call_type_in_the_singular(runner, example_site: Path) -> None:
    text = (example_site / "content" / "site.toml").read_text(encoding="utf-8")
    first, *_ = text.split("[[call_types]]")[1:]
    head = text.split("[[call_types]]")[0]
    (example_site / "content" / "site.toml").write_text(
        head + "[[call_types]]" + first, encoding="utf-8"
    )
    result = runner.invoke(main, ["check", "--config", config(example_site), "--now", NOW])
    assert "(1 call type," in result.output, result.output
    assert "1 call types" not in result.output


# -- next steps -----------------------------------------------------------------------------


def test_build_says_where_the_page_is_and_how_to_see_it(runner, example_site: Path) -> None:
    result = runner.invoke(main, ["build", "--config", config(example_site), "--now", NOW])
    assert result.exit_code == 0, result.output
    index = example_site / "public" / "index.html"
    assert index.as_uri() in result.output
    assert "callslot serve" in result.output and "http://127.0.0.1:8000/" in result.output


def test_build_into_another_folder_does_not_promise_serve(runner, example_site: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    result = runner.invoke(main, ["build", "--config", config(example_site), "--now", NOW,
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "index.html").as_uri() in result.output
    assert "callslot serve" not in result.output


def test_a_second_build_does_not_contradict_itself(runner, example_site: Path) -> None:
    args = ["build", "--config", config(example_site)]
    assert runner.invoke(main, [*args, "--now", NOW]).exit_code == 0
    later = runner.invoke(main, [*args, "--now", "2026-11-30T08:01+01:00"])
    assert later.exit_code == 0, later.output
    lines = later.output.splitlines()
    # Either "same slots ... rewrote slots.json" or a list of "wrote" lines, never both.
    assert not (any("same slots" in line for line in lines)
                and any(line.startswith("wrote ") for line in lines)), later.output
    assert "slots.json" in later.output
    again = runner.invoke(main, [*args, "--now", "2026-11-30T08:01+01:00"])
    assert "up to date" in again.output and "wrote" not in again.output


def test_slots_after_a_build_ends_with_how_to_see_the_page(runner, example_site: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # README command 1: `callslot build && callslot slots`, run in the project folder.
    monkeypatch.chdir(example_site)
    assert runner.invoke(main, ["build", "--now", NOW]).exit_code == 0
    result = runner.invoke(main, ["slots", "--now", NOW])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert "index.html" in last and "callslot serve" in last


def test_the_next_step_starts_serve_the_way_it_will_start(
    runner, example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without CALLSLOT_SECRET, `callslot serve` refuses to start unless --dev: the hint
    # after README command 1 must name the command that works on a fresh machine.
    monkeypatch.chdir(example_site)
    monkeypatch.delenv("CALLSLOT_SECRET", raising=False)
    built = runner.invoke(main, ["build", "--now", NOW])
    assert built.exit_code == 0, built.output
    listed = runner.invoke(main, ["slots", "--now", NOW])
    for output in (built.output, listed.output):
        assert "`callslot serve --dev`" in output.strip().splitlines()[-1]
    monkeypatch.setenv("CALLSLOT_SECRET", "a-production-key-of-enough-length")
    listed = runner.invoke(main, ["slots", "--now", NOW])
    assert "`callslot serve`" in listed.output.strip().splitlines()[-1]


def test_init_says_what_to_edit_and_run_next(runner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["init", str(tmp_path / "site"), "--name", "Jo", "--no-input"])
    assert result.exit_code == 0, result.output
    after = result.output.split("Next:", 1)[1]
    assert "site.toml" in after and "intro.md" in after
    assert "CALLSLOT_CALENDAR_URL" in after  # the calendar variable to export
    assert "callslot build" in after and "callslot check" in after


def test_check_says_what_to_fix_first(runner, example_site: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from notify_support import smtp_server

    monkeypatch.delenv("CALLSLOT_SECRET")
    edit(example_site, 'source = "calendar.ics"', 'source = "env:NOT_SET_ICS"')
    with smtp_server() as (_sink, port):  # owner.email needs a mail server: not a fault here
        monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")
        result = runner.invoke(main, ["check", "--config", config(example_site), "--now", NOW])
    assert result.exit_code == 1
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 2, result.output
    last = result.output.strip().splitlines()[-1]
    first_part = fails[0].split(":", 1)[0].removeprefix("FAIL").strip()
    assert "first" in last and first_part in last, last


# -- ports and places --------------------------------------------------------------------


def test_a_taken_port_suggests_a_free_one(runner, example_site: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.chdir(example_site)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["serve", "--port", str(port)])
        suggested = re.search(r"--port (\d+)", result.output)
        assert result.exit_code == 1 and suggested, result.output
        with socket.socket() as probe:  # the port it names can really be taken
            probe.bind(("127.0.0.1", int(suggested.group(1))))
    assert not (example_site / "public").exists()  # nothing was built first


@pytest.mark.parametrize("inside", ["content", "content/notes/2026"])
def test_a_command_inside_the_site_finds_it_above(runner, example_site: Path, inside: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = example_site / inside
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    result = runner.invoke(main, ["build", "--now", NOW])
    assert result.exit_code == 0, result.output
    assert (example_site / "public" / "index.html").is_file()  # beside content/, as always
    assert not (folder / "public").exists()
    assert str(example_site / "content" / "site.toml") in result.output  # says which one
    slots = runner.invoke(main, ["slots", "--now", NOW, "--format", "json"])
    assert slots.exit_code == 0 and '"timezone": "Europe/Berlin"' in slots.output


def test_the_site_in_the_current_folder_is_used_without_a_note(
        runner, example_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, ["build", "--now", NOW])
    assert result.exit_code == 0, result.output
    assert "found above" not in result.output


def test_outside_any_site_says_how_to_get_one(runner, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["build", "--now", NOW])
    assert result.exit_code == 1
    assert "callslot init" in result.output and "--config" in result.output
    assert "Traceback" not in result.output


# -- the offer reads as a person writes it ---------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(plan=st.lists(st.lists(st.sampled_from([9, 10, 11, 14, 15, 16]), min_size=1, max_size=3,
                              unique=True).map(sorted), min_size=1, max_size=3))
def test_an_offer_over_several_days_never_blurs_where_a_day_ends(plan: list[list[int]]) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from testenv import ROOT

    from generator.commands.offer import offer_text
    from generator.domain import Slot
    from generator.page.theme import load_theme

    berlin = ZoneInfo("Europe/Berlin")
    site = load_settings(ROOT / "content" / "site.toml", env={})
    theme = load_theme(site)
    now = datetime(2026, 11, 30, 7, tzinfo=berlin)  # Monday: today, tomorrow, Wednesday
    slots = [
        Slot(start.astimezone(UTC), start.astimezone(UTC) + timedelta(minutes=30), "rueckruf")
        for day, hours in enumerate(plan)
        for start in [datetime(2026, 11, 30, h, tzinfo=berlin) + timedelta(days=day)
                      for h in hours]
    ]
    first = offer_text(site, slots, now, theme=theme, language="en").splitlines()[0]
    options = first.removeprefix("How about ").split("?")[0]
    several = len(plan) > 1 and any(len(hours) > 1 for hours in plan)
    if several:
        # The last day is set apart by ", or"; every other "or" sits inside one day.
        assert options.count(", or ") == 1, first
        inner = sum(1 for hours in plan if len(hours) > 1)
        assert options.count(" or ") == inner + 1, first
    for hours in plan:
        for h in hours:
            assert options.count(f"{h}:00") >= 1


# -- one time format per language ------------------------------------------------------------


@pytest.mark.parametrize("language", ["de", "en", "fr", "es", "it", "nl", "pl"])
def test_mail_subjects_write_the_time_as_the_booking_page_does(language: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from generator.i18n import short_day_time, short_time

    nine = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    page = short_time(nine, nine.tzinfo, language)  # what the booking's own page shows
    assert short_day_time(nine, nine.tzinfo, language).endswith(page)
    assert "09" not in short_day_time(nine, nine.tzinfo, language)


def test_the_terminal_writes_times_as_the_pages_do(runner, example_site: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, ["slots", "--now", NOW])
    assert result.exit_code == 0, result.output
    assert " 9:00–9:30" in result.output or " 9:30–10:00" in result.output
    assert not re.search(r"\b0\d:\d\d", result.output), result.output
    # "9:00–9:30" is shorter than "9:00–10:00": the call types still stand in one column.
    rows = [line for line in result.output.splitlines() if re.match(r"\s+\d+:\d\d–", line)]
    starts = {line.index(slug) for line in rows for slug in ("rueckruf", "beratung")
              if slug in line}
    assert len(rows) > 10 and len(starts) == 1, result.output


@pytest.mark.parametrize("language", ["de", "en", "fr", "es", "it", "nl", "pl"])
def test_the_booking_page_writes_times_as_its_mails_do(runner, example_site: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       language: str) -> None:
    from datetime import datetime
    from html import unescape
    from zoneinfo import ZoneInfo

    from generator.i18n import short_time

    edit(example_site, 'language = "de"', f'language = "{language}"')
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, ["build", "--now", NOW])
    assert result.exit_code == 0, result.output
    html = (example_site / "public" / "index.html").read_text()
    radios = re.findall(r'id="([^"]+)" value="[^"]*" data-start="([^"]+)"', html)
    assert len(radios) > 5
    berlin = ZoneInfo("Europe/Berlin")
    for slot_id, start in radios:
        label = unescape(re.search(rf'<label for="{slot_id}">([^<]*)</label>', html)[1])
        moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
        # The grid, the booked page, the mails and the offer write one time one way.
        assert label == short_time(moment, berlin, language), (slot_id, label)
        assert not re.match(r"0\d", label), label
    # The script writes the visitor's times the same way.
    whole, minutes = ("{h}\u00a0h", "{h}\u00a0h\u00a0{mm}") if language == "fr" else (
        "{h}:{mm}", "{h}:{mm}")
    assert f'data-clock="{whole}" data-clock-minutes="{minutes}"' in unescape(html)


def test_no_message_counts_with_a_bracketed_plural() -> None:
    # "1 call(s) cancelled" reads as a form, not a person: every count picks its word.
    import ast

    root = Path(__file__).resolve().parent.parent / "generator"
    found = [
        f"{path.relative_to(root)}:{node.lineno}: {node.value!r}"
        for path in root.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and re.search(r"[a-z]\(s\)", node.value.replace("http(s)", "").replace("%(s)s", ""))
    ]
    assert not found, "\n".join(found)


def test_the_terminal_writes_times_in_the_owners_language(runner, example_site: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A French owner reads "9 h 30" on the page and in the mails: `slots` writes the same.
    edit(example_site, 'language = "de"', 'language = "fr"')
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, ["slots", "--now", NOW])
    assert result.exit_code == 0, result.output
    assert re.search(r"\b9\u00a0h\u00a030–10\u00a0h\b", result.output), result.output
    assert not re.search(r"\d:\d\d", result.output), result.output


def test_nothing_to_offer_names_the_owners_time_and_the_likely_cause(
    runner, example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(example_site, "[booking]",
         '[[availability.closed]]\nfrom = "2026-11-01"\nuntil = "2027-02-01"\n\n[booking]')
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, ["offer", "--now", NOW])
    assert result.exit_code == 1
    assert "from Mon 2026-11-30 8:00 to Mon 2026-12-14 8:00 (Europe/Berlin)" in result.output
    assert "[[availability.closed]]" in result.output and "UTC" not in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["slots", "--duration", "0"], "--duration: must be from 1 to 720 minutes, not 0"),
        (["slots", "--days", "x"], "--days: 'x' is not a whole number"),
        (["slots", "--format", "jsn"],
         "--format: 'jsn' is not table or json (did you mean 'json'?)"),
        (["bookings", "mark", "abc", "hold"],
         "outcome: 'hold' is not held or missed (did you mean 'held'?)"),
        (["offer", "--count", "11"], "--count: must be from 1 to 10, not 11"),
        (["init", "x", "--no-input", "--name", "A", "--language", "french"],
         "--language: 'french' is not a language callslot speaks (did you mean 'fr'?)"),
    ],
)
def test_a_refused_option_is_said_in_our_words(runner, example_site: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               args: list[str], said: str) -> None:
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert f"Error: {said}" in result.output, result.output
    assert "Invalid value" not in result.output and "<=x<=" not in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["bookings", "cancel"], "ID is missing"),
        (["bookings", "move", "abc"], "--to is missing"),
        (["bookings", "forget"], "--contact is missing"),
        (["bookings", "mark", "abc"],
         "outcome: 'abc' is not held or missed; the last word says how the calls went"),
    ],
)
def test_a_missing_argument_is_named(runner, example_site: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     args: list[str], said: str) -> None:
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert f"Error: {said}" in result.output, result.output


# -- every settings mistake names site.toml's line, before any other warning ----------------


@pytest.mark.parametrize(
    ("written", "says"),
    [('"31.12.2026" = []', 'availability.dates."31.12.2026": \'31.12.2026\' is not a date; '
                           'write YYYY-MM-DD: did you mean "2026-12-31"?'),
     ("31.12.2026 = []", "availability.dates.31: '31' is not a date; write the date as a "
                         "quoted YYYY-MM-DD")],
)
def test_a_date_key_with_dots_is_found_on_its_line(example_site: Path, written: str,
                                                   says: str) -> None:
    edit(example_site, "[availability.dates]\n", f"[availability.dates]\n{written}\n")
    lines = (example_site / "content" / "site.toml").read_text(encoding="utf-8").splitlines()
    number = lines.index(written) + 1
    message = error_of(example_site)
    assert f"site.toml, line {number}: {says}" in message, message


def _build(runner, site: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CALLSLOT_SECRET")  # the development key: build warns of it
    return runner.invoke(main, ["build", "--config", config(site), "--now", NOW])


def test_a_missing_intro_names_the_setting_and_its_line_first(
    runner, example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(example_site, 'intro = "intro.md"', 'intro = "intro2.md"')
    result = _build(runner, example_site, monkeypatch)
    assert result.exit_code == 1
    assert re.search(r"site\.toml, line \d+: site\.intro: the Markdown file \S+intro2\.md does "
                     r"not exist \(did you mean 'intro\.md'\?\)", result.output), result.output
    assert "CALLSLOT_SECRET" not in result.output and "Traceback" not in result.output


def test_a_missing_calendar_file_names_the_setting_and_its_line_first(
    runner, example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(example_site, 'source = "calendar.ics"', 'source = "calender.ics"')
    result = _build(runner, example_site, monkeypatch)
    assert result.exit_code == 1
    assert re.search(r"file not found: \S+calender\.ics; check calendars\.source in \S+site\.toml"
                     r", line \d+ \(did you mean 'calendar\.ics'\?\)", result.output), result.output
    assert "CALLSLOT_SECRET" not in result.output


# -- small things ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [('name = "Dr. Anna Beispiel"', 'name = "Dr. Anna Beispiel', "a text is missing its "
                                                                  "closing quote"),
     ('notice = "4h"', "notice = vier", "a value TOML does not know: write a text in quotes"),
     ('notice = "4h"', "notice = 4h", 'write texts, times and durations in quotes ("09:00", '
                                      '"4h")'),
     ('friday = ["09:00-13:00"]', "friday = 09:00-13:00", "write texts, times and durations "
                                                           "in quotes")],
)
def test_a_toml_mistake_is_said_in_our_words_with_its_line(example_site: Path, old: str,
                                                          new: str, says: str) -> None:
    edit(example_site, old, new)
    lines = (example_site / "content" / "site.toml").read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith(new))
    message = error_of(example_site)
    assert f"site.toml, line {number}: not valid TOML: " in message and says in message, message
    assert "column" not in message and "Illegal" not in message


@pytest.mark.parametrize(
    ("url", "fix"),
    [("sqlite:/tmp/x.db", "write sqlite:////tmp/x.db"), ("sqlite:x.db", "write sqlite:///x.db"),
     ("sqlite://x.db", "write sqlite:///x.db (relative to the site's folder)")],
)
def test_a_sqlite_url_with_too_few_slashes_gets_the_exact_fix(
    runner, example_site: Path, url: str, fix: str
) -> None:
    result = runner.invoke(main, ["bookings", "--config", config(example_site)],
                           env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert "needs three slashes" in result.output and fix in result.output, result.output
    assert "no scheme" not in result.output and "Traceback" not in result.output


def test_inside_content_the_site_is_said_to_be_in_this_folder(
        runner, example_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example_site / "content")
    result = runner.invoke(main, ["slots", "--now", NOW])
    assert result.exit_code == 0, result.output
    assert "(in this folder)" in result.output and "above" not in result.output
    deeper = example_site / "content" / "notes"
    deeper.mkdir()
    monkeypatch.chdir(deeper)
    assert "(found above this folder)" in runner.invoke(main, ["slots", "--now", NOW]).output
