"""Rebuild reporting's read models from the services' logs, into a fresh database."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.feed import Fetch, OrderedFeed
from services.catalogue import SOURCES, catalogue
from services.reporting.projection import metadata, project, project_run, snapshot


def rebuild(fetch: Fetch, url: str = "sqlite://", sources: Iterable[str] = SOURCES,
            progress: Callable[[str, int], None] | None = None
            ) -> tuple[dict[str, list[tuple[Any, ...]]], Callable[[], Session]]:
    """Project every source's whole log into the database at `url` (in memory by default);
    returns the resulting snapshot and a session factory for it."""
    engine = make_engine(url)
    create_schema(engine, metadata)
    factory = session_factory(engine)
    feed = OrderedFeed("reporting-rebuild", list(sources), factory, catalogue, project, fetch,
                       batch_size=2000, project_run=project_run)
    for source in feed.sources:
        applied = feed.catch_up(source)
        if progress:
            progress(source, applied)
    with factory() as session:
        return snapshot(session), factory
