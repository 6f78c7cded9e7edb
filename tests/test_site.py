"""`callslot build`: the booking pages, as a caller and a browser receive them (parsed HTML)."""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import icalendar
import pytest
from page_support import parse_page

from generator.cli import main
from generator.config.settings import load_settings
from generator.i18n import day_label
from generator.page.build import build_site, offered_slots
from generator.page.theme import inline_hashes
from generator.signing import verify_slot_token

SECRET = "test-secret-0123456789abcdef"
NOW = "2026-11-27T08:00:00Z"  # a Friday morning in Berlin
NOW_DT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
GERMAN_DAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
ENGLISH_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)


def build(runner, site: Path, *args: str, ok: bool = True):
    result = runner.invoke(
        main, ["build", "--config", str(site / "content" / "site.toml"), "--now", NOW, *args]
    )
    if ok:
        assert result.exit_code == 0, result.output
    return result


def set_setting(site: Path, old: str, new: str) -> None:
    path = site / "content" / "site.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def built(runner, example_site: Path) -> Path:
    build(runner, example_site)
    return example_site / "public"


def test_build_writes_every_page_and_reports_slots(runner, example_site: Path) -> None:
    result = build(runner, example_site)
    public = example_site / "public"
    assert sorted(p.name for p in public.iterdir()) == [
        "_headers",
        "beratung.html",
        "error.html",
        "index.html",
        "robots.txt",
        "slots.json",
        "thanks.html",
    ]
    settings = load_settings(example_site / "content" / "site.toml")
    expected = offered_slots(settings, NOW_DT)
    assert f"{len(expected)} open slots" in result.output
    assert "wrote " in result.output
    # Nothing is left beside the output from the temporary build folder.
    assert sorted(p.name for p in example_site.iterdir()) == [
        ".callslot",
        "content",
        "public",
        "themes",
    ]


def test_every_offered_slot_appears_once_with_a_valid_signature(
    built: Path, example_site: Path
) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    expected = offered_slots(settings, NOW_DT)
    assert expected, "the example should offer slots"
    seen = []
    for name in ("index.html", "beratung.html"):
        page = parse_page(built / name)
        for radio in page.slot_radios:
            slot = verify_slot_token(SECRET.encode(), radio.attrs["value"])
            assert radio.attrs["id"] == f"{slot.call_type}.{slot.start:%Y%m%dT%H%M%SZ}"
            assert radio.attrs["data-start"] == slot.start.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert radio.attrs["data-end"] == slot.end.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert "required" in radio.attrs  # with JS off, the browser insists on a slot
            seen.append(slot)
    assert sorted(seen) == sorted(expected)
    assert len(set(seen)) == len(seen)
    data = json.loads((built / "slots.json").read_text())
    assert data["timezone"] == "Europe/Berlin" and data["generated"] == NOW
    assert [verify_slot_token(SECRET.encode(), s["token"]) for s in data["slots"]] == expected


def test_slots_are_grouped_by_local_day_with_german_weekdays(
    built: Path, example_site: Path
) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    page = parse_page(built / "index.html")
    assert page.fieldsets
    for legend, radios in page.fieldsets:
        if not radios or radios[0].startswith("f-"):
            continue  # the "who calls whom" choice
        assert legend.split(",")[0] in GERMAN_DAYS, legend
        for radio_id in radios:
            value = page.one("input", id=radio_id).attrs["value"]
            slot = verify_slot_token(SECRET.encode(), value)
            assert legend == day_label(slot.start.astimezone(settings.tz).date(), "de")
    assert page.labels  # slot labels show the owner's local time
    first = page.slot_radios[0]
    assert re.fullmatch(r"\d\d:\d\d", page.labels[first.attrs["id"]])
    assert "Termin buchen" in "".join(page.text)


def test_english_site_shows_english_weekdays_and_texts(runner, example_site: Path) -> None:
    set_setting(example_site, 'language = "de"', 'language = "en"')
    build(runner, example_site)
    page = parse_page(example_site / "public" / "index.html")
    legends = [legend for legend, radios in page.fieldsets if radios and "." in radios[0]]
    assert legends and all(legend.split(",")[0] in ENGLISH_DAYS for legend in legends)
    assert page.one("html", lang="en")
    assert page.labels["f-topic"] == "What is it about? A keyword is enough."
    assert page.meta("og:locale") == "en_GB"
    thanks = parse_page(example_site / "public" / "thanks.html")
    assert "Thank you, your call is booked" in "".join(thanks.text)


