"""Which application this is: the kernel imports no application module by name."""

from __future__ import annotations

import importlib
import os
from typing import Any

APP_MODULE = os.environ.get("CHIBO_APP", "services.app")


def app() -> Any:
    """The application module: its SERVICES list and CONFIG_DIR, and what it adds to the
    `chibo` command (`COMMANDS`, `DEMO`, …; see `chibo.cli`). The kernel imports no
    application module by name: CHIBO_APP says which one this is."""
    return importlib.import_module(APP_MODULE)
