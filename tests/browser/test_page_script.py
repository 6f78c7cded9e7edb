"""The booking page's small script in real Chromium, under the CSP that public/_headers sets.

The built site is served statically by http.server with the headers from
_headers (as Netlify sends them) and a stand-in GET /api/taken, so what runs
here is exactly the inline script the build hashed into the policy.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from generator.config.settings import load_settings
from generator.page.build import build_site, offered_slots

SECRET = b"browser-secret-0123456789"
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@dataclass
class StaticSite:
    url: str
    slots: list[dict[str, str]]  # slots.json entries
    taken: list[dict[str, str]]  # what /api/taken answers; tests may change it


def _headers_for(public: Path) -> dict[str, str]:
    """The "/*" block of Netlify's _headers file."""
    headers: dict[str, str] = {}
    block = None
    for line in (public / "_headers").read_text().splitlines():
        if not line.startswith(" "):
            block = line.strip()
        elif block == "/*":
            name, value = line.strip().split(": ", 1)
            headers[name] = value
    return headers


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticSite]:
    yield from _static_site(tmp_path_factory.mktemp("static-site"))


@pytest.fixture(scope="module")
def static_site_languages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticSite]:
    """The example site in German (the root), French (/fr/) and Polish (/pl/)."""
    yield from _static_site(tmp_path_factory.mktemp("static-languages"), ("de", "fr", "pl"))


@pytest.fixture(scope="module")
def static_site_fall_back(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticSite]:
    """Built the day before Berlin's (and London's) clocks go back, 31 October 2027, with
    the owner open 1:00-4:00 that night: 2:00 and 2:30 come twice."""
    yield from _static_site(
        tmp_path_factory.mktemp("static-fall-back"),
        now=datetime(2027, 10, 30, 10, 0, tzinfo=UTC),
        extra=(("[availability]\n", '[availability]\nsunday = ["01:00-04:00"]\n'),
               ("offers_per_day = 3", "offers_per_day = 20"),
               ("max_per_day = 4", "max_per_day = 20")),
    )


