"""gunicorn settings for the handler: ``gunicorn -c python:generator.web.gunicorn_config``.

What gunicorn's defaults get wrong for callslot: its sync workers answer one
request at a time each (gthread with 8 threads here); its access log writes the
whole request line, so cancel links (``?token=``), booking pages and the owner's
feed (``?key=``) end up in log files; and a handler without CALLSLOT_SECRET
would have nothing valid to check the page's signed slots against. Every
option given on the command line still wins over these.
"""

from __future__ import annotations

import os
from typing import Any

# Path only (%(U)s, no query string), no client address, no referrer: no tokens and no
# personal data in the log. Time, method, path, protocol, status, bytes, milliseconds.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# Access lines to stdout (the journal under systemd); errors go to stderr by default.
accesslog = "-"
# Threads, not gunicorn's one-request-at-a-time sync workers: there, two slow clients
# stall two workers. A slow client still holds a thread while its request arrives, so the
# guide also requires a proxy that reads each request whole first (docs/deploy-vps.md).
worker_class = "gthread"
threads = 8


def on_starting(server: Any) -> None:
    """Refuse to start without CALLSLOT_SECRET: a leftover development key in .callslot/
    would refuse every booking from a page built with the real key, with nothing logged."""
    if not os.environ.get("CALLSLOT_SECRET"):
        server.log.error(
            "callslot: CALLSLOT_SECRET is not set; export the key the page is built with "
            "(the same value as for `callslot build`). Not starting."
        )
        raise SystemExit(1)
