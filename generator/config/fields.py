"""Typed fields out of a parsed settings file, each mistake reported with file and line.

A value that is not written takes the option's default from the schema
(options.py), looked up by its dotted name; a caller passes ``default`` only
when it depends on another value (a calendar's name on its file).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from generator.config.options import option
from generator.config.suggest import did_you_mean
from generator.config.valuetypes import Secret, parse_duration
from generator.errors import ConfigError
from generator.i18n import LANGUAGES

__all__ = ["FieldReader"]

# "Not passed": the option's default from the schema.
_SCHEMA: Any = object()


def _language_hint(code: str) -> str:
    """ " (did you mean 'en'?)" for "EN", "en-GB", "English", "englisch"; else ""."""
    base = code.strip().lower().replace("_", "-").split("-")[0]
    if base in LANGUAGES:
        return f" (did you mean {base!r}?)"
    from babel import Locale

    for language in LANGUAGES:
        names = {Locale.parse(language).get_display_name(shown).lower()
                 for shown in ("en", language, "de")}
        if base in names or any(name.startswith(base[:4]) for name in names if len(base) >= 4):
            return f" (did you mean {language!r}?)"
    return did_you_mean(code, LANGUAGES)


class FieldReader:
    """Reads typed values out of the parsed TOML and reports mistakes with file and line."""

    def __init__(
        self,
        data: dict[str, Any],
        file: str,
        text: str,
        env: Mapping[str, str],
    ):
        self.data = data
        self.file = file
        self.lines = text.splitlines()
        self.env = env

    def line_of(self, dotted: str) -> int | None:
        """Best effort: the line where the last key of ``dotted`` is assigned."""
        # A quoted part may hold dots: availability.dates."31.12.2026"
        parts = [p.strip('"') for p in re.findall(r'"[^"]*"|[^.]+', dotted)]
        key = re.sub(r"\[\d+\]$", "", parts[-1])
        table = ".".join(re.sub(r"\[\d+\]$", "", p) for p in parts[:-1])
        # "call_types[1].slug" is in the second [[call_types]] table
        index = re.search(r"\[(\d+)\]$", parts[-2]) if len(parts) > 1 else None
        wanted = int(index.group(1)) if index else None
        seen = -1
        in_table = table == ""
        # key = ..., or a dotted key that starts with it (31.12.2026 = [] is 31's table)
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*[=.]")
        for number, line in enumerate(self.lines, 1):
            stripped = line.strip()
            if stripped.startswith("["):
                name = stripped.split("#", 1)[0].strip().strip("[] ")
                in_table = name == table
                seen += in_table
                if wanted is not None and seen != wanted:
                    in_table = False
                continue
            if in_table and pattern.match(line):
                return number
        # Not assigned: a table of that name ("[bookings]", "[[call_types]]")?
        plain = re.escape(re.sub(r"\[\d+\]", "", dotted))
        header = re.compile(rf"^\s*\[\[?\s*{plain}\s*\]\]?\s*(#.*)?$")
        for number, line in enumerate(self.lines, 1):
            if header.match(line):
                return number
        return None

    def error(self, dotted: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, field=dotted, line=self.line_of(dotted))

    def missing(self, dotted: str) -> ConfigError:
        """A required option is not written: the error quotes its help."""
        text = option(dotted).text
        if text[1:2].islower():  # "What the caller sees" -> "what ...", but "IANA" stays
            text = text[:1].lower() + text[1:]
        return self.error(dotted, f"missing; {text}".rstrip("; "))

    def table(self, data: dict[str, Any], key: str, dotted: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(dotted, f"expected a table [{dotted}]")
        return value

    def unknown(self, data: dict[str, Any], allowed: set[str], prefix: str) -> None:
        for key in data:
            if key not in allowed:
                dotted = f"{prefix}.{key}" if prefix else key
                known = ", ".join(sorted(allowed))
                hint = did_you_mean(key, allowed)
                raise self.error(dotted, f"unknown setting {key!r}{hint}; known here: {known}")

    def string(
        self,
        data: dict[str, Any],
        key: str,
        dotted: str,
        default: str | None = _SCHEMA,
        *,
        required: bool = False,
        choices: tuple[str, ...] | None = None,
    ) -> str | None:
        """Text as written (stripped); the default when it is not written."""
        if key not in data:
            if required:
                raise self.missing(dotted)
            return option(dotted).default if default is _SCHEMA else default
        value = data[key]
        if not isinstance(value, str):
            raise self.error(dotted, f"expected text in quotes, got {value!r}")
        value = value.strip()
        if required and not value:
            raise self.error(dotted, "must not be empty")
        if choices and value not in choices:
            allowed = ", ".join(f'"{c}"' for c in choices)
            hint = did_you_mean(value, choices)
            raise self.error(dotted, f"{value!r} is not allowed{hint}; choose one of {allowed}")
        return value

    def text(
        self, data: dict[str, Any], key: str, dotted: str, *,
        choices: tuple[str, ...] | None = None,
    ) -> str:
        """Text as written, or the option's default when it is not written or blank."""
        fallback: str = option(dotted).default
        return self.string(data, key, dotted, fallback, choices=choices) or fallback

    def local_text(
        self, data: dict[str, Any], key: str, dotted: str, owner_language: str, *,
        required: bool = False,
    ) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Text for every language, or a table of language code -> text.

        Returns the owner's text (required in a table: it is what the other
        languages fall back to) and the (code, text) pairs of a table, () for
        plain text. Blank plain text gives the option's default, as text().
        """
        value = data.get(key)
        if not isinstance(value, dict):
            if required:
                return self.string(data, key, dotted, required=True) or "", ()
            return self.text(data, key, dotted), ()
        known = ", ".join(f'"{code}"' for code in LANGUAGES)
        example = f'{key} = {{ {owner_language} = "...", en = "..." }}'
        if not value:
            raise self.error(dotted, f"is an empty table; write the text, or one per language: "
                             f"{example}")
        pairs: list[tuple[str, str]] = []
        for code, text in value.items():
            # The key's own line in a [site.title] table, else the line of title = {...}.
            at = self.line_of(f"{dotted}.{code}") if "[" not in dotted else None
            line = at or self.line_of(dotted)
            if code not in LANGUAGES:
                hint = _language_hint(code)
                raise ConfigError(
                    f"{code!r} is not a language callslot speaks{hint}; the table's keys are "
                    f"language codes: {known}", file=self.file, field=dotted, line=line)
            if not isinstance(text, str) or not text.strip():
                got = ("empty text" if isinstance(text, str)
                       else "a list" if isinstance(text, list)
                       else "a table" if isinstance(text, dict)
                       else str(text).lower() if isinstance(text, bool) else str(text))
                fallback = ("" if code == owner_language else
                            f"; or leave \"{code}\" out to show that page the "
                            f"\"{owner_language}\" text")
                raise ConfigError(
                    f"the \"{code}\" text must be text in quotes, e.g. {code} = \"...\", not "
                    f"{got}{fallback}", file=self.file, field=dotted, line=line)
            pairs.append((code, text.strip()))
        texts = dict(pairs)
        if owner_language not in texts:
            given = ", ".join(f'"{code}"' for code in texts)
            raise self.error(
                dotted, f"has texts for {given} but none for \"{owner_language}\" "
                "(owner.language), which the other languages fall back to; add "
                f"{owner_language} = \"...\"")
        return texts[owner_language], tuple(sorted(pairs))

    def boolean(self, data: dict[str, Any], key: str, dotted: str) -> bool:
        value = data.get(key, option(dotted).default)
        if not isinstance(value, bool):
            raise self.error(dotted, f"expected true or false, got {value!r}")
        return value

    def integer(
        self, data: dict[str, Any], key: str, dotted: str, *, minimum: int = 1
    ) -> int | None:
        if key not in data:
            return None
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(
                dotted, f"expected a whole number of at least {minimum}, got {value!r}"
            )
        return value

    def duration(
        self, data: dict[str, Any], key: str, dotted: str, default: object = _SCHEMA
    ) -> timedelta:
        if default is _SCHEMA:
            default = option(dotted).default
        if key not in data and default is None:
            raise self.missing(dotted)
        try:
            return parse_duration(data.get(key, default), field="")
        except ConfigError as exc:
            raise self.error(dotted, exc.reason) from None

    def parsed(self, data: dict[str, Any], key: str, dotted: str) -> Any:
        """The value (or the option's default) through the option's own parser."""
        found = option(dotted)
        try:
            return found.value(data.get(key, found.default))
        except ConfigError as exc:
            raise self.error(dotted, exc.reason) from None

    def secret(self, value: object, dotted: str, at: str | None = None) -> Secret:
        if not isinstance(value, str) or not value.strip():
            raise self.error(dotted, f'expected text (a value or "env:NAME"), got {value!r}')
        value = value.strip()
        if value.startswith("env:"):
            name = value[4:].strip()
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise self.error(dotted, f"{value!r}: write env: followed by a variable name")
            # ``at`` is the indexed name ("calendars[1].source") that finds the right line.
            return Secret(
                self.env.get(name),
                env=name,
                field=dotted,
                file=self.file,
                line=self.line_of(at or dotted),
            )
        return Secret(value, field=dotted)
