"""`callslot offer`: a reply to paste into an email, proposing open, well-spread times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from page_support import parse_page

from generator.cli import main
from generator.commands.offer import offer_text, pick_spread
from generator.config.settings import load_settings
from generator.domain import Slot
from generator.i18n import date_label, day_month_label, short_day_label, short_day_time
from generator.page.build import offered_slots

SECRET = "test-secret-0123456789abcdef"
NOW = "2026-11-27T08:00:00Z"
NOW_DT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)


def berlin(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def slot(start: datetime, minutes: int = 30, call_type: str = "rueckruf") -> Slot:
    return Slot(start, start + timedelta(minutes=minutes), call_type)


def use_language(site: Path, language: str) -> None:
    path = site / "content" / "site.toml"
    path.write_text(path.read_text().replace('language = "de"', f'language = "{language}"'))


def run_offer(runner, site: Path, *args: str) -> str:
    config = str(site / "content" / "site.toml")
    result = runner.invoke(main, ["offer", "--config", config, "--now", NOW, *args])
    assert result.exit_code == 0, result.output
    build = runner.invoke(main, ["build", "--config", config, "--now", NOW])
    assert build.exit_code == 0, build.output
    return result.output


def check_links(site: Path, output: str, call_type: str) -> list[Slot]:
    """Each link names an open slot, and the page it points to has that slot's radio."""
    settings = load_settings(site / "content" / "site.toml")
    open_ = {f"{s.call_type}.{s.start:%Y%m%dT%H%M%SZ}": s for s in offered_slots(settings, NOW_DT)}
    links = re.findall(r"https://\S+", output)
    assert links
    proposed = []
    for link in links:
        parts = urlsplit(link)
        assert parts.netloc == "anna-beispiel.example.org"
        slot_id = parse_qs(parts.query)["slot"][0]
        assert slot_id in open_, f"{slot_id} is not an open slot"
        assert open_[slot_id].call_type == call_type
        page = parse_page(site / "public" / (parts.path.lstrip("/") or "index.html"))
        radio = page.one("input", id=slot_id)
        assert radio.attrs["name"] == "slot"
        proposed.append(open_[slot_id])
    return proposed


def test_offer_in_german_proposes_open_slots_that_the_links_preselect(
    runner, example_site: Path
) -> None:
    output = run_offer(runner, example_site)
    assert output.startswith("Wie passt es bei Ihnen am ")
    assert "Uhr? Mögen Sie mir schon ein Stichwort nennen?" in output
    proposed = check_links(example_site, output, "rueckruf")
    assert len(proposed) == 3
    # Well spread: not adjacent half hours, and over more than one day.
    starts = sorted(s.start for s in proposed)
    assert all(b - a >= timedelta(minutes=90) for a, b in pairwise(starts))
    assert len({s.astimezone(BERLIN).date() for s in starts}) >= 2
    for start in starts:  # each time is named in the sentence, German style "9:00"
        assert f"{start.astimezone(BERLIN):%-H:%M}" in output.splitlines()[0]


def test_offer_in_english_for_another_call_type(runner, example_site: Path) -> None:
    use_language(example_site, "en")
    output = run_offer(runner, example_site, "--count", "2", "--call-type", "beratung")
    first = output.splitlines()[0]
    assert first.startswith("How about ") and first.endswith(
        "? Could you give me a keyword in advance?"
    )
    assert "Uhr" not in output and re.search(r"Monday|Tuesday|Wednesday|Thursday", first)
    proposed = check_links(example_site, output, "beratung")
    assert len(proposed) == 2
    assert all("/beratung.html?slot=" in line for line in output.splitlines() if "https" in line)


def test_the_sentence_from_the_idea_in_both_languages(example_site: Path) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    now = berlin(28, 10)  # Saturday: Monday is named by its weekday
    slots = [slot(berlin(30, 9)), slot(berlin(30, 10, 30)), slot(berlin(30, 14))]
    text = offer_text(settings, slots, now)
    assert text.splitlines()[0] == (
        "Wie passt es bei Ihnen am Montag um 9:00, 10:30 oder "
        "14:00 Uhr? Mögen Sie mir schon ein Stichwort nennen?"
    )
    assert (
        "- Montag, 30. November, 10:30 Uhr: https://anna-beispiel.example.org/"
        "?slot=rueckruf.20261130T093000Z" in text
    )
    english = offer_text(settings, slots, now, language="en")
    assert english.splitlines()[0] == (
        "How about Monday at 9:00, 10:30 or 14:00? Could you give me a keyword in advance?"
    )


