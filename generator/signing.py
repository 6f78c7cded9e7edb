"""Signed slot tokens: the build signs each offered slot, the handler verifies it.

A token names the call type, start and end (UTC) and carries an HMAC-SHA256
over them, so a caller can only book what a build offered: changing the time,
the length or the call type breaks the signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from generator.errors import ConfigError
from generator.files import write_atomic

if TYPE_CHECKING:  # loaded where a token is verified: an unchanged build needs no slot engine
    from generator.domain import Slot

__all__ = [
    "MIN_KEY_BITS",
    "ForgedSlot",
    "cancel_token",
    "key_bits",
    "load_secret",
    "move_token",
    "slot_id",
    "slot_token",
    "verify_slot_token",
]

_FMT = "%Y%m%dT%H%M%SZ"


MIN_KEY_BITS = 128  # a key in a URL is only as good as the guesses it takes


def key_bits(key: str) -> int:
    """A generous estimate of a key's strength: its length times the bits per character
    of the smallest usual alphabet it fits (digits, hex, one-case letters and digits,
    or anything else as base64). ``secrets.token_urlsafe(16)`` (22 characters) and
    ``secrets.token_hex(16)`` reach 128; a word, a date or "7" do not. A key of few
    distinct characters counts only those ("aaaa..." is not long)."""
    import math
    import string

    chars = set(key)
    if not chars:
        return 0
    if chars <= set(string.digits):
        per = math.log2(10)
    elif chars <= set(string.hexdigits.lower()) or chars <= set(string.hexdigits.upper()):
        per = 4.0
    elif chars <= set(string.digits + string.ascii_lowercase) or chars <= set(
        string.digits + string.ascii_uppercase
    ):
        per = math.log2(36)
    else:
        per = 6.0
    if len(chars) < 8:
        per = min(per, math.log2(max(len(chars), 2)))
    return int(len(key) * per)


class ForgedSlot(ValueError):
    """The token is malformed or its signature does not match."""


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_FMT)


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def slot_id(slot: Slot) -> str:
    """A short, stable id for links (``?slot=``): call type and UTC start."""
    return f"{slot.call_type}.{_stamp(slot.start)}"


def slot_token(secret: bytes, slot: Slot) -> str:
    """``<call_type>.<start>.<end>.<mac>``: safe in HTML attributes and URLs."""
    payload = f"{slot.call_type}.{_stamp(slot.start)}.{_stamp(slot.end)}"
    return f"{payload}.{_mac(secret, payload)}"


def verify_slot_token(secret: bytes, token: str) -> Slot:
    """The slot a token names; ForgedSlot when it was not signed with ``secret``."""
    if not isinstance(token, str) or len(token) > 200:
        raise ForgedSlot("malformed slot token")
    parts = token.split(".")
    if len(parts) != 4:
        raise ForgedSlot("malformed slot token")
    call_type, start_s, end_s, mac = parts
    payload = f"{call_type}.{start_s}.{end_s}"
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise ForgedSlot("slot signature does not match")
    try:
        start = datetime.strptime(start_s, _FMT).replace(tzinfo=UTC)
        end = datetime.strptime(end_s, _FMT).replace(tzinfo=UTC)
    except ValueError:
        raise ForgedSlot("malformed slot time") from None
    if end <= start:
        raise ForgedSlot("slot ends before it starts")
    from generator.domain import Slot

    return Slot(start=start, end=end, call_type=call_type)


def cancel_token(secret: bytes, booking_id: str) -> str:
    """The booker's cancel token: urlsafe-base64 HMAC-SHA256(secret, "cancel:" + id), no padding.

    The handler stores only a hash of it; the notifier recomputes it for the
    cancel link in the caller's email, so neither needs to keep the token.
    """
    digest = hmac.new(secret, f"cancel:{booking_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def move_token(secret: bytes, booking_id: str) -> str:
    """The booker's token to move the call: as :func:`cancel_token`, for "move:" + id.

    Its own token, so a move link forwarded to an assistant cannot cancel the call.
    """
    digest = hmac.new(secret, f"move:{booking_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def load_secret(state_dir: Path | None = None, *, create: bool = False,
                env: dict[str, str] | None = None) -> tuple[bytes, str]:
    """The signing key and where it came from ("env" or the dev key file's path).

    ``CALLSLOT_SECRET`` wins. Without it, a development key in
    ``state_dir/secret`` is used (and made when ``create``), so that a local
    `callslot build` and `callslot serve` agree; production sets the variable.
    """
    env = os.environ if env is None else env
    value = env.get("CALLSLOT_SECRET", "")
    if value:
        if len(value) < 16:
            raise ConfigError(
                "CALLSLOT_SECRET is too short; use at least 16 random characters, e.g. from "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`",
                field="CALLSLOT_SECRET",
            )
        return value.encode(), "env"
    if state_dir is None:
        raise ConfigError("CALLSLOT_SECRET is not set; export a random value of 16+ characters",
                          field="CALLSLOT_SECRET")
    path = state_dir / "secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip().encode(), str(path)
    if not create:
        raise ConfigError(f"CALLSLOT_SECRET is not set and there is no development key at {path}; "
                          "export CALLSLOT_SECRET", field="CALLSLOT_SECRET")
    import secrets  # only here: it loads `random`, which a build that only checks never needs

    key = secrets.token_urlsafe(32)
    write_atomic(path, key + "\n", mode=0o600)
    return key.encode(), str(path)
