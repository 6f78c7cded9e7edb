"""The one HTTP client: calendars, webhooks and the Netlify API go through :func:`request`.

It is urllib (redirects, proxies from the environment, TLS) with three limits a
stranger's server cannot stretch:

- one **deadline** for the whole exchange (connect, TLS, sending, every read of
  the status line, the headers and the body, across redirects): a server that
  sends one byte every two seconds is cut off when the deadline passes, not
  when it stops sending;
- a **size limit** on the body (also after gzip is unpacked);
- at most :data:`MAX_REDIRECTS` redirects, and only to http(s).

Failures raise :class:`HttpFailure`, whose text never holds the URL (calendar
and webhook addresses carry their secret in the path or query) and is meant to
be worded by the caller for its reader.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import socket
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from generator import __version__

__all__ = [
    "MAX_REDIRECTS",
    "Answer",
    "HttpFailure",
    "clean",
    "deadline_after",
    "request",
]

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
USER_AGENT = f"callslot/{__version__}"


class HttpFailure(Exception):
    """An exchange that gave no usable answer; ``kind`` says why, ``status`` the HTTP status.

    kind: "timeout", "connect", "status" (a non-2xx answer), "too_big", "redirect",
    "scheme", "damaged" (a broken compressed body or protocol).
    """

    def __init__(self, kind: str, detail: str = "", *, status: int | None = None) -> None:
        self.kind = kind
        self.detail = detail
        self.status = status
        super().__init__(f"{kind}: {detail}" if detail else kind)


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: its status, headers and (unpacked) body."""

    status: int
    headers: Message
    body: bytes


def deadline_after(seconds: float) -> float:
    """The deadline ``seconds`` from now, on the clock :func:`request` compares with."""
    return time.monotonic() + seconds


# --------------------------------------------------------------------------
# The deadline on every socket operation


class _DeadlineReader(io.RawIOBase):
    """A socket's reads, each allowed only the time left before the deadline.

    http.client reads the status line and the headers line by line from a
    buffered file over the socket; a per-read timeout alone lets a server that
    drips one byte a second hold it for ever, so the timeout shrinks with each read.
    """

    def __init__(self, sock: socket.socket, deadline: float, plain: Any) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        # The file http.client made holds a reference on the socket: urllib closes the
        # socket right after the headers, and only that reference keeps it open.
        self._plain = plain

    def close(self) -> None:
        if not self.closed:
            self._plain.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline, self.fp))


def _connection(base: type[http.client.HTTPConnection], deadline: float) -> Callable[..., Any]:
    """A connection class of ``base`` whose connect and every read keep to ``deadline``."""

    class Connection(base):  # type: ignore[valid-type, misc]
        response_class = functools.partial(_DeadlineResponse, deadline=deadline)

        def connect(self) -> None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline passed")
            # Connecting and the TLS handshake get what is left (CPython's ssl keeps the
            # socket's timeout as one deadline for the whole handshake, however it drips).
            self.timeout = left
            super().connect()

        def send(self, data: Any) -> None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline passed")
            if self.sock is not None:
                self.sock.settimeout(left)
            super().send(data)

    return Connection


class _HTTP(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_connection(http.client.HTTPConnection, req.deadline), req)  # type: ignore[attr-defined]


