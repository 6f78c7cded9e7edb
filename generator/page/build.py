"""Slots + Markdown + theme -> public/: the booking pages, thanks, errors, slots.json, headers.

A build first gathers everything in memory (slots, the intro, every rendered
page), then writes it into a temporary folder beside the output and swaps
that into place: a failed build (bad theme, broken template, missing
Markdown, unreadable calendar) leaves the previous site untouched.
Output depends only on the settings, the calendars, the secret and ``now``:
the same inputs give byte-identical files. So when :mod:`.buildcache` finds
the inputs unchanged and the output folder as the last build left it, nothing
is rendered or written (and Jinja2, Babel and Markdown are not even imported).
The pages depend on ``now`` only through the slots; slots.json also says when
it was built. So with the same slots at another ``now`` only slots.json is
written again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from generator.config.settings import Settings
from generator.errors import BuildError
from generator.files import write_atomic
from generator.i18n import N_
from generator.page import buildcache

# The renderers load only when a page is rendered: an unchanged build skips them.
if TYPE_CHECKING:
    from markupsafe import Markup

    from generator.busy.progress import FetchProgress
    from generator.domain import Busy, Slot
    from generator.page.theme import Theme

__all__ = [
    "BuildResult",
    "build_site",
    "offered_slots",
    "render_intro",
    "render_site",
    "write_site",
]


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    files: list[Path]  # every file of the site, sorted
    slot_counts: dict[str, int]  # offered slots per call type slug, in settings order
    warnings: list[str] = field(default_factory=list)
    # What this build wrote: fewer than ``files`` when the last build's pages still held.
    written: list[Path] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        """True when out_dir already held exactly this site: nothing was written."""
        return not self.written

    @property
    def total_slots(self) -> int:
        return sum(self.slot_counts.values())


def offered_slots(
    settings: Settings,
    now: datetime,
    *,
    taken: Sequence[Busy] = (),
    progress: FetchProgress | None = None,
) -> list[Slot]:
    """Read the calendars and compute the open slots, as a build offers them.

    ``taken`` are calls already booked (they block time like events); ``progress``
    shows each calendar download.
    """
    from generator import availability
    from generator.availability import open_slots
    from generator.busy import calendars

    read_busy = getattr(calendars, "read_busy", None)
    busy: list[Busy] = []
    if settings.calendars:
        if read_busy is None:  # pragma: no cover - only while the calendar stage is missing
            raise BuildError(
                "this callslot cannot read calendars yet (generator.busy.calendars."
                "read_busy is missing); refusing to offer unchecked time"
            )
        start, end = availability.calendar_window(settings, now)
        busy = list(
            read_busy(
                settings.calendars,
                settings.tz,
                start,
                end,
                cache_dir=settings.state_dir / "cache",
                progress=progress,
            )
        )
    return open_slots(settings, busy, now, booked=taken)


def render_intro(settings: Settings, language: str | None = None) -> Markup:
    """The owner's intro Markdown (site.intro in content/) as HTML.

    With site.languages, a file beside it named for the language ("intro.en.md")
    is that language's intro; without one, every language shows site.intro.
    """
    from generator.config.translations import intro_path

    return _markdown(intro_path(settings, language), "site.intro", settings)


def _markdown(path: Path, field: str, settings: Settings) -> Markup:
    import markdown
    from markupsafe import Markup

    try:
        # utf-8-sig: a byte order mark (Windows Notepad) would hide a first-line heading.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        from generator.config.settings import setting_error
        from generator.config.suggest import did_you_mean

        try:
            others = [p.name for p in path.parent.glob("*.md")]
        except OSError:
            others = []
        raise setting_error(
            settings, field,
            f"the Markdown file {path} does not exist{did_you_mean(path.name, others, cutoff=0.6)}"
            f"; create it or point {field} at an existing file",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"{field}: cannot read {path}: {exc}") from None
    # The owner writes this file; Markdown with HTML passed through is their own page.
    return Markup(markdown.markdown(text, extensions=["extra"], output_format="html"))


def _message_pages(settings: Settings, theme: Theme, language: str) -> dict[str, str]:
    """thanks.html and error.html: static answers for forms mode and as fallbacks."""
    from generator.page.viewdata import message_path, page_path

    home = page_path(settings, settings.call_types[0].slug, language)
    back = [(theme.gettext("Back to the booking page", language), home)]

    def message(status: str, title: str, heading: str, lead: str) -> str:
        t = theme.gettext
        return theme.render("message.html", lang=language, status=status,
                            title=t(title, language), heading=t(heading, language),
                            lead=t(lead, language), details=[], links=back, form=None)

    thanks = message(
        "ok",
        N_("Thank you"),
        N_("Thank you, your call is booked"),
        N_("You will receive a confirmation if you gave an email address. "
           "Please keep the time free."),
    )
    error = message(
        "error",
        N_("Booking failed"),
        N_("Sorry, the booking did not work"),
        N_("Nothing was booked. The time may have been taken in the meantime; "
           "please choose another one."),
    )
    return {
        message_path(settings, "thanks.html", language)[1:]: thanks,
        message_path(settings, "error.html", language)[1:]: error,
    }


def _legal_pages(settings: Settings, theme: Theme) -> dict[str, str]:
    """imprint.html and privacy.html from the owner's Markdown, for those given as a file."""
    from generator.page.legal import LEGAL_PAGES, legal_source
    from generator.page.viewdata import page_path

    titles = {"imprint": theme.gettext("Imprint"), "privacy": theme.gettext("Privacy notice")}
    pages = {}
    for kind, (field_name, filename) in LEGAL_PAGES.items():
        source = legal_source(settings, kind)
        if not source or source.startswith(("http://", "https://")):
            continue
        body = _markdown(settings.content_dir / source, f"site.{field_name}", settings)
        pages[filename] = theme.render(
            "text.html",
            title=titles[kind],
            body=body,
            back=page_path(settings, settings.call_types[0].slug),
        )
    return pages


