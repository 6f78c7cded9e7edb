"""Skip rendering when nothing the site depends on has changed since the last build.

A build's output is a function of its inputs: the callslot code and the
libraries that render (Jinja2, Babel, Markdown), the settings, the files in
content/ and the theme folders, the secret, and either the calendars' contents,
the calls already booked and ``now``, or, one step later, the open slots and
``now``. After each build, ``.callslot/cache/build.json`` records a key over
those inputs and the size and sha256 of every file written. When a build
computes the same key and the output folder still holds exactly those files,
writing them again would give the same bytes, so it is skipped.

Two keys, so most unchanged builds never read a calendar nor compute a slot:

- the *input key* uses the content keys :mod:`.busycache` remembers for
  calendar files by their size and modification time; it exists only when every
  calendar is a file whose key is known that way (a URL must be fetched first);
- the *slots key* uses the computed slots instead of the calendars, the
  booked calls and ``now``: for URL calendars, calendar files touched without a
  change, and a later ``now`` with the same slots. The pages depend on ``now``
  only through the slots, so then only slots.json (which says when it was
  built) is written again, by :mod:`.site`.

Keys are HMAC-SHA256 under the signing secret: the file holds no value from
which a setting (a calendar address from the environment) could be guessed.
A damaged or missing record only costs a full build.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from generator import __version__
from generator.busy import cache as busycache
from generator.files import write_atomic

if TYPE_CHECKING:
    from generator.config.settings import Settings
    from generator.domain import Busy, Slot

__all__ = ["VERSION", "Record", "input_key", "load_unchanged", "save", "slots_key"]

VERSION = 1  # raise it whenever what a key covers changes
_RECORD = "build.json"
_PACKAGE = Path(__file__).resolve().parents[1]  # the whole generator package
# Libraries whose upgrade can change the bytes of a page (dates, escaping, Markdown).
_LIBRARIES = ("jinja2", "markupsafe", "markdown", "babel", "PIL")
# Files larger than this are keyed by size and modification time, not read
# (a calendar kept in content/ can be 42 MB; its content is keyed on its own).
_HASH_LIMIT = 1_000_000


# A NamedTuple, not a dataclass: defining a dataclass costs about a millisecond at
# import, a noticeable part of a build that finds nothing to do.
class Record(NamedTuple):
    """What the last build wrote, as stored in build.json."""

    input_key: str | None
    slots_key: str
    out_dir: str
    files: dict[str, list[Any]]  # relative path -> [size, sha256]
    slot_counts: dict[str, int]
    warnings: list[str]


def _record_file(settings: Settings) -> Path:
    return settings.state_dir / "cache" / _RECORD


def _digest(path: Path) -> list[Any]:
    """A file's sha256, or its size and modification time when it is big."""
    try:
        st = path.stat()
        if st.st_size > _HASH_LIMIT:
            return [st.st_size, st.st_mtime_ns, st.st_ino]
        return [hashlib.sha256(path.read_bytes()).hexdigest()]
    except OSError:
        return ["missing"]


def _tree(folder: Path, skip: set[Path]) -> Iterable[tuple[str, list[Any]]]:
    """Every file below ``folder`` but those in ``skip``: its path and its digest."""
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(
            d
            for d in dirs
            if d != "__pycache__" and not d.startswith(".") and Path(parent, d) not in skip
        )
        for name in sorted(files):
            path = Path(parent) / name
            if path not in skip:
                yield str(path), _digest(path)


def _library_stamps() -> list[Any]:
    """Where each rendering library lives and when it was installed, without importing it."""
    stamps: list[Any] = []
    for name in _LIBRARIES:
        spec = find_spec(name)
        origin = spec.origin if spec is not None else None
        stamps.append([name, origin, busycache.file_stamp(Path(origin)) if origin else None])
    return stamps


