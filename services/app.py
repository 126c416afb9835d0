"""The application: which services make up chibo, and where their settings live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.meetings.service import MeetingsService
from services.members.service import MembersService
from services.reporting.service import ReportingService
from services.supervision.service import SupervisionService

SERVICES = [MembersService, MeetingsService, SupervisionService, ReportingService]
CONFIG_DIR = Path(__file__).parent / "config"


def archived_hashes(config: dict[str, Any], source: str) -> Iterator[tuple[int, str, str]]:
    """Reporting's archive of `source`: (position, event_id, hash) as first received.
    An independent copy that `chibo audit verify` checks each log against."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    from chibo.db import make_engine
    from services.reporting.projection import archive

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