def _slots_json(settings: Settings, now: datetime, slots: Sequence[Slot], secret: bytes) -> str:
    from generator.page.viewdata import iso_utc
    from generator.signing import slot_id, slot_token

    data = {
        "timezone": settings.owner.timezone,
        "generated": iso_utc(now),
        "slots": [
            {
                "start": iso_utc(s.start),
                "end": iso_utc(s.end),
                "call_type": s.call_type,
                "id": slot_id(s),
                "token": slot_token(secret, s),
            }
            for s in sorted(slots, key=lambda s: (s.start, s.call_type, s.end))
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def _headers(settings: Settings, pages: Sequence[str]) -> str:
    """Netlify's _headers file: the CSP allows exactly the inline code by its hash."""
    from generator.page.theme import content_security_policy

    csp = content_security_policy(
        pages,
        allow_framing=settings.site.allow_framing,
        endpoints=(settings.booking.endpoint, settings.booking.taken_endpoint),
    )
    lines = [
        "/*",
        f"  Content-Security-Policy: {csp}",
        "  Referrer-Policy: strict-origin-when-cross-origin",
        "  X-Content-Type-Options: nosniff",
    ]
    if not settings.site.allow_framing:
        lines.append("  X-Frame-Options: DENY")
    lines += ["/slots.json", "  Cache-Control: no-cache"]
    return "\n".join(lines) + "\n"


def render_site(
    settings: Settings,
    now: datetime,
    slots: Sequence[Slot],
    *,
    secret: bytes,
    theme: Theme | None = None,
) -> dict[str, bytes]:
    """Every file of the site, by relative path: pure, nothing is written."""
    from generator.page.theme import load_theme
    from generator.page.viewdata import page_filename, page_view, site_languages

    theme = theme or load_theme(settings)
    script = theme.asset("page.js")
    photo = ""
    if settings.owner.photo:
        from generator.page.photo import photo_data_uri

        photo = photo_data_uri(settings.content_dir / settings.owner.photo)
    html: dict[str, str] = {}
    # The first language at the root, each other in its folder (site.languages).
    for language in site_languages(settings):
        intro = render_intro(settings, language)
        for call_type in settings.call_types:
            view = page_view(
                settings,
                call_type,
                slots,
                secret=secret,
                intro=intro,
                theme=theme,
                language=language,
                photo=photo,
            )
            html[page_filename(settings, call_type.slug, language)] = theme.render(
                "page.html", lang=language, page=view, script=script
            )
        html.update(_message_pages(settings, theme, language))
    html.update(_legal_pages(settings, theme))
    files = {name: text.encode() for name, text in html.items()}
    files["slots.json"] = _slots_json(settings, now, slots, secret).encode()
    robots = "Allow: /" if settings.site.robots_index else "Disallow: /"
    files["robots.txt"] = f"User-agent: *\n{robots}\n".encode()
    files["_headers"] = _headers(settings, [html[k] for k in sorted(html)]).encode()
    return dict(sorted(files.items()))


def write_site(files: Mapping[str, bytes], out_dir: Path) -> list[Path]:
    """Write ``files`` into a fresh folder beside ``out_dir``, then swap it in."""
    import shutil
    import tempfile

    out_dir = Path(out_dir).absolute()
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=parent))
    except OSError as exc:
        raise BuildError(f"cannot create a folder next to {out_dir}: {exc}") from None
    old: Path | None = None
    try:
        for name, data in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, 0o644)
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=parent))
            old.rmdir()
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    except OSError as exc:
        if old is not None and not out_dir.exists():
            os.replace(old, out_dir)  # put the previous site back
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildError(f"cannot write the site to {out_dir}: {exc}") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return sorted(out_dir / name for name in files)


