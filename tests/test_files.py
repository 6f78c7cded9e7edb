"""write_atomic: a file is replaced whole or not at all, with its mode set before it appears."""

from __future__ import annotations

import os
import stat

import pytest

from generator.files import write_atomic


def test_a_new_file_appears_whole_with_its_mode(tmp_path) -> None:
    target = tmp_path / "state" / "secret"
    write_atomic(target, "key\n", mode=0o600)
    assert target.read_text() == "key\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["secret"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "slots.json"
    target.write_bytes(b"old")
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "inside").write_text("x")  # a non-empty folder cannot be replaced by a file
    with pytest.raises(OSError):
        write_atomic(blocker, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "slots.json"]
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
