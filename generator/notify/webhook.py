"""Webhooks: POST a signed JSON summary of a booking event to a URL.

The body is Slack-compatible (a top-level ``text``), so a Slack or Mattermost
incoming webhook shows it as it is; other receivers verify the header
``X-Callslot-Signature: sha256=<hex>``, an HMAC-SHA256 over the raw body.
Error messages never contain the URL: webhook URLs often carry a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from datetime import UTC
from typing import Any

from generator import __version__
from generator.config.settings import Settings
from generator.domain import Booking
from generator.notify.mail import one_line, short_when

__all__ = [
    "SIGNATURE_HEADER",
    "WebhookFailed",
    "payload",
    "post",
    "send_webhook",
    "sign",
    "summary_text",
    "verify",
]

SIGNATURE_HEADER = "X-Callslot-Signature"
TIMEOUT = 10.0  # seconds

_TEXT = {
    "de": {"booked": "Telefontermin gebucht", "cancelled": "Telefontermin abgesagt"},
    "en": {"booked": "Call booked", "cancelled": "Call cancelled"},
}


class WebhookFailed(Exception):
    """The receiver answered with a non-2xx status; the outbox retries."""


def sign(key: bytes, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(key: bytes, body: bytes, header: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return hmac.compare_digest(sign(key, body), header or "")


def summary_text(settings: Settings, booking: Booking, event: str) -> str:
    """One line for chat: what happened, when (owner's time), the topic and the caller."""
    language = settings.owner.language
    what = _TEXT.get(language, _TEXT["en"])[event]
    when = short_when(booking.start, settings.tz, language)
    end = booking.end.astimezone(settings.tz).strftime("%H:%M")
    text = one_line(f"{what}: {when}–{end} – {booking.topic} – {booking.name}", 300)
    # Slack reads <...> as commands: a topic "<!channel>" would alert the owner's whole
    # channel, "<https://x|Ihr Vertrag>" would hide a link. Slack asks for exactly these
    # three escapes; Mattermost's Markdown shows the entities as the characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(settings: Settings, booking: Booking, event: str) -> dict[str, Any]:
    """The JSON document POSTed for ``event`` ("booked" or "cancelled")."""
    return {
        "event": event,
        "text": summary_text(settings, booking, event),
        "booking": {
            "id": booking.id,
            "call_type": booking.call_type,
            "start": booking.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "end": booking.end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "topic": booking.topic,
            "name": booking.name,
            "phone": booking.phone,
            "email": booking.email,
            "note": booking.note,
            "who_calls": booking.who_calls,
            "status": booking.status,
        },
    }


def post(
    url: str, body: bytes, *, headers: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> int:
    """POST ``body`` and return the status; WebhookFailed (or OSError) unless it is 2xx."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "User-Agent": f"callslot/{__version__}",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection open otherwise
        # str(exc) is "HTTP Error 500: ..." without the URL, which may be a secret
        raise WebhookFailed(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise WebhookFailed(f"cannot connect: {exc.reason}") from None
    if not 200 <= status < 300:
        raise WebhookFailed(f"HTTP {status}")
    return status


def send_webhook(
    url: str,
    settings: Settings,
    booking: Booking,
    event: str,
    *,
    key: bytes,
    timeout: float = TIMEOUT,
) -> int:
    """POST the signed JSON for one booking event to one webhook URL."""
    body = json.dumps(payload(settings, booking, event), ensure_ascii=False).encode("utf-8")
    return post(
        url,
        body,
        timeout=timeout,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(key, body),
        },
    )
