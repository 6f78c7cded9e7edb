"""Contact details as every layer needs them: an email address in the form mail servers take."""

from __future__ import annotations

__all__ = ["MAX_EMAIL", "ascii_email"]

MAX_EMAIL = 254  # RFC 5321's limit on a forward path, less the angle brackets


def ascii_email(value: str) -> str | None:
    """The address as mail servers take it (an IDN domain in its xn-- form), or None when
    it cannot be mailed: what is booked must reach the caller, so the check is the one a
    well-kept library makes (RFC 5321/5322 syntax; no DNS lookup, a booking never waits
    on one). A non-ASCII local part is refused: few servers deliver there, and Python
    cannot address it.
    """
    # Imported on the first address, not with the handler: it compiles large patterns.
    from email_validator import EmailNotValidError, validate_email

    try:
        info = validate_email(
            value, check_deliverability=False, allow_smtputf8=False, allow_quoted_local=False
        )
    except EmailNotValidError:
        return None
    address = info.ascii_email
    return address if address and len(address) <= MAX_EMAIL else None