def test_form_fields_follow_the_handler_contract(built: Path) -> None:
    page = parse_page(built / "index.html")
    form = page.one("form", id="booking")
    assert form.attrs["action"] == "/api/book" and form.attrs["method"] == "post"
    topic = page.one("input", name="topic")
    assert "required" in topic.attrs and topic.attrs["maxlength"] == "80"
    assert "required" in page.one("input", name="name").attrs
    assert "required" in page.one("input", name="phone").attrs  # booking.require_phone
    assert "required" not in page.one("input", name="email").attrs
    note = page.one("textarea", name="note")
    assert note.attrs["maxlength"] == "1000" and "required" not in note.attrs
    # The browser never lets through a length the handler refuses (the phone field once
    # took 40 characters, the handler 30: a caller filled in everything and was sent back).
    from generator.web.form import LIMITS

    for name, (_, longest) in LIMITS.items():
        element = page.one("textarea" if name == "note" else "input", name=name)
        assert int(element.attrs["maxlength"]) <= longest, name
    hidden = {e.attrs["name"]: e.attrs["value"] for e in page.find("input", type="hidden")}
    assert hidden == {"tz": "", "idem": "", "lang": "de", "call_type": "rueckruf", "back": "/"}
    # who_calls = "either" in the example: the caller chooses, "owner" preselected.
    choices = page.find("input", name="who_calls")
    assert [c.attrs["value"] for c in choices] == ["owner", "caller"]
    assert "checked" in choices[0].attrs
    other = parse_page(built / "beratung.html")
    assert other.one("input", name="back").attrs["value"] == "/beratung.html"
    assert other.one("input", name="call_type").attrs["value"] == "beratung"


def test_honeypot_is_hidden_from_people_and_screen_readers(built: Path) -> None:
    page = parse_page(built / "index.html")
    trap = page.one("input", name="website")
    assert trap.attrs["tabindex"] == "-1" and trap.attrs["autocomplete"] == "off"
    assert trap.attrs.get("value", "") == ""
    assert any(a.get("aria-hidden") == "true" for a in trap.hidden_by)


def test_every_field_has_a_bound_label(built: Path) -> None:
    for name in ("index.html", "beratung.html"):
        page = parse_page(built / name)
        fields = [
            e
            for e in page.elements
            if e.tag in ("input", "textarea", "select") and e.attrs.get("type") != "hidden"
        ]
        assert fields
        for element in fields:
            assert page.labels.get(element.attrs.get("id", "")), element.attrs
        ids = {e.attrs.get("id") for e in page.elements}
        assert set(page.labels) <= ids  # no label points at nothing


def test_sharing_meta_tags(built: Path) -> None:
    page = parse_page(built / "index.html")
    assert page.title == "Dr. Anna Beispiel: Rückruf vereinbaren"
    assert page.meta("og:title") == page.title
    assert page.meta("description").startswith("Wählen Sie einen Termin")
    assert page.meta("og:description") == page.meta("description")
    assert page.meta("og:url") == "https://anna-beispiel.example.org/"
    assert page.meta("og:type") == "website" and page.meta("og:locale") == "de_DE"
    assert page.meta("robots") == "noindex, nofollow"
    other = parse_page(built / "beratung.html")
    assert other.meta("og:url") == "https://anna-beispiel.example.org/beratung.html"
    assert other.title.startswith("Beratungsgespräch")


def test_robots_and_security_headers(built: Path) -> None:
    assert (built / "robots.txt").read_text() == "User-agent: *\nDisallow: /\n"
    headers = (built / "_headers").read_text()
    csp = re.search(r"Content-Security-Policy: (.*)", headers).group(1)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "Referrer-Policy: " in headers and "X-Content-Type-Options: nosniff" in headers
    for name in ("index.html", "beratung.html", "thanks.html", "error.html"):
        html = (built / name).read_text()
        found = inline_hashes(html)
        assert found["style"] and all(h in csp for h in found["style"] | found["script"])
    assert inline_hashes((built / "index.html").read_text())["script"]


