"""Where bookings live: ``open_store`` picks the backend from DATABASE_URL.

(unset)                  SQLite file .callslot/bookings.sqlite3 beside content/
sqlite:///path/file      SQLite file (relative paths are relative to the project root;
                         sqlite:////abs/path for an absolute one)
postgresql://...         PostgreSQL (psycopg 3, imported only here)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from generator.domain import Booking, OutboxItem
from generator.errors import StoreError
from generator.store.base import DayFull, SlotTaken, Store

if TYPE_CHECKING:
    from generator.config.settings import Settings

__all__ = ["Booking", "DayFull", "OutboxItem", "SlotTaken", "Store", "open_store"]


def _sqlite_slashes(rest: str) -> str:
    """What to write instead of sqlite:/tmp/x.db: the slashes are easy to miscount. A SQLite
    path holds no password, so the fix can be written out."""
    path = rest.lstrip("/")
    if rest.startswith("//"):
        fix = f"sqlite:///{path} (relative to the site's folder) or sqlite:////{path} (absolute)"
    elif rest.startswith("/"):
        fix = f"sqlite:////{path}"
    else:
        fix = f"sqlite:///{path}"
    return (f"DATABASE_URL=sqlite:{rest} needs three slashes after sqlite: and then the path "
            f"(a fourth for an absolute path); write {fix}")


def open_store(url: str | None, *, settings: Settings | None = None) -> Store:
    """Open (and migrate) the store named by ``url``; None means the default SQLite file."""
    url = (url or "").strip()
    if not url:
        if settings is None:
            raise StoreError(
                "no DATABASE_URL and no settings to find the default database; "
                "set DATABASE_URL=sqlite:///path/to/bookings.sqlite3"
            )
        from generator.store.sqlite import SQLiteStore

        return SQLiteStore(settings.state_dir / "bookings.sqlite3")
    scheme = url.split(":", 1)[0].lower() if "://" in url else ""
    if not scheme and url.lower().startswith("sqlite:"):
        raise StoreError(_sqlite_slashes(url[len("sqlite:"):]))
    if not scheme and url.lower().startswith(("postgresql:", "postgres:")):
        raise StoreError("DATABASE_URL: write postgresql:// (two slashes) and then "
                         "user@host/database")
    if scheme == "sqlite":
        if not url.lower().startswith("sqlite:///") and len(url) > len("sqlite://"):
            raise StoreError(_sqlite_slashes(url[len("sqlite:"):]))
        if len(url) <= len("sqlite:///"):
            raise StoreError(
                "DATABASE_URL: write sqlite:///relative/path.sqlite3 or "
                "sqlite:////absolute/path.sqlite3"
            )
        path = Path(url[len("sqlite:///") :])
        if not path.is_absolute() and settings is not None:
            path = settings.root / path
        from generator.store.sqlite import SQLiteStore

        return SQLiteStore(path)
    if scheme in ("postgresql", "postgres"):
        try:
            from generator.store.postgres import PostgresStore
        except ImportError:
            raise StoreError(
                "DATABASE_URL names PostgreSQL but psycopg is not installed; "
                "run: pip install 'callslot[postgres]'"
            ) from None
        return PostgresStore(url)
    # Never echo the URL: it may hold a password.
    what = f"the unknown scheme {scheme!r}" if scheme else "no scheme"
    raise StoreError(
        f"DATABASE_URL has {what}; use sqlite:///path/bookings.sqlite3 "
        "or postgresql://user@host/database"
    )