def _static_site(
    site: Path,
    languages: tuple[str, ...] = (),
    now: datetime = NOW,
    extra: tuple[tuple[str, str], ...] = (),
) -> Iterator[StaticSite]:
    import shutil

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "content", site / "content")
    toml = site / "content" / "site.toml"
    text = toml.read_text(encoding="utf-8")
    if languages:
        listed = ", ".join(f'"{code}"' for code in languages)
        text = text.replace("[site]\n", f"[site]\nlanguages = [{listed}]\n", 1)
    for old, new in extra:
        assert old in text, old
        text = text.replace(old, new, 1)
    toml.write_text(text, "utf-8")
    settings = load_settings(toml)
    public = site / "public"
    build_site(settings, now, public, secret=SECRET, slots=offered_slots(settings, now))
    slots = [
        s
        for s in json.loads((public / "slots.json").read_text())["slots"]
        if s["call_type"] == settings.call_types[0].slug
    ]  # the slots on index.html
    state = StaticSite(url="", slots=slots, taken=[])
    headers = _headers_for(public)

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def end_headers(self) -> None:
            for name, value in headers.items():
                self.send_header(name, value)
            super().end_headers()

        def do_GET(self) -> None:
            if self.path.startswith("/api/taken"):
                body = json.dumps({"taken": state.taken}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(public)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def open_page(browser, site: StaticSite, query: str = "", **context_options):  # type: ignore[no-untyped-def]
    options = {"locale": "de-DE", "timezone_id": "Europe/Berlin", **context_options}
    context = browser.new_context(**options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    with page.expect_response(lambda r: "/api/taken" in r.url):
        page.goto(f"{site.url}/{query}")
    page.evaluate("() => new Promise(r => setTimeout(r, 0))")
    return context, page, problems


def test_script_runs_under_the_csp_and_fills_hidden_fields(browser, static_site) -> None:
    context, page, problems = open_page(browser, static_site)
    try:
        assert page.locator("input[name=tz]").input_value() == "Europe/Berlin"
        assert re.fullmatch(r"[0-9a-f]{32}", page.locator("input[name=idem]").input_value())
        # Same zone as the owner: no second time shown.
        assert page.locator("label .local").count() == 0
        assert not problems, problems  # no CSP violation, no script error
    finally:
        context.close()


def test_visitor_in_another_zone_sees_their_time_first(browser, static_site) -> None:
    context, page, problems = open_page(browser, static_site, timezone_id="America/New_York")
    try:
        first = static_site.slots[0]
        label = page.locator(f'label[for="{first["id"]}"]')
        berlin = datetime.fromisoformat(first["start"].replace("Z", "+00:00"))
        ny_hour = (berlin.hour - 5) % 24  # New York is UTC-5 in November
        # The visitor's time is the big label; the owner's time and zone the small line.
        main, owners = label.inner_text().split("\n")
        assert re.search(rf"(^|\s){ny_hour}:00$", main), main
        assert owners == f"{berlin.hour + 1}:00 MEZ", owners
        hint = page.locator("#zone-hint").inner_text()
        assert "Nordamerikanische Ostküstenzeit" in hint and "Mitteleuropäische Zeit" in hint
        # Picking a time sums it up beside the button, in the visitor's clock.
        label.click()
        picked = page.locator("#picked").inner_text()
        assert picked.startswith("Ihre Wahl: ") and f" {ny_hour}:00–" in picked, picked
        assert "Rückruf (30 Minuten)" in picked
        assert page.locator("input[name=tz]").input_value() == "America/New_York"
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize(
    ("folder", "zone", "own"),
    [
        ("fr/", "America/New_York", "heure de l’Est"),
        ("pl/", "Asia/Tokyo", "Japonia"),
    ],
)
def test_a_page_not_in_english_keeps_its_own_clock_in_an_english_browser(
    browser, static_site_languages, folder: str, zone: str, own: str
) -> None:
    """A French or Polish page read in an en-US browser: no "AM"/"PM", no English word."""
    context, page, problems = open_page(
        browser, static_site_languages, folder, locale="en-US", timezone_id=zone
    )
    try:
        first = static_site_languages.slots[0]
        label = page.locator(f'label[for="{first["id"]}"]')
        start = datetime.fromisoformat(first["start"].replace("Z", "+00:00"))
        local = start.astimezone(ZoneInfo(zone))
        main = label.inner_text().split("\n")[0]
        clock = f"{local.hour}\u00a0h" if folder == "fr/" else f"{local.hour}:{local.minute:02d}"
        assert main.endswith(clock), (main, clock)
        label.click()
        picked = page.locator("#picked").inner_text()
        hint = page.locator("#zone-hint").inner_text()
        times = "\n".join(page.locator(".slots").all_inner_texts())
        for text in (times, picked, hint):
            assert not re.search(r"\b(AM|PM|am|pm)\b", text), text
        assert own.casefold() in hint.casefold(), hint
        # The hint puts each zone in brackets: never a bracket inside a bracket.
        assert not re.search(r"\([^)]*\(", hint), hint
        assert not problems, problems
    finally:
        context.close()


def test_the_french_page_sums_up_the_first_of_the_month_as_1er(
    browser, static_site_languages
) -> None:
    context, page, problems = open_page(
        browser, static_site_languages, "fr/", locale="fr-FR", timezone_id="Europe/Paris"
    )
    try:
        radios = page.locator("input[name=slot]")
        starts = radios.evaluate_all("rs => rs.map(r => [r.id, r.dataset.start])")
        first_of_month = [
            rid for rid, start in starts
            if datetime.fromisoformat(start.replace("Z", "+00:00"))
            .astimezone(ZoneInfo("Europe/Paris")).day == 1
        ]
        assert first_of_month, starts  # 1 December lies within the pinned fortnight
        page.locator("details").evaluate_all("ds => ds.forEach(d => d.open = true)")
        page.locator(f'label[for="{first_of_month[0]}"]').click()
        picked = page.locator("#picked").inner_text()
        assert " 1er déc." in picked, picked
        other = next(rid for rid, _ in starts if rid not in first_of_month)
        page.locator(f'label[for="{other}"]').click()
        assert "1er" not in page.locator("#picked").inner_text()
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize(
    ("zone", "locale", "repeated"),
    [
        # In Berlin the page's own labels (no script change): 2:00 and 2:30 come twice.
        ("Europe/Berlin", "de-DE", ["2:00 MESZ", "2:30 MESZ", "2:00 MEZ", "2:30 MEZ"]),
        # London's clocks go back the same hour: there 1:00 and 1:30 come twice (the
        # German page names the zones as Chromium does in German).
        ("Europe/London", "en-GB",
         ["1:00 GMT+1", "1:30 GMT+1", "1:00 GMT+0", "1:30 GMT+0"]),
    ],
)
def test_the_times_the_clocks_go_back_over_are_told_apart(
    browser, static_site_fall_back, zone: str, locale: str, repeated: list[str]
) -> None:
    context, page, problems = open_page(
        browser, static_site_fall_back, locale=locale, timezone_id=zone
    )
    try:
        night = [
            s for s in static_site_fall_back.slots
            if s["start"].startswith(("2027-10-30T23", "2027-10-31T0"))
        ]
        names = [
            page.get_by_role("radio").and_(page.locator(f'[id="{s["id"]}"]'))
            .evaluate("e => e.labels[0].firstChild.textContent")
            for s in night
        ]
        assert names[2:6] == repeated, names
        assert len(set(names)) == len(names), names
        # The pick beside the button says which of the two it is, too.
        page.locator(f'label[for="{night[4]["id"]}"]').click()
        picked = page.locator("#picked").inner_text()
        assert f" {repeated[2]}\u2013{repeated[3]} " in picked, picked
        assert not problems, problems
    finally:
        context.close()


def test_visitor_in_a_zone_with_the_same_clock_sees_no_second_time(browser, static_site) -> None:
    # Most visitors of a Berlin owner's page are in Vienna, Zurich, Paris...: the same time.
    context, page, problems = open_page(browser, static_site, timezone_id="Europe/Vienna")
    try:
        assert page.locator("input[name=tz]").input_value() == "Europe/Vienna"
        assert page.locator("label .local").count() == 0
        assert not problems, problems
    finally:
        context.close()


def test_taken_slots_are_greyed_out_and_links_preselect(browser, static_site) -> None:
    taken, wanted = static_site.slots[0], static_site.slots[2]
    static_site.taken = [{"start": taken["start"], "end": taken["end"]}]
    try:
        context, page, problems = open_page(
            browser, static_site, f"?slot={wanted['id']}&topic=Vertrag%20M%C3%BCller"
        )
        radio = page.locator(f'input[id="{taken["id"]}"]')
        assert radio.is_disabled()
        assert "vergeben" in page.locator(f'label[for="{taken["id"]}"]').inner_text()
        assert page.locator(f'input[id="{wanted["id"]}"]').is_checked()
        assert page.get_by_label(re.compile("^Worum geht es")).input_value() == "Vertrag Müller"
        assert not problems, problems
        context.close()
    finally:
        static_site.taken = []


def test_slots_within_the_buffers_of_a_taken_call_are_greyed_out(browser, static_site) -> None:
    # The example keeps 10 minutes before and after each call: a slot that begins when a
    # taken call ends is refused by the handler, so the page must not offer it either.
    from datetime import timedelta

    def at(value: str, minutes: int) -> str:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) + timedelta(minutes=minutes)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    first, second = static_site.slots[0], static_site.slots[1]
    static_site.taken = [
        {"start": at(first["start"], -30), "end": first["start"]},  # ends as `first` begins
        {"start": at(second["end"], 10), "end": at(second["end"], 40)},  # 10 minutes after
    ]
    try:
        context, page, problems = open_page(browser, static_site)
        assert page.locator(f'input[id="{first["id"]}"]').is_disabled()
        assert "vergeben" in page.locator(f'label[for="{first["id"]}"]').inner_text()
        assert not page.locator(f'input[id="{second["id"]}"]').is_disabled()
        assert not problems, problems
        context.close()
    finally:
        static_site.taken = []


def test_page_fits_a_small_phone(browser, static_site, screenshot_dir: Path) -> None:
    context, page, problems = open_page(
        browser,
        static_site,
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, "the page scrolls sideways on a 375px phone"
        box = page.locator(f'label[for="{static_site.slots[0]["id"]}"]').bounding_box()
        assert box and box["height"] >= 44 and box["width"] >= 44  # a comfortable tap target
        button = page.get_by_role("button", name="Termin buchen").bounding_box()
        assert button and button["height"] >= 44
        page.screenshot(path=str(screenshot_dir / "booking-page-375.png"), full_page=True)
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize("path", ["", "thanks.html"])
def test_axe_finds_no_accessibility_violation(browser, static_site, path: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    context, page, _ = open_page(browser, static_site)
    try:
        if path:
            page.goto(f"{static_site.url}/{path}")
        assert page.locator("h1").count() == 1
        results = Axe().run(page)
        violations = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
        ]
        assert not violations, violations
    finally:
        context.close()
