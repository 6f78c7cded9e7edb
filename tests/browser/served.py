"""A live `callslot serve` over a copy of the example site, and the slots it offers.

The page is built with the real clock: the handler checks notice and horizon
against its own clock, so the offered slots must be real future slots. Tests
therefore assert on whatever slots the page shows, never on fixed times.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from generator.config.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "browser-tests-fixed-secret-0123456789"
OWNER_TZ = ZoneInfo("Europe/Berlin")

ENGLISH_INTRO = """\
I am often in workshops during the day and cannot answer the phone on the spot.
Choose one of the free times - **I will call you back reliably**.

Please give me a *keyword* for your topic so that I can prepare.
"""


@dataclass(frozen=True)
class OfferedSlot:
    """One slot as slots.json lists it, with what the page should show for it."""

    id: str  # the radio's id, and ?slot= in links
    token: str  # the radio's value: the signed slot
    start: datetime  # aware, UTC
    end: datetime

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(OWNER_TZ)

    @property
    def hhmm(self) -> str:
        """The owner's local start time as the booking page shows it: "9:00"."""
        return f"{self.local_start.hour}:{self.local_start.minute:02d}"

    @property
    def time_pattern(self) -> re.Pattern[str]:
        """The owner's local start time as every page writes it: "9:00", never "09:00"."""
        return time_pattern(self.local_start)


def time_pattern(moment: datetime) -> re.Pattern[str]:
    """A wall-clock time as the pages write it: "9:00" ("09:00" does not match)."""
    return re.compile(rf"\b{moment.hour}:{moment.minute:02d}\b")


@dataclass
class Served:
    """A running `callslot serve` over a copy of the example site."""

    url: str
    root: Path
    language: str
    log: Path
    slots: list[OfferedSlot]
    notice: timedelta  # booking.notice: the handler refuses slots closer than this
    _handed_out: set[str] = field(default_factory=set)

    def claim_slot(self, on: Any = None) -> OfferedSlot:
        """A slot no other test of this session has used, on a day none has used if possible.

        The example site allows few calls per day (booking.max_per_day) and keeps a
        buffer around each booking, so each booking test gets a day of its own. ``on``,
        a page opened from the site, keeps only the slots that page still offers (a
        one-click rebooking elsewhere may have filled a day since the first build).
        """
        used_days = {s.local_start.date() for s in self.slots if s.token in self._handed_out}
        # The page was built minutes ago: its first slot may be too soon by now.
        earliest = datetime.now(UTC) + self.notice + timedelta(minutes=15)
        fresh = [s for s in self.slots if s.token not in self._handed_out and s.start >= earliest]
        if on is not None:
            fresh = [
                s for s in fresh
                if on.locator(f'input[name="slot"][value="{s.token}"]:not([disabled])').count()
            ]
        else:
            # The page as `callslot serve` has rebuilt it by now: only times it still offers.
            with urllib.request.urlopen(f"{self.url}/", timeout=10) as answer:
                html = answer.read().decode("utf-8")
            fresh = [s for s in fresh if f'value="{s.token}"' in html]
        if not fresh:
            raise AssertionError(f"all {len(self.slots)} offered slots are used up")
        choice = next((s for s in fresh if s.local_start.date() not in used_days), fresh[0])
        self._handed_out.add(choice.token)
        return choice


def _make_english(content: Path) -> None:
    """Turn the German example into the same owner's English site."""
    toml = content / "site.toml"
    text = toml.read_text(encoding="utf-8")
    # Each German text of the example, and its English; every one must be found.
    replacements = {
        'language = "de"': 'language = "en"',
        'title = "Dr. Anna Beispiel: Rückruf vereinbaren"': (
            'title = "Dr. Anna Beispiel: book a call"'
        ),
        'description = "Wählen Sie': 'description = "Choose a time for a phone call with '
        'Dr. Anna Beispiel and give a keyword."\n# was: "Wählen Sie',
        'title = "Rückruf (30 Minuten)"': 'title = "Call back (30 minutes)"',
        'description = "Ein kurzes': 'description = "A short call about your topic."\n# was: "',
        'title = "Beratungsgespräch (60 Minuten)"': 'title = "Consultation (60 minutes)"',
        'description = "Ausführliches': 'description = "A longer talk about a contract or a '
        'project."\n# was: "',
    }
    for german, english in replacements.items():
        assert german in text, f"the example site.toml changed: {german!r} is not in it"
        text = text.replace(german, english, 1)
    toml.write_text(text, encoding="utf-8")
    (content / "intro.md").write_text(ENGLISH_INTRO, encoding="utf-8")


def _wait_for_health(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    """The server's URL once it printed it and /api/health answers."""
    deadline = time.monotonic() + timeout
    url = ""
    while time.monotonic() < deadline:
        output = log.read_text(encoding="utf-8", errors="replace")
        if proc.poll() is not None:
            raise AssertionError(f"callslot serve exited with {proc.returncode}:\n{output}")
        if not url:
            match = re.search(r"Serving (http://127\.0\.0\.1:\d+)/", output)
            url = match.group(1) if match else ""
        if url:
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:
                    if response.status == 200:
                        return url
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        time.sleep(0.1)
    raise AssertionError(
        f"callslot serve did not answer /api/health within {timeout:.0f} s:\n"
        f"{log.read_text(encoding='utf-8', errors='replace')}"
    )


def _read_slots(url: str) -> list[OfferedSlot]:
    with urllib.request.urlopen(f"{url}/slots.json", timeout=5) as response:
        data = json.load(response)
    slots = [
        OfferedSlot(
            id=item["id"],
            token=item["token"],
            start=datetime.fromisoformat(item["start"]).astimezone(UTC),
            end=datetime.fromisoformat(item["end"]).astimezone(UTC),
        )
        for item in data["slots"]
        if item.get("call_type", "rueckruf") == "rueckruf"
    ]
    assert slots, "the example site offers no slot: the browser tests need at least a few"
    return slots


def serve_site(base: Path, language: str, *, languages: tuple[str, ...] = ()) -> Iterator[Served]:
    """Copy the example site into ``base`` (English when asked), serve it, stop it after.

    ``languages`` become site.languages: the page is built in each of them.
    """
    shutil.copytree(ROOT / "content", base / "content")
    shutil.copytree(ROOT / "themes", base / "themes")
    if language == "en":
        _make_english(base / "content")
    if languages:
        toml = base / "content" / "site.toml"
        listed = ", ".join(f'"{code}"' for code in languages)
        text = toml.read_text(encoding="utf-8").replace(
            "[site]\n", f"[site]\nlanguages = [{listed}]\n", 1
        )
        toml.write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "CALLSLOT_SECRET": SECRET,
        "CALLSLOT_RATE_LIMIT": "off",
        "DATABASE_URL": f"sqlite:///{base / 'bookings.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SMTP_URL", None)  # no mail leaves a test
    log = base / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from generator.cli import main; main()",
                "serve",
                "--port",
                "0",  # any free port, printed: no race with other workers for one
            ],
            cwd=base,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = _wait_for_health(proc, log, timeout=30)
        notice = load_settings(base / "content" / "site.toml").booking.notice
        yield Served(
            url=url,
            root=base,
            language=language,
            log=log,
            slots=_read_slots(url),
            notice=notice,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
