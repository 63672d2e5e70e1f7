"""Serve the oidc-client-ts single-page app (tests/spa) on loopback: its files, the library from
node_modules (no CDN), and a config.js naming the provider and the client."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.support.servers import ServerThread, bound_socket

SPA = Path(__file__).resolve().parents[1] / "spa"
LIBRARY = SPA / "node_modules" / "oidc-client-ts" / "dist" / "browser" / "oidc-client-ts.min.js"


class SpaServer:
    def __init__(self, client_id: str = "board") -> None:
        if not LIBRARY.is_file():
            raise RuntimeError(f"{LIBRARY} is missing: run `make test` (it runs npm ci in tests/spa)")
        self.client_id = client_id
        self.sock = bound_socket()
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server: ServerThread | None = None

    @property
    def redirect_uris(self) -> list[str]:
        return [self.base + "/index.html", self.base + "/silent.html"]

    def start(self, authority: str) -> SpaServer:
        config = "window.SPA_CONFIG = " + json.dumps({"authority": authority, "client_id": self.client_id}) + ";"

        async def config_js(request: Request) -> Response:
            return Response(config, media_type="text/javascript")

        async def library(request: Request) -> Response:
            return FileResponse(LIBRARY, media_type="text/javascript")

        app = Starlette(
            routes=[
                Route("/config.js", config_js),
                Route("/lib/oidc-client-ts.min.js", library),
                Mount("/", StaticFiles(directory=SPA / "public", html=True)),
            ]
        )
        self.server = ServerThread(app, self.sock).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()
