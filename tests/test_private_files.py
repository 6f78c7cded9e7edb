"""Local files are owner-only; `callslot check` reports retention, file modes, database TLS."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import main
from generator.config.settings import load_settings
from generator.domain import Booking
from generator.files import create_private_file, make_dirs
from generator.store import open_store

SECRET = "private-files-secret-0123456789"
NOW = "2026-11-30T07:00Z"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask 022: without care, folders come out 0755 and files 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_folders_inside_the_state_folder_are_owner_only_others_keep_the_umask(
    tmp_path: Path,
) -> None:
    make_dirs(tmp_path / "site" / ".callslot" / "cache" / "busy")
    assert mode(tmp_path / "site") == 0o755
    for folder in (".callslot", ".callslot/cache", ".callslot/cache/busy"):
        assert mode(tmp_path / "site" / folder) == 0o700, folder
    make_dirs(tmp_path / "site" / ".callslot")  # exists: nothing changes, nothing fails
    create_private_file(tmp_path / "f")
    assert mode(tmp_path / "f") == 0o600
    (tmp_path / "f").write_text("kept")
    create_private_file(tmp_path / "f")  # an existing file is left as it is
    assert (tmp_path / "f").read_text() == "kept"


def test_the_default_database_its_wal_and_the_state_folder_are_created_owner_only(
    example_site: Path,
) -> None:
    settings = load_settings(example_site / "content" / "site.toml", env={})
    store = open_store(None, settings=settings)
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    store.book(
        Booking(id="b1", call_type="rueckruf", start=start, end=start + timedelta(minutes=30),
                name="Max", phone="+49 30 1", email="", topic="T", note="", who_calls="owner",
                language="de", caller_timezone="", created_at=start - timedelta(days=1)),
        cancel_token_hash="h", idempotency_key="k", channels=(), day_start=start,
        day_end=start + timedelta(hours=12), max_per_day=None,
    )
    state = example_site / ".callslot"
    assert mode(state) == 0o700
    files = sorted(state.glob("bookings.sqlite3*"))
    assert [f.name for f in files] == ["bookings.sqlite3", "bookings.sqlite3-shm",
                                       "bookings.sqlite3-wal"]
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    store.close()


def test_build_and_the_development_key_keep_the_state_folder_owner_only(
    runner: CliRunner, example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(example_site)
    result = runner.invoke(main, ["build", "--now", NOW], env={"CALLSLOT_SECRET": None,
                                                                "DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    state = example_site / ".callslot"
    assert mode(state) == 0o700 and mode(state / "secret") == 0o600
    for folder in (p for p in state.rglob("*") if p.is_dir()):
        assert mode(folder) == 0o700, folder


# -- callslot check ------------------------------------------------------------------------

CLEAN = {name: None for name in ("CALLSLOT_SECRET", "DATABASE_URL", "SMTP_URL", "PGSSLMODE")}


def check(runner: CliRunner, site: Path, **env: str) -> Result:
    from notify_support import smtp_server

    # The example's owner.email needs a mail server, or check fails on that alone.
    with smtp_server() as (_sink, port):
        return runner.invoke(main, ["check", "--config", str(site / "content" / "site.toml"),
                                    "--now", NOW, "--timeout", "3"],
                             env={**CLEAN, "CALLSLOT_SECRET": SECRET,
                                  "SMTP_URL": f"smtp://127.0.0.1:{port}", **env})


def test_check_reports_retention_and_consent(runner: CliRunner, example_site: Path) -> None:
    result = check(runner, example_site)
    assert result.exit_code == 0, result.output
    assert ("ok    privacy: a call's personal data is erased 90 days after the call ([privacy] "
            "keep); no consent box ([privacy] require_consent = false)") in result.output
    toml = example_site / "content" / "site.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('keep = "90d"', 'keep = "0d"')
                    .replace("require_consent = false", "require_consent = true"),
                    encoding="utf-8")
    result = check(runner, example_site)
    assert ("privacy: a call's personal data is erased as soon as the call is over ([privacy] "
            "keep); callers must tick the consent box") in result.output


def test_check_fails_on_files_other_users_can_read_and_says_how_to_fix_it(
    runner: CliRunner, example_site: Path
) -> None:
    settings = load_settings(example_site / "content" / "site.toml", env={})
    open_store(None, settings=settings).close()
    result = check(runner, example_site)
    assert result.exit_code == 0, result.output
    assert "ok    files: owner-only: .callslot 0700, bookings.sqlite3 0600" in result.output

    # A database from before (or copied with cp): readable by everyone on the machine.
    database = example_site / ".callslot" / "bookings.sqlite3"
    os.chmod(database, 0o644)
    os.chmod(database.parent, 0o755)
    result = check(runner, example_site)
    assert result.exit_code == 1
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert fails == [
        f"FAIL  files: {database.parent} can be read by other users of this machine "
        f"(mode 0755); run: chmod 700 {database.parent}",
        f"FAIL  files: {database} can be read by other users of this machine (mode 0644); "
        f"run: chmod 600 {database}",
    ]


@pytest.mark.parametrize(("url", "env", "warned"), [
    ("postgresql://cs:pw-1234567@db.example.net/callslot", {}, "db.example.net"),
    ("postgresql://cs:pw-1234567@db.example.net:6543/callslot?sslmode=prefer", {},
     "db.example.net"),
    ("postgres://cs@10.0.0.5,db2.example.net:5433/callslot?sslmode=disable", {},
     "10.0.0.5, db2.example.net"),
    ("postgresql://cs@db.example.net/callslot?sslmode=verify-full", {}, None),
    ("postgresql://cs@db.example.net/callslot", {"PGSSLMODE": "require"}, None),
    ("postgresql://cs@localhost/callslot", {}, None),
    ("postgresql://cs@127.0.0.1:5432/callslot", {}, None),
    ("postgresql://cs@[::1]:5432/callslot", {}, None),
    ("postgresql:///callslot?host=/var/run/postgresql", {}, None),
])
def test_check_warns_when_postgresql_on_another_host_may_be_reached_without_tls(
    runner: CliRunner, example_site: Path, url: str, env: dict[str, str], warned: str | None
) -> None:
    result = check(runner, example_site, DATABASE_URL=url, **env)
    notes = [line for line in result.output.splitlines()
             if line.startswith("note  DATABASE_URL: PostgreSQL on")]
    if warned is None:
        assert notes == [], result.output
    else:
        (note,) = notes
        assert note.startswith(f"note  DATABASE_URL: PostgreSQL on {warned} is reached with "
                               "sslmode=")
        assert "?sslmode=verify-full" in note
    assert "pw-1234567" not in result.output
