"""The oidc-client-ts single-page app of examples/board, served on loopback for the browser tests."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.servers import ServerThread, bound_socket

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from board_server import board_app, redirect_uris


class SpaServer:
    def __init__(self, client_id: str = "board") -> None:
        self.client_id = client_id
        self.sock = bound_socket()
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server: ServerThread | None = None

    @property
    def redirect_uris(self) -> list[str]:
        return redirect_uris(self.base)

    def start(self, authority: str) -> SpaServer:
        self.server = ServerThread(board_app(authority, self.client_id), self.sock).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()
