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
import os
import socket
import sys
from collections.abc import Callable

log = logging.getLogger("exeunt.wakeups")


def address(database_url: str) -> str | None:
    """The wake-up socket of this database (None where abstract sockets do not exist)."""
    if not sys.platform.startswith("linux"):
        return None
    return "\0exeunt-wake-" + hashlib.sha256(database_url.encode()).hexdigest()[:24]


def _message(outboxes: frozenset[str] | None) -> bytes:
    """Who announces (the listening process ignores its own), and in which outboxes (* for any)."""
    return f"{os.getpid()} {','.join(sorted(outboxes)) if outboxes else '*'}".encode()


def _heard(message: bytes) -> tuple[int, frozenset[str] | None]:
    pid, _, which = message.decode("ascii", "replace").partition(" ")
    outboxes = frozenset(w for w in which.split(",") if w) if which and which != "*" else None
    return (int(pid) if pid.isdigit() else 0), outboxes


class Announcer:
    """Says "new rows" to whichever process listens (nobody listening is fine)."""

    def __init__(self, where: str | None) -> None:
        self.where = where
        self._socket: socket.socket | None = None

    def announce(self, outboxes: frozenset[str] | None = None) -> None:
        if self.where is None:
            return
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        # Nobody listens (ECONNREFUSED), or its queue is full (EAGAIN): fine either way.
        with contextlib.suppress(OSError):
            self._socket.sendto(_message(outboxes), self.where)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Listener:
    """Calls ``wake`` with the outboxes when another process announces new rows (this process's own
    announcements are for the others: it woke its worker already); binds only if no other process
    already does."""

    def __init__(self, where: str | None, wake: Callable[[frozenset[str] | None], None]) -> None:
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
        heard: list[frozenset[str] | None] = []
        try:
            while message := self._socket.recv(256):
                pid, outboxes = _heard(message)
                if pid != os.getpid():
                    heard.append(outboxes)
        except BlockingIOError:
            pass
        if heard:
            self.wake(None if None in heard else frozenset().union(*(h for h in heard if h is not None)))

    def close(self) -> None:
        if self._socket is not None:
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
