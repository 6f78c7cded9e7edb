"""How fast does the booking handler record calls, and does it ever double-book?

Real deployments, each started as its own process on a free port (loopback only):

- ``callslot serve`` (waitress, the production server for one machine) with the
  default SQLite store (it also rebuilds the page after bookings, as it does for a
  user), and with PostgreSQL;
- ``gunicorn -c python:generator.web.gunicorn_config generator.handler:app`` (2
  workers x 8 threads) with PostgreSQL.

PostgreSQL runs use a fresh database each, dropped afterwards. Against each, 1, 16
and 64 concurrent clients (threads, one HTTP connection per request, as browsers
posting a form) book distinct slots: latency p50/p99 of the successful bookings and
throughput; beside it, where the server serves the page (``callslot serve``), the
same number of clients fetch the booking page (gzip accepted) a bounded number of
times: GET p50/p99. Then 64 clients fight over 10 slots:
exactly 10 bookings may succeed, and the store is checked for overlapping
confirmed calls (double bookings: must be 0).

Then the caller never waits on mail: gunicorn with SQLite and a real SMTP server
(aiosmtpd) that answers at once, next to one that takes 2 s per message; booking
p50/p99 side by side must be the same within noise (the mails go out on a thread
after the answer).

Last, the handler's cold start: ``import generator.handler`` in a fresh
interpreter (median wall time of several runs minus a bare ``python -c pass``,
and ``python -X importtime``'s own figure), and import plus a first answer.

The bench site offers 5-minute calls around the clock for 30 days with no
calendar, so thousands of slots are bookable; the rate limit is off.

    python bench/handler.py
    python bench/handler.py --quick          # fewer requests, one run of the import timing
    python bench/handler.py --only-mail      # just the slow-mail-server comparison
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/handler.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from generator.availability import open_slots  # noqa: E402
from generator.config.settings import load_settings  # noqa: E402
from generator.domain import Slot  # noqa: E402
from generator.signing import slot_token  # noqa: E402

SECRET = "bench-secret-not-for-production-0123"
PG_ADMIN = os.environ.get("CALLSLOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

SITE_TOML = """
[owner]
name = "Bench Owner"
timezone = "Europe/Berlin"
language = "de"
email = "owner@example.org"

[availability]
monday = ["00:00-24:00"]
tuesday = ["00:00-24:00"]
wednesday = ["00:00-24:00"]
thursday = ["00:00-24:00"]
friday = ["00:00-24:00"]
saturday = ["00:00-24:00"]
sunday = ["00:00-24:00"]

[booking]
notice = "0m"
horizon = "30d"
offers_per_day = 3       # keeps the served page small; every grid slot stays bookable
rate_limit = "off"
who_calls = "owner"

