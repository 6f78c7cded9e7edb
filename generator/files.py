"""Files written whole or not at all, and the local state folder kept owner-only.

A reader sees the old content of a file or the new, never half. The state
folder ``.callslot/`` holds the bookings, the development key and cached
calendars: it and every folder made inside it are created for the owner only.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["STATE_DIR", "create_private_file", "make_dirs", "write_atomic"]

STATE_DIR = ".callslot"
_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


def make_dirs(path: Path) -> None:
    """``mkdir -p``; a folder made at or below a ``.callslot`` folder is owner-only (0700).

    Folders that exist keep their mode: the owner may have chosen it.
    """
    missing = []
    here = Path(path)
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        private = STATE_DIR in folder.parts
        try:
            folder.mkdir(mode=_PRIVATE_DIR if private else 0o777)
        except FileExistsError:  # another process made it in the meantime
            continue
        if private:
            os.chmod(folder, _PRIVATE_DIR)  # the umask may have taken bits away, never added


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and readable by the owner only (0600), unless it exists.

    SQLite gives its -wal and -shm files the mode of the database file, so
    creating the database this way keeps all three private.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(fd)


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The folder is created when missing; ``mode`` is set before the rename, so a
    secret is never readable by others even for a moment. Raises ``OSError``;
    the temporary file is removed when anything fails.
    """
    import tempfile  # here: it loads `random`, which the handler's import does not need

    make_dirs(path.parent)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
