"""Calendar URLs -> bytes: one careful HTTP GET (stdlib urllib).

A time limit for the whole answer, a size limit, a few redirects (http and
https only), and every failure a CalendarError that names the calendar but never
its URL: calendar links carry their secret in the path or query string. With a
cache folder the last answer's ETag and Last-Modified are sent back, and a
``304 Not Modified`` reuses the bytes stored then.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
import zlib
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.client import HTTPException
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from generator import __version__
from generator.errors import CalendarError
from generator.files import write_atomic

__all__ = ["MAX_BYTES", "MAX_REDIRECTS", "fetch_url"]

MAX_REDIRECTS = 5
MAX_BYTES = 64_000_000  # as calendars.MAX_BYTES (not imported: keeps this module light)
_CHUNK = 64 * 1024


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow at most MAX_REDIRECTS redirects, and only to http(s)."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(
                req.full_url, code, "redirect to a non-HTTP address", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_Redirects)


def fetch_url(
    url: str,
    *,
    name: str,
    timeout: float = 20.0,
    max_bytes: int = MAX_BYTES,
    cache_dir: Path | None = None,
) -> bytes:
    """The body of ``url`` (an iCalendar text), or CalendarError(calendar=name)."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise CalendarError(
            "only http://, https:// and webcal:// addresses can be read", calendar=name
        )
    key = hashlib.sha256(url.encode()).hexdigest()
    meta_file = cache_dir / "http" / f"{key}.json" if cache_dir else None
    body_file = cache_dir / "http" / f"{key}.ics" if cache_dir else None
    meta = _load_meta(meta_file)
    headers = {
        "User-Agent": f"callslot/{__version__}",
        "Accept": "text/calendar, */*;q=0.5",
        "Accept-Encoding": "gzip",
    }
    stored = _stored_body(meta, body_file)
    if stored is not None and meta:
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    address, login = _split_login(url)
    request = urllib.request.Request(address, headers=headers)
    if login is not None:
        # Not a plain header: urllib would send it on to wherever a redirect points.
        request.add_unredirected_header("Authorization", login)
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise CalendarError(_too_big(max_bytes), calendar=name)
            raw = _read_limited(response, max_bytes, deadline, name)
            encoding = (response.headers.get("Content-Encoding") or "").lower()
            etag = response.headers.get("ETag")
            last_modified = response.headers.get("Last-Modified")
            if last_modified and not _settled(last_modified, response.headers.get("Date")):
                # Changed in the second of this answer: it may change again within that
                # second under the same Last-Modified (and a file-stamp ETag), and a 304
                # would then keep stale busy time. Ask unconditionally next time.
                etag = last_modified = None
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the open answer
        if exc.code == 304 and stored is not None:
            return stored
        raise CalendarError(_status_message(exc.code), calendar=name) from None
    except TimeoutError:
        raise CalendarError(
            f"no complete answer within {timeout:g} s; is the server up?", calendar=name
        ) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise CalendarError(
                f"no answer within {timeout:g} s; is the server up?", calendar=name
            ) from None
        raise CalendarError(
            f"cannot connect: {_clean(str(exc.reason), url)}", calendar=name
        ) from None
    except (HTTPException, OSError) as exc:
        raise CalendarError(
            f"the connection failed: {_clean(str(exc), url)}", calendar=name
        ) from None
    body = _decode(raw, encoding, max_bytes, name)
    if cache_dir is not None and meta_file is not None and body_file is not None:
        _store(body_file, meta_file, body, etag, last_modified)
    return body


def _split_login(url: str) -> tuple[str, str | None]:
    """The URL without "user:password@", and that login as a Basic Authorization value.

    Nextcloud, Radicale or Baikal exports sit behind a login that owners write
    into the address; urllib would take it for part of the host name.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


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


def _read_limited(response: object, max_bytes: int, deadline: float, name: str) -> bytes:
    """Read at most ``max_bytes`` before the deadline (a slow server cannot hold us forever)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read(_CHUNK)  # type: ignore[attr-defined]
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise CalendarError(_too_big(max_bytes), calendar=name)
        chunks.append(chunk)


def _decode(raw: bytes, encoding: str, max_bytes: int, name: str) -> bytes:
    if encoding not in ("gzip", "x-gzip"):
        return raw
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(raw, max_bytes + 1)
    except zlib.error:
        raise CalendarError("the server sent a damaged compressed answer", calendar=name) from None
    if len(body) > max_bytes:
        raise CalendarError(_too_big(max_bytes), calendar=name)
    return body


def _clean(text: str, url: str) -> str:
    """Remove the URL and its parts from an error text: they may hold the secret."""
    parts = urlsplit(url)
    for secret in (
        url,
        parts.netloc if "@" in parts.netloc else "",
        parts.password or "",
        parts.path + ("?" + parts.query if parts.query else ""),
        parts.query,
        parts.path if len(parts.path) > 1 else "",
    ):
        if secret:
            text = text.replace(secret, "…")
    return text


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
        body_file.parent.mkdir(parents=True, exist_ok=True)
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