[[call_types]]
slug = "call"
title = "Call (5 minutes)"
duration = "5m"
step = "5m"
"""


@dataclass
class Phase:
    target: str
    clients: int
    requests: int
    statuses: Counter[int]
    latencies: list[float]  # seconds, successful bookings only
    seconds: float
    static: list[float] | None = None  # seconds of each GET / (None: not served here)

    def row(self) -> str:
        ok = self.statuses.get(201, 0)
        p50, p99 = _percentiles(self.latencies)
        other = sum(n for s, n in self.statuses.items() if s not in (201, 409))
        if self.static is None:
            static = f"{'-':>9} {'-':>9}"
        else:
            g50, g99 = _percentiles(self.static)
            static = f"{g50:>9.1f} {g99:>9.1f}"
        return (
            f"{self.target:<34} {self.clients:>7} {self.requests:>8} {ok:>6} "
            f"{self.statuses.get(409, 0):>5} {other:>5} {p50:>8.1f} {p99:>8.1f} "
            f"{ok / self.seconds:>8.1f} {static}"
        )


def _percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return float("nan"), float("nan")
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


HEADER = (
    f"{'target':<34} {'clients':>7} {'requests':>8} {'201':>6} {'409':>5} {'other':>5} "
    f"{'p50 ms':>8} {'p99 ms':>8} {'book/s':>8} {'GET p50':>9} {'GET p99':>9}"
)


def get_page(base: str) -> int:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", "/", headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def run_static(base: str, clients: int, per_client: int) -> list[float]:
    """``clients`` threads each fetch the booking page ``per_client`` times: latencies."""
    gate = threading.Barrier(clients)
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        gate.wait()
        for _ in range(per_client):
            started = time.perf_counter()
            try:
                status = get_page(base)
            except OSError:
                status = 599
            took = time.perf_counter() - started
            if status == 200:
                with lock:
                    latencies.append(took)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def post(base: str, fields: dict[str, str]) -> int:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(
            "POST",
            "/api/book",
            body=json.dumps(fields),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def run_phase(target: str, base: str, clients: int, plan: list[list[str]]) -> Phase:
    """Each client posts its list of slot tokens, one after another; all start together."""
    gate = threading.Barrier(clients + 1)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        gate.wait()
        for n, token in enumerate(plan[index]):
            fields = {
                "slot": token,
                "name": f"Bench {index}-{n}",
                "phone": "+49 30 1234567",
                "topic": f"Bench {uuid.uuid4().hex[:8]}",
                "lang": "en",
            }
            started = time.perf_counter()
            try:
                status = post(base, fields)
            except OSError:
                status = 599
            took = time.perf_counter() - started
            with lock:
                statuses[status] += 1
                if status == 201:
                    latencies.append(took)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    return Phase(target, clients, sum(len(p) for p in plan), statuses, latencies, seconds)


def bookable(site_toml: Path) -> Iterator[str]:
    """Signed tokens of bookable slots, starting an hour from now."""
    settings = load_settings(site_toml, env={})
    # The page shows 3 a day; the handler accepts every slot of the grid.
    settings = replace(settings, booking=replace(settings.booking, offers_per_day=None))
    now = datetime.now(UTC) + timedelta(hours=1)
    for slot in open_slots(settings, [], now):
        yield slot_token(SECRET.encode(), Slot(slot.start, slot.end, slot.call_type))


def wait_ready(base: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            parts = urlsplit(base)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not answer /api/health")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_target(site: Path, env: dict[str, str], url: str | None = None) -> Iterator[str]:
    """`callslot serve` (waitress) with SQLite, or the PostgreSQL database ``url``."""
    # 64 clients on one address: lift the per-client connection cap for the load test.
    env = {**env, "CALLSLOT_SERVE_CONNECTIONS_PER_CLIENT": "0"}
    if url:
        env = {**env, "DATABASE_URL": url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from generator.cli import main; main()",
            "serve",
            "--port",
            str(free_port()),
            "--config",
            str(site / "content" / "site.toml"),
        ],
        cwd=site,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = None
        for line in proc.stdout:
            match = re.match(r"Serving (http://\S+?)/? ", line)
            if match:
                base = match.group(1)
                break
        if base is None:
            raise RuntimeError("callslot serve did not start")
        # Keep reading its output so the pipe never fills up.
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        wait_ready(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def fresh_postgres() -> Iterator[str]:
    import psycopg

    name = f"callslot_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def gunicorn_postgres(site: Path, env: dict[str, str], url: str) -> Iterator[str]:
    port = free_port()
    env = {**env, "DATABASE_URL": url, "CALLSLOT_CONFIG": str(site / "content" / "site.toml")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:generator.web.gunicorn_config",
            "--access-logfile",
            "/dev/null",
            "generator.handler:app",
            "--workers",
            "2",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def double_bookings(env: dict[str, str], site: Path, url: str | None) -> tuple[int, int]:
    """(confirmed bookings, pairs of confirmed bookings that overlap) in the store."""
    from generator.store import open_store

    settings = load_settings(site / "content" / "site.toml", env={})
    store = open_store(url, settings=settings)
    try:
        found = sorted(store.bookings(), key=lambda b: b.start)
    finally:
        store.close()
    overlaps = sum(1 for a, b in itertools.pairwise(found) if b.start < a.end)
    return len(found), overlaps


def bench_target(
    name: str, base: str, tokens: Iterator[str], sizes: dict[int, int], *, static: bool = False
) -> tuple[list[Phase], Phase]:
    # Warm-up, not counted: each server process builds the app and imports the booking
    # path (slot engine, notifications) on its first requests.
    run_phase(name, base, 8, [[next(tokens)] for _ in range(8)])
    phases = []
    for clients, per_client in sizes.items():
        plan = [[next(tokens) for _ in range(per_client)] for _ in range(clients)]
        phase = run_phase(name, base, clients, plan)
        if static:
            phase = replace(phase, static=run_static(base, clients, max(3, per_client)))
        phases.append(phase)
    contested = [next(tokens) for _ in range(10)]
    fight = run_phase(
        name, base, 64, [[contested[(i + n) % 10] for n in range(10)] for i in range(64)]
    )
    return phases, fight


@contextmanager
def smtp_sink(delay: float) -> Iterator[tuple[int, list[float]]]:
    """A real SMTP server (aiosmtpd) taking ``delay`` seconds per message; yields its port
    and the arrival times of the messages."""
    import asyncio

    from aiosmtpd.controller import Controller

    arrived: list[float] = []

    class Slow:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            if delay:
                await asyncio.sleep(delay)
            arrived.append(time.perf_counter())
            return "250 OK"

    port = free_port()
    controller = Controller(Slow(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, arrived
    finally:
        controller.stop()


@contextmanager
def gunicorn_sqlite(site: Path, env: dict[str, str], db: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **env,
        "DATABASE_URL": f"sqlite:///{db}",
        "CALLSLOT_CONFIG": str(site / "content" / "site.toml"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "generator.handler:app", "--workers", "2",
         "--threads", "8", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def mail_speed(site: Path, env: dict[str, str], tokens: Iterator[str], per: int) -> list[str]:
    """Booking latency with an instant and a 2 s/message mail server, side by side."""
    lines = [
        f"{'mail server':<26} {'bookings':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'mails by answer':>15}"
    ]
    for label, delay in (("instant", 0.0), ("2 s per message", 2.0)):
        with smtp_sink(delay) as (port, arrived), gunicorn_sqlite(
            site, {**env, "SMTP_URL": f"smtp://127.0.0.1:{port}"},
            site / f"mail-{int(delay)}.sqlite3",
        ) as base:
            run_phase(label, base, 2, [[next(tokens)] for _ in range(2)])  # warm-up
            arrived.clear()
            # One caller after another, as people book: each answer's latency.
            phase = run_phase(label, base, 1, [[next(tokens) for _ in range(per)]])
            done = len(arrived)
        lat = sorted(phase.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        lines.append(
            f"{label:<26} {phase.statuses.get(201, 0):>8} {p50:>8.1f} {p99:>8.1f} "
            f"{lat[-1] * 1000:>8.1f} {done:>15}"
        )
    return lines


def cold_start(runs: int, config: Path) -> list[str]:
    python = sys.executable

    def wall(code: str) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([python, "-c", code], cwd=ROOT, check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    bare = wall("pass")
    imported = wall("import generator.handler")
    first = wall(
        "import os, tempfile; os.environ.update(CALLSLOT_SECRET='" + SECRET + "', "
        f"CALLSLOT_CONFIG={str(config)!r}, DATABASE_URL='sqlite:///' + tempfile.mkdtemp() "
        "+ '/b.sqlite3'); import generator.handler as h\n"
        "from io import BytesIO\n"
        "env = {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/api/health', 'SERVER_NAME': 'x', "
        "'SERVER_PORT': '80', 'wsgi.input': BytesIO(), 'wsgi.url_scheme': 'http'}\n"
        "body = b''.join(h.app(env, lambda s, h, e=None: None))\n"
        "assert body == b'{\"ok\": true}', body"
    )
    trace = subprocess.run(
        [python, "-X", "importtime", "-c", "import generator.handler"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    own = next(
        (
            int(line.split("|")[1])
            for line in trace.splitlines()
            if line.rstrip().endswith("| generator.handler")
        ),
        0,
    )
    heavy = [
        m
        for m in ("jinja2", "babel", "icalendar", "psycopg", "werkzeug")
        if re.search(rf"\|\s+{m}$", trace, re.M)
    ]
    return [
        f"bare interpreter (python -c pass):        {bare:7.1f} ms  (median of {runs})",
        f"import generator.handler:                 {imported - bare:7.1f} ms above bare",
        f"  python -X importtime, cumulative:       {own / 1000:7.1f} ms",
        f"  heavy packages imported at module level: {', '.join(heavy) or 'none'}",
        f"import + app built + first /api/health:   {first - bare:7.1f} ms above bare "
        "(SQLite, bench site)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and runs")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--only-mail", action="store_true",
                        help="only the instant vs slow mail server comparison")
    args = parser.parse_args(argv)
    sizes = {1: 30, 16: 8, 64: 3} if args.quick else {1: 150, 16: 25, 64: 8}
    started = time.perf_counter()

    scratch = Path(tempfile.mkdtemp(prefix="callslot-bench-"))
    try:
        site = scratch / "site"
        (site / "content").mkdir(parents=True)
        (site / "content" / "site.toml").write_text(SITE_TOML, encoding="utf-8")
        (site / "content" / "intro.md").write_text("Benchmark.\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SMTP_URL")}
        env.update(
            CALLSLOT_SECRET=SECRET,
            CALLSLOT_RATE_LIMIT="off",
            PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        )
        tokens = bookable(site / "content" / "site.toml")
        rows, checks = [], []
        mail_lines = mail_speed(site, env, tokens, 20 if args.quick else 60)
        if args.only_mail:
            print("Booking answer with a slow mail server (gunicorn 2x8 + SQLite, one caller "
                  "after another; 'mails by answer': messages the server had taken when the "
                  "last answer came):")
            for line in mail_lines:
                print("  " + line)
            return 0

        with serve_target(site, env) as base:
            phases, fight = bench_target(
                "callslot serve + SQLite", base, tokens, sizes, static=True
            )
        rows += phases
        count, overlaps = double_bookings(env, site, None)
        checks.append(
            f"callslot serve + SQLite:      64 clients on 10 slots -> "
            f"{fight.statuses.get(201, 0)} booked, {fight.statuses.get(409, 0)} "
            f"refused (409); store: {count} bookings, {overlaps} double bookings"
        )

        if not args.skip_postgres:
            with fresh_postgres() as url, serve_target(site, env, url) as base:
                phases, fight = bench_target(
                    "callslot serve + PostgreSQL", base, tokens, sizes, static=True
                )
                rows += phases
                count, overlaps = double_bookings(env, site, url)
                checks.append(
                    f"callslot serve + PostgreSQL:  64 clients on 10 slots -> "
                    f"{fight.statuses.get(201, 0)} booked, "
                    f"{fight.statuses.get(409, 0)} refused (409); store: {count} "
                    f"bookings, {overlaps} double bookings"
                )
            with fresh_postgres() as url, gunicorn_postgres(site, env, url) as base:
                phases, fight = bench_target("gunicorn 2x8 + PostgreSQL", base, tokens, sizes)
                rows += phases
                count, overlaps = double_bookings(env, site, url)
                checks.append(
                    f"gunicorn + PostgreSQL:        64 clients on 10 slots -> "
                    f"{fight.statuses.get(201, 0)} booked, "
                    f"{fight.statuses.get(409, 0)} refused (409); store: {count} "
                    f"bookings, {overlaps} double bookings"
                )

        print(
            "Booking latency and throughput (distinct free slots, JSON posts, "
            f"{os.cpu_count()} CPUs shared by server and clients)"
        )
        print(HEADER)
        for phase in rows:
            print(phase.row())
        print()
        print("Contention (each of 64 clients tries all 10 contested slots):")
        for line in checks:
            print("  " + line)
        print()
        print("Booking answer with a slow mail server (gunicorn 2x8 + SQLite, one caller "
              "after another; 'mails by answer': messages the server had taken when the "
              "last answer came):")
        for line in mail_lines:
            print("  " + line)
        print()
        print("Cold start of the handler:")
        for line in cold_start(3 if args.quick else 9, site / "content" / "site.toml"):
            print("  " + line)
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
