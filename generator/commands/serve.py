"""`callslot serve`: the booking page and its handler on one local address, with no set-up.

One process does what a deployment splits up: it builds the site into
public/ (as `callslot build` does), serves those files and the handler's
/api/* together, rebuilds when content/ or the theme changes (or a booking
is made or cancelled, so the page stops offering it), and sends due
notifications every 30 seconds. Bookings go to the SQLite file in .callslot/
unless DATABASE_URL names another store.

``--now`` pins the clock of the build only (to preview a given week); the
handler checks bookings against the real clock (or the one CALLSLOT_NOW pins
for the whole process), so a page built for the past offers nothing bookable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from generator.availability import booked_busy
from generator.clock import Clock, clock_from_env, system_clock
from generator.config.settings import Settings, load_settings
from generator.domain import Busy
from generator.errors import CallslotError
from generator.store import Store, open_store
from generator.web.wsgi import BookingApp, create_app

__all__ = ["LocalSite", "serve", "static_headers"]

log = logging.getLogger("callslot.serve")

POLL_SECONDS = 1.0
NOTIFY_SECONDS = 30.0
REBUILD_SECONDS = 600.0  # slots inside the notice period drop off the page as time passes
# A client gets READ_SECONDS to send a request's headers and body, counted from its first
# byte (or from the connection, for one that has sent nothing yet); slower ones are cut,
# however steadily they trickle bytes (waitress's own channel_timeout counts only silence).
# CALLSLOT_SERVE_READ_SECONDS overrides it.
READ_SECONDS = 15.0
# At most this many open connections per client address (per /64 for IPv6), so one client
# cannot take all of waitress's 100; further ones are closed at once. Off behind a trusted
# proxy (CALLSLOT_TRUSTED_PROXIES >= 1), where every connection comes from the proxy.
# CALLSLOT_SERVE_CONNECTIONS_PER_CLIENT overrides it (0: no cap; the load bench uses 0).
CONNECTIONS_PER_CLIENT = 16


def static_headers(public: Path) -> dict[str, list[tuple[str, str]]]:
    """The rules of public/_headers (Netlify's format): path -> headers, so the local
    preview sends the same Content-Security-Policy as the published site."""
    rules: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    try:
        text = (public / "_headers").read_text(encoding="utf-8")
    except OSError:
        return rules
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = rules.setdefault(line.strip(), [])
        elif current is not None and ":" in line:
            name, value = line.strip().split(":", 1)
            current.append((name.strip(), value.strip()))
    return rules


def _headers_for(rules: Mapping[str, list[tuple[str, str]]], path: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for pattern, headers in rules.items():
        if pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1])):
            found.extend(headers)
    return found


def static_app(
    public: Path, not_found: Callable[..., Iterable[bytes]] | None = None
) -> Callable[..., Iterable[bytes]]:
    """The built files; "/" is index.html. Read at each request, so a rebuild shows at once.

    Each file carries an ETag (a revalidation ends in 304) and Cache-Control: no-cache
    unless the site's _headers say otherwise, since every rebuild changes the pages.
    A path with no file goes to ``not_found`` (the handler's page, in the theme).
    """
    from werkzeug.exceptions import NotFound
    from werkzeug.utils import send_from_directory
    from werkzeug.wrappers import Request, Response

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path.endswith("/"):
            path += "index.html"
        name = path.lstrip("/")
        try:
            if request.method not in ("GET", "HEAD") or Path(name).name.startswith("_"):
                raise NotFound()
            # send_from_directory refuses paths that leave public/ (safe_join).
            response = send_from_directory(public, name, environ, max_age=0)
        except NotFound:
            if not_found is not None:
                return not_found(environ, start_response)
            response = Response("Not found\n", status=404, content_type="text/plain")
        response.headers["Cache-Control"] = "no-cache"
        for header, value in _headers_for(static_headers(public), path):
            response.headers[header] = value
        return response(environ, start_response)

    return app


@dataclass
class LocalSite:
    """What `callslot serve` runs: the built site, the handler, and their settings."""

    config_path: Path | None
    store: Store
    secret: bytes
    build_now: datetime | None = None
    echo: Callable[[str], None] = click.echo
    clock: Clock = system_clock  # the handler's and the notifications' now

    def __post_init__(self) -> None:
        self.settings: Settings = load_settings(self.config_path)
        self.public = self.settings.root / "public"
        self.handler: BookingApp = self._handler(self.settings)
        # Unknown paths get the handler's "not found" page, in the site's theme.
        self.static = static_app(self.public, not_found=lambda e, s: self.handler(e, s))
        self._taken: list[Busy] | None = None
        self._built_at = 0.0
        self._stamp = self._watched()

    def _handler(self, settings: Settings) -> BookingApp:
        return create_app(settings, store=self.store, secret=self.secret, clock=self.clock)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        app = self.handler if path == "/api" or path.startswith("/api/") else self.static
        return app(environ, start_response)

    def build(self) -> None:
        """Build public/ with the calls booked so far left out."""
        from generator.page.build import build_site

        now = self.build_now or self.clock()
        taken = booked_busy(self.store, self.settings, now)
        result = build_site(
            self.settings,
            now,
            self.public,
            secret=self.secret,
            taken=taken,
        )
        self._taken = taken
        self._built_at = time.monotonic()
        counts = ", ".join(f"{slug}: {n}" for slug, n in result.slot_counts.items())
        self.echo(f"built {self.public} ({result.total_slots} open slots: {counts})")
        for warning in result.warnings:
            self.echo(f"Warning: {warning}")

    def _watched(self) -> tuple[tuple[str, int], ...]:
        """(path, mtime) of every file whose change calls for a rebuild."""
        from generator.page.theme import BUNDLED_THEMES

        roots = [self.settings.content_dir, self.settings.root / "themes", BUNDLED_THEMES]
        if self.config_path is not None:
            roots.append(Path(self.config_path).parent)
        stamp: dict[str, int] = {}
        for root in roots:
            if not root.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    path = os.path.join(dirpath, name)
                    try:
                        stamp[path] = os.stat(path).st_mtime_ns
                    except OSError:  # removed while walking
                        continue
        return tuple(sorted(stamp.items()))

    def poll(self) -> None:
        """Rebuild when a watched file changed, or a booking was made or cancelled."""
        stamp = self._watched()
        content_changed = stamp != self._stamp
        self._stamp = stamp
        now = self.build_now or self.clock()
        bookings_changed = booked_busy(self.store, self.settings, now) != self._taken
        stale = time.monotonic() - self._built_at > REBUILD_SECONDS
        if not (content_changed or bookings_changed or stale):
            return
        try:
            if content_changed:
                settings = load_settings(self.config_path)
                handler = self._handler(settings)
                self.settings, self.handler = settings, handler
            self.build()
        except CallslotError as exc:
            # A typo in site.toml must not take the running site down: keep the last good one.
            self.echo(f"Error: {exc.format_message()} (still serving the last good build)")

    def send_due(self) -> None:
        from generator.notify.outbox import run_due
        from generator.store.retention import purge_expired

        now = self.clock()
        report = run_due(self.settings, self.store, now=now, secret=self.secret)
        for delivery in report.deliveries:
            self.echo(delivery.line(self.settings.tz))
        purged = purge_expired(self.store, keep=self.settings.privacy.keep, now=now)
        if purged.erased:
            self.echo(purged.summary())


def _every(seconds: float, job: Callable[[], None], stop: threading.Event, name: str) -> None:
    while not stop.wait(seconds):
        try:
            job()
        except Exception:  # a failing background job must not stop the others
            log.exception("%s failed", name)


def serve(
    config_path: Path | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    build_now: datetime | None = None,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = click.echo,
    dev: bool = False,
    threads: int = 8,
) -> None:
    """Build, serve and keep rebuilding until Ctrl+C (or SIGTERM).

    The server is waitress, a production WSGI server: one Date header, gzip for text,
    ETags on the built files, a bounded request size, and a graceful stop (requests
    under way finish, for at most 5 seconds). A client silent for 30 s between requests
    is dropped; one still sending a request's headers and body READ_SECONDS after its
    first byte (or after connecting) is cut, however steadily it trickles; and one address
    holds at most CONNECTIONS_PER_CLIENT connections (unless behind a trusted proxy).
    Without CALLSLOT_SECRET it refuses to start unless ``dev`` allows a development key
    from .callslot/.
    """
    from generator.signing import load_secret
    from generator.web.middleware import AccessLog, Gzip

    env = os.environ if env is None else env
    settings = load_settings(config_path)
    if not env.get("CALLSLOT_SECRET") and not dev:
        # A leftover development key would sign pages no other machine accepts, and
        # refuse every booking from a page built with the real key: say so instead.
        raise CallslotError(
            "CALLSLOT_SECRET is not set: export the key the page is built with (make one "
            "with python3 -c 'import secrets; print(secrets.token_urlsafe(32))'), or run "
            "`callslot serve --dev` to try it out on this machine with a development key"
        )
    secret, source = load_secret(settings.state_dir, create=True, env=dict(env))
    if source != "env":
        echo(f"Using the development key {source} (--dev; set CALLSLOT_SECRET in production).")
    site: list[Callable[..., Iterable[bytes]]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return site[0](environ, start_response)

    # Take the port before any work, so a busy one is reported at once. Bound here, not
    # by waitress: it starts its threads before binding and leaves them on a failure.
    listener = _listen(host, port)
    try:
        read_seconds = float(env.get("CALLSLOT_SERVE_READ_SECONDS") or READ_SECONDS)
        proxied = int(env.get("CALLSLOT_TRUSTED_PROXIES") or 0) > 0
        cap = env.get("CALLSLOT_SERVE_CONNECTIONS_PER_CLIENT")
        per_client = int(cap) if cap else (0 if proxied else CONNECTIONS_PER_CLIENT)
    except ValueError:
        listener.close()
        raise CallslotError(
            "CALLSLOT_SERVE_READ_SECONDS must be a number of seconds, and "
            "CALLSLOT_TRUSTED_PROXIES and CALLSLOT_SERVE_CONNECTIONS_PER_CLIENT whole numbers"
        ) from None
    server = make_server(
        AccessLog(Gzip(app), log=echo),
        listener,
        threads=threads,
        read_seconds=read_seconds,
        per_client=per_client,
    )
    store = open_store(env.get("DATABASE_URL"), settings=settings)
    stop = threading.Event()
    try:
        local = LocalSite(
            config_path, store, secret, build_now=build_now, echo=echo, clock=clock_from_env(env)
        )
        site.append(local)
        local.build()
        shown = f"[{host}]" if ":" in host else host
        bound = getattr(server, "effective_port", port)
        echo(f"Serving http://{shown}:{bound}/ (bookings in {store}; Ctrl+C to stop)")
        workers = [
            threading.Thread(
                target=_every, args=(POLL_SECONDS, local.poll, stop, "rebuild"), daemon=True
            ),
            threading.Thread(
                target=_every,
                args=(NOTIFY_SECONDS, local.send_due, stop, "notifications"),
                daemon=True,
            ),
        ]
        for worker in workers:
            worker.start()

        def on_term(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_term)
        # waitress ends its loop on KeyboardInterrupt and lets running requests finish.
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        echo("Stopped.")
    finally:
        stop.set()
        _close(server)
        store.close()


def make_server(
    app: Callable[..., Iterable[bytes]],
    listener: socket.socket,
    *,
    threads: int = 8,
    read_seconds: float = READ_SECONDS,
    per_client: int = CONNECTIONS_PER_CLIENT,
) -> Any:
    """waitress on ``listener``, with a total deadline for reading each request and a cap
    of connections per client address (``per_client`` 0: no cap); otherwise as waitress."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.server import TcpWSGIServer

    class Parser(HTTPRequestParser):
        """waitress's parser, counting the whole (non-empty) requests of its channel."""

        def __init__(self, adj: Any, channel: Channel) -> None:
            super().__init__(adj)
            self.channel = channel

        def received(self, data: bytes) -> int:
            done = self.completed
            consumed = int(super().received(data))
            if self.completed and not done and not self.empty:
                self.channel.whole_requests += 1
            return consumed

    class Channel(HTTPChannel):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.parser_class = lambda adj: Parser(adj, self)
            self.whole_requests = 0
            # When the request being read began; None between requests (the idle
            # timeout applies there). A new connection counts as a request begun.
            self.reading_since: float | None = self.creation_time

        def received(self, data: bytes) -> bool:
            whole = self.whole_requests
            result = super().received(data)
            # clock-exempt: waitress dates channels and its maintenance with time.time().
            if self.whole_requests > whole:  # a request arrived whole: the next one starts
                # clock-exempt: on waitress's scale, as above.
                self.reading_since = None if self.request is None else time.time()
            elif self.reading_since is None:
                # Bytes of a request (blank lines too: they end no request, so sending
                # them does not restart the clock).
                # clock-exempt: on waitress's scale, as above.
                self.reading_since = time.time()
            return bool(result)

    class Server(TcpWSGIServer):
        channel_class = Channel
        _refused_logged = 0.0

        def maintenance(self, now: float) -> None:
            super().maintenance(now)
            cutoff = now - read_seconds
            for channel in list(self.active_channels.values()):
                since = getattr(channel, "reading_since", None)
                if since is not None and since < cutoff and not channel.requests:
                    channel.will_close = True

        def handle_accept(self) -> None:
            if not per_client:
                return super().handle_accept()
            try:
                accepted = self.accept()
            except OSError:
                return None
            if accepted is None:
                return None
            conn, addr = accepted
            client = _client_key(addr)
            held = sum(
                1 for c in list(self.active_channels.values()) if _client_key(c.addr) == client
            )
            if held >= per_client:
                conn.close()
                now = time.monotonic()
                if now - self._refused_logged > 60:  # one line a minute, not one per attempt
                    self._refused_logged = now
                    log.warning(
                        "refused connections from a client that already holds %d", per_client
                    )
                return None
            try:
                self.set_socket_options(conn)
            except OSError:
                conn.close()
                return None
            self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)
            return None

    from waitress.adjustments import Adjustments

    adj = Adjustments(
        sockets=[listener],
        threads=threads,
        ident="callslot",
        channel_timeout=30,  # a client silent for 30 s between requests is dropped
        # How often the deadlines above are checked (waitress's default: every 30 s).
        cleanup_interval=1,
        max_request_body_size=1 << 20,  # the handler itself stops at 64 KiB
        expose_tracebacks=False,
        clear_untrusted_proxy_headers=False,  # CALLSLOT_TRUSTED_PROXIES decides
    )
    sockinfo = (listener.family, listener.type, listener.proto, listener.getsockname())
    server = Server(app, {}, True, listener, adj=adj, bind_socket=False, sockinfo=sockinfo)
    return server


def _client_key(addr: Any) -> str:
    """The address a connection comes from; an IPv6 client's /64 (one user's network)."""
    host = str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
    if ":" in host:
        import ipaddress

        try:
            return str(ipaddress.IPv6Network(f"{host.split('%')[0]}/64", strict=False))
        except ValueError:
            return host
    return host


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a CallslotError that says what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(1024)
    except OSError as exc:
        listener.close()
        check_port(host, port)  # says what to do for a taken or privileged port
        raise CallslotError(
            f"cannot listen on {host}:{port}: {exc.strerror}; check --host or pass another --port"
        ) from None
    return listener


def _close(server: Any) -> None:
    """Close the listening socket and waitress's wake-up pipe, and end its threads."""
    dispatcher = getattr(server, "task_dispatcher", None)
    if dispatcher is not None:
        dispatcher.shutdown(timeout=5)
    for channel in list(getattr(server, "_map", {}).values()):
        with contextlib.suppress(OSError):
            channel.close()
    server.close()


def check_port(host: str, port: int) -> None:
    """Refuse a port that is taken before any work is done (a build takes seconds).

    Binds and releases the address the server will take, with the same
    SO_REUSEADDR servers set (so a port left in TIME_WAIT is not refused); a
    CallslotError names the address and a free ``--port`` to try instead.
    """
    import errno
    import socket

    if port == 0:
        return  # any free port: nothing can be taken

    def try_bind(number: int) -> OSError | None:
        try:
            infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except socket.gaierror:
            return OSError(errno.EADDRNOTAVAIL, f"{host} is not an address of this machine")
        family, kind, proto, _name, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return exc
        return None

    problem = try_bind(port)
    if problem is None:
        return
    shown = f"[{host}]" if ":" in host else host
    if problem.errno == errno.EADDRINUSE:
        free = next((n for n in range(port + 1, min(port + 50, 65536)) if try_bind(n) is None),
                    None)
        instead = f"`callslot serve --port {free}`" if free else "`callslot serve --port 0`"
        raise CallslotError(f"cannot listen on {shown}:{port}: another program (perhaps another "
                            f"`callslot serve`) uses that port; stop it or run {instead}")
    if problem.errno == errno.EACCES:
        raise CallslotError(f"cannot listen on {shown}:{port}: ports below 1024 need "
                            "administrator rights; run `callslot serve --port 8000`")
    reason = problem.strerror or str(problem)
    raise CallslotError(f"cannot listen on {shown}:{port}: {reason}; check --host "
                        "(127.0.0.1 serves this machine only) or pass another --port")
