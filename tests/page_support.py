"""Parse built pages with html.parser: elements, labels, day fieldsets, inline code."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    ancestors: tuple[str, ...]  # tags of the open elements around it
    hidden_by: tuple[dict[str, str], ...] = ()  # attrs of the open ancestors


@dataclass
class Page(HTMLParser):
    """The parts of a page the tests assert on."""

    elements: list[Element] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # for= -> label text
    fieldsets: list[tuple[str, list[str]]] = field(default_factory=list)  # legend, radio ids
    scripts: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)
    title: str = ""
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        HTMLParser.__init__(self, convert_charrefs=True)
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._label_for: str | None = None
        self._label_text: list[str] = []
        self._capture: str | None = None
        self._buffer: list[str] = []

    VOID = frozenset({"meta", "link", "input", "br", "img", "hr", "source"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.elements.append(
            Element(tag, values, tuple(t for t, _ in self._stack), tuple(a for _, a in self._stack))
        )
        if tag == "label":
            self._label_for = values.get("for", "")
            self._label_text = []
        elif tag == "fieldset":
            self.fieldsets.append(("", []))
        elif tag in ("legend", "script", "style", "title"):
            self._capture, self._buffer = tag, []
        elif tag == "input" and values.get("type") == "radio" and self.fieldsets:
            self.fieldsets[-1][1].append(values.get("id", ""))
        if tag not in self.VOID:
            self._stack.append((tag, values))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label_for is not None:
            self.labels[self._label_for] = " ".join("".join(self._label_text).split())
            self._label_for = None
        if tag == self._capture:
            text = "".join(self._buffer)
            if tag == "legend":
                radios = self.fieldsets[-1][1]
                self.fieldsets[-1] = (text.strip(), radios)
            elif tag == "script":
                self.scripts.append(text)
            elif tag == "style":
                self.styles.append(text)
            else:
                self.title = text
            self._capture = None
        while self._stack:
            open_tag, _ = self._stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._label_for is not None:
            self._label_text.append(data)
        if self._capture:
            self._buffer.append(data)
        self.text.append(data)

    # -- queries

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str, **attrs: str) -> Element:
        found = self.find(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    def meta(self, key: str) -> str:
        for e in self.elements:
            if e.tag == "meta" and key in (e.attrs.get("property"), e.attrs.get("name")):
                return e.attrs.get("content", "")
        raise AssertionError(f"no <meta> {key}")

    @property
    def slot_radios(self) -> list[Element]:
        return self.find("input", type="radio", name="slot")


def parse_page(path: Path | str) -> Page:
    page = Page()
    text = Path(path).read_text(encoding="utf-8") if isinstance(path, Path) else path
    page.feed(text)
    page.close()
    return page