def build_site(
    settings: Settings,
    now: datetime,
    out_dir: Path,
    *,
    secret: bytes,
    slots: Sequence[Slot] | None = None,
    taken: Sequence[Busy] = (),
    progress: FetchProgress | None = None,
) -> BuildResult:
    """Build the site into ``out_dir``; ``slots`` default to the open slots from the calendars.

    ``taken`` are booked calls: they are not offered (given ``slots`` overlapping
    them are dropped too). When the last build had the same inputs and ``out_dir``
    still holds its files byte for byte, nothing is written (``unchanged``);
    when only ``now`` differs and the slots are the same, only slots.json is.
    """
    input_key = None
    if slots is None:
        input_key = buildcache.input_key(settings, now, out_dir, secret=secret, taken=taken)
        record = buildcache.load_unchanged(settings, out_dir, key=input_key)
        if record is not None:
            return _unchanged(out_dir, record)
        slots = offered_slots(settings, now, taken=taken, progress=progress)
        if input_key is None:
            # Reading the calendars remembered their files' keys: the next build can use them.
            input_key = buildcache.input_key(settings, now, out_dir, secret=secret, taken=taken)
    else:
        slots = [s for s in slots if not any(b.start < s.end and s.start < b.end for b in taken)]
    slots_key = buildcache.slots_key(settings, out_dir, secret=secret, slots=slots)
    record = buildcache.load_unchanged(settings, out_dir, key=slots_key)
    if record is not None:
        return _refresh(settings, now, slots, out_dir, record, secret=secret, input_key=input_key)
    files = render_site(settings, now, slots, secret=secret)
    written = write_site(files, out_dir)
    counts = {c.slug: sum(1 for s in slots if s.call_type == c.slug) for c in settings.call_types}
    from generator.config.translations import untranslated

    # Recorded with the build: its key covers the settings and content/ they depend on.
    warnings = untranslated(settings)
    if not slots:
        warnings.append(
            "no slot is open: the page offers nothing; check availability, "
            "booking.notice and booking.horizon in site.toml, and the calendars"
        )
    buildcache.save(
        settings,
        buildcache.Record(
            input_key=input_key,
            slots_key=slots_key,
            out_dir=str(Path(out_dir).absolute()),
            files={},
            slot_counts=counts,
            warnings=warnings,
        ),
        files,
    )
    return BuildResult(
        out_dir=Path(out_dir), files=written, slot_counts=counts, warnings=warnings, written=written
    )


def _read(out_dir: Path, record: buildcache.Record) -> dict[str, bytes]:
    return {name: (Path(out_dir) / name).read_bytes() for name in record.files}


def _refresh(
    settings: Settings,
    now: datetime,
    slots: Sequence[Slot],
    out_dir: Path,
    record: buildcache.Record,
    *,
    secret: bytes,
    input_key: str | None,
) -> BuildResult:
    """The last build's pages stand (same slots); slots.json is written again if ``now`` moved."""
    files = _read(out_dir, record)
    data = _slots_json(settings, now, slots, secret).encode()
    written = []
    if files.get("slots.json") != data:
        target = Path(out_dir).absolute() / "slots.json"
        try:
            write_atomic(target, data)  # a reader sees the old file or the new one, never half
        except OSError as exc:
            raise BuildError(f"cannot write {target}: {exc}") from None
        files["slots.json"] = data
        written.append(target)
    if written or record.input_key != input_key:
        buildcache.save(settings, record._replace(input_key=input_key), files)
    return _unchanged(out_dir, record, written=written)


def _unchanged(
    out_dir: Path, record: buildcache.Record, *, written: list[Path] | None = None
) -> BuildResult:
    return BuildResult(
        out_dir=Path(out_dir),
        files=sorted(Path(out_dir).absolute() / name for name in record.files),
        slot_counts=dict(record.slot_counts),
        warnings=list(record.warnings),
        written=written or [],
    )
