"""Shared by the handler tests: the example site's settings, real slots, and a page parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

# Friday 27 November 2026, 08:00 in Berlin: the next week's slots are all in the future.
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
SECRET = b"test-secret-0123456789abcdef"


@dataclass
class AnswerPage(HTMLParser):
    """What a handler page shows: heading, lead, facts, links and its one-button form."""

    heading: str = ""
    lead: str = ""
    details: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, href)
    form: dict[str, object] | None = None  # the last form on the page
    forms: list[dict[str, object]] = field(default_factory=list)  # every form, in order
    lang: str = ""
    alert: bool = False

    def __post_init__(self) -> None:
        HTMLParser.__init__(self, convert_charrefs=True)
        self._capture: str | None = None
        self._buf: list[str] = []
        self._dt = ""
        self._href = ""

    @classmethod
    def parse(cls, html: str) -> AnswerPage:
        page = cls()
        page.feed(html)
        page.close()
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        if a.get("role") == "alert":
            self.alert = True
        lead = tag == "p" and "lead" in a.get("class", "")
        if tag in ("h1", "dt", "dd", "a", "button") or lead:
            self._capture, self._buf = tag if tag != "p" else "lead", []
            self._href = a.get("href", "")
        if tag == "form":
            self.form = {"action": a.get("action"), "method": a.get("method"), "hidden": {}}
            self.forms.append(self.form)
        if tag == "input" and self.form is not None and a.get("type") == "hidden":
            self.form["hidden"][a.get("name")] = a.get("value")  # type: ignore[index]

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._buf.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._capture is None or tag not in ("h1", "dt", "dd", "a", "button", "p"):
            return
        text = " ".join("".join(self._buf).split())
        kind, self._capture = self._capture, None
        if kind == "h1":
            self.heading = text
        elif kind == "lead":
            self.lead = text
        elif kind == "dt":
            self._dt = text
        elif kind == "dd":
            self.details[self._dt] = text
        elif kind == "a":
            self.links.append((text, self._href))
        elif kind == "button" and self.form is not None:
            self.form["button"] = text
