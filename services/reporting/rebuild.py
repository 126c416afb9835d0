"""Rebuild reporting's read models: from its own archive (`chibo rebuild`), or from the
services' logs into a fresh database (to check the live models against)."""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import delete, func, select
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


def archived_runs(session: Session, source: str, batch_size: int) -> Iterator[list[dict]]:
    """The source's archived events in order, `batch_size` at a time, as envelopes."""
    after = -1
    while True:
        rows = session.execute(select(archive).where(archive.c.source == source)
                               .where(archive.c.position > after)
                               .order_by(archive.c.position).limit(batch_size)).all()
        if not rows:
            return
        yield [{**r._mapping, "data": json.loads(r.data), "metadata": json.loads(r.metadata)}
               for r in rows]
        after = rows[-1].position


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
            for batch in archived_runs(session, source, batch_size)), progress, kinds)
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
