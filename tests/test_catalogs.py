"""Every theme catalog is complete: no missing, empty or fuzzy message, same placeholders.

The reference set of message ids is each theme's English catalog (``locale/en``),
which must itself hold every message that ``babel.cfg`` extracts from the
sources. The languages are the folders under ``locale/``: adding a language is
adding its ``messages.po``, and this test checks it like the others.
"""

from __future__ import annotations

import gettext
import io
import re
from collections import Counter
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.util import pathmatch

ROOT = Path(__file__).resolve().parent.parent
THEMES = ROOT / "themes"
SOURCE_LANGUAGE = "en"
CATALOGS = sorted(THEMES.glob("*/locale/*/LC_MESSAGES/messages.po"))

# printf-style conversions as Python's %-operator reads them ("%(max)d", "%s", "%%"); a
# space flag is left out so that a French "100 %" is not taken for a conversion.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0+-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
_BRACE = re.compile(r"\{[^{}]*\}")


def placeholders(text: str) -> Counter[str]:
    """The %-style and {}-style placeholders of ``text``, with their counts."""
    braces = _BRACE.findall(text.replace("{{", "").replace("}}", ""))
    return Counter(_PERCENT.findall(text) + braces)


def _language(po: Path) -> str:
    return po.parent.parent.name


def _theme(po: Path) -> Path:
    return po.parent.parent.parent.parent


def _read(po: Path) -> Catalog:
    with po.open("rb") as handle:
        return read_po(handle, abort_invalid=True)


def _label(po: Path) -> str:
    return f"{_theme(po).name}/{_language(po)}"


def _forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def catalog_problems(catalog: Catalog, reference: set[str]) -> list[str]:
    """Everything that keeps ``catalog`` from translating ``reference`` completely and safely."""
    problems = []
    if catalog.fuzzy:
        problems.append("the header is marked fuzzy")
    messages = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    for msgid in sorted(reference - messages.keys()):
        problems.append(f"missing: {msgid!r}")
    for msgid in sorted(messages.keys() - reference):
        problems.append(f"not in the reference catalog: {msgid!r}")
    nplurals = catalog.num_plurals
    for key, message in sorted(messages.items()):
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = _forms(message)
        if message.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        filled = [form for form in forms if form.strip()]
        if message.pluralizable and (len(forms) != nplurals or len(filled) != nplurals):
            problems.append(
                f"{len(filled)} plural forms filled, the language needs {nplurals}: {key!r}"
            )
        elif len(filled) != len(forms):
            problems.append(f"empty: {key!r}")
        if len(filled) != len(forms):
            continue
        wanted = [placeholders(msgid) for msgid in ids]
        for form in forms:
            if placeholders(form) not in wanted:
                problems.append(f"placeholders differ: {key!r} -> {form!r}")
    return problems


def _reference(theme: Path) -> set[str]:
    source = theme / "locale" / SOURCE_LANGUAGE / "LC_MESSAGES" / "messages.po"
    assert source.is_file(), f"{theme.name}: no {SOURCE_LANGUAGE} catalog to check against"
    return {m.id if isinstance(m.id, str) else m.id[0] for m in _read(source) if m.id}


def test_every_language_folder_holds_a_catalog() -> None:
    for theme in sorted(p for p in THEMES.iterdir() if (p / "locale").is_dir()):
        folders = sorted(p for p in (theme / "locale").iterdir() if p.is_dir())
        assert folders, theme
        for folder in folders:
            assert (folder / "LC_MESSAGES" / "messages.po").is_file(), folder
            Locale.parse(folder.name)  # a language Babel knows (dates, lists, plural rules)
    languages = {_language(po) for po in CATALOGS if _theme(po).name == "default"}
    assert {"de", "en", "fr", "es", "it", "nl", "pl"} <= languages


@pytest.mark.parametrize("po", CATALOGS, ids=_label)
def test_catalog_is_complete_and_keeps_placeholders(po: Path) -> None:
    problems = catalog_problems(_read(po), _reference(_theme(po)))
    assert not problems, f"{_label(po)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("po", CATALOGS, ids=_label)
def test_catalog_header(po: Path) -> None:
    catalog = _read(po)
    headers = dict(catalog.mime_headers)
    assert headers.get("Language") == _language(po)
    assert "charset=utf-8" in headers.get("Content-Type", "").lower()
    assert "Plural-Forms" in headers, "without it, gettext guesses two forms"
    declared = re.search(r"nplurals\s*=\s*(\d+)", headers["Plural-Forms"])
    assert declared and int(declared.group(1)) == catalog.num_plurals
    # The rule picks every form and no other: counts up to 1000 and a million.
    rule = gettext.c2py(catalog.plural_expr)
    used = {rule(n) for n in [*range(1001), 10**6]}
    assert used == set(range(catalog.num_plurals)), headers["Plural-Forms"]


