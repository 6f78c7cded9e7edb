"""Phone numbers: parsed, checked and formatted with Google's libphonenumber (``phonenumbers``).

A caller writes a number the way people in their country do ("030 1234567",
"+1 (212) 555-0100", "0170/1234567"); the booking stores it as E.164
("+49301234567"), so the owner's phone, a calendar app and a later search for
the same person all agree. Numbers without a leading + are read in the
owner's region (``owner.phone_region``, else the country of ``owner.phone``).
The library is imported only when a number is read: the handler's cold start
does not pay for its metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.config.settings import Owner

__all__ = [
    "default_region",
    "display_number",
    "known_region",
    "normalise",
    "owner_number",
    "tel_uri",
]


def known_region(region: str) -> bool:
    """True for a two-letter country code that has phone numbers ("DE", "US")."""
    import phonenumbers

    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def owner_number(phone: str, region: str = "") -> str | None:
    """What is wrong with the owner's own number, or None.

    Only unreadable numbers are refused: a new or unusual range (a test
    number, a company switchboard) must not stop a build.
    """
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, region or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        where = f"in {region}" if region else "with its country code (+49 ...)"
        return f"{phone!r} is not a phone number that can be dialled; write it {where}"
    return None


def default_region(owner: Owner) -> str:
    """The country of numbers written without +: the setting, else that of the owner's phone."""
    if owner.phone_region:
        return owner.phone_region
    if owner.phone:
        import phonenumbers

        try:
            number = phonenumbers.parse(owner.phone, None)
        except phonenumbers.NumberParseException:
            return ""
        return phonenumbers.region_code_for_number(number) or ""
    return ""


def normalise(value: str, region: str = "") -> str | None:
    """A caller's number as E.164 ("+49301234567"), or None when it cannot be dialled."""
    import phonenumbers

    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]  # the European international prefix
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_number(e164: str, region: str = "") -> str:
    """A stored number as the owner dials it: national within their region, else international.

    Anything that does not parse (a booking stored before numbers were checked)
    is shown as it was written.
    """
    if not e164:
        return e164
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, region or None)
    except phonenumbers.NumberParseException:
        return e164
    if region and phonenumbers.region_code_for_number(number) == region.upper():
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def tel_uri(e164: str) -> str:
    """An RFC 3966 link target: "tel:+49301234567" (digits and + only)."""
    digits = "".join(ch for ch in e164 if ch.isdigit() or ch == "+")
    return f"tel:{digits}"
