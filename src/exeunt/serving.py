"""uvicorn, with exeunt handling the signals itself."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class Server(uvicorn.Server):
    """uvicorn would install its own SIGINT/SIGTERM handlers and re-raise the signal after a graceful
    shutdown; exeunt installs its own (one process may run several servers) and exits 0 when stopped."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