# The reply as a person writing in each language would put it: their weekday with its
# article or case, their way of writing times, their list words.
_REPLIES = {
    "de": (
        "Wie passt es bei Ihnen morgen um 9:00 Uhr oder am Mittwoch um 10:30 oder 14:00 Uhr?",
        "Mögen Sie mir schon ein Stichwort nennen?",
    ),
    "en": ("How about tomorrow at 9:00, or Wednesday at 10:30 or 14:00?", "Could you"),
    "fr": (
        "Seriez-vous disponible demain à 9\u00a0h, ou mercredi à "
        "10\u00a0h\u00a030 ou 14\u00a0h\u202f?",
        "Pourriez",
    ),
    "es": ("¿Le viene bien mañana a las 9:00, o el miércoles a las 10:30 o 14:00?", "¿Podría"),
    "it": ("Le andrebbe bene domani alle 9:00, o mercoledì alle 10:30 o 14:00?", "Potrebbe"),
    "nl": ("Schikt het u morgen om 9:00 uur, of woensdag om 10:30 of 14:00 uur?", "Kunt u"),
    "pl": ("Czy pasowałaby rozmowa jutro o 9:00 albo w środę o 10:30 lub 14:00?", "Czy mogę"),
}


@pytest.mark.parametrize("language", sorted(_REPLIES))
def test_the_reply_reads_as_a_person_writes_it(example_site: Path, language: str) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    now = berlin(30, 7)  # Monday morning: Tuesday is "tomorrow", Wednesday a weekday
    slots = [slot(berlin(1, 9, month=12)), slot(berlin(2, 10, 30, month=12))]
    slots.append(slot(berlin(2, 14, month=12)))
    first = offer_text(settings, slots, now, language=language).splitlines()[0]
    sentence, follow_up = _REPLIES[language]
    assert first.startswith(sentence + " " + follow_up), first


def test_each_day_is_named_and_far_days_get_their_date(example_site: Path) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    now = berlin(30, 7)  # Monday morning
    slots = [slot(berlin(30, 15)), slot(berlin(1, 9, month=12)), slot(berlin(8, 9, month=12))]
    text = offer_text(settings, slots, now).splitlines()[0]
    assert text.startswith(
        "Wie passt es bei Ihnen heute um 15:00 Uhr, morgen um 9:00 Uhr "
        "oder am Dienstag, 8. Dezember, um 9:00 Uhr?"
    )
    english = offer_text(settings, slots, now, language="en").splitlines()[0]
    assert english.startswith(
        "How about today at 15:00, tomorrow at 9:00 or Tuesday, 8 December at 9:00?"
    )


# Days a week or more away: the weekday keeps its article or case and gets its date
# ("w poniedziałek, 11 stycznia, o", not "poniedziałek, 11 stycznia o").
_FAR_REPLIES = {
    "de": "Wie passt es bei Ihnen am Montag, 11. Januar, um 11:00 oder 13:30 Uhr oder "
    "am Dienstag, 12. Januar, um 9:00 Uhr? Mögen",
    "en": "How about Monday, 11 January at 11:00 or 13:30, or Tuesday, 12 January at 9:00? "
    "Could",
    "fr": "Seriez-vous disponible le lundi 11 janvier à 11\u00a0h ou 13\u00a0h\u00a030, "
    "ou le mardi 12 janvier à 9\u00a0h\u202f? Pourriez",
    "es": "¿Le viene bien el lunes 11 de enero a las 11:00 o 13:30, o el martes 12 de enero "
    "a las 9:00? ¿Podría",
    "it": "Le andrebbe bene lunedì 11 gennaio alle 11:00 o 13:30, o martedì 12 gennaio "
    "alle 9:00? Potrebbe",
    "nl": "Schikt het u op maandag 11 januari om 11:00 of 13:30 uur, of op dinsdag "
    "12 januari om 9:00 uur? Kunt",
    "pl": "Czy pasowałaby rozmowa w poniedziałek, 11 stycznia, o 11:00 lub 13:30 albo "
    "we wtorek, 12 stycznia, o 9:00? Czy",
}


