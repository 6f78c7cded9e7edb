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

import logging
import os
import signal
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


def static_app(public: Path) -> Callable[..., Iterable[bytes]]:
    """The built files; "/" is index.html. Read at each request, so a rebuild shows at once."""
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
            response = Response("Not found\n", status=404, content_type="text/plain")
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
        self.static = static_app(self.public)
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
            self.echo(delivery.line())
        purged = purge_expired(self.store, keep=self.settings.privacy.keep, now=now)
        if purged.erased:
            self.echo(purged.summary())


def _quiet_query_handler() -> type:
    """Werkzeug's request handler, logging paths without their query string: a cancel link
    (and the booking page after a booking) carries the caller's token, a secret."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietQueryHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            full = getattr(self, "path", None)
            if full is not None:
                self.path = full.split("?", 1)[0]
            try:
                super().log_request(code, size)
            finally:
                if full is not None:
                    self.path = full

    return QuietQueryHandler


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
) -> None:
    """Build, serve and keep rebuilding until Ctrl+C (or SIGTERM)."""
    from werkzeug.serving import make_server

    from generator.signing import load_secret

    env = os.environ if env is None else env
    settings = load_settings(config_path)
    secret, source = load_secret(settings.state_dir, create=True, env=dict(env))
    if source != "env":
        echo(f"Using the development key {source} (set CALLSLOT_SECRET in production).")
    store = open_store(env.get("DATABASE_URL"), settings=settings)
    stop = threading.Event()
    try:
        site = LocalSite(
            config_path, store, secret, build_now=build_now, echo=echo, clock=clock_from_env(env)
        )
        site.build()
        try:
            server = make_server(
                host, port, site, threaded=True, request_handler=_quiet_query_handler()
            )
        except OSError as exc:
            raise CallslotError(
                f"cannot listen on {host}:{port}: {exc.strerror}; "
                "pass another --port (or stop the other server)"
            ) from None
        shown = f"[{host}]" if ":" in host else host
        echo(f"Serving http://{shown}:{server.server_port}/ (bookings: {store!r}; Ctrl+C to stop)")
        workers = [
            threading.Thread(
                target=_every, args=(POLL_SECONDS, site.poll, stop, "rebuild"), daemon=True
            ),
            threading.Thread(
                target=_every,
                args=(NOTIFY_SECONDS, site.send_due, stop, "notifications"),
                daemon=True,
            ),
        ]
        for worker in workers:
            worker.start()

        def on_term(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_term)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            echo("Stopped.")
        finally:
            server.server_close()
    finally:
        stop.set()
        store.close()


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
