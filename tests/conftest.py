"""Shared fixtures: the CLI runner, the example content, a fresh PostgreSQL database."""

from __future__ import annotations

import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from testenv import CALENDARS, IN_CI, PG_ADMIN_URL, ROOT

__all__ = ["CALENDARS", "IN_CI", "PG_ADMIN_URL", "ROOT"]

FAKETIME_SHIM = Path(__file__).resolve().parent / "faketime"


def _under_faketime() -> None:
    """Under libfaketime (README: running the tests on another day) this process and every
    Python process the tests start load tests/faketime/sitecustomize.py, which works
    around a libfaketime bug that breaks time.sleep (see that file)."""
    if "faketime" not in os.environ.get("LD_PRELOAD", ""):
        return
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(FAKETIME_SHIM) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(FAKETIME_SHIM), *paths] if p)
    # By path, under its own name: another sitecustomize may already be loaded here.
    spec = importlib.util.spec_from_file_location(
        "callslot_faketime_shim", FAKETIME_SHIM / "sitecustomize.py"
    )
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # patches as it runs


_under_faketime()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def example_site(tmp_path: Path) -> Path:
    """A copy of the example project (content/ and themes/) in a temporary folder."""
    shutil.copytree(ROOT / "content", tmp_path / "content")
    if (ROOT / "themes").exists():
        shutil.copytree(ROOT / "themes", tmp_path / "themes")
    return tmp_path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards.

    Skips when no server answers, except in CI where the server must be there.
    """
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is in the test extra
        if IN_CI:
            raise
        pytest.skip("psycopg not installed")
    name = f"callslot_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if IN_CI:
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A DATABASE_URL for an empty store: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bookings.sqlite3"
    import psycopg

    base = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{base}?options=-csearch_path%3D{schema}"
