"""Rebuild reporting's read models: from its own archive (`chibo rebuild`), or from the
services' logs into a fresh database (to check the live models against)."""

from __future__ import annotations

import argparse
import functools
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.feed import Fetch, OrderedFeed
from chibo.eventstore.tables import feed_watermarks
from services.reporting.projector import project, project_archive, project_run
from services.reporting.read_model import (
    READ_MODELS,
    archive,
    metadata,
    rebuild_requests,
    snapshot,
)
from services.reporting.roll_up import Writer
from services.shared import settings as shared_settings
from services.shared.events import SOURCES, catalogue
from services.shared.tree import UnitKinds


def rebuild(fetch: Fetch, url: str = "sqlite://", sources: Iterable[str] = SOURCES,
            progress: Callable[[str, int], None] | None = None,
            kinds: UnitKinds | None = None
            ) -> tuple[dict[str, list[tuple[Any, ...]]], Callable[[], Session]]:
    """Project every source's whole log into the database at `url` (in memory by default)
    with the unit kinds `kinds` (the packaged ones when None); returns the resulting
    snapshot and a session factory for it."""
    engine = make_engine(url)
    create_schema(engine, metadata)
    factory = session_factory(engine)
    feed = OrderedFeed("reporting-rebuild", list(sources), factory, catalogue,
                       functools.partial(project, kinds=kinds), fetch, batch_size=2000,
                       project_run=functools.partial(project_run, kinds=kinds))
    for source in feed.sources:
        applied = feed.catch_up(source)
        if progress:
            progress(source, applied)
    with factory() as session:
        return snapshot(session), factory


#: The archive's columns a projection reads.
_PROJECTED = ("source", "position", "type", "data", "metadata", "recorded_at")


def archived_runs(session: Session, source: str, batch_size: int) -> Iterator[list[dict]]:
    """The source's archived events in order, `batch_size` at a time, as envelopes."""
    after = -1
    columns = [archive.c[name] for name in _PROJECTED]
    while True:
        rows = session.execute(select(*columns).where(archive.c.source == source)
                               .where(archive.c.position > after)
                               .order_by(archive.c.position).limit(batch_size)).all()
        if not rows:
            return
        yield [{"source": r.source, "position": r.position, "type": r.type,
                "data": json.loads(r.data), "metadata": json.loads(r.metadata),
                "recorded_at": r.recorded_at} for r in rows]
        after = rows[-1].position


#: Rows per COPY: enough to pay its round trip many times over, few enough that the
#: text of one (a batch of meetings with their attendance) stays small.
COPY_ROWS = 5_000


def copy_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows into `table` with PostgreSQL COPY (text format) on the session's own
    connection, so inside its transaction."""
    if not rows:
        return
    import psycopg2.extensions

    names = [c.name for c in table.columns]
    quote = session.get_bind().dialect.identifier_preparer.quote
    statement = (f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
                 "FROM STDIN")
    cursor = session.connection().connection.cursor()
    # psycopg2 refuses COPY while a wait callback (eventlet's, in the services) is set:
    # the copy blocks the process meanwhile, as a rebuild holds everything else anyway.
    green = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        for start in range(0, len(rows), COPY_ROWS):
            cursor.copy_expert(statement, io.StringIO("".join(
                _copy_line([row[name] for name in names])
                for row in rows[start:start + COPY_ROWS])))
    finally:
        psycopg2.extensions.set_wait_callback(green)
        cursor.close()


#: What COPY's text format escapes: where no text of a row holds one, none is escaped.
_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_line(values: list[Any]) -> str:
    """One row as a line of COPY's text format."""
    if _SPECIAL.search("".join([v for v in values if v.__class__ is str])):
        return "\t".join([_escaped(v) if v.__class__ is str else _copy_text(v)
                          for v in values]) + "\n"
    return "\t".join([v if (kind := v.__class__) is str else v.__str__() if kind is int
                      else _copy_text(v) for v in values]) + "\n"


def _copy_text(value: Any) -> str:
    """A value as COPY's text format writes it: \\N for NULL, backslash escapes."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    return value.__str__() if value.__class__ is int else _escaped(str(value))


def _escaped(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def bulk_writer(session: Session) -> Writer | None:
    """How a rebuild writes whole tables on this session's database: COPY on
    PostgreSQL; None (the projection's executemany INSERT) elsewhere."""
    return copy_rows if session.get_bind().dialect.name == "postgresql" else None


def rebuild_from_archive(factory: Callable[[], Session], batch_size: int = 20_000,
                         progress: Callable[[int], None] | None = None,
                         kinds: UnitKinds | None = None) -> int:
    """Drop every read model and project the archive again, in one transaction: the live
    feed waits on its watermarks meanwhile, and a failure leaves the old models intact.
    Returns how many events were projected."""
    return _rebuild(factory, batch_size, progress, kinds, only_if_requested=False) or 0


def rebuild_if_requested(factory: Callable[[], Session],
                         kinds: UnitKinds | None = None) -> int | None:
    """Project the archive again when a migration asked for it (`rebuild_requests`): at
    start, before the feed applies anything. None when nothing was asked. Two instances
    starting together rebuild once: the second finds the requests gone."""
    with factory() as session:
        if session.execute(select(rebuild_requests.c.id).limit(1)).first() is None:
            return None
    return _rebuild(factory, 20_000, None, kinds, only_if_requested=True)


def _rebuild(factory: Callable[[], Session], batch_size: int,
             progress: Callable[[int], None] | None, kinds: UnitKinds | None,
             only_if_requested: bool) -> int | None:
    with factory() as session, session.begin():
        session.execute(select(feed_watermarks).with_for_update()).all()
        requested = session.execute(select(rebuild_requests).with_for_update()).all()
        if only_if_requested and not requested:
            return None
        session.execute(delete(rebuild_requests))
        for table in reversed(READ_MODELS):
            session.execute(delete(table))
        total = project_archive(session, (
            batch for source in SOURCES
            for batch in archived_runs(session, source, batch_size)), progress, kinds,
            bulk_writer(session))
    return total


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="YAML config (default: distributed)")
    # Big runs: within the one transaction, every run rewrites the rows it touches
    # (node sums, quarters, years), so fewer runs leave PostgreSQL fewer row versions.
    parser.add_argument("--batch", type=int, default=20_000, help="events per run")


def run_from_args(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from tqdm import tqdm

    kinds = shared_settings.unit_kinds(config)  # a bad file stops here, before any work
    url = config["DATABASES"]["reporting"]
    engine = make_engine(url)
    create_schema(engine, metadata)
    factory = session_factory(engine)
    with factory() as session:
        count = session.execute(select(func.count()).select_from(archive)).scalar() or 0
    started = time.perf_counter()
    with tqdm(total=count, unit=" sự kiện", desc="Dựng lại báo cáo (rebuild)") as bar:
        total = rebuild_from_archive(factory, args.batch, bar.update, kinds)
    seconds = time.perf_counter() - started
    print(f"{total:,} events projected in {seconds:.1f} s "
          f"({total / seconds if seconds else 0:,.0f} events/s) into "
          f"{engine.url.render_as_string()}")
    engine.dispose()
    return 0
