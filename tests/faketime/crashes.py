"""Read a pytest log of a run under libfaketime: which tests a crashed worker took
down, whether anything else failed, and where each crashed process stood.

    python tests/faketime/crashes.py LOG ids      # the crashed tests' ids, one a line
    python tests/faketime/crashes.py LOG others   # failures that are not crashes
    python tests/faketime/crashes.py LOG stacks   # each "Fatal Python error", shortened

A worker that dies (a signal, an abort) is reported by pytest-xdist as
"worker 'gw1' crashed while running 'ID'"; Python's faulthandler, which pytest
turns on, has written the stack of every thread of that process to the log
just before. The stacks are cut to the frames that tell where it stood.
"""

from __future__ import annotations

import re
import sys

CRASHED = re.compile(r"worker '[^']+' crashed while running '([^']+)'")
# Frames of the test runner's own machinery say nothing about the crash.
RUNNER = ("/pluggy/", "/_pytest/", "/xdist/", "/execnet/", '"<string>"')


def crashed_ids(log: str) -> list[str]:
    seen: list[str] = []
    for test_id in CRASHED.findall(log):
        if test_id not in seen:
            seen.append(test_id)
    return seen


def other_failures(log: str) -> list[str]:
    """Short-summary lines of failures and errors that no crash explains."""
    marker = "short test summary info"
    summary = log.split(marker, 1)[-1] if marker in log else ""
    return [
        line
        for line in summary.splitlines()
        if line.startswith(("FAILED ", "ERROR ")) and "crashed while running" not in line
    ]


def stacks(log: str, frames: int = 6) -> list[str]:
    """Each fatal error with its threads, a few frames each, runner frames left out."""
    out: list[str] = []
    inside = False
    kept = 0
    for line in log.splitlines():
        fatal = line.find("Fatal Python error")
        if fatal >= 0:  # it may follow pytest's progress dots on the same line
            inside = True
            out.append(line[fatal:])
            continue
        if not inside:
            continue
        if re.search(r"\[gw\d+\] node down", line):
            out.append(line)
            inside = False
        elif line.startswith(("Thread 0x", "Current thread 0x")):
            out.append(line)
            kept = 0
        elif line.lstrip().startswith("File ") and not any(part in line for part in RUNNER):
            if kept < frames:
                out.append(line)
            kept += 1
        elif line.startswith("Extension modules"):
            out.append(line[:200])
    return out


def main(argv: list[str]) -> int:
    path, what = argv[1], argv[2]
    with open(path, encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    lines = {"ids": crashed_ids, "others": other_failures, "stacks": stacks}[what](log)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
