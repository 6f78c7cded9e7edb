"""Loaded by every Python process of a test run under faketime (conftest.py puts this
folder on PYTHONPATH): the test session, its xdist workers, and the `callslot`
processes the tests start.

Debian 12's libfaketime 0.9.10 and Python 3.11+ disagree about sleeping. Python's
``time.sleep`` waits with ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...)``;
with FAKETIME_DONT_FAKE_MONOTONIC=1 libfaketime shifts that deadline by the fake
offset and every sleep fails with EINVAL (upstream issue 426, fixed after 0.9.10).
Without that variable the monotonic clock is faked too, and threading's timed waits
(``sem_clockwait``, not intercepted) never return. So the suite runs with the
variable, and here ``time.sleep`` waits on a timed ``threading.Event`` instead,
which libfaketime leaves alone. Nothing changes outside faketime.
"""

from __future__ import annotations

import os
import threading
import time


def _sleep_without_clock_nanosleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


def patch_sleep_under_faketime() -> bool:
    """Replace time.sleep when libfaketime breaks it; True when it did."""
    if "faketime" not in os.environ.get("LD_PRELOAD", ""):
        return False
    try:
        time.sleep(1e-6)
    except OSError:
        time.sleep = _sleep_without_clock_nanosleep
        return True
    return False


patch_sleep_under_faketime()
