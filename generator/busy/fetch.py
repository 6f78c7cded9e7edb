"""Calendar URLs -> bytes: one GET through :mod:`generator.http`.

One deadline for the whole answer (every read, headers included), a size
limit, a few redirects (http and https only), and every failure a
CalendarError that names the calendar but never its URL: calendar links carry
their secret in the path or query string. With a cache folder the last
answer's ETag and Last-Modified are sent back, and a ``304 Not Modified``
reuses the bytes stored then.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from generator.errors import CalendarError
from generator.files import make_dirs, write_atomic
from generator.http import MAX_REDIRECTS, HttpFailure, request

__all__ = ["MAX_BYTES", "MAX_REDIRECTS", "fetch_url"]

MAX_BYTES = 64_000_000  # as calendars.MAX_BYTES (not imported: keeps this module light)


def fetch_url(
    url: str,
    *,
    name: str,
    timeout: float = 7.0,  # calendars.FETCH_SECONDS
    max_bytes: int = MAX_BYTES,
    cache_dir: Path | None = None,
    deadline: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """The body of ``url`` (an iCalendar text), or CalendarError(calendar=name).

    The whole exchange ends within ``timeout`` seconds, or by ``deadline``
    (time.monotonic()) when that is earlier: several calendars of one booking
    share one deadline. ``progress`` gets the bytes read so far.
    """
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # "Invalid IPv6 URL": a [ or ] outside a host's brackets
        raise CalendarError(
            "its address is not a valid URL: a [ or ] in the user name or password must be "
            "written %5B or %5D (and @ : / as %40 %3A %2F)",
            calendar=name,
        ) from None
    if scheme not in ("http", "https"):
        raise CalendarError(
            "only http://, https:// and webcal:// addresses can be read", calendar=name
        )
    began = time.monotonic()
    limit = began + timeout if deadline is None else min(deadline, began + timeout)
    allowed = limit - began
    key = hashlib.sha256(url.encode()).hexdigest()
    meta_file = cache_dir / "http" / f"{key}.json" if cache_dir else None
    body_file = cache_dir / "http" / f"{key}.ics" if cache_dir else None
    meta = _load_meta(meta_file)
    headers = {"Accept": "text/calendar, */*;q=0.5", "Accept-Encoding": "gzip"}
    stored = _stored_body(meta, body_file)
    if stored is not None and meta:
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    try:
        answer = request(
            url, deadline=limit, max_bytes=max_bytes, headers=headers, progress=progress
        )
    except HttpFailure as exc:
        if exc.status == 304 and stored is not None:
            return stored
        raise CalendarError(_failure_message(exc, allowed, max_bytes), calendar=name) from None
    etag = answer.headers.get("ETag")
    last_modified = answer.headers.get("Last-Modified")
    if last_modified and not _settled(last_modified, answer.headers.get("Date")):
        # Changed in the second of this answer: it may change again within that
        # second under the same Last-Modified (and a file-stamp ETag), and a 304
        # would then keep stale busy time. Ask unconditionally next time.
        etag = last_modified = None
    body = answer.body
    if cache_dir is not None and meta_file is not None and body_file is not None:
        _store(body_file, meta_file, body, etag, last_modified)
    return body


def _failure_message(exc: HttpFailure, allowed: float, max_bytes: int) -> str:
    """What went wrong, for the owner; the URL is never repeated."""
    if exc.kind == "timeout":
        return (
            f"no complete answer within {max(allowed, 0):.3g} s; is the server up? "
            "(a calendar server this slow holds the build and bookings, so it is cut off)"
        )
    if exc.kind == "too_big":
        return _too_big(max_bytes)
    if exc.kind == "damaged":
        return "the server sent a damaged compressed answer"
    if exc.kind in ("status", "redirect") and exc.status is not None:
        return _status_message(exc.status)
    if exc.kind == "scheme":
        return "only http://, https:// and webcal:// addresses can be read"
    return f"cannot connect: {exc.detail}"


def _status_message(code: int) -> str:
    """What an HTTP error status means for the owner; the URL is never repeated."""
    if 300 <= code < 400:
        return (
            f"too many redirects (at most {MAX_REDIRECTS}) or a redirect to a non-HTTP "
            "address; use the calendar's final https:// address"
        )
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    hint = {
        401: "the server wants a login; use the calendar's secret address (ICS link)",
        403: "access denied; is the secret address still valid?",
        404: "check the address (was the secret link reset?)",
        410: "the calendar was removed or its link reset",
    }.get(code, "try again later; if it stays, check the address")
    return f"the server answered {code} {phrase}: {hint}".replace(" :", ":")


def _too_big(max_bytes: int) -> str:
    return f"larger than the limit of {max_bytes:,} bytes; is this really a calendar?"


def _settled(last_modified: str, date: str | None) -> bool:
    """Whether Last-Modified is at least a second before the answer's Date (RFC 9110 8.8.2.2)."""
    try:
        modified = parsedate_to_datetime(last_modified)
        answered = parsedate_to_datetime(date or "")
        return (answered - modified).total_seconds() >= 1
    except (TypeError, ValueError):  # a missing or odd date: no proof the bytes settled
        return False


def _load_meta(file: Path | None) -> dict[str, str] | None:
    if file is None:
        return None
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _stored_body(meta: dict[str, str] | None, body_file: Path | None) -> bytes | None:
    """The bytes kept with ``meta``, if they are the very bytes its validators describe."""
    if not meta or body_file is None or not (meta.get("etag") or meta.get("last_modified")):
        return None
    try:
        body = body_file.read_bytes()
    except OSError:
        return None
    # Another process may have replaced one file and not yet the other.
    return body if hashlib.sha256(body).hexdigest() == meta.get("sha256") else None


def _store(
    body_file: Path, meta_file: Path, body: bytes, etag: str | None, last_modified: str | None
) -> None:
    """Keep the bytes and validators for the next conditional request (best effort)."""
    try:
        make_dirs(body_file.parent)
        for file, content in (
            (body_file, body),
            (
                meta_file,
                json.dumps(
                    {
                        "etag": etag,
                        "last_modified": last_modified,
                        "sha256": hashlib.sha256(body).hexdigest(),
                    }
                ).encode(),
            ),
        ):
            write_atomic(file, content)
    except OSError:
        pass
