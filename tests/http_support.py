"""A raw HTTP server that answers one byte at a time, for the deadline tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ICS = (Path(__file__).resolve().parent / "calendars" / "moved_instance.ics").read_bytes()


@contextmanager
def drip_server(
    interval: float, *, body: bytes = ICS, headers_first: bool = False
) -> Iterator[str]:
    """A raw socket server that answers every request one byte per ``interval`` seconds.

    With ``headers_first`` the status line and headers come at once and only the
    body drips; otherwise the drip starts with the status line.
    """
    answer_head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request; its content does not matter here
                data = answer_head + body
                if headers_first:
                    conn.sendall(answer_head)
                    data = body
                for i in range(len(data)):
                    if stop.wait(interval):
                        return
                    conn.sendall(data[i : i + 1])
            except OSError:  # the client gave up: what these tests want
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
