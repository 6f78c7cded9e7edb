"""The privacy-notice templates in content/ name what callslot stores and say they are templates."""

from __future__ import annotations

import re

import pytest
from testenv import ROOT

from generator.config.privacy import DEFAULT_KEEP

# Each personal field of a booking, as the notice must name it, per language.
NAMED = {
    "en": {
        "name": "**name**",
        "phone": "**phone number**",
        "email": "**email address**",
        "topic": "**topic**",
        "note": "**note**",
        "caller_timezone": "**time zone**",
        "language": "**language**",
        "start/end": "**time**",
        "call_type": "**kind of call**",
        "consent": "consent sentence",
        "rate_hits": "hash of the address",
        "outbox last_error": "failed mail attempts",
        "erasure": "erased automatically",
        "export/forget": "whichever way the\nnumber is written",
    },
    "de": {
        "name": "**Namen**",
        "phone": "**Telefonnummer**",
        "email": "**E-Mail-Adresse**",
        "topic": "**Stichwort**",
        "note": "**Notiz**",
        "caller_timezone": "**Zeitzone**",
        "language": "**Sprache**",
        "start/end": "**Termin**",
        "call_type": "**Art des Gesprächs**",
        "consent": "Einwilligungstext",
        "rate_hits": "Einweg-Hashwert der Adresse",
        "outbox last_error": "fehlgeschlagener Zustellversuche",
        "erasure": "automatisch\ngelöscht",
        "export/forget": "gleich in welcher Schreibweise",
    },
}
MARK = {"en": "TEMPLATE - NOT LEGAL ADVICE.", "de": "VORLAGE - KEINE RECHTSBERATUNG."}
DAYS = {"en": "days", "de": "Tage"}


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_template_names_what_is_stored_and_is_marked_as_a_template(language: str) -> None:
    text = (ROOT / "content" / f"privacy-notice.{language}.md").read_text(encoding="utf-8")
    assert text.startswith(f"<!--\n{MARK[language]}\n")  # an HTML comment: not shown when built
    flat = re.sub(r"\s+", " ", text)
    for what, words in NAMED[language].items():
        assert re.sub(r"\s+", " ", words) in flat, (language, what)
    # The retention period it names is callslot's default.
    assert f"[{DEFAULT_KEEP[:-1]} {DAYS[language]}]" in text
    assert "site.privacy_policy" in text and "[privacy]" in text
