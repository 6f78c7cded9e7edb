"""How fast does the booking page reach a caller? Bytes, requests and first paint, side by side.

Builds the example site (content/ and themes/) into a temporary folder with a
pinned --now, then:

1. prints the size of every built page raw and gzipped (level 9, about what a
   static host sends), and checks the first view (index.html with its inline
   style and script) against one TCP round trip: 14 KB gzipped;
2. where Chromium is installed, serves the built pages on a local port and
   loads index.html in headless Chromium a few times, with the network as it
   is and throttled to "slow 3G" (400 kbit/s, 400 ms round trip, through the
   DevTools protocol), with JavaScript off and on. It counts every request the
   browser makes, reads first contentful paint and DOMContentLoaded from the
   browser's Performance API, and prints the medians;
3. to show what the one response buys, loads a copy of index.html split the
   usual way (its style in page.css, its script in page.js) side by side: the
   stylesheet blocks the first paint for one more round trip.

The local server is laid out like a deployment with its handler, and like
`callslot serve`: the built files, gzipped when the browser asks (as Netlify
and every CDN do), and the real booking handler under /api/ on the same
origin, with an empty SQLite store. So the request the page script makes after
first paint, GET /api/taken (to grey out slots booked since the build), gets a
real answer. It is counted apart as *deferred*: the page is complete and
usable without it. On a static host without the handler it would get a 404,
which the script ignores.

    python bench/page.py
    python bench/page.py --now 2026-11-30T08:00Z --config content/site.toml --loads 9
    CALLSLOT_CHROMIUM=/path/to/chromium python bench/page.py   # default /usr/bin/chromium
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import re
import statistics
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/page.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from generator.config.settings import Settings, load_settings  # noqa: E402
from generator.page.build import build_site  # noqa: E402

FIRST_VIEW_BUDGET = 14 * 1024  # bytes gzipped: what the first round trip can carry
FIRST_VIEW_REQUESTS = 1  # goal: the page, its style and its script in one response
SECRET = b"bench-secret-not-for-production"
CHROMIUM = Path(os.environ.get("CALLSLOT_CHROMIUM", "/usr/bin/chromium"))
# Debian's Chromium in a container: the same flags as tests/browser/conftest.py.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TAKEN_PATH = "/api/taken"
SPLIT = "/split/"  # where the copy with external style and script is served


@dataclass(frozen=True)
class Network:
    """A network profile for Network.emulateNetworkConditions (None: unthrottled)."""

    name: str
    kbit: int | None = None  # each direction
    rtt_ms: int = 0


NETWORKS = (Network("local"), Network("slow 3G", kbit=400, rtt_ms=400))


@dataclass(frozen=True)
class Load:
    """What one page load showed."""

    first_view: tuple[str, ...]  # requests the browser made until the load event
    deferred: tuple[str, ...]  # requests after it (the page script's /api/taken)
    served: int  # requests that reached the server, favicon and all
    fcp_ms: float | None  # first contentful paint
    dcl_ms: float  # DOMContentLoaded (end of its handlers)
    transfer: int  # bytes of index.html on the wire (headers and gzipped body)


def gzipped(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Compress a response the browser accepts gzipped, as a static host does."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(app(environ, capture))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "") and body:
            body = gzip.compress(body, 9, mtime=0)
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return wrapped


def split_copy(public: Path, into: Path) -> None:
    """Write index.html as most sites ship it: inline style and script moved to files."""
    html = (public / "index.html").read_text(encoding="utf-8")
    into.mkdir()
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    if style is None or script is None:
        raise SystemExit("index.html has no inline <style> or <script>: update bench/page.py")
    (into / "page.css").write_text(style.group(1), encoding="utf-8")
    (into / "page.js").write_text(script.group(1), encoding="utf-8")
    html = html.replace(style.group(0), '<link rel="stylesheet" href="page.css">')
    html = html.replace(script.group(0), '<script src="page.js"></script>')
    (into / "index.html").write_text(html, encoding="utf-8")


@contextmanager
def served(settings: Settings, public: Path, scratch: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve public/ (gzipped) and the handler's /api/ on a free local port, in a thread.

    The split copy is served under /split/, without the site's Content-Security-Policy
    (which allows only the inline style and script). Yields the base URL and the list
    every request's path is appended to.
    """
    from werkzeug.serving import WSGIRequestHandler, make_server

    from generator.commands.serve import static_app
    from generator.store.sqlite import SQLiteStore
    from generator.web.wsgi import create_app

    store = SQLiteStore(scratch / "bookings.sqlite3")
    handler = create_app(settings, store=store, secret=SECRET, env={})
    static = gzipped(static_app(public))
    split_copy(public, scratch / "split")
    split = gzipped(static_app(scratch / "split"))
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        seen.append(path)
        if path.startswith(SPLIT):
            environ = {**environ, "PATH_INFO": path[len(SPLIT) - 1 :]}
            return split(environ, start_response)
        chosen = handler if path.startswith("/api/") else static
        return chosen(environ, start_response)

    class Quiet(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        store.close()


def load_page(
    browser: Any, url: str, seen: list[str], network: Network, script: bool, page_path: str
) -> Load:
    """One load of a page in a fresh profile (empty cache), with its requests and timings."""
    context = browser.new_context(java_script_enabled=script)
    try:
        page = context.new_page()
        if network.kbit is not None:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            rate = network.kbit * 1000 / 8  # bytes per second
            cdp.send(
                "Network.emulateNetworkConditions",
                {
                    "offline": False,
                    "latency": network.rtt_ms,
                    "downloadThroughput": rate,
                    "uploadThroughput": rate,
                },
            )
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url.removeprefix(url)))
        seen.clear()
        if script:
            # The page script asks for the taken slots after first paint: wait for its answer.
            with page.expect_response(lambda r: r.url.endswith(TAKEN_PATH), timeout=15_000):
                page.goto(url + page_path, wait_until="load")
                first_view = tuple(r for r in requests if not r.endswith(TAKEN_PATH))
        else:
            page.goto(url + page_path, wait_until="load")
            first_view = tuple(requests)
        # The paint entry is recorded when the frame is presented, which can come after
        # the load event and the page script's fetch: ask again for a few seconds. (Polled
        # from here: with JavaScript off, no timer or observer callback runs in the page.)
        for _ in range(60):
            timing = page.evaluate(
                """() => {
                  const nav = performance.getEntriesByType("navigation")[0];
                  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
                  return {fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventEnd,
                          transfer: nav.transferSize};
                }"""
            )
            if timing["fcp"] is not None:
                break
            page.wait_for_timeout(50)
        return Load(
            first_view=first_view,
            deferred=tuple(requests[len(first_view) :]),
            served=len(seen),
            fcp_ms=timing["fcp"],
            dcl_ms=timing["dcl"],
            transfer=timing["transfer"],
        )
    finally:
        context.close()


