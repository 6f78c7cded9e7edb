"""The theme's words for notifications: one loaded theme per settings, shared by mail,
invitation and webhook texts.

Every word a notification carries comes from the site's theme: its templates
(``templates/mail/``) and its gettext catalogs, in the reader's language. A
theme is loaded once per settings object: the outbox sends many messages with
the same settings, and loading parses every template again.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from generator.config.settings import Settings

if TYPE_CHECKING:
    from generator.page.theme import Theme

__all__ = ["theme_for"]

_lock = threading.Lock()
# id(settings) -> (settings, theme); the settings are kept so their id is not reused.
_loaded: dict[int, tuple[Settings, Theme]] = {}
_KEEP = 8


def theme_for(settings: Settings) -> Theme:
    """The theme ``settings`` select, loaded once (BuildError for an unknown theme)."""
    with _lock:
        hit = _loaded.get(id(settings))
        if hit is not None and hit[0] is settings:
            return hit[1]
    from generator.page.theme import load_theme

    theme = load_theme(settings)
    with _lock:
        if len(_loaded) >= _KEEP:
            _loaded.pop(next(iter(_loaded)))
        _loaded[id(settings)] = (settings, theme)
    return theme
