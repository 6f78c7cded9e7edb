"""Real local servers for the notification tests: an aiosmtpd SMTP sink and an HTTP receiver.

Imported by test_mail, test_notify, test_webhook and test_invite (plain helpers,
not conftest fixtures, so the shared conftest stays small).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import hashlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller as _Controller
from aiosmtpd.smtp import AuthResult

from generator.config.settings import Settings, load_settings
from generator.domain import Booking
from generator.store.base import Store

UTC = dt.UTC
# Monday 30 November 2026, 09:00 in Berlin (CET, UTC+1).
START = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
CREATED = dt.datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SECRET = b"test-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Controller(_Controller):
    """aiosmtpd's Controller that closes the connections it still holds when it stops.

    aiosmtpd stops its event loop as soon as asked: a connection that a client has just
    ended with QUIT may not have released its socket yet, and the warning about that
    socket (an error in this suite) then fails whichever test the garbage collector
    happens to run in. Seen under load and with a moved clock.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.protocols: list[Any] = []

    def factory(self) -> Any:
        protocol = super().factory()
        self.protocols.append(protocol)
        return protocol

    async def _close_connections(self) -> None:
        for protocol in self.protocols:
            transport = protocol.transport
            if transport is not None and not transport.is_closing():
                transport.close()
        deadline = time.monotonic() + 2
        # connection_lost (which sets transport to None) runs a loop turn or two later;
        # a TLS connection first says goodbye to its peer.
        while any(p.transport is not None for p in self.protocols):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.005)

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None and self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._close_connections(), self.loop)
            with suppress(Exception):  # stopping goes on whatever happened here
                future.result(timeout=5)
        super().stop(no_assert)


@dataclass
class SmtpSink:
    """Collects every message aiosmtpd accepts; ``delay`` slows each DATA a little."""

    messages: list[Received] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # lets two concurrent senders overlap
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


@contextmanager
def smtp_server(port: int | None = None, **kwargs: Any) -> Iterator[tuple[SmtpSink, int]]:
    """A real SMTP server (on ``port`` or a free one); kwargs go to aiosmtpd (tls_context...)."""
    sink = SmtpSink()
    port = port or free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def accept_any_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = getattr(auth_data, "login", b"") == b"anna" and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, made with cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


class HttpSink:
    """A real HTTP receiver in a thread; answers ``status`` (and sleeps ``delay`` first)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.status = 200
        self.delay = 0.0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                sink.requests.append(Request(self.path, dict(self.headers.items()), body))
                if sink.delay:
                    time.sleep(sink.delay)
                try:
                    self.send_response(sink.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up (timeout tests)
                    pass

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> HttpSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def site_settings(site: Path, env: dict[str, str] | None = None, extra_toml: str = "") -> Settings:
    """The example site's settings, with ``extra_toml`` appended to its site.toml."""
    path = site / "content" / "site.toml"
    if extra_toml:
        path.write_text(path.read_text(encoding="utf-8") + "\n" + extra_toml, encoding="utf-8")
    return load_settings(path, env=env or {})


def make_booking(n: int = 0, **changes: Any) -> Booking:
    """A booking on Monday 30 Nov 2026 (n shifts it by hours so bookings never overlap)."""
    values: dict[str, Any] = {
        "id": f"bk{n:04d}",
        "call_type": "rueckruf",
        "start": START + dt.timedelta(hours=n),
        "end": START + dt.timedelta(hours=n, minutes=30),
        "name": "Max Muster",
        "phone": "+49 170 5550101",
        "email": "max@example.com",
        "topic": "Vertrag XY",
        "note": "Bitte nachmittags",
        "who_calls": "owner",
        "language": "de",
        "caller_timezone": "",
        "created_at": CREATED,
    }
    values.update(changes)
    return Booking(**values)


def book(store: Store, booking: Booking, channels: list[str]) -> Booking:
    """Record a booking and its outbox rows the way the handler does (one transaction)."""
    recorded, created = store.book(
        booking,
        cancel_token_hash=hashlib.sha256(booking.id.encode()).hexdigest(),
        idempotency_key=f"idem-{booking.id}",
        channels=channels,
        day_start=booking.start - dt.timedelta(hours=12),
        day_end=booking.start + dt.timedelta(hours=12),
        max_per_day=None,
    )
    assert created
    return recorded
