"""Serves "Board", the single-page app on oidc-client-ts (examples/board): its files, the library
from node_modules (no CDN: run scripts/install-examples once), and a config.js naming the provider."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

BOARD = Path(__file__).resolve().parent / "board"
LIBRARY = BOARD / "node_modules" / "oidc-client-ts" / "dist" / "browser" / "oidc-client-ts.min.js"


def redirect_uris(base: str) -> list[str]:
    return [base + "/index.html", base + "/silent.html"]


def board_app(authority: str, client_id: str) -> Starlette:
    if not LIBRARY.is_file():
        raise RuntimeError(f"{LIBRARY} is missing: run scripts/install-examples (it runs npm ci in examples/board)")
    config = "window.SPA_CONFIG = " + json.dumps({"authority": authority, "client_id": client_id}) + ";"

    async def config_js(request: Request) -> Response:
        return Response(config, media_type="text/javascript", headers={"Cache-Control": "no-store"})

    async def library(request: Request) -> Response:
        return FileResponse(LIBRARY, media_type="text/javascript")

    return Starlette(
        routes=[
            Route("/config.js", config_js),
            Route("/lib/oidc-client-ts.min.js", library),
            Mount("/", StaticFiles(directory=BOARD / "public", html=True)),
        ]
    )
