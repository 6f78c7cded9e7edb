"""Contact details as every layer needs them: an email address in the form mail servers take."""

from __future__ import annotations

__all__ = ["MAX_EMAIL", "ascii_email"]

MAX_EMAIL = 254  # RFC 5321's limit on a forward path, less the angle brackets


def ascii_email(value: str) -> str | None:
    """The address as mail servers take it: an IDN domain in its xn-- form; None when
    the local part is not ASCII (few servers deliver there, and Python cannot address it)."""
    local, _, domain = value.rpartition("@")
    if not local.isascii():
        return None
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    address = f"{local}@{domain}"
    return address if len(address) <= MAX_EMAIL else None
