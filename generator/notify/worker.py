"""The caller never waits on mail: a booking's notifications go out on a thread of their own.

The handler records a booking (its outbox rows in the same transaction),
hands the booking id to :class:`BackgroundSender` and answers at once; the
sender's thread then tries the rows, as `callslot notify` would. Nothing is
lost when the process ends before the thread is done: the rows stay in the
outbox (a claimed row's lease runs out), and the next `callslot notify`, or
the loop of `callslot serve`, sends them.

One thread per process, started on first use: a WSGI server that forks its
workers (gunicorn) gets one in each worker, never one shared across a fork.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from datetime import datetime

__all__ = ["BackgroundSender"]

log = logging.getLogger("callslot.notify")


class BackgroundSender:
    """``sender(booking_id, now)`` queues; a daemon thread calls ``send`` for each, in order."""

    def __init__(self, send: Callable[[str, datetime], object]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._pid = -1
        self._queue: queue.Queue[tuple[str, datetime]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def __call__(self, booking_id: str, now: datetime) -> None:
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                if self._pid != os.getpid():
                    # A forked child has the parent's queue but not its thread.
                    self._queue = queue.Queue()
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name="callslot-notify", daemon=True
                )
                self._thread.start()
            self._queue.put((booking_id, now))

    def _run(self, jobs: queue.Queue[tuple[str, datetime]]) -> None:
        while True:
            booking_id, now = jobs.get()
            try:
                self._send(booking_id, now)
            except Exception:  # the rows stay queued for `callslot notify`
                log.exception("notifications for booking %s stay queued", booking_id)
            finally:
                jobs.task_done()

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until everything queued so far was tried (tests, a clean shutdown)."""
        done = threading.Event()

        def drain() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=drain, daemon=True).start()
        return done.wait(timeout)
