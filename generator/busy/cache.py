"""Busy time derived from a calendar, kept on disk for the next build.

An entry holds the busy intervals of one calendar content for one window, in
one owner zone. It answers any window inside its own, so a build a day later
(whose window moved on with the clock) and the handler's one-day re-check both
find it. The key is a hash of the calendar's content: a changed calendar is
always derived afresh. Entries are JSON files, written atomically; a damaged or
missing one only costs speed.

For a calendar file, the key of its content is also remembered by the file's
size, modification time and inode (``files.json``), so an unchanged file is not
read or hashed again (42 MB for 50,000 events). Any write changes the
modification time; a file modified within the last seconds is not remembered,
because a second write inside the same clock tick could keep size and time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from generator.files import make_dirs, write_atomic

__all__ = [
    "ENTRIES",
    "VERSION",
    "content_key",
    "file_key",
    "file_stamp",
    "lookup",
    "remember_file",
    "store",
]

VERSION = 4  # raise it whenever the derivation of busy time changes
ENTRIES = 32  # feeds that change on every fetch must not fill the disk
# A file modified this recently may still be written to within the same mtime tick.
SETTLE_SECONDS = 2.0

Interval = tuple[datetime, datetime]


def content_key(data: bytes) -> str:
    """The sha256 of a calendar's bytes, DTSTAMP values left out.

    Google stamps every event with the time of the download, so its feed changes
    on every fetch while the events stay the same; DTSTAMP never changes busy time.
    """
    digest = hashlib.sha256()
    pieces = data.split(b"\nDTSTAMP")
    digest.update(pieces[0])
    for piece in pieces[1:]:
        line_end = piece.find(b"\n")
        digest.update(b"\nDTSTAMP")
        digest.update(piece[line_end:] if line_end >= 0 else b"")
    return digest.hexdigest()


def _file(cache_dir: Path, key: str) -> Path:
    return cache_dir / "busy" / f"{key}.json"


def lookup(
    cache_dir: Path, key: str, zone: str, start: datetime, end: datetime
) -> list[Interval] | None:
    """The stored intervals touching [start, end), or None when no entry covers that window."""
    try:
        entry = json.loads(_file(cache_dir, key).read_text(encoding="utf-8"))
        if not isinstance(entry, dict) or (entry.get("version"), entry.get("tz")) != (
            VERSION,
            zone,
        ):
            return None
        if not (
            datetime.fromisoformat(entry["start"]) <= start
            and datetime.fromisoformat(entry["end"]) >= end
        ):
            return None
        intervals = [
            (datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in entry["busy"]
        ]
    except (OSError, KeyError, TypeError, ValueError):
        return None  # no entry, or a damaged one: derive again
    return [(s, e) for s, e in intervals if e > start and s < end]


def store(
    cache_dir: Path,
    key: str,
    zone: str,
    start: datetime,
    end: datetime,
    intervals: list[Interval],
) -> None:
    """Keep the intervals derived for [start, end); drop the oldest entries beyond ENTRIES."""

    file = _file(cache_dir, key)
    entry: dict[str, Any] = {
        "version": VERSION,
        "tz": zone,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "busy": [[s.isoformat(), e.isoformat()] for s, e in intervals],
    }
    try:
        make_dirs(file.parent)
        _prune(file.parent)
        write_atomic(file, json.dumps(entry))
    except OSError:
        pass  # a read-only or full disk: the next build derives again


def _prune(folder: Path) -> None:
    aged = []
    for path in folder.glob("*.json"):
        try:
            aged.append((path.stat().st_mtime, path))
        except OSError:
            continue  # removed meanwhile by another build
    aged.sort()
    for _, path in aged[: max(0, len(aged) - ENTRIES + 1)]:
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------
# Content keys of calendar files, remembered by their stat


def file_stamp(path: Path) -> list[int] | None:
    """Size, mtime (ns), inode and device of ``path``; None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]


def _files(cache_dir: Path) -> Path:
    return cache_dir / "files.json"


def _load_files(cache_dir: Path) -> dict[str, Any]:
    try:
        known = json.loads(_files(cache_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) and known.get("version") == VERSION else {}


def file_key(cache_dir: Path, path: Path) -> str | None:
    """The content key remembered for the file at ``path``, if it is unchanged since."""
    entry = _load_files(cache_dir).get(str(Path(path).absolute()))
    stamp = file_stamp(path)
    if not isinstance(entry, list) or len(entry) != 2 or stamp is None or entry[0] != stamp:
        return None
    return entry[1] if isinstance(entry[1], str) else None


def _file_system_now(cache_dir: Path) -> int | None:
    """Now (ns) on the clock that stamps modification times, read from a file touched for it.

    Not the build's `now` (pinned by --now) nor the process clock: an NFS server or a
    test under faketime stamps files by another clock, and a file would then count as
    settled while it may still change within the same tick. None when it cannot be
    touched (then nothing is remembered, which only costs speed).
    """
    probe = cache_dir / "mtime.probe"
    try:
        make_dirs(cache_dir)
        probe.touch(mode=0o600)
        return os.stat(probe).st_mtime_ns
    except OSError:
        return None


def remember_file(cache_dir: Path, path: Path, stamp: list[int] | None, key: str) -> None:
    """Remember ``key`` for the file, as it was when ``stamp`` was taken (before reading it).

    Not remembered when the file changed since the stamp (it was written while
    read) or was modified within SETTLE_SECONDS (see the module docstring).
    """
    if stamp is None or file_stamp(path) != stamp:
        return
    now = _file_system_now(cache_dir)
    if now is None or now - stamp[1] < SETTLE_SECONDS * 1e9:
        return
    known = _load_files(cache_dir)
    known["version"] = VERSION
    name = str(Path(path).absolute())
    if known.get(name) == [stamp, key]:
        return
    known[name] = [stamp, key]
    # A read-only or full disk: the file is hashed again next time.
    with contextlib.suppress(OSError):
        write_atomic(_files(cache_dir), json.dumps(known))