def test_robots_and_framing_follow_the_settings(runner, example_site: Path) -> None:
    set_setting(
        example_site,
        'intro = "intro.md"',
        'intro = "intro.md"\nrobots_index = true\nallow_framing = true',
    )
    build(runner, example_site)
    public = example_site / "public"
    assert "Allow: /" in (public / "robots.txt").read_text()
    assert "frame-ancestors *" in (public / "_headers").read_text()
    page = parse_page(public / "index.html")
    assert not [e for e in page.find("meta", name="robots")]


def test_two_builds_with_the_same_now_are_byte_identical(
    runner, example_site: Path, tmp_path: Path
) -> None:
    build(runner, example_site, "--out", str(tmp_path / "a"))
    build(runner, example_site, "--out", str(tmp_path / "b"))
    first, second = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert first == second and len(first) == 7


def test_first_view_fits_in_14_kb_gzipped(built: Path) -> None:
    raw = (built / "index.html").read_bytes()
    assert len(gzip.compress(raw, 9)) <= 14 * 1024
    page = parse_page(built / "index.html")
    # Everything inline: no external stylesheet, script or font.
    assert not page.find("link", rel="stylesheet")
    assert not [e for e in page.elements if e.tag == "script" and "src" in e.attrs]


def _calendar_secrets(path: Path) -> set[str]:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    found: set[str] = set()
    for event in calendar.walk("VEVENT"):
        for key in ("SUMMARY", "LOCATION", "DESCRIPTION"):
            if key in event:
                found.add(str(event[key]))
        attendees = event.get("ATTENDEE", [])
        for attendee in attendees if isinstance(attendees, list) else [attendees]:
            found.add(str(attendee).removeprefix("mailto:"))
            if "CN" in attendee.params:
                found.add(attendee.params["CN"])
    return found


def _assert_absent(folder: Path, needles: set[str]) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for needle in needles:
                assert needle not in text, f"{needle!r} leaked into {path.name}"


def test_no_event_detail_from_the_calendar_reaches_public(built: Path, example_site: Path) -> None:
    secrets = _calendar_secrets(example_site / "content" / "calendar.ics")
    assert "Jour fixe Projekt Nordlicht" in secrets and "Müller GmbH, Hamburg" in secrets
    _assert_absent(built, secrets | {"calendar.ics", str(example_site)})


@pytest.fixture
def calendar_server(example_site: Path) -> Iterator[str]:
    """The example calendar at a secret-looking URL on a local HTTP server."""
    folder = example_site / "served" / "private-3f9a7c"
    folder.mkdir(parents=True)
    (folder / "basic.ics").write_bytes((example_site / "content" / "calendar.ics").read_bytes())

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Quiet, directory=str(example_site / "served"))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/private-3f9a7c/basic.ics"
    finally:
        server.shutdown()
        server.server_close()


def test_calendar_url_from_the_environment_never_appears(
    runner, example_site: Path, calendar_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_setting(example_site, 'source = "calendar.ics"', 'source = "env:TEST_CAL_URL"')
    monkeypatch.setenv("TEST_CAL_URL", calendar_server)
    result = build(runner, example_site)
    assert calendar_server not in result.output and "private-3f9a7c" not in result.output
    public = example_site / "public"
    secrets = _calendar_secrets(example_site / "content" / "calendar.ics")
    _assert_absent(public, secrets | {calendar_server, "private-3f9a7c", "127.0.0.1"})
    # The served calendar blocks time exactly as the file did.
    offered = [s["id"] for s in json.loads((public / "slots.json").read_text())["slots"]]
    set_setting(example_site, 'source = "env:TEST_CAL_URL"', 'source = "calendar.ics"')
    build(runner, example_site, "--out", str(example_site / "from-file"))
    from_file = json.loads((example_site / "from-file" / "slots.json").read_text())
    assert offered == [s["id"] for s in from_file["slots"]]


# -- failures leave the previous site untouched


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (
            lambda site: set_setting(
                site, 'intro = "intro.md"', 'intro = "intro.md"\ntheme = "nope"'
            ),
            r"unknown theme 'nope'.*Known themes: default",
        ),
        (
            lambda site: (site / "themes" / "default" / "templates" / "page.html").write_text(
                "<p>\n{% if page.days %}\n<b>unclosed</b>\n", encoding="utf-8"
            ),
            r"page\.html, line \d+",
        ),
        (
            lambda site: (site / "content" / "intro.md").unlink(),
            r"site\.intro: the Markdown file .*intro\.md does not exist",
        ),
        (
            lambda site: set_setting(site, "[[call_types]]", "[[call_types]]\nsurprise = 1"),
            r"unknown setting 'surprise'",
        ),
    ],
    ids=["bad-theme", "broken-template", "missing-markdown", "bad-settings"],
)
def test_a_failed_build_names_the_problem_and_keeps_the_old_site(
    runner, example_site: Path, break_it, expected
) -> None:
    build(runner, example_site)
    public = example_site / "public"
    before = snapshot(public)
    break_it(example_site)
    result = runner.invoke(
        main,
        [
            "build",
            "--config",
            str(example_site / "content" / "site.toml"),
            "--now",
            "2026-11-30T08:00:00Z",
        ],
    )
    assert result.exit_code == 1, result.output
    assert re.search(expected, result.output), result.output
    assert "Traceback" not in result.output
    assert snapshot(public) == before
    assert not [p for p in example_site.iterdir() if p.name.startswith(".public")]


