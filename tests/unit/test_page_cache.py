"""Answers are reused while reporting's data stands, and retired by the next event."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import insert, update
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from chibo.clock import FixedClock
from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.tables import feed_watermarks
from services.reporting.page_cache import ANSWERS, cached


class Pages:
    def __init__(self, factory) -> None:
        self.factory = factory
        self.db = self
        self.clock = FixedClock(datetime(2026, 3, 10, 8, 0))
        self.rendered = 0

    @contextmanager
    def transaction(self):
        with self.factory() as session, session.begin():
            yield session

    @cached
    def page(self, request: Request) -> Response:
        self.rendered += 1
        return Response(f"lần {self.rendered}", mimetype="text/html")


def request(path: str, **headers: str) -> Request:
    return Request(EnvironBuilder(path=path, headers=headers).get_environ())


def test_a_page_is_rendered_again_only_when_the_data_or_the_day_moves(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/r.db")
    create_schema(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        session.execute(insert(feed_watermarks).values(source="meetings", position=5))
    pages = Pages(factory)
    ANSWERS._entries.clear()
    assert pages.page(request("/reporting/")).get_data(as_text=True) == "lần 1"
    assert pages.page(request("/reporting/")).get_data(as_text=True) == "lần 1"
    assert pages.page(request("/reporting/?lang=en")).get_data(as_text=True) == "lần 2"
    assert pages.page(request("/reporting/", Cookie="lang=en")).get_data(as_text=True) == "lần 3"
    with factory() as session, session.begin():
        session.execute(update(feed_watermarks).values(position=6))  # an event applied
    assert pages.page(request("/reporting/")).get_data(as_text=True) == "lần 4"
    pages.clock.set(datetime(2026, 3, 11, 8, 0))  # a new day: "the current month" may move
    assert pages.page(request("/reporting/")).get_data(as_text=True) == "lần 5"
    assert pages.rendered == 5
    engine.dispose()
