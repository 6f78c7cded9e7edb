"""The [privacy] table of site.toml -> PrivacySettings (how long personal data is kept, consent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from generator.config.fields import FieldReader
from generator.config.options import SCHEMA, default

__all__ = ["DEFAULT_KEEP", "PrivacySettings", "describe_keep", "read_privacy"]

DEFAULT_KEEP: str = SCHEMA["privacy.keep"].default  # as written in site.toml: "90d"


@dataclass(frozen=True)
class PrivacySettings:
    """How long a call's personal data outlives the call, and whether callers must consent.

    ``keep`` counts from the end of the call; after it only what ``callslot stats``
    needs remains (call type, times, outcome, cancelled or not, notice).
    """

    keep: timedelta = default("privacy.keep")
    require_consent: bool = default("privacy.require_consent")


def read_privacy(r: FieldReader, t: dict[str, Any]) -> PrivacySettings:
    """The [privacy] table; every mistake names the field and its line."""
    r.unknown(t, {"keep", "require_consent"}, "privacy")
    return PrivacySettings(
        keep=r.duration(t, "keep", "privacy.keep"),
        require_consent=r.boolean(t, "require_consent", "privacy.require_consent"),
    )


def describe_keep(keep: timedelta) -> str:
    """The retention in the owner's words: "90 days after the call", "as soon as the call
    is over" (for command output; callers read the catalogs' sentences)."""
    if not keep:
        return "as soon as the call is over"
    days = keep / timedelta(days=1)
    if days >= 1:
        return f"{days:g} days after the call"
    return f"{keep.total_seconds() / 3600:g} hours after the call"