def test_no_open_slot_warns_and_shows_a_calm_message(
    runner, example_site: Path, tmp_path: Path
) -> None:
    settings = load_settings(example_site / "content" / "site.toml")
    result = build_site(settings, NOW_DT, tmp_path / "out", secret=SECRET.encode(), slots=[])
    assert result.total_slots == 0 and result.warnings
    page = parse_page(tmp_path / "out" / "index.html")
    assert not page.find("form") and page.find("p", role="status")
    assert json.loads((tmp_path / "out" / "slots.json").read_text())["slots"] == []
    set_setting(example_site, 'horizon = "14d"', 'horizon = "1h"')  # shorter than the notice
    result = build(runner, example_site)
    assert "0 open slots" in result.output and "Warning: no slot is open" in result.output


def test_booked_calls_are_not_offered(example_site: Path, tmp_path: Path) -> None:
    from generator.domain import Busy

    settings = load_settings(example_site / "content" / "site.toml")
    slots = offered_slots(settings, NOW_DT)
    booked = Busy(slots[0].start, slots[0].end)
    result = build_site(settings, NOW_DT, tmp_path / "out", secret=SECRET.encode(), taken=[booked])
    offered = json.loads((tmp_path / "out" / "slots.json").read_text())["slots"]
    assert offered and result.total_slots == len(offered)
    # Nothing overlaps the booked call (another time of that day may move up instead).
    for item in offered:
        slot = verify_slot_token(SECRET.encode(), item["token"])
        assert not (slot.start < booked.end and booked.start < slot.end), item["id"]


def test_netlify_forms_mode_posts_to_netlify(runner, example_site: Path) -> None:
    set_setting(
        example_site, 'who_calls = "either"', 'who_calls = "owner"\nbackend = "netlify-forms"'
    )
    settings = load_settings(example_site / "content" / "site.toml")
    build_site(
        settings,
        NOW_DT,
        example_site / "public",
        secret=SECRET.encode(),
        slots=offered_slots(settings, NOW_DT),
    )
    page = parse_page(example_site / "public" / "index.html")
    form = page.one("form", id="booking")
    assert form.attrs["data-netlify"] == "true" and form.attrs["action"] == "/thanks.html"
    assert form.attrs["netlify-honeypot"] == "website"
    hidden = {e.attrs["name"]: e.attrs["value"] for e in page.find("input", type="hidden")}
    assert hidden["form-name"] == "booking" and hidden["who_calls"] == "owner"


