"""Where the top-level ``templates/`` and ``alembic/`` folders are: in the wheel, or in a checkout."""

from __future__ import annotations

from pathlib import Path


def package_dir(name: str) -> Path:
    here = Path(__file__).resolve().parent
    packaged = here / f"_{name}"
    return packaged if packaged.is_dir() else here.parents[1] / name
