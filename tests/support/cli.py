"""Running the ``exeunt`` command as a real subprocess, with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

EXEUNT = [sys.executable, "-m", "exeunt.cli"]


def exeunt(
    *args: str, cwd: Path, stdin: str = "", env: Mapping[str, str | None] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``exeunt ARGS`` in ``cwd``: no EXEUNT_* of this process leaks in, only ``env``'s (None unsets)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXEUNT_")} | {"EXEUNT_PROCESSES": "1"}
    return subprocess.run(
        [*EXEUNT, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in {**clean, **(env or {})}.items() if v is not None},
    )
