"""Where Tocsin keeps its files: ``$TOCSIN_DATA`` or ``./tocsin-data``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir"]

ENV_DATA = "TOCSIN_DATA"


def data_dir(explicit: Path | str | None = None) -> Path:
    """The data directory: ``explicit``, else ``$TOCSIN_DATA``, else ./tocsin-data."""
    chosen = explicit or os.environ.get(ENV_DATA) or "tocsin-data"
    return Path(chosen).expanduser().resolve()
