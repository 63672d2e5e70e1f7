"""The ``exeunt`` command (``main``): ``common.py`` what every command shares; ``services.py`` the
commands that run exeunt; ``people.py`` accounts, sessions and tokens; ``applications.py`` clients,
deliveries and keys; ``main.py`` puts the parser together."""

from __future__ import annotations

from exeunt.cli.main import main, parser

__all__ = ["main", "parser"]
