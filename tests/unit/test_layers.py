"""The layering rules of docs/architecture.md, checked on the source: a rule broken fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "exeunt"
MODULES = sorted(p for p in SRC.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_storage_speaks_sql(path: Path) -> None:
    if rel(path).startswith("storage/"):
        return
    assert not {m for m in imports_of(path) if m.split(".")[0] in ("sqlalchemy", "asyncpg", "aiosqlite")}


@pytest.mark.parametrize("path", [p for p in MODULES if rel(p).startswith("protocol/")], ids=rel)
def test_the_protocol_core_has_no_web_sql_network_or_clock(path: Path) -> None:
    outside = {"starlette", "sqlalchemy", "httpx", "asyncio", "socket", "time"}
    inside = ("exeunt.storage", "exeunt.web", "exeunt.runtime", "exeunt.delivery")
    assert not {m for m in imports_of(path) if m.split(".")[0] in outside or m.startswith(inside)}
    source = path.read_text(encoding="utf-8")
    assert ".now(" not in source and "utcnow" not in source


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_the_clock_reads_the_wall_clock(path: Path) -> None:
    if rel(path) == "clock.py":
        return
    source = path.read_text(encoding="utf-8")
    for call in ("datetime.now(", "time.time(", "utcnow(", "date.today("):
        assert call not in source, call


@pytest.mark.parametrize("path", [p for p in MODULES if rel(p).startswith("web/endpoints/")], ids=rel)
def test_no_endpoint_module_imports_another(path: Path) -> None:
    assert not {m for m in imports_of(path) if m.startswith("exeunt.web.endpoints")}


def test_the_participants_join_is_written_once() -> None:
    joins = [rel(p) for p in MODULES if "participation.c.client_id == clients.c.client_id" in p.read_text()]
    assert joins == ["storage/sessions.py"]
