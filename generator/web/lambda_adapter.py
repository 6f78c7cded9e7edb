"""AWS Lambda entry point: ``generator.lambda_handler.handler`` (API Gateway or a function URL).

apig-wsgi turns the Lambda event into a WSGI request for the same application
`callslot serve` and gunicorn run. Configure the function with the
environment: CALLSLOT_SECRET (the key the build signed slots with),
DATABASE_URL=postgresql://... (Lambda has no lasting disk for SQLite),
CALLSLOT_CONFIG (the site.toml shipped with the function), and
CALLSLOT_TRUSTED_PROXIES=1 when Netlify's /api/* rewrite sits in front, so
that the rate limit sees each caller's own address. See README.md.

Nothing runs in a function after its answer, so here a booking's mails are
tried before it (bounded, see wsgi.REQUEST_SECONDS), and the outbox (retries,
reminders) is drained by a schedule: an EventBridge rule that invokes this
same function with the event ``{"callslot": "notify"}`` every few minutes
runs what `callslot notify` runs (docs/deploy-netlify-lambda.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apig_wsgi import make_lambda_handler

from generator.web.wsgi import _LazyApp

__all__ = ["NOTIFY_EVENT", "handler", "make_handler", "notify"]

NOTIFY_EVENT = {"callslot": "notify"}


def make_handler(wsgi_app: Callable[..., Any]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler around ``wsgi_app``; the calendar feed is text, so no binary bodies.

    The scheduled event ``{"callslot": "notify"}`` sends the outbox's due rows instead.
    """
    http = make_lambda_handler(wsgi_app, binary_support=False)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(event, dict) and event.get("callslot") == "notify":
            return notify()
        return http(event, context)

    return handle


def notify(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Send every due notification, as `callslot notify` does; the counts for the log.

    The clock is the process's (CALLSLOT_NOW pins it, as for the HTTP answers)."""
    import os

    from generator.clock import clock_from_env
    from generator.config.settings import load_settings
    from generator.notify.outbox import check_notify_settings, run_due
    from generator.signing import load_secret
    from generator.store import open_store

    env = dict(os.environ) if env is None else env
    settings = load_settings(env.get("CALLSLOT_CONFIG") or None, env=env)
    check_notify_settings(settings)
    secret, _ = load_secret(settings.state_dir, env=env)
    store = open_store(env.get("DATABASE_URL"), settings=settings)
    try:
        report = run_due(settings, store, now=clock_from_env(env)(), secret=secret)
    finally:
        store.close()
    return {
        "sent": report.sent,
        "skipped": report.skipped,
        "dropped": report.dropped,
        "failed": report.failed,
    }


handler = make_handler(_LazyApp(notify_mode="inline"))
