"""The application: which services make up chibo, where their settings live, and what it
adds to the `chibo` command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chibo.cli import AUDIT_COMMAND, DEMO_COMMAND, INIT_DB_COMMAND, MIGRATE_COMMAND, Command
from services.cli import ACCESS, IMPORT, REBUILD, SIMULATE
from services.demo import SampleProvince

CONFIG_DIR = Path(__file__).parent / "config"

#: `chibo`'s sub-commands, in the order `chibo --help` lists them.
COMMANDS: list[Command] = [DEMO_COMMAND, SIMULATE, AUDIT_COMMAND, ACCESS, IMPORT, REBUILD,
                           MIGRATE_COMMAND, INIT_DB_COMMAND]
CLI_DESCRIPTION = ("The `chibo` command: demo | simulate | import members | audit verify | "
                   "access | rebuild | migrate (init-db) | provision.")
#: What `chibo demo` shows and loads besides running SERVICES.
DEMO = SampleProvince()


def __getattr__(name: str) -> Any:
    """`SERVICES`, imported on first use: `chibo` reads its command line from this module
    before `chibo demo` monkey-patches for eventlet, which must come before nameko's and
    kombu's messaging modules are imported."""
    if name == "SERVICES":
        from services.meetings.entrypoints import MeetingsService
        from services.members.entrypoints import MembersService
        from services.reporting.entrypoints import ReportingService
        from services.supervision.entrypoints import SupervisionService

        services = [MembersService, MeetingsService, SupervisionService, ReportingService]
        globals()["SERVICES"] = services
        return services
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def archived_hashes(config: dict[str, Any], source: str
                    ) -> Iterator[tuple[int, str, str]] | None:
    """Reporting's archive of `source`: (position, event_id, hash) as first received.
    An independent copy that `chibo audit verify` checks each log against; None for
    reporting's own log, of which it keeps no copy."""
    if source == "reporting":
        return None
    return _archive_rows(config, source)


def _archive_rows(config: dict[str, Any], source: str) -> Iterator[tuple[int, str, str]]:
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    from chibo.db import make_engine
    from services.reporting.read_model import archive

    url = config.get("DATABASES", {}).get("reporting")
    if url is None:
        return
    engine = make_engine(url)
    try:
        try:
            connection = engine.connect()
        except OperationalError:
            return  # no reporting database here: the chain check stands alone
        with connection:
            if not engine.dialect.has_table(connection, archive.name):
                return
            rows = connection.execution_options(yield_per=5000).execute(
                select(archive.c.position, archive.c.event_id, archive.c.hash)
                .where(archive.c.source == source).order_by(archive.c.position))
            for row in rows:
                yield int(row.position), row.event_id, row.hash
    finally:
        engine.dispose()
