"""tests/faketime/run-dates tells a crashed worker from a failed test.

Under libfaketime a worker process may die in the C library's clock functions; the
script then shows where each thread stood and runs the crashed tests once more. It
must never take a failed assertion for a crash, nor lose the crashed test's name.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRASHES = ROOT / "tests" / "faketime" / "crashes.py"

TESTS = '''
import ctypes


def test_passes():
    pass


def test_dies_in_c():
    ctypes.string_at(0)  # a segmentation fault, as a crash inside libfaketime would be


def test_fails():
    assert 1 + 1 == 3
'''


def read_log(log: Path, what: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(CRASHES), str(log), what],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return result.stdout.splitlines()


def test_a_crashed_worker_is_named_with_its_stack_and_a_failure_stays_a_failure(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_sample.py").write_text(TESTS, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q",
         str(tmp_path / "test_sample.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 1
    log = tmp_path / "run.log"
    log.write_text(run.stdout + run.stderr, encoding="utf-8")

    assert read_log(log, "ids") == ["test_sample.py::test_dies_in_c"]
    others = read_log(log, "others")
    assert len(others) == 1 and others[0].startswith("FAILED test_sample.py::test_fails")
    stacks = read_log(log, "stacks")
    assert stacks[0] == "Fatal Python error: Segmentation fault"
    assert any(
        'test_sample.py", line ' in line and line.endswith(" in test_dies_in_c") for line in stacks
    ), stacks
    # pytest's and xdist's own frames say nothing about where it stood.
    assert not any("/_pytest/" in line or "/xdist/" in line for line in stacks), stacks
