"""AWS Lambda entry point: ``generator.lambda_handler.handler`` (API Gateway or a function URL).

apig-wsgi turns the Lambda event into a WSGI request for the same application
`callslot serve` and gunicorn run. Configure the function with the
environment: CALLSLOT_SECRET (the key the build signed slots with),
DATABASE_URL=postgresql://... (Lambda has no lasting disk for SQLite),
CALLSLOT_CONFIG (the site.toml shipped with the function), and
CALLSLOT_TRUSTED_PROXIES=1 when Netlify's /api/* rewrite sits in front, so
that the rate limit sees each caller's own address. See README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apig_wsgi import make_lambda_handler

from generator.web.wsgi import app

__all__ = ["handler", "make_handler"]


def make_handler(wsgi_app: Callable[..., Any]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler around ``wsgi_app``; the calendar feed is text, so no binary bodies."""
    return make_lambda_handler(wsgi_app, binary_support=False)


handler = make_handler(app)
