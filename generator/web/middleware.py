"""What `callslot serve` wraps around the site and the handler for production use.

:class:`Gzip` compresses text answers for clients that accept it (pages,
JSON, the feed) and keeps conditional requests working for the compressed
variant; :class:`AccessLog` writes one line per request with the path only,
never the query string: cancel links, booking pages and the owner's feed
carry their token or key there.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["AccessLog", "Gzip"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/javascript",
    "application/manifest+json",
    "image/svg+xml",
)
_MIN_SIZE = 256  # below this gzip's header costs more than it saves
_SUFFIX = "-gzip"  # marks the compressed variant's ETag


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    lower = name.lower()
    return next((v for k, v in headers if k.lower() == lower), None)


def _without(headers: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    drop = {n.lower() for n in names}
    return [(k, v) for k, v in headers if k.lower() not in drop]


def _accepts_gzip(environ: dict[str, Any]) -> bool:
    from werkzeug.datastructures import Accept
    from werkzeug.http import parse_accept_header

    value = environ.get("HTTP_ACCEPT_ENCODING", "")
    return bool(value) and parse_accept_header(value, Accept).quality("gzip") > 0


class Gzip:
    """Compress text answers (gzip) when the client accepts it.

    The compressed variant gets its own ETag (``"...-gzip"``), as RFC 9110 asks of
    a different representation; a conditional request naming it is handed to the
    application with the plain ETag, so a revalidation still ends in 304.
    """

    def __init__(self, app: WSGIApp, *, level: int = 6) -> None:
        self.app = app
        self.level = level

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        match = environ.get("HTTP_IF_NONE_MATCH")
        asked_gzip = bool(match and _SUFFIX in match)
        if asked_gzip:
            environ["HTTP_IF_NONE_MATCH"] = match.replace(f'{_SUFFIX}"', '"')
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return written.append

        result = self.app(environ, capture)
        try:
            body = b"".join([*written, *result])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status: str = captured["status"]
        headers: list[tuple[str, str]] = list(captured["headers"])
        kind = (_header(headers, "Content-Type") or "").lower()
        etag = _header(headers, "ETag")
        if status.startswith("304") and asked_gzip and etag and etag.endswith('"'):
            # The compressed copy the client holds is still current: name it as it was named.
            headers = [*_without(headers, "ETag"), ("ETag", f'{etag[:-1]}{_SUFFIX}"')]
            headers.append(("Vary", "Accept-Encoding"))
        elif kind.startswith(_COMPRESSIBLE) and not _header(headers, "Content-Encoding"):
            vary = _header(headers, "Vary")
            if not vary or "accept-encoding" not in vary.lower():
                headers = _without(headers, "Vary")
                headers.append(("Vary", f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"))
            code = int(status.split(" ", 1)[0])
            if (
                len(body) >= _MIN_SIZE
                and code not in (204, 206, 304)
                and environ.get("REQUEST_METHOD") != "HEAD"
                and _accepts_gzip(environ)
            ):
                # mtime=0: the same page gives the same bytes (and ETag) on every request.
                body = gzip.compress(body, compresslevel=self.level, mtime=0)
                headers = _without(headers, "Content-Length", "ETag", "Accept-Ranges")
                headers += [("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))]
                if etag and etag.endswith('"'):
                    headers.append(("ETag", f'{etag[:-1]}{_SUFFIX}"'))
        start_response(status, headers)
        return [body]


class AccessLog:
    """One line per request: method, path (no query string), status, duration.

    No client address either: it is personal data and the rate limit keeps only a hash.
    """

    def __init__(self, app: WSGIApp, log: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.log = log or logging.getLogger("callslot.access").info

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.monotonic()
        seen: dict[str, str] = {}

        def record(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, record)
        finally:
            path = environ.get("PATH_INFO", "") or "/"
            # A %0A in the path must not start a forged log line.
            path = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in path[:200])
            self.log(
                f"{environ.get('REQUEST_METHOD', '-')} {path} {seen.get('status', '-')} "
                f"{(time.monotonic() - started) * 1000:.0f} ms"
            )
