"""`exeunt demo` as a newcomer meets it: a real process, three sample apps, one sign-out reaching all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser as Chromium
from scripts.screenshots import tour, urls_for

from tests.support.process import ExeuntProcess
from tests.support.servers import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[dict[str, str], str, str]]:
    ports = {name: free_port() for name in ("port", "idp-port", "notes-port", "billing-port", "board-port")}
    args = ["demo"] + [part for name, port in ports.items() for part in (f"--{name}", str(port))]
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = ExeuntProcess(args, {"TMPDIR": str(temp)}, tmp_path, tmp_path / "demo.log")

    def started() -> bool:
        assert process.proc.poll() is None, process.output()
        return "Ctrl-C stops everything" in process.output()

    wait_until(started, timeout=60, interval=0.1, what="the demo to start")
    output = process.output()
    user, password = re.search(r"user (\S+)\s+password (\S+)", output).groups()  # type: ignore[union-attr]
    urls = urls_for(ports)
    # Issue 12.14: nothing secret in clear on disk while it runs (only hashes), and nothing left after.
    [work] = temp.glob("exeunt-demo-*")
    for path in (p for p in work.rglob("*") if p.is_file()):
        assert password.encode() not in path.read_bytes(), path
    yield urls, user, password
    assert process.terminate() == 0, process.output()
    assert not list(temp.iterdir()), "exeunt demo left its temporary folder behind"


def test_one_sign_out_reaches_all_three_demo_apps(
    chrome: Chromium, demo: tuple[dict[str, str], str, str], artifacts: Path
) -> None:
    """The walk scripts/screenshots.py takes for the README's pictures, each step checked."""
    urls, user, password = demo
    tour(chrome, urls, user, password, artifacts)