class _HTTPS(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(
            _connection(http.client.HTTPSConnection, req.deadline),  # type: ignore[attr-defined]
            req,
            context=self._context,  # type: ignore[attr-defined]
        )


class _Redirects(urllib.request.HTTPRedirectHandler):
    """At most MAX_REDIRECTS redirects, only to http(s), under the first request's deadline."""

    max_redirections = MAX_REDIRECTS

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        # urllib parses the Location before redirect_request sees it, and a ValueError
        # ("Invalid IPv6 URL") from there would leave the answer's socket open.
        location = headers.get("location") or headers.get("uri") or ""
        try:
            urlsplit(location)
        except ValueError:
            raise urllib.error.HTTPError(
                req.full_url, code, "redirect to an address that is not a valid URL", headers, fp
            ) from None
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        try:
            scheme = urlsplit(newurl).scheme.lower()
        except ValueError:  # "Invalid IPv6 URL" from a hostile or broken Location
            scheme = ""
        if scheme not in ("http", "https"):
            raise urllib.error.HTTPError(
                req.full_url, code, "redirect to a non-HTTP address", headers, fp
            )
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.deadline = req.deadline
        return new


_OPENER = urllib.request.build_opener(_HTTP, _HTTPS, _Redirects)


# --------------------------------------------------------------------------
# One request


def request(
    url: str,
    *,
    deadline: float,
    max_bytes: int,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Answer:
    """Send one request and read the whole answer before ``deadline`` (time.monotonic()).

    A "user:password@" in the URL is sent as Basic authorization to that host only
    (never on to where a redirect points). ``progress`` is called with the bytes
    read so far after each read. Non-2xx answers raise HttpFailure("status").
    """
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # "Invalid IPv6 URL": a [ or ] outside a host's brackets
        raise HttpFailure("scheme", "the address is not a valid URL") from None
    if scheme not in ("http", "https"):
        raise HttpFailure("scheme", "only http:// and https:// addresses can be read")
    address, login = _split_login(url)
    prepared = urllib.request.Request(
        address,
        data=body,
        method=method,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
    )
    prepared.deadline = deadline  # type: ignore[attr-defined]
    if login is not None:
        # Not a plain header: urllib would send it on to wherever a redirect points.
        prepared.add_unredirected_header("Authorization", login)
    left = deadline - time.monotonic()
    if left <= 0:
        raise HttpFailure("timeout", "no time left")
    try:
        with _OPENER.open(prepared, timeout=left) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise HttpFailure("too_big")
            raw = _read_limited(response, max_bytes, deadline, progress)
            status = response.status
            answer_headers = response.headers
    except HttpFailure:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the open answer
        kind = "redirect" if 300 <= exc.code < 400 else "status"
        raise HttpFailure(kind, str(exc.code), status=exc.code) from None
    except TimeoutError:
        raise HttpFailure("timeout") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise HttpFailure("timeout") from None
        raise HttpFailure("connect", _reason(exc.reason, url)) from None
    except (http.client.HTTPException, OSError) as exc:
        raise HttpFailure("connect", _reason(exc, url)) from None
    encoding = (answer_headers.get("Content-Encoding") or "").lower()
    return Answer(status, answer_headers, _decode(raw, encoding, max_bytes))


def _reason(error: object, url: str) -> str:
    """Why a connection failed, in words a calendar owner can act on (no errno, no URL)."""
    import ssl

    if isinstance(error, ssl.SSLCertVerificationError):
        return "the server's certificate is not valid (expired, or for another name)"
    if isinstance(error, ssl.SSLError):
        return "the secure connection (TLS) failed"
    if isinstance(error, socket.gaierror):
        return "the host name is unknown (a typo in the address, or no network)"
    if isinstance(error, ConnectionRefusedError):
        return "the server refused the connection (nothing listens at that address)"
    if isinstance(error, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "the server closed the connection"
    if isinstance(error, http.client.HTTPException):
        return "the server's answer is not valid HTTP"
    if isinstance(error, OSError) and error.strerror:
        return clean(error.strerror.lower(), url)
    return clean(str(error), url)


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


def _read_limited(
    response: Any, max_bytes: int, deadline: float, progress: Callable[[int], None] | None
) -> bytes:
    """At most ``max_bytes``; every read bounded by the deadline (see _DeadlineReader)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise HttpFailure("too_big")
        chunks.append(chunk)
        if progress is not None:
            progress(size)


def _decode(raw: bytes, encoding: str, max_bytes: int) -> bytes:
    if encoding not in ("gzip", "x-gzip"):
        return raw
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(raw, max_bytes + 1)
    except zlib.error:
        raise HttpFailure("damaged", "a damaged compressed answer") from None
    if len(body) > max_bytes:
        raise HttpFailure("too_big")
    return body


def clean(text: str, url: str) -> str:
    """``text`` without the URL and its parts: they may hold a secret."""
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
