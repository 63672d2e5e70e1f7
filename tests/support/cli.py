"""Running the ``exeunt`` command as a real subprocess, with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.flows import Rp
from tests.support.rp import RecordingRp

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


def register_with_cli(
    name: str,
    issuer: str,
    *,
    cwd: Path,
    env: Mapping[str, str | None],
    password: str,
    receivers: list[RecordingRp],
) -> Rp:
    """What an operator does first: ``clients add`` a back-channel application (a recording RP, added
    to ``receivers`` to be stopped, started with the secret the command printed) and ``users add alice``."""
    rp = RecordingRp(name)
    receivers.append(rp)
    added = exeunt("clients", "add", name, "--redirect-uri", rp.redirect_uri,
                   "--backchannel-logout-uri", rp.base + "/bc", cwd=cwd, env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    rp.start(issuer, added.stdout.split("client_secret: ")[1].split()[0])
    alice = exeunt("users", "add", "alice", "--password-stdin", cwd=cwd, env=env, stdin=password + "\n")
    assert alice.returncode == 0, alice.stderr
    return Rp(name, rp.redirect_uri, rp.secret)
