"""The owner's Impressum and Datenschutz: a link to their own page, or one built from Markdown.

German law asks a business page for both (TMG/DDG § 5, GDPR Art. 13); every
booking page, every answer of the handler and every mail links them when the
owner set ``site.imprint`` / ``site.privacy_policy``. A Markdown file in
content/ becomes ``imprint.html`` / ``privacy.html`` of the built site.
"""

from __future__ import annotations

from generator.config.settings import Settings

__all__ = ["LEGAL_PAGES", "legal_href", "legal_source"]

# kind -> (the settings field, the built page)
LEGAL_PAGES = {
    "imprint": ("imprint", "imprint.html"),
    "privacy": ("privacy_policy", "privacy.html"),
}


def legal_source(settings: Settings, kind: str) -> str:
    """What the owner wrote for ``kind`` ("imprint" or "privacy"): a URL, a .md file or ""."""
    return str(getattr(settings.site, LEGAL_PAGES[kind][0]))


def legal_href(settings: Settings, kind: str, *, absolute: bool = False) -> str:
    """Where the link points: the owner's URL, or the built page ("" when not set).

    ``absolute`` (mails): the built page with site.base_url in front, or "" when
    there is no base URL to put in front of it.
    """
    source = legal_source(settings, kind)
    if not source or source.startswith(("http://", "https://")):
        return source
    path = "/" + LEGAL_PAGES[kind][1]
    base = settings.site.base_url
    if absolute:
        return f"{base}{path}" if base else ""
    # The handler may answer from another host than the page: link back to the page's.
    return f"{base}{path}" if base and settings.booking.endpoint.startswith("http") else path