@pytest.mark.parametrize("language", sorted(_FAR_REPLIES))
def test_far_days_read_as_a_person_writes_them(example_site: Path, language: str) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    now = datetime(2026, 12, 23, 12, 0, tzinfo=BERLIN)  # before the holidays
    slots = [
        slot(datetime(2027, 1, 11, 11, 0, tzinfo=BERLIN).astimezone(UTC)),
        slot(datetime(2027, 1, 11, 13, 30, tzinfo=BERLIN).astimezone(UTC)),
        slot(datetime(2027, 1, 12, 9, 0, tzinfo=BERLIN).astimezone(UTC)),
    ]
    first = offer_text(settings, slots, now, language=language).splitlines()[0]
    assert first.startswith(_FAR_REPLIES[language]), first


@pytest.mark.parametrize(
    ("language", "weekdays"),
    [
        ("pl", "w poniedziałek, we wtorek, w środę, w czwartek, w piątek, w sobotę, "
         "w niedzielę"),
        ("de", "am Montag, am Dienstag, am Mittwoch, am Donnerstag, am Freitag, am Samstag, "
         "am Sonntag"),
    ],
)
def test_every_far_weekday_takes_its_case(
    example_site: Path, language: str, weekdays: str
) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    now = datetime(2026, 12, 1, 8, 0, tzinfo=BERLIN)
    for offset, weekday in enumerate(weekdays.split(", ")):
        day = datetime(2026, 12, 14 + offset, 9, 0, tzinfo=BERLIN)  # Monday 14 December on
        first = offer_text(settings, [slot(day.astimezone(UTC))], now, language=language)
        assert f" {weekday}, {14 + offset}" in first.splitlines()[0], first


def test_pick_spread_skips_adjacent_half_hours_and_uses_several_days() -> None:
    monday = [slot(berlin(30, 9) + timedelta(minutes=30 * i)) for i in range(14)]
    tuesday = [slot(berlin(1, 9, month=12) + timedelta(minutes=30 * i)) for i in range(14)]
    chosen = pick_spread(monday + tuesday, 3, BERLIN)
    assert chosen == [monday[0], monday[3], tuesday[0]]
    # Only one day open: three times on it, still apart.
    assert pick_spread(monday, 3, BERLIN) == [monday[0], monday[3], monday[6]]
    # Too few slots for the gap: the nearest ones are still offered.
    assert pick_spread(monday[:2], 3, BERLIN) == monday[:2]


def test_offer_errors_are_clear(runner, example_site: Path) -> None:
    config = str(example_site / "content" / "site.toml")
    result = runner.invoke(main, ["offer", "--config", config, "--now", NOW, "--call-type", "nope"])
    assert result.exit_code == 1
    assert "'nope' is not a call type; known: rueckruf, beratung" in result.output
    result = runner.invoke(main, ["offer", "--config", config, "--now", NOW, "--count", "0"])
    assert result.exit_code == 2 and "--count" in result.output
    path = example_site / "content" / "site.toml"
    path.write_text(path.read_text().replace('horizon = "14d"', 'horizon = "1h"'))
    result = runner.invoke(main, ["offer", "--config", config, "--now", NOW])
    assert result.exit_code == 1 and "no open slot of 'rueckruf' to offer" in result.output


