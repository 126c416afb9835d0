"""Configuration: YAML files whose values name environment variables.

The same file format and setting names serve `nameko run` (distributed mode)
and `chibo demo` (embedded mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chibo.nameko.config_format import register_env_var_tags

register_env_var_tags()


def load(path: str | Path, **overrides: Any) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    config.update(overrides)
    if "max_workers" in config:
        config["max_workers"] = int(config["max_workers"])
    return config


def ensure_databases(config: dict[str, Any]) -> None:
    """Create missing PostgreSQL databases and SQLite folders named in `DATABASES`."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    for url in config.get("DATABASES", {}).values():
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            continue
        admin = create_engine(parsed.set(drivername="postgresql+psycopg2", database="postgres"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": parsed.database}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
