"""Themes: a Jinja2 environment over the site's own templates and the bundled default theme.

A theme is a folder with ``templates/`` (Jinja2, autoescaped), ``assets/``
(the stylesheet and the small script, both inlined into pages) and
``locale/<lang>/LC_MESSAGES/messages.po``. The site's ``themes/<name>/``
beside content/ (or the folder ``site.theme`` points to) is searched first,
then the bundled theme of that name, then the bundled default theme: a site
overrides single files and inherits the rest, as in Pelican and Hugo.
"""

from __future__ import annotations

import base64
import functools
import gettext
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from generator.config.settings import Settings
from generator.errors import BuildError
from generator.i18n import BUNDLED_THEMES, LANGUAGES, one_oclock, translations

__all__ = ["BUNDLED_THEMES", "Theme", "content_security_policy", "inline_hashes", "load_theme"]



class Theme:
    """Renders a theme's templates with the site's base context and language."""

    def __init__(
        self,
        name: str,
        dirs: Iterable[Path],
        *,
        language: str,
        base: Mapping[str, Any] | None = None,
        site: Callable[[str], Any] | None = None,
    ) -> None:
        self.name = name
        self.dirs = tuple(dirs)  # theme folders, the one that wins first
        self.language = language
        self._base = dict(base or {})
        # The site's view data in a language (its default title differs per language).
        self._site = site
        self._envs: dict[str, jinja2.Environment] = {}

    def environment(self, language: str | None = None) -> jinja2.Environment:
        """The Jinja2 environment with the gettext catalogs of ``language`` installed."""
        language = language or self.language
        env = self._envs.get(language)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader([str(d / "templates") for d in self.dirs]),
                # HTML is escaped; mail texts and subjects (.txt) are plain text.
                autoescape=jinja2.select_autoescape(("html", "htm", "xml"), default=False),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            env.install_gettext_translations(  # type: ignore[attr-defined]
                self.translations(language), newstyle=True
            )
            self._envs[language] = env
        return env

    def translations(self, language: str | None = None) -> gettext.NullTranslations:
        """The theme's gettext catalogs for ``language`` (default: the site's)."""
        return translations(language or self.language, self.dirs)

    def gettext(self, message: str, language: str | None = None, **variables: Any) -> str:
        """Translate a message from Python code (offers, handler texts), %-formatted."""
        text = self.translations(language).gettext(message)
        if not variables:
            return text
        return one_oclock(text % variables, language or self.language)

    def ngettext(
        self, singular: str, plural: str, n: int, language: str | None = None, **variables: Any
    ) -> str:
        """The plural form for ``n`` in ``language`` (Polish has three), %-formatted with num=n."""
        text = self.translations(language).ngettext(singular, plural, n)
        return one_oclock(text % {"num": n, **variables}, language or self.language)

    def asset(self, name: str) -> Markup:
        """The text of ``assets/<name>`` (CSS or script), to be inlined into a page."""
        for folder in self.dirs:
            path = folder / "assets" / name
            if path.is_file():
                # A theme file is trusted markup: it goes into <style>/<script> unescaped.
                return Markup(path.read_text(encoding="utf-8").strip())
        raise BuildError(
            f"theme {self.name!r}: assets/{name} not found in "
            + ", ".join(str(d) for d in self.dirs)
        )

    def render(self, template: str, **context: Any) -> str:
        """Render ``template``; a ``lang`` in the context ("de"/"en") picks its language.

        Template mistakes become a BuildError naming the file and line.
        """
        language = context.get("lang")
        if language not in LANGUAGES:
            language = self.language
        values = {**self._base, **context, "lang": language}
        if self._site is not None and "site" not in context:
            values["site"] = self._site(language)
        try:
            return self.environment(language).get_template(template).render(values)
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or exc.name or template
            raise BuildError(f"template {where}, line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateNotFound as exc:
            raise BuildError(
                f"theme {self.name!r}: template {exc.name!r} not found in "
                + ", ".join(str(d / "templates") for d in self.dirs)
            ) from None
        except jinja2.TemplateError as exc:
            raise BuildError(f"template {_where(exc, template)}: {exc}") from None


def _where(exc: BaseException, template: str) -> str:
    """File and line of a runtime template error: Jinja maps its frames to the template."""
    where = template
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".html", ".txt", ".xml")):
            where = f"{filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _theme_dirs(settings: Settings) -> tuple[str, list[Path]]:
    name = settings.site.theme
    root = settings.root
    candidates: list[Path] = []
    if "/" in name or "\\" in name or name.startswith("."):
        # A path: relative to the folder that holds content/ and themes/.
        folder = (root / name).resolve()
        if not folder.is_dir():
            raise BuildError(
                f"site.theme: the theme folder {folder} does not exist; "
                'write a theme name (e.g. "default") or an existing folder'
            )
        candidates.append(folder)
    else:
        own, bundled = root / "themes" / name, BUNDLED_THEMES / name
        found = [d for d in (own, bundled) if d.is_dir()]
        if not found:
            known = sorted(
                {
                    d.name
                    for base in (root / "themes", BUNDLED_THEMES)
                    if base.is_dir()
                    for d in base.iterdir()
                    if (d / "templates").is_dir()
                }
            )
            raise BuildError(
                f"site.theme: unknown theme {name!r}; no folder themes/{name} "
                f"beside content/ nor a bundled theme of that name. "
                f"Known themes: {', '.join(known) or 'none'}"
            )
        candidates.extend(found)
    # Everything a site theme leaves out comes from the default theme.
    if name != "default" and (root / "themes" / "default").is_dir():
        candidates.append(root / "themes" / "default")
    candidates.append(BUNDLED_THEMES / "default")
    dirs: list[Path] = []
    for d in candidates:
        resolved = d.resolve()
        if resolved not in dirs:
            dirs.append(resolved)
    return name, dirs


