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
from datetime import UTC, datetime
from typing import Any

from generator.config.settings import Settings
from generator.domain import Booking
from generator.i18n import N_
from generator.notify.mail import one_line, short_when
from generator.notify.wording import theme_for

__all__ = [
    "EVENTS",
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
_MAX_ANSWER = 1_000_000  # a receiver's answer is read (to end the exchange) but not used

# What happened, as chat reads it (msgids of the theme's catalogs, in the owner's language).
_EVENTS = {
    "booked": N_("Call booked"),
    "moved": N_("Call moved"),
    "cancelled": N_("Call cancelled"),
    "reminder": N_("Reminder sent"),
}
# The outbox's event -> the "event" a receiver reads.
EVENTS = {
    "booked": "booking.created",
    "moved": "booking.moved",
    "cancelled": "booking.cancelled",
    "reminder": "reminder.sent",
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
    from generator.i18n import short_time

    language = settings.owner.language
    theme = theme_for(settings)
    text = theme.gettext(
        "%(what)s: %(when)s–%(end)s – %(topic)s – %(name)s",
        language,
        what=theme.gettext(_EVENTS.get(event, event), language),
        when=short_when(booking.start, settings.tz, language),
        end=short_time(booking.end, settings.tz, language),
        topic=booking.topic,
        name=booking.name,
    )
    text = one_line(text, 300)
    # Slack reads <...> as commands: a topic "<!channel>" would alert the owner's whole
    # channel, "<https://x|Ihr Vertrag>" would hide a link. Slack asks for exactly these
    # three escapes; Mattermost's Markdown shows the entities as the characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload(
    settings: Settings,
    booking: Booking,
    event: str,
    *,
    previous: tuple[datetime, datetime] | None = None,
) -> dict[str, Any]:
    """The JSON document POSTed for ``event`` (an outbox event: "booked", "moved",
    "cancelled" or "reminder"; the receiver reads it as one of EVENTS' values).
    ``previous``: a moved call's (start, end) before the move."""
    data: dict[str, Any] = {
        "event": EVENTS[event],
        "text": summary_text(settings, booking, event),
        "booking": {
            "id": booking.id,
            "call_type": booking.call_type,
            "start": _utc(booking.start),
            "end": _utc(booking.end),
            "topic": booking.topic,
            "name": booking.name,
            "phone": booking.phone,
            "email": booking.email,
            "note": booking.note,
            "who_calls": booking.who_calls,
            "status": booking.status,
        },
    }
    if previous is not None:
        data["previous"] = {"start": _utc(previous[0]), "end": _utc(previous[1])}
    return data


def post(
    url: str, body: bytes, *, headers: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> int:
    """POST ``body`` and return the status; WebhookFailed unless it is 2xx within ``timeout``.

    ``timeout`` bounds the whole exchange, every read included: a receiver that
    answers a byte at a time cannot hold the outbox (or a booking's answer) longer.
    """
    from generator.http import HttpFailure, deadline_after, request

    try:
        answer = request(
            url,
            method="POST",
            body=body,
            headers=headers,
            deadline=deadline_after(timeout),
            max_bytes=_MAX_ANSWER,
        )
    except HttpFailure as exc:
        # The messages never hold the URL: webhook URLs often carry a secret.
        if exc.status is not None:
            raise WebhookFailed(f"HTTP {exc.status} {_phrase(exc.status)}".strip()) from None
        if exc.kind == "timeout":
            raise WebhookFailed(f"no answer within {timeout:g} s") from None
        if exc.kind == "too_big":
            raise WebhookFailed("the receiver's answer is too large") from None
        raise WebhookFailed(f"cannot connect: {exc.detail or exc.kind}") from None
    return answer.status


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def send_webhook(
    url: str,
    settings: Settings,
    booking: Booking,
    event: str,
    *,
    key: bytes,
    timeout: float = TIMEOUT,
    previous: tuple[datetime, datetime] | None = None,
) -> int:
    """POST the signed JSON for one booking event to one webhook URL."""
    data = payload(settings, booking, event, previous=previous)
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return post(
        url,
        body,
        timeout=timeout,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(key, body),
        },
    )
