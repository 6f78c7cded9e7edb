"""Progress of calendar downloads, so a slow calendar server is seen, and named.

On a terminal one line per calendar is redrawn with a spinner, the calendar's
name and the bytes read so far; in a log (CI, cron) each calendar gets one line
when it is read, and one more if it is slow. Only the calendar's name is shown,
never its address: that holds the secret.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["SLOW_SECONDS", "FetchProgress"]

SLOW_SECONDS = 3.0  # after this long a calendar is called slow
_SPINNER = "|/-\\"
_TICK = 0.1


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    if count < 1_000_000:
        return f"{count / 1000:.0f} KB"
    return f"{count / 1_000_000:.1f} MB"


class FetchProgress:
    """Reports one calendar download at a time to ``stream`` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._lock = threading.Lock()
        self._name = ""
        self._bytes = 0
        self._began = 0.0
        self._slow_said = False
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def begin(self, name: str) -> None:
        """A download of calendar ``name`` starts."""
        with self._lock:
            self._name, self._bytes, self._began, self._slow_said = name, 0, time.monotonic(), False
        self._stop = threading.Event()
        # A server that never answers calls no callback: a timer notices it instead.
        self._thread = threading.Thread(target=self._watch, args=(self._stop,), daemon=True)
        self._thread.start()

    def advance(self, count: int) -> None:
        """``count`` bytes of the current calendar have been read."""
        with self._lock:
            self._bytes = count

    def end(self, ok: bool = True) -> None:
        """The current download finished (``ok``) or failed."""
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            seconds = time.monotonic() - self._began
            what = f"{_size(self._bytes)} in {seconds:.1f} s" if ok else "failed"
            line = f"calendar {self._name!r}: {what}"
            if self.live:
                self._write("\r\x1b[2K" + line + "\n")
            else:
                self._write(line + "\n")

    def _watch(self, stop: threading.Event) -> None:
        turn = 0
        while not stop.wait(_TICK):
            with self._lock:
                waited = time.monotonic() - self._began
                slow = waited >= SLOW_SECONDS
                if self.live:
                    turn += 1
                    note = f" (slow: {waited:.0f} s so far)" if slow else ""
                    self._write(
                        f"\r\x1b[2K{_SPINNER[turn % 4]} calendar {self._name!r}: "
                        f"{_size(self._bytes)}{note}"
                    )
                elif slow and not self._slow_said:
                    self._slow_said = True
                    self._write(
                        f"calendar {self._name!r}: slow, {_size(self._bytes)} after "
                        f"{waited:.1f} s; still reading\n"
                    )

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must not fail the build
            pass
