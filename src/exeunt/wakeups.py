"""Waking the delivery worker of another process on this host when sign-outs were queued, where the
database has no LISTEN/NOTIFY (SQLite): several ``exeunt serve`` processes share one SQLite file and
one of them runs the worker.  A datagram on a Linux abstract UNIX socket named after the database
(nothing on disk, nothing on the network); a lost or unheard one costs at most the worker's idle
poll.  PostgreSQL uses NOTIFY instead (``storage/outbox.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import sys
from collections.abc import Callable

log = logging.getLogger("exeunt.wakeups")


def address(database_url: str) -> str | None:
    """The wake-up socket of this database (None where abstract sockets do not exist)."""
    if not sys.platform.startswith("linux"):
        return None
    return "\0exeunt-wake-" + hashlib.sha256(database_url.encode()).hexdigest()[:24]


class Announcer:
    """Says "new rows" to whichever process listens (nobody listening is fine)."""

    def __init__(self, where: str | None) -> None:
        self.where = where
        self._socket: socket.socket | None = None

    def announce(self) -> None:
        if self.where is None:
            return
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        # Nobody listens (ECONNREFUSED), or its queue is full (EAGAIN): fine either way.
        with contextlib.suppress(OSError):
            self._socket.sendto(b"!", self.where)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Listener:
    """Calls ``wake`` when another process announces; binds only if no other process already does."""

    def __init__(self, where: str | None, wake: Callable[[], None]) -> None:
        self.where = where
        self.wake = wake
        self._socket: socket.socket | None = None

    def start(self) -> bool:
        if self.where is None:
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.where)
        except OSError:  # another worker on this host listens already: it will be woken instead
            sock.close()
            return False
        sock.setblocking(False)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        self._socket = sock
        return True

    def _readable(self) -> None:
        assert self._socket is not None
        try:
            while self._socket.recv(64):
                pass
        except BlockingIOError:
            pass
        self.wake()

    def close(self) -> None:
        if self._socket is not None:
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
