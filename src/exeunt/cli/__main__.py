"""``python -m exeunt.cli``: the ``exeunt`` command."""

from __future__ import annotations

import sys

from exeunt.cli.main import main

sys.exit(main())
