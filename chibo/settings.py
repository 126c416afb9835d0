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


class MissingSetting(RuntimeError):
    """A setting the configuration must have and does not: its environment variable is
    unset or empty."""

    def __init__(self, setting: str, variable: str, example: str) -> None:
        super().__init__(
            f"{variable} chưa được đặt (is not set; setting {setting}). Đặt biến này, ví "
            f"dụ (set it, e.g.) {variable}={example} — `chibo provision` tạo tài khoản riêng "
            f"cho từng dịch vụ và ghi chúng vào var/chibo/secrets/<service>.env, mà "
            f"deploy/run-distributed.sh đọc (`chibo provision` makes each service its own "
            f"accounts and writes them to var/chibo/secrets/<service>.env, which "
            f"deploy/run-distributed.sh reads; see docs/operations.md).")
        self.setting = setting
        self.variable = variable


def database_variable(service: str) -> str:
    """The environment variable the shipped config files read a service's database from."""
    return f"CHIBO_{service.upper()}_DATABASE_URL"


def require_broker(config: dict[str, Any], service: str = "<service>") -> None:
    """MissingSetting when the config names `AMQP_URI` and its variable left it empty:
    kombu would otherwise connect as guest to localhost."""
    if "AMQP_URI" in config and not config["AMQP_URI"]:
        raise MissingSetting("AMQP_URI", "CHIBO_AMQP_URI",
                             f"amqp://chibo_{service}:<password>@127.0.0.1:5672/")


def required_database(config: dict[str, Any], service: str) -> str | None:
    """`DATABASES.<service>`: None when the config has no such entry, MissingSetting when
    its variable left it empty."""
    databases = config.get("DATABASES") or {}
    if service not in databases:
        return None
    url = databases[service]
    if not url:
        raise MissingSetting(
            f"DATABASES.{service}", database_variable(service),
            f"postgresql://chibo_{service}:<password>@127.0.0.1:5432/chibo_{service}")
    return str(url)


def ensure_databases(config: dict[str, Any]) -> None:
    """Create missing PostgreSQL databases and SQLite folders named in `DATABASES`."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    for service in config.get("DATABASES", {}):
        parsed = make_url(str(required_database(config, service)))
        if parsed.get_backend_name() == "sqlite":
            if parsed.database:
                # The folder of files holding personal data: its owner's alone.
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            continue
        admin = create_engine(parsed.set(drivername="postgresql+psycopg2", database="postgres"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": parsed.database}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
