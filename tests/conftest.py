"""Fixtures: a database per test on SQLite and PostgreSQL, and the real provider on a loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser as Chromium

from tests.support.browser import chromium
from tests.support.databases import PostgresTemplate, SqliteTemplate, pg_error
from tests.support.flows import Browser
from tests.support.idp import Idp
from tests.support.rp import RecordingRp

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgresql_template() -> Iterator[PostgresTemplate]:
    problem = pg_error()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    template = PostgresTemplate()
    yield template
    template.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of each kind."""
    template = request.getfixturevalue(f"{request.param}_template")
    url = template.fresh(tmp_path)
    yield url
    template.drop(url)


@pytest.fixture
def sqlite_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    """Only SQLite, for tests whose subject is not storage."""
    return sqlite_template.fresh(tmp_path)


def _idp(url: str, settings: dict[str, str]) -> Iterator[Idp]:
    idp = Idp(url, **settings).start()
    try:
        yield idp
    finally:
        idp.stop()


@pytest.fixture
def idp_settings() -> dict[str, str]:
    """Override in a test module to start the provider with other EXEUNT_* settings."""
    return {}


@pytest.fixture
def idp(database_url: str, idp_settings: dict[str, str]) -> Iterator[Idp]:
    """The provider on both databases."""
    yield from _idp(database_url, idp_settings)


@pytest.fixture
def idp_sqlite(sqlite_url: str, idp_settings: dict[str, str]) -> Iterator[Idp]:
    yield from _idp(sqlite_url, idp_settings)


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    provider = request.getfixturevalue("idp_sqlite" if "idp_sqlite" in request.fixturenames else "idp")
    b = Browser(provider)
    yield b
    b.close()


@pytest.fixture(scope="module")
def chrome() -> Iterator[Chromium]:
    """Headless Chromium (Debian's), one per test module; each test opens its own context.  Not one
    per session: Playwright's sync API keeps an event loop running while it is open, and other
    modules' tests call asyncio.run()."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def receivers() -> Iterator[list[RecordingRp]]:
    """Recording RPs a test starts; stopped when it ends."""
    made: list[RecordingRp] = []
    yield made
    for rp in made:
        rp.stop()
