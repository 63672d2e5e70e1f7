"""exeunt as a real process (``python -m exeunt.cli …``), for crash and multi-process tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support.waiting import wait_until


class ExeuntProcess:
    def __init__(self, args: list[str], env: Mapping[str, str | None], cwd: Path, log: Path) -> None:
        # One process unless a test asks for more (EXEUNT_PROCESSES defaults to one per core on
        # PostgreSQL): the suite runs four tests at once on two cores.  A value None unsets a variable.
        clean = {k: v for k, v in os.environ.items() if not k.startswith("EXEUNT_")} | {"EXEUNT_PROCESSES": "1"}
        self.log_path = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exeunt.cli", *args],
            cwd=cwd,
            env={k: v for k, v in {**clean, **env}.items() if v is not None},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, url: str, timeout: float = 30.0) -> ExeuntProcess:
        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exeunt exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(healthy, timeout=timeout, interval=0.05)
        except AssertionError:
            raise RuntimeError(f"exeunt did not become healthy:\n{self.log_path.read_text()}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def terminate(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        self._log.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