def median(values: Iterable[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):,.0f}" if known else "-"


ROWS = (  # (page, path, JavaScript on)
    ("as built", "/", False),
    ("as built", "/", True),
    ("split: +page.css, page.js", SPLIT, True),
)


def browser_table(settings: Settings, public: Path, scratch: Path, loads: int) -> bool | None:
    """Print requests and paint timings; whether the built page's first view is one request
    (None: no Chromium here, nothing measured)."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("\nPlaywright is not installed: requests and first paint not measured.")
        return None
    if not CHROMIUM.exists():
        print(f"\nChromium not found at {CHROMIUM}: requests and first paint not measured.")
        return None
    print(
        f"\nHeadless Chromium, median of {loads} loads, each in a fresh profile (empty cache).\n"
        "Served like a deployment: files gzipped, the booking handler under /api/ on the same "
        "origin.\nFCP: first contentful paint, DCL: DOMContentLoaded; ms from navigation start."
    )
    print(
        f"{'network':<14} {'page':<26} {'JS':<3} {'first view':>10} {'deferred':>8} "
        f"{'at server':>9} {'on wire':>7} {'FCP':>6} {'DCL':>6}"
    )
    one_request = True
    fcp: dict[tuple[str, str], str] = {}
    extra: set[str] = set()
    with served(settings, public, scratch) as (url, seen), sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            print(f"Chromium did not start ({str(exc).splitlines()[0]}): not measured.")
            return None
        try:
            for network in NETWORKS:
                for name, path, script in ROWS:
                    runs = [
                        load_page(browser, url, seen, network, script, path) for _ in range(loads)
                    ]
                    first = max(len(r.first_view) for r in runs)
                    if path == "/":
                        one_request = one_request and first <= FIRST_VIEW_REQUESTS
                        for run in runs:
                            extra.update(run.first_view[1:] + run.deferred)
                    fcp[network.name, path] = median(r.fcp_ms for r in runs)
                    print(
                        f"{network.name:<14} {name:<26} {'on' if script else 'off':<3} "
                        f"{first:>10} {max(len(r.deferred) for r in runs):>8} "
                        f"{max(r.served for r in runs):>9} {median(r.transfer for r in runs):>7} "
                        f"{fcp[network.name, path]:>6} {median(r.dcl_ms for r in runs):>6}"
                    )
        finally:
            browser.close()
    slow = NETWORKS[-1]
    print(
        f"first view: requests until the load event (goal: {FIRST_VIEW_REQUESTS}); "
        f"deferred: the page script's GET {TAKEN_PATH} after it;\n"
        "at server: requests that reached the server in one load, also any the browser "
        "makes unasked (/favicon.ico);\n"
        "on wire: bytes of the HTML document with headers (Navigation Timing transferSize).\n"
        f"{slow.name}: {slow.kbit} kbit/s each way and {slow.rtt_ms} ms added to every request "
        "(DevTools throttling).\nRequests other than the page, as built: "
        + (", ".join(sorted(extra)) or "none")
    )
    print(
        f"One round trip: on {slow.name}, JavaScript on, the page as built paints after "
        f"{fcp[slow.name, '/']} ms, the split copy after {fcp[slow.name, SPLIT]} ms\n"
        "(its stylesheet is one more request before the first paint)."
    )
    return one_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "content" / "site.toml"))
    parser.add_argument(
        "--now",
        default="2026-11-27T08:00:00+00:00",
        help="pinned build time (ISO 8601 with offset)",
    )
    parser.add_argument("--loads", type=int, default=5, help="page loads per row (median)")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    with tempfile.TemporaryDirectory() as scratch:
        public = Path(scratch) / "public"
        result = build_site(settings, now, public, secret=SECRET)
        print(
            f"{'page':<16} {'raw':>9} {'gzip':>9}   slots: "
            + ", ".join(f"{k} {v}" for k, v in result.slot_counts.items())
        )
        first_view = 0
        for path in result.files:
            if path.suffix not in (".html", ".json"):
                continue
            raw = path.read_bytes()
            packed = len(gzip.compress(raw, 9, mtime=0))
            if path.name == "index.html":
                first_view = packed
            print(f"{path.name:<16} {len(raw):>9,} {packed:>9,}")
        small = first_view <= FIRST_VIEW_BUDGET
        print(
            f"first view (index.html, all inline): {first_view:,} bytes gzipped of "
            f"{FIRST_VIEW_BUDGET:,} -> {'ok' if small else 'OVER BUDGET'}"
        )
        one_request = browser_table(settings, public, Path(scratch), args.loads)
    requests = {None: "not measured (no Chromium)", True: "met", False: "MISSED"}[one_request]
    print(
        f"\nGoals: first view <= {FIRST_VIEW_BUDGET:,} bytes gzipped: "
        f"{'met' if small else 'MISSED'}; first view in {FIRST_VIEW_REQUESTS} request: {requests}"
    )
    return 0 if small and one_request is not False else 1


if __name__ == "__main__":
    sys.exit(main())
