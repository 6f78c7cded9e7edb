"""The owner's own texts per page language: which intro file a language shows, and
which texts a language of site.languages would show in the owner's language.

site.title, site.description and each call type's title and description are
either one text for every language or a table of language code -> text
(settings.py reads them, fields.py checks them); the intro is intro.md with an
intro.<lang>.md beside it per language. A language without its own text shows
the owner's, which `callslot check` and `callslot build` point out.
"""

from __future__ import annotations

from pathlib import Path

from generator.config.settings import Settings, Translations

__all__ = ["intro_path", "untranslated"]


def intro_path(settings: Settings, language: str | None = None) -> Path:
    """The intro a page in ``language`` shows: "intro.en.md" beside site.intro when it
    exists, else site.intro itself."""
    path = settings.content_dir / settings.site.intro
    if language is not None:
        own = path.with_name(f"{path.stem}.{language}{path.suffix}")
        if own.is_file():
            return own
    return path


def _shown(settings: Settings, path: Path) -> str:
    try:
        return path.relative_to(settings.root).as_posix()
    except ValueError:
        return str(path)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def untranslated(settings: Settings) -> list[str]:
    """One warning per language of site.languages whose page would show some of the
    owner's texts in the owner's language, naming them and how to give them."""
    from babel import Locale

    owner = settings.owner.language
    built = settings.site.languages or (owner,)
    languages = [code for code in built if code != owner]
    site = settings.site
    texts: list[tuple[str, str, str, Translations]] = [
        ("site.title", "title", site.title, site.titles),
        ("site.description", "description", site.description, site.descriptions),
    ]
    for i, call_type in enumerate(settings.call_types):
        texts.append((f"call_types[{i}].title", "title", call_type.title, call_type.titles))
        texts.append((f"call_types[{i}].description", "description", call_type.description,
                      call_type.descriptions))
    intro = intro_path(settings)
    owner_name = Locale.parse(owner).get_display_name("en") or owner
    warnings = []
    # A text for a language the site is not built in is never shown (a typo for another?).
    for name, _key, _text, given in texts:
        for code, _value in given:
            if code not in built:
                warnings.append(
                    f"{name}: the \"{code}\" text is never shown: the site is built in "
                    f"{_join(list(built))} (site.languages); add \"{code}\" there or remove "
                    "the text"
                )
    for language in languages:
        missing = [(name, key) for name, key, text, given in texts
                   if text and language not in dict(given)]
        no_intro = intro.is_file() and intro_path(settings, language) == intro
        if not missing and not no_intro:
            continue
        names = [name for name, _key in missing] + (["the intro"] if no_intro else [])
        fixes = []
        if missing:
            key = missing[0][1]
            fixes.append(f"give {'it' if len(missing) == 1 else 'them'} per language "
                         f"({key} = {{ {owner} = \"...\", {language} = \"...\" }})")
        if no_intro:
            own = intro.with_name(f"{intro.stem}.{language}{intro.suffix}")
            fixes.append(f"write {_shown(settings, own)}")
        warnings.append(f"site.languages: the \"{language}\" page shows {_join(names)} in "
                        f"{owner_name}; {' and '.join(fixes)}")
    return warnings