def test_a_far_day_on_the_first_of_the_month_reads_as_french_writes_it(
    example_site: Path,
) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    now = datetime(2026, 12, 22, 8, 0, tzinfo=BERLIN)
    first_of_january = datetime(2027, 1, 1, 10, 0, tzinfo=BERLIN).astimezone(UTC)
    text = offer_text(settings, [slot(first_of_january)], now, language="fr")
    assert text.startswith("Seriez-vous disponible le vendredi 1er janvier à 10\u00a0h")
    assert day_month_label(datetime(2027, 1, 2).date(), "fr") == "2 janvier"
    # Its link line and every other date French readers see write the first so too.
    (link_line,) = [line for line in text.splitlines() if line.startswith("- ")]
    assert link_line.startswith("- vendredi 1er janvier à 10\u00a0h"), link_line
    first = first_of_january.date()
    assert date_label(first, "fr") == "vendredi 1er janvier 2027"
    assert short_day_label(first, "fr") == "ven. 1er janv."
    assert short_day_time(first_of_january, BERLIN, "fr") == "ven. 1er janv. 10\u00a0h"
    eleventh = datetime(2027, 1, 11).date()
    assert date_label(eleventh, "fr") == "lundi 11 janvier 2027"
    assert date_label(datetime(2027, 1, 21).date(), "fr") == "jeudi 21 janvier 2027"
    assert date_label(first, "de") == "Freitag, 1. Januar 2027"


@pytest.mark.parametrize(("language", "expected"), [
    ("es", "¿Le viene bien mañana a la 1:00?"),
    ("it", "Le andrebbe bene domani all'1:00?"),
    ("de", "Wie passt es bei Ihnen morgen um 1:00 Uhr?"),
])
def test_one_oclock_takes_the_singular_article(
    example_site: Path, language: str, expected: str
) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    now = berlin(30, 20)
    text = offer_text(settings, [slot(berlin(1, 1, month=12))], now, language=language)
    assert text.startswith(expected), text
    # Eleven and thirteen o'clock keep the plural.
    later = offer_text(settings, [slot(berlin(1, 11, month=12))], now, language=language)
    assert "a la 11" not in later and "all'11" not in later
    if language == "es":
        assert "a las 11:00" in later
        assert "- martes, 1 de diciembre, a la 1:00:" in text, text


def test_offer_writes_in_another_page_language_with_links_to_its_page(
    runner, example_site: Path
) -> None:
    path = example_site / "content" / "site.toml"
    path.write_text(path.read_text().replace("[site]\n", '[site]\nlanguages = ["de", "pl"]\n', 1))
    polish = run_offer(runner, example_site, "--language", "pl")
    assert polish.startswith("Czy pasowałaby rozmowa "), polish
    links = re.findall(r"https://\S+", polish)
    assert links and all(urlsplit(link).path == "/pl/" for link in links), links
    german = run_offer(runner, example_site)
    assert german.startswith("Wie passt es bei Ihnen")
    assert all(urlsplit(link).path == "/" for link in re.findall(r"https://\S+", german))
    config = str(path)
    refused = runner.invoke(main, ["offer", "--config", config, "--now", NOW, "--language", "fr"])
    assert refused.exit_code != 0
    assert "not built in 'fr'" in refused.output and "site.languages" in refused.output
    assert "Traceback" not in refused.output


def test_the_night_the_clocks_go_back_names_the_zone_of_a_time_that_comes_twice(
    example_site: Path,
) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    summer = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 2:30 MESZ
    winter = datetime(2027, 10, 31, 1, 30, tzinfo=UTC)  # 2:30 MEZ, an hour later
    early = datetime(2027, 10, 30, 23, 0, tzinfo=UTC)  # 1:00 MESZ, only once that night
    now = datetime(2027, 10, 30, 12, 0, tzinfo=UTC)
    text = offer_text(settings, [slot(early), slot(summer), slot(winter)], now)
    first = text.splitlines()[0]
    assert "morgen um 1:00, 2:30 MESZ oder 2:30 MEZ Uhr?" in first, first
    links = [line for line in text.splitlines() if line.startswith("- ")]
    assert [line.split(": https")[0] for line in links] == [
        "- Sonntag, 31. Oktober, 1:00 Uhr",
        "- Sonntag, 31. Oktober, 2:30 MESZ Uhr",
        "- Sonntag, 31. Oktober, 2:30 MEZ Uhr",
    ]
    english = offer_text(settings, [slot(summer), slot(winter)], now, language="en")
    assert "tomorrow at 2:30 CEST or 2:30 CET?" in english.splitlines()[0], english
    # Any other night the times stay as they are.
    plain = offer_text(settings, [slot(berlin(30, 9))], berlin(28, 10))
    assert "MEZ" not in plain and "MESZ" not in plain