def _common(settings: Settings, out_dir: Path) -> list[Any]:
    """Everything both keys cover: code, libraries, settings, content, themes, output folder."""
    folders = [_PACKAGE, settings.content_dir, settings.root / "themes"]
    # The bundled themes: beside the package in a checkout, inside it in a wheel.
    folders.append(_PACKAGE.parent / "themes")
    theme = settings.site.theme
    if "/" in theme or "\\" in theme or theme.startswith("."):  # a path, as theme.py reads it
        folders.append(settings.root / theme)
    # Calendars are keyed by their content (input key) or by the slots (slots key);
    # the output and the state folder change with every build (content/ may be the root).
    skip = {s.path().absolute() for s in settings.calendars if s.kind == "file"}
    skip |= {Path(out_dir).absolute(), settings.state_dir.absolute()}
    trees = [
        list(_tree(f, skip)) for f in dict.fromkeys(f.absolute() for f in folders) if f.is_dir()
    ]
    intro = settings.content_dir / settings.site.intro  # may lie outside content/
    return [
        VERSION,
        __version__,
        sys.version,
        _library_stamps(),
        repr(settings),  # every value, also those taken from the environment
        trees,
        _digest(intro),
        str(Path(out_dir).absolute()),
    ]


def _key(secret: bytes, parts: list[Any]) -> str:
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def input_key(
    settings: Settings, now: datetime, out_dir: Path, *, secret: bytes, taken: Sequence[Busy]
) -> str | None:
    """The key over the build's inputs, or None when a calendar must be read to know it."""
    cache_dir = settings.state_dir / "cache"
    calendars = []
    for source in settings.calendars:
        if source.kind != "file":
            return None
        key = busycache.file_key(cache_dir, source.path())
        if key is None:
            return None
        calendars.append(key)
    booked = sorted((b.start.isoformat(), b.end.isoformat()) for b in taken)
    parts = ["inputs", _common(settings, out_dir), calendars, booked, now.isoformat()]
    return _key(secret, parts)


def slots_key(settings: Settings, out_dir: Path, *, secret: bytes, slots: Sequence[Slot]) -> str:
    """The key over the computed slots and everything else the pages show.

    Not ``now``: the pages show it only through the slots. slots.json, which
    also says when it was built, is the caller's to write again.
    """
    offered = sorted((s.start.isoformat(), s.end.isoformat(), s.call_type) for s in slots)
    return _key(secret, ["slots", _common(settings, out_dir), offered])


def _matches(out_dir: Path, files: Mapping[str, list[Any]]) -> bool:
    """True when ``out_dir`` holds exactly ``files``, byte for byte."""
    found = {
        str(Path(parent, name).relative_to(out_dir))
        for parent, _, names in os.walk(out_dir)
        for name in names
    }
    if found != set(files):
        return False
    for name, (size, digest) in files.items():
        path = out_dir / name
        try:
            if (
                path.stat().st_size != size
                or hashlib.sha256(path.read_bytes()).hexdigest() != digest
            ):
                return False
        except OSError:
            return False
    return True


def load_unchanged(settings: Settings, out_dir: Path, *, key: str | None) -> Record | None:
    """The last build's record, when ``key`` is one of its keys and ``out_dir`` is as it left it."""
    if key is None:
        return None
    try:
        data = json.loads(_record_file(settings).read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return None
        record = Record(
            input_key=data["input_key"],
            slots_key=data["slots_key"],
            out_dir=data["out_dir"],
            files=dict(data["files"]),
            slot_counts={str(k): int(v) for k, v in data["slot_counts"].items()},
            warnings=[str(w) for w in data["warnings"]],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if key not in (record.input_key, record.slots_key):
        return None
    out_dir = Path(out_dir).absolute()
    if record.out_dir != str(out_dir) or not _matches(out_dir, record.files):
        return None  # someone changed, added or removed a file in the output
    return record


def save(settings: Settings, record: Record, files: Mapping[str, bytes]) -> None:
    """Store ``record`` (its ``files`` are filled in from the bytes written)."""

    data = {
        "version": VERSION,
        "input_key": record.input_key,
        "slots_key": record.slots_key,
        "out_dir": record.out_dir,
        "files": {n: [len(b), hashlib.sha256(b).hexdigest()] for n, b in files.items()},
        "slot_counts": record.slot_counts,
        "warnings": record.warnings,
    }
    target = _record_file(settings)
    # A read-only or full disk: the next build renders again.
    with contextlib.suppress(OSError):
        write_atomic(target, json.dumps(data))
