"""The layering rules of docs/architecture.md, checked on the source: a rule broken fails here.

Imports are read from the syntax tree (every ``import``, at any depth, deferred ones included) and
followed transitively, so a pure module cannot pull SQLAlchemy in through a helper it imports."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "exeunt"
MODULES = sorted(p for p in SRC.rglob("*.py"))

# From the bottom up: a module may import its own layer and those below, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "exeunt",
            "exeunt.clock",
            "exeunt.errors",
            "exeunt.lifecycle",
            "exeunt.logs",
            "exeunt.metrics",
            "exeunt.paths",
            "exeunt.security",
            "exeunt.throttling",
        ),
    ),
    ("tokens", ("exeunt.tokens",)),
    ("protocol", ("exeunt.protocol",)),
    ("settings", ("exeunt.config", "exeunt.seed_file")),
    ("storage", ("exeunt.storage",)),
    ("runtime", ("exeunt.runtime", "exeunt.wakeups")),
    ("ending sessions", ("exeunt.signout", "exeunt.signals")),
    ("background jobs", ("exeunt.jobs", "exeunt.delivery")),
    ("the worker", ("exeunt.worker",)),
    ("operations", ("exeunt.operations", "exeunt.admin")),
    ("web", ("exeunt.web",)),
    ("commands", ("exeunt.cli", "exeunt.demo", "exeunt.serving")),
]
PURE = ("base", "tokens", "protocol")  # no SQL, no web, no network, no event loop
NOT_IN_THE_PURE_CORE = {"starlette", "sqlalchemy", "asyncpg", "aiosqlite", "httpx", "httpcore", "uvicorn", "asyncio"}


def module_name(path: Path) -> str:
    parts = ["exeunt", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {module_name(p): p for p in MODULES}


def layer_of(name: str) -> int:
    best = (-1, -1)  # (length of the longest matching prefix, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), index)
    assert best[1] >= 0, f"{name} is in no layer: add it to LAYERS"
    return best[1]


@functools.cache
def imports_of(name: str) -> frozenset[str]:
    """Every module ``name`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    path = NAMES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in NAMES)
    return frozenset(found)


def internal(names: frozenset[str]) -> set[str]:
    return {n for n in names if n in NAMES and n != "exeunt"}


@functools.cache
def reached_from(name: str) -> frozenset[str]:
    """Every module ``name`` loads, directly or through others (its own package's too)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        for imported in imports_of(current):
            if imported in seen:
                continue
            seen.add(imported)
            if imported in NAMES:
                todo.append(imported)
    return frozenset(seen)


@pytest.mark.parametrize("name", sorted(NAMES), ids=str)
def test_no_import_points_up(name: str) -> None:
    mine = layer_of(name)
    upward = {m: LAYERS[layer_of(m)][0] for m in internal(imports_of(name)) if layer_of(m) > mine}
    assert not upward, f"{name} ({LAYERS[mine][0]}) imports from above: {upward}"


@pytest.mark.parametrize("name", [n for n in sorted(NAMES) if LAYERS[layer_of(n)][0] in PURE], ids=str)
def test_the_pure_core_loads_no_sql_web_network_or_event_loop(name: str) -> None:
    everything = reached_from(name)
    third_party = {m.split(".")[0] for m in everything} & NOT_IN_THE_PURE_CORE
    assert not third_party, f"{name} loads {sorted(third_party)}"
    impure = {m for m in internal(everything) if LAYERS[layer_of(m)][0] not in PURE}
    assert not impure, f"{name} loads {sorted(impure)}"


@pytest.mark.parametrize("name", sorted(NAMES), ids=str)
def test_only_storage_speaks_sql(name: str) -> None:
    if name.startswith("exeunt.storage"):
        return
    sql = {m for m in imports_of(name) if m.split(".")[0] in ("sqlalchemy", "asyncpg", "aiosqlite")}
    assert not sql


@pytest.mark.parametrize("name", [n for n in sorted(NAMES) if n.startswith("exeunt.protocol")], ids=str)
def test_the_protocol_core_reads_no_clock(name: str) -> None:
    source = NAMES[name].read_text(encoding="utf-8")
    assert ".now(" not in source and "utcnow" not in source
    assert not {m for m in reached_from(name) if m.split(".")[0] in ("time", "socket")}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(SRC).as_posix())
def test_only_the_clock_reads_the_wall_clock(path: Path) -> None:
    if path.relative_to(SRC).as_posix() == "clock.py":
        return
    source = path.read_text(encoding="utf-8")
    for call in ("datetime.now(", "time.time(", "utcnow(", "date.today("):
        assert call not in source, call


@pytest.mark.parametrize("name", [n for n in sorted(NAMES) if n.startswith("exeunt.web.endpoints.")], ids=str)
def test_no_endpoint_module_imports_another(name: str) -> None:
    assert not {m for m in imports_of(name) if m.startswith("exeunt.web.endpoints.")}


def test_the_participants_join_is_written_once() -> None:
    joins = [
        p.relative_to(SRC).as_posix()
        for p in MODULES
        if "participation.c.client_id == clients.c.client_id" in p.read_text()
    ]
    assert joins == ["storage/sessions.py"]


def test_an_upward_import_is_caught() -> None:
    """The checker itself: storage importing from the web layer would be reported."""
    assert layer_of("exeunt.web.endpoints.token") > layer_of("exeunt.storage.outbox")
    assert layer_of("exeunt.protocol.delivery") < layer_of("exeunt.storage.outbox")
