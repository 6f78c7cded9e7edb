"""An unchanged `callslot build` writes nothing; a change builds exactly what a cold build would.

Each test builds a copy of the example site with the real CLI, changes one
input (or nothing), builds again, and compares the output with a cold build of
the same inputs (no .callslot/cache/, no public/): they must be byte-identical.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from generator.cli import main

SECRET = "test-secret-0123456789abcdef"
NOW = "2026-11-27T08:00:00Z"  # a Friday morning in Berlin
UP_TO_DATE = "is up to date"

# An event on the first offered morning (Monday 30 November, Berlin), so the slots change.
NEW_EVENT = """BEGIN:VEVENT
UID:added-by-test@example.org
DTSTAMP:20261126T120000Z
DTSTART;TZID=Europe/Berlin:20261130T090000
DTEND;TZID=Europe/Berlin:20261130T120000
SUMMARY:Neuer Termin
END:VEVENT
END:VCALENDAR"""


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)


def build(runner, site: Path, now: str = NOW) -> str:
    result = runner.invoke(
        main, ["build", "--config", str(site / "content" / "site.toml"), "--now", now]
    )
    assert result.exit_code == 0, result.output
    return result.output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def cold_build(runner, site: Path, now: str = NOW) -> dict[str, bytes]:
    """The output of a build without any cache or previous output (bookings are kept)."""
    shutil.rmtree(site / ".callslot" / "cache", ignore_errors=True)
    shutil.rmtree(site / "public", ignore_errors=True)
    output = build(runner, site, now)
    assert UP_TO_DATE not in output
    return snapshot(site / "public")


def age(path: Path, seconds: float = 60.0) -> None:
    """Date a file back, as if it was saved a while before the build (not in this clock tick)."""
    when = path.stat().st_mtime - seconds
    os.utime(path, (when, when))


def test_an_unchanged_build_writes_nothing_and_reports_the_same_slots(
    runner, example_site: Path
) -> None:
    first = build(runner, example_site)
    public = example_site / "public"
    before = snapshot(public)
    folder = public.stat().st_ino  # a build that writes swaps in a new folder
    second = build(runner, example_site)
    assert UP_TO_DATE in second and "wrote " not in second
    assert public.stat().st_ino == folder
    assert snapshot(public) == before
    # The same count of open slots, per call type, as the build that wrote the files.
    assert first.strip().splitlines()[-1] == second.strip().splitlines()[-1]
    assert "open slots (rueckruf: " in second
    assert before == cold_build(runner, example_site)


def test_an_unchanged_build_loads_neither_the_renderers_nor_the_calendar_parser(
    example_site: Path,
) -> None:
    code = (
        "import sys\n"
        "from generator.cli import main\n"
        "main(sys.argv[1:], standalone_mode=False)\n"
        "print('loaded:', sorted(m for m in ('jinja2', 'markdown', 'babel', 'icalendar')"
        " if m in sys.modules))\n"
    )
    argv = [sys.executable, "-c", code, "build", "--now", NOW]
    env = {**os.environ, "CALLSLOT_SECRET": SECRET}
    env.pop("DATABASE_URL", None)
    cold = subprocess.run(argv, cwd=example_site, env=env, capture_output=True, text=True)
    assert cold.returncode == 0, cold.stderr
    assert "loaded: ['babel', 'icalendar', 'jinja2', 'markdown']" in cold.stdout
    warm = subprocess.run(argv, cwd=example_site, env=env, capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr
    assert UP_TO_DATE in warm.stdout and "loaded: []" in warm.stdout


def _change_calendar(site: Path) -> None:
    path = site / "content" / "calendar.ics"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("END:VCALENDAR", NEW_EVENT.replace("\n", "\r\n")), "utf-8")


def _change_setting(site: Path) -> None:
    path = site / "content" / "site.toml"
    text = path.read_text(encoding="utf-8")
    assert 'title = "Rückruf (30 Minuten)"' in text
    path.write_text(text.replace('title = "Rückruf (30 Minuten)"', 'title = "Kurzer Rückruf"'))


def _change_intro(site: Path) -> None:
    with (site / "content" / "intro.md").open("a", encoding="utf-8") as out:
        out.write("\nNeu: auch samstags erreichbar.\n")


def _change_template(site: Path) -> None:
    path = site / "themes" / "default" / "templates" / "base.html"
    text = path.read_text(encoding="utf-8")
    assert "</main>" in text
    path.write_text(text.replace("</main>", "</main><p>Impressum</p>", 1), "utf-8")


def _change_style(site: Path) -> None:
    with (site / "themes" / "default" / "assets" / "style.css").open("a") as out:
        out.write("\nbody { margin: 0 }\n")


def _change_secret(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", "another-secret-9876543210fedcba")


def _book_first_slot(site: Path) -> None:
    from notify_support import book, make_booking

    from generator.config.settings import load_settings
    from generator.store import open_store

    first = json.loads((site / "public" / "slots.json").read_text())["slots"][0]
    start = datetime.fromisoformat(first["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(first["end"].replace("Z", "+00:00"))
    store = open_store(None, settings=load_settings(site / "content" / "site.toml"))
    try:
        book(store, make_booking(call_type=first["call_type"], start=start, end=end), [])
    finally:
        store.close()


def _delete_output_file(site: Path) -> None:
    (site / "public" / "thanks.html").unlink()


def _edit_output_file(site: Path) -> None:
    path = site / "public" / "index.html"
    path.write_bytes(path.read_bytes().replace(b"<body", b"<body data-edited", 1))


def _add_output_file(site: Path) -> None:
    (site / "public" / "stray.html").write_text("left over\n")


CHANGES: dict[str, Callable[..., None]] = {
    "calendar": _change_calendar,
    "setting": _change_setting,
    "intro": _change_intro,
    "template": _change_template,
    "style": _change_style,
    "secret": _change_secret,
    "booking": _book_first_slot,
    "deleted output file": _delete_output_file,
    "edited output file": _edit_output_file,
    "extra output file": _add_output_file,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_builds_again_exactly_as_a_cold_build(
    runner, example_site: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    build(runner, example_site)
    before = snapshot(example_site / "public")
    do = CHANGES[change]
    if change == "secret":
        do(example_site, monkeypatch)
    else:
        do(example_site)
    output = build(runner, example_site)
    assert UP_TO_DATE not in output and "wrote " in output
    rebuilt = snapshot(example_site / "public")
    assert rebuilt == cold_build(runner, example_site)
    if change.endswith("output file"):
        assert rebuilt == before  # the damage is repaired, nothing else differs
    else:
        assert rebuilt != before
    # And the build after that is unchanged again.
    assert UP_TO_DATE in build(runner, example_site)


def test_a_later_now_with_the_same_slots_writes_only_slots_json(runner, example_site: Path) -> None:
    build(runner, example_site, "2026-11-27T07:45:00Z")
    public = example_site / "public"
    before = snapshot(public)
    later = NOW  # the same slots, but slots.json says when it was generated
    output = build(runner, example_site, later)
    assert UP_TO_DATE not in output
    # One line says what happened: only slots.json was rewritten (no "wrote" list after it).
    assert "rewrote slots.json" in output
    assert not [line for line in output.splitlines() if line.startswith("wrote ")]
    data = json.loads((public / "slots.json").read_text())
    assert data["generated"] == later
    after = snapshot(public)
    assert {name for name in after if after[name] != before[name]} == {"slots.json"}
    assert UP_TO_DATE in build(runner, example_site, later)
    assert after == cold_build(runner, example_site, later)


def test_a_later_now_that_changes_the_slots_builds_every_page(runner, example_site: Path) -> None:
    build(runner, example_site)
    before = snapshot(example_site / "public")
    next_day = "2026-11-30T10:00:00Z"  # Friday's and Monday morning's slots are gone
    output = build(runner, example_site, next_day)
    assert "same slots" not in output
    after = snapshot(example_site / "public")
    assert after["index.html"] != before["index.html"]
    assert after == cold_build(runner, example_site, next_day)


def test_a_calendar_saved_again_unchanged_needs_no_new_pages(runner, example_site: Path) -> None:
    calendar = example_site / "content" / "calendar.ics"
    build(runner, example_site)
    calendar.write_bytes(calendar.read_bytes())  # new modification time, same events
    age(calendar)
    output = build(runner, example_site)
    assert UP_TO_DATE in output  # it was read again, and gave the same slots
    assert snapshot(example_site / "public") == cold_build(runner, example_site)


def test_a_calendar_changed_twice_within_a_second_is_read_again(runner, example_site: Path) -> None:
    # Two saves inside one tick of the file system clock can leave size and
    # modification time equal: a file modified just now is never trusted by its stat.
    calendar = example_site / "content" / "calendar.ics"
    _change_calendar(example_site)  # the new event blocks 09:00-12:00 on Monday
    build(runner, example_site)
    before = snapshot(example_site / "public")
    stat = calendar.stat()
    moved = calendar.read_bytes().replace(
        b"DTSTART;TZID=Europe/Berlin:20261130T090000\r\nDTEND;TZID=Europe/Berlin:20261130T120000",
        b"DTSTART;TZID=Europe/Berlin:20261130T140000\r\nDTEND;TZID=Europe/Berlin:20261130T170000",
    )
    calendar.write_bytes(moved)
    os.utime(calendar, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert calendar.stat().st_size == stat.st_size
    assert calendar.stat().st_mtime_ns == stat.st_mtime_ns
    assert UP_TO_DATE not in build(runner, example_site)
    rebuilt = snapshot(example_site / "public")
    assert rebuilt != before
    assert rebuilt == cold_build(runner, example_site)


def test_a_damaged_record_only_costs_a_full_build(runner, example_site: Path) -> None:
    build(runner, example_site)
    before = snapshot(example_site / "public")
    record = example_site / ".callslot" / "cache" / "build.json"
    assert record.is_file()
    record.write_text('{"version": 1, "files": [')
    output = build(runner, example_site)
    assert UP_TO_DATE not in output
    assert snapshot(example_site / "public") == before
    assert UP_TO_DATE in build(runner, example_site)


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server for one calendar file (it answers If-Modified-Since with 304)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.ics", folder / "feed.ics"
    finally:
        server.shutdown()
        server.server_close()


def test_a_calendar_url_is_fetched_every_time_and_a_changed_feed_builds_again(
    runner, example_site: Path, feed_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = feed_server
    shutil.copy(example_site / "content" / "calendar.ics", served)
    monkeypatch.setenv("TEST_FEED_URL", url)
    toml = example_site / "content" / "site.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'source = "calendar.ics"' in text
    toml.write_text(text.replace('source = "calendar.ics"', 'source = "env:TEST_FEED_URL"'))
    build(runner, example_site)
    assert UP_TO_DATE in build(runner, example_site)
    _change_calendar(example_site)
    shutil.copy(example_site / "content" / "calendar.ics", served)
    age(served, -5)  # a newer Last-Modified than the one the last answer carried
    assert UP_TO_DATE not in build(runner, example_site)
    assert snapshot(example_site / "public") == cold_build(runner, example_site)