def load_theme(settings: Settings) -> Theme:
    """The theme the settings select; BuildError for an unknown theme."""
    from generator.page.viewdata import (
        site_view,  # views builds on the theme's helpers; import late
    )

    name, dirs = _theme_dirs(settings)
    theme = Theme(name, dirs, language=settings.owner.language)
    theme._base = {"css": theme.asset("style.css")}
    theme._site = functools.cache(lambda language: site_view(settings, theme, language))
    return theme


# --------------------------------------------------------------------------
# Content-Security-Policy: inline code is allowed by its hash, nothing else.

_INLINE = {
    "script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I),
    "style": re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I),
}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def inline_hashes(html: str) -> dict[str, set[str]]:
    """CSP hash sources of each inline <script> and <style> in a page."""
    return {kind: {_sha256(m) for m in pattern.findall(html)} for kind, pattern in _INLINE.items()}


def _origin(url: str) -> str | None:
    match = re.match(r"^(https?://[^/?#]+)", url)
    return match.group(1) if match else None


def content_security_policy(
    pages: Iterable[str], *, allow_framing: bool = False, endpoints: Iterable[str] = ()
) -> str:
    """A CSP for ``pages``: their inline code by hash, no unsafe-inline, no eval.

    ``endpoints`` are the booking and taken URLs; absolute ones add their
    origin to form-action and connect-src (a handler on another host).
    """
    scripts: set[str] = set()
    styles: set[str] = set()
    for html in pages:
        found = inline_hashes(html)
        scripts |= found["script"]
        styles |= found["style"]
    others = sorted({o for o in (_origin(e) for e in endpoints) if o})
    extra = "".join(" " + o for o in others)
    parts = [
        "default-src 'none'",
        "script-src " + (" ".join(sorted(scripts)) or "'none'"),
        "style-src " + (" ".join(sorted(styles)) or "'none'"),
        "img-src 'self' data:",
        "connect-src 'self'" + extra,
        "form-action 'self'" + extra,
        "base-uri 'none'",
        "frame-ancestors " + ("*" if allow_framing else "'none'"),
    ]
    return "; ".join(parts)