def test_build_without_secret_uses_the_development_key_and_says_so(
    runner, example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLSLOT_SECRET")
    result = build(runner, example_site)
    assert "CALLSLOT_SECRET is not set" in result.output
    key = (example_site / ".callslot" / "secret").read_text().strip()
    page = parse_page(example_site / "public" / "index.html")
    verify_slot_token(key.encode(), page.slot_radios[0].attrs["value"])
    assert key not in result.output


def test_netlify_builds_publishes_and_proxies_the_handler() -> None:
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parent.parent / "netlify.toml").read_text())
    assert "callslot build" in config["build"]["command"]
    assert config["build"]["publish"] == "public"
    assert config["build"]["environment"]["PYTHON_VERSION"] == "3.11"
    (api,) = [r for r in config["redirects"] if r["from"] == "/api/*"]
    assert api["to"].endswith("/api/:splat") and api["status"] == 200 and api["force"] is True
    assert config["headers"]  # the rest (CSP) comes from public/_headers


def test_a_rebuild_leaves_out_calls_booked_in_the_store(runner, example_site: Path) -> None:
    from notify_support import book, make_booking

    from generator.store import open_store

    build(runner, example_site)
    first = json.loads((example_site / "public" / "slots.json").read_text())["slots"][0]
    start = datetime.fromisoformat(first["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(first["end"].replace("Z", "+00:00"))
    settings = load_settings(example_site / "content" / "site.toml")
    store = open_store(None, settings=settings)  # the default .callslot/bookings.sqlite3
    try:
        book(store, make_booking(call_type=first["call_type"], start=start, end=end), [])
    finally:
        store.close()
    build(runner, example_site)
    again = json.loads((example_site / "public" / "slots.json").read_text())["slots"]
    assert first["id"] not in {s["id"] for s in again}
    for item in again:
        slot = verify_slot_token(SECRET.encode(), item["token"])
        assert slot.end <= start or slot.start >= end


def test_an_intro_saved_by_windows_notepad_keeps_its_heading(runner, example_site: Path) -> None:
    # Notepad starts the file with a byte order mark: Markdown then saw no heading
    # on the first line, and the page showed "# Willkommen" as plain text.
    intro = example_site / "content" / "intro.md"
    intro.write_bytes(b"\xef\xbb\xbf# Willkommen\r\n\r\nRufen Sie an.\r\n")
    build(runner, example_site)
    html = (example_site / "public" / "index.html").read_text(encoding="utf-8")
    assert "<h1>Willkommen</h1>" in html
    assert "\ufeff" not in html and "# Willkommen" not in html


def _book_at(site: Path, start: datetime, end: datetime) -> None:
    from notify_support import book, make_booking

    from generator.store import open_store

    settings = load_settings(site / "content" / "site.toml")
    store = open_store(None, settings=settings)  # the default .callslot/bookings.sqlite3
    try:
        book(store, make_booking(call_type="rueckruf", start=start, end=end), [])
    finally:
        store.close()


def _offered(site: Path) -> list[dict]:
    return json.loads((site / "public" / "slots.json").read_text())["slots"]


def test_a_call_booked_earlier_today_still_fills_the_day(runner, example_site: Path) -> None:
    # Monday 30 November, 11:00 in Berlin; the day's one call (09:00) is already over.
    # The handler counts it toward max_per_day, so the page must not offer that day:
    # a rebuild that read only future bookings offered slots the handler refused.
    set_setting(example_site, "max_per_day = 4", "max_per_day = 1")
    set_setting(example_site, 'notice = "4h"', 'notice = "0m"')
    _book_at(
        example_site,
        datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 8, 30, tzinfo=UTC),
    )
    build(runner, example_site, "--now", "2026-11-30T10:00:00Z")
    days = {s["start"][:10] for s in _offered(example_site)}
    assert days and "2026-11-30" not in days


def test_a_call_that_just_ended_still_blocks_its_buffer(runner, example_site: Path) -> None:
    # The call ended at 10:55 in Berlin, 5 minutes before now; its 10-minute buffer after
    # runs to 11:05, so the 11:00 start (the first of the day's grid left) is not free.
    set_setting(example_site, 'notice = "4h"', 'notice = "0m"')
    _book_at(
        example_site,
        datetime(2026, 11, 30, 9, 25, tzinfo=UTC),
        datetime(2026, 11, 30, 9, 55, tzinfo=UTC),
    )
    build(runner, example_site, "--now", "2026-11-30T10:00:00Z")
    starts = {s["start"] for s in _offered(example_site)}
    assert "2026-11-30T10:00:00Z" not in starts
    assert any(s.startswith("2026-11-30") for s in starts)
