"""One clock: nothing in generator/ reads the time of day except generator/clock.py.

A decision taken from ``datetime.now()`` somewhere deep inside cannot be pinned
by a test or a preview, and the suite then passes or fails by the date it runs
on. Deadlines measured with ``time.monotonic()`` (or ``perf_counter``) are fine:
they measure how long something takes, never which day it is.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.test import Client

from generator.clock import NOW_ENV, clock_from_env, fixed_clock, parse_moment, system_clock
from generator.errors import ConfigError

PACKAGE = Path(__file__).resolve().parent.parent / "generator"
CLOCK_MODULE = PACKAGE / "clock.py"
# A line that must read the machine's clock says why, on it or in the comment right above.
EXEMPT = "clock-exempt:"

# (module, attribute) pairs whose call answers "what time is it now".
WALL_CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "ctime"),
    ("time", "asctime"),
}
# The same read through ``from time import time`` and friends.
WALL_CLOCK_IMPORTS = {("time", name) for base, name in WALL_CLOCK_CALLS if base == "time"}


def _dotted(node: ast.expr) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, what) for each direct read of the wall clock in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            for alias in node.names:
                if (node.module, alias.name) in WALL_CLOCK_IMPORTS:
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if len(name) >= 2 and (name[-2], name[-1]) in WALL_CLOCK_CALLS:
                # time.localtime(stamp) and time.gmtime(stamp) convert a given moment.
                converts = name[-1] in ("localtime", "gmtime", "ctime", "asctime")
                if name[-2] == "time" and converts and node.args:
                    continue
                found.append((node.lineno, ".".join(name) + "()"))
    return found


def _exempt(lines: list[str], line: int) -> bool:
    """The line, or the comment block right above it, says why it reads the machine's clock."""
    if EXEMPT in lines[line - 1]:
        return True
    above = line - 2
    while above >= 0 and lines[above].lstrip().startswith("#"):
        if EXEMPT in lines[above]:
            return True
        above -= 1
    return False


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == CLOCK_MODULE:
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for line, what in wall_clock_reads(source):
            if _exempt(lines, line):
                continue
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {what}")
    assert not offenders, (
        "take now from generator.clock (or a `now` parameter), not the wall clock:\n"
        + "\n".join(offenders)
    )


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime, UTC\nx = datetime.now(UTC)\n",
        "import datetime\nx = datetime.datetime.utcnow()\n",
        "from datetime import date\nx = date.today()\n",
        "import time\nx = time.time()\n",
        "from time import time\n",
        "import time\nx = time.localtime()\n",
    ],
)
def test_the_scan_finds_each_way_of_reading_the_clock(source: str) -> None:
    assert wall_clock_reads(source)


def test_the_scan_leaves_deadlines_and_conversions_alone() -> None:
    source = (
        "import time\nfrom datetime import datetime\n"
        "deadline = time.monotonic() + 5\nt = time.perf_counter()\n"
        "x = time.gmtime(0)\ny = datetime.fromisoformat('2027-03-28T00:30:00+00:00')\n"
    )
    assert wall_clock_reads(source) == []


# -- the clock itself --------------------------------------------------------------


def test_system_clock_is_aware_utc() -> None:
    assert system_clock().utcoffset() == timedelta(0)


def test_a_pinned_clock_answers_its_moment_in_utc() -> None:
    clock = fixed_clock(parse_moment("2030-12-31T23:55+01:00"))
    assert clock() == datetime(2030, 12, 31, 22, 55, tzinfo=UTC)
    assert clock().tzinfo is UTC


def test_callslot_now_pins_the_process_clock() -> None:
    assert clock_from_env({}) is system_clock
    pinned = clock_from_env({NOW_ENV: "2028-02-29T12:00:00Z"})
    assert pinned() == datetime(2028, 2, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["tomorrow", "2028-02-29T12:00"])
def test_a_bad_callslot_now_is_refused_by_name(value: str) -> None:
    with pytest.raises(ConfigError, match=NOW_ENV):
        clock_from_env({NOW_ENV: value})


def test_a_bad_callslot_now_stops_the_module_app(example_site, monkeypatch, tmp_path) -> None:
    """A typo in the pin is a clear 503 at start-up, never a handler on the real clock."""
    import generator.web.wsgi as handler_module

    monkeypatch.setenv("CALLSLOT_CONFIG", str(example_site / "content" / "site.toml"))
    monkeypatch.setenv("CALLSLOT_SECRET", "x" * 32)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/pinned.sqlite3")
    monkeypatch.setenv(NOW_ENV, "2028-02-30T12:00Z")
    response = Client(handler_module._LazyApp()).get("/api/health")
    assert response.status_code == 503