@pytest.mark.parametrize("po", CATALOGS, ids=_label)
def test_catalog_compiles_and_translates_at_run_time(po: Path) -> None:
    """Compiled the way the build does it (in memory, fuzzy left out), every message is there."""
    catalog = _read(po)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    runtime = gettext.GNUTranslations(io.BytesIO(buffer.getvalue()))
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, str):
            assert runtime.gettext(message.id) == message.string
        else:
            for n in (1, 2, 5, 22):
                index = gettext.c2py(catalog.plural_expr)(n)
                assert runtime.ngettext(message.id[0], message.id[1], n) == message.string[index]


def _extracted(theme: Path) -> set[str]:
    """The message ids ``babel.cfg`` extracts from the sources (what ``pybabel extract`` writes)."""
    with (theme / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, str(theme / "babel.cfg"))
    files = [
        path.relative_to(ROOT).as_posix()
        for folder in ("generator", "themes")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
    ]
    for pattern, _method in method_map:  # a moved source must not drop out silently
        assert any(pathmatch(pattern, name) for name in files), (
            f"{theme.name}/babel.cfg: {pattern} matches no file"
        )
    found = set()
    # N_("...") marks a msgid written in a table (handler answers, webhook events).
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords, directory_filter=_outside_local_state
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _outside_local_state(path: str) -> bool:
    return not any(part.startswith(".") or part == "public" for part in Path(path).parts)


@pytest.mark.parametrize(
    "theme",
    sorted(p for p in THEMES.iterdir() if (p / "babel.cfg").is_file()),
    ids=lambda p: p.name,
)
def test_reference_catalog_holds_every_extracted_message(theme: Path) -> None:
    extracted = _extracted(theme)
    assert len(extracted) > 20
    missing = sorted(extracted - _reference(theme))
    assert not missing, f"{theme.name}/locale/{SOURCE_LANGUAGE} lacks {missing}"


# The checker itself: each kind of fault is caught.

_HEADER = (
    'msgid ""\nmsgstr ""\n"Language: pl\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n'
    '"Plural-Forms: nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && '
    '(n%100<10 || n%100>=20) ? 1 : 2);\\n"\n\n'
)
_GOOD = (
    '#, python-format\nmsgid "Hello %(name)s"\nmsgstr "Dzień dobry, %(name)s"\n\n'
    '#, python-brace-format\nmsgid "{time} here"\nmsgstr "{time} tutaj"\n\n'
    '#, python-format\nmsgid "one call"\nmsgid_plural "%(n)d calls"\n'
    'msgstr[0] "jedna rozmowa"\nmsgstr[1] "%(n)d rozmowy"\nmsgstr[2] "%(n)d rozmów"\n\n'
)
_IDS = {"Hello %(name)s", "{time} here", "one call"}


def _problems(body: str) -> list[str]:
    return catalog_problems(read_po(io.BytesIO((_HEADER + body).encode())), _IDS)


def test_checker_accepts_a_complete_catalog() -> None:
    assert _problems(_GOOD) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('msgstr "{time} tutaj"', 'msgstr ""', "empty: '{time} here'"),
        ('#, python-brace-format\nmsgid "{time} here"\nmsgstr "{time} tutaj"\n', "", "missing"),
        ('msgstr "{time} tutaj"', 'msgstr "{czas} tutaj"', "placeholders differ"),
        ('msgstr "Dzień dobry, %(name)s"', 'msgstr "Dzień dobry, %(imie)s"', "placeholders"),
        ('msgstr "Dzień dobry, %(name)s"', 'msgstr "Dzień dobry, %(name)d"', "placeholders"),
        ('msgstr "Dzień dobry, %(name)s"', 'msgstr "Dzień dobry"', "placeholders differ"),
        ('#, python-format\nmsgid "Hello', '#, fuzzy, python-format\nmsgid "Hello', "fuzzy"),
        ('msgstr[2] "%(n)d rozmów"\n', "", "2 plural forms filled, the language needs 3"),
        ('msgstr[2] "%(n)d rozmów"', 'msgstr[2] ""', "2 plural forms filled"),
        ('msgstr[1] "%(n)d rozmowy"', 'msgstr[1] "%(m)d rozmowy"', "placeholders differ"),
        ('msgid "Hello', 'msgid "Hi', "not in the reference catalog"),
    ],
)
def test_checker_catches(old: str, new: str, problem: str) -> None:
    assert old in _GOOD
    found = _problems(_GOOD.replace(old, new))
    assert any(problem in line for line in found), found
