"""What a request must show before the handler acts on it, each rule a plain function.

A form comes from the booking page itself (``same_site``); a replayed form proves it
was sent by the browser that booked (``PROOF_RE``); a booking's link still works
(``link_expired``); and the rate limit counts a caller by ``client_key``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from generator.config.settings import Settings
from generator.domain import Booking

__all__ = ["PROOF_RE", "client_key", "link_expired", "retry_seconds", "same_site"]

# The page's script sends 16 random bytes as 32 hex digits: a value this long was not
# guessed, so a request carrying it was sent by the browser that made the booking.
PROOF_RE = re.compile(r"^[A-Za-z0-9_-]{32,200}$")


def client_key(address: str) -> str:
    """The part of a client address the rate limit counts: an IPv6 caller gets a whole
    /64 from their provider (one per household), so counting single addresses would let
    one caller rotate through 2**64 of them."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def rate_key(secret: bytes, kind: str, address: str) -> str:
    """What the rate limit counts for ``kind`` ("book", "move", "feed") from ``address``:
    keyed with the site's secret, so the table cannot be read back into addresses by
    hashing all 2**32 IPv4 addresses in turn."""
    import hmac

    return hmac.new(secret, f"{kind}:{client_key(address)}".encode(), "sha256").hexdigest()


def retry_seconds(wait: timedelta) -> int:
    """Whole seconds for Retry-After, rounded up and at least 1."""
    return max(1, int(-(-wait.total_seconds() // 1)))


def link_expired(booking: Booking, now: datetime, settings: Settings) -> bool:
    """A booking's link works until [privacy] keep after the call (at least until its
    end): then its page has nothing left to do, and a leaked link shows nothing."""
    return now >= booking.end + settings.privacy.keep and now > booking.end


def _origin_of(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "null"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "null"
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_site(origin: str, host: str, settings: Settings) -> bool:
    """True unless a browser says the form comes from another site (CSRF: a page
    elsewhere posting a booking or a cancellation in a visitor's name).

    Allowed: the page's own address (site.base_url), the address the request was sent
    to (`callslot serve`, or a handler on the page's host), booking.allowed_origins.
    A request without Origin and Referer (not a browser, or one that strips both) passes:
    the signed slot and the rate limit still hold it.
    """
    if not origin:
        return True
    origin = origin.lower()
    if origin == "null":  # a sandboxed frame, a data: page or a file:// copy
        return False
    allowed = set(settings.booking.allowed_origins)
    if settings.site.base_url:
        allowed.add(_origin_of(settings.site.base_url))
    elif not allowed:
        # The page's address is unknown (no site.base_url): a page on Netlify posting
        # through a rewrite to this handler would look foreign, and refusing it would
        # refuse every booking. `callslot check` asks for site.base_url.
        return True
    if origin in allowed:
        return True
    # Behind a TLS proxy the handler sees http: compare the host (and port) only.
    return bool(host) and origin.split("://", 1)[-1] == host.lower()
