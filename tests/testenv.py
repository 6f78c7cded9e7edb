"""Paths and switches shared by test modules (import this, never `conftest`)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALENDARS = Path(__file__).resolve().parent / "calendars"
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("CALLSLOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
