"""Answers kept until reporting's data changes.

A page is a function of the read models, the request and the day. The read
models change only when the feed applies events, which moves a source's
watermark; so an answer stored with the watermarks (and the day) it was computed
at is exact for as long as they stand, and the next event retires it. Many
committee staff opening the same overview between two events cost one rendering.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from chibo.eventstore.tables import feed_watermarks
from chibo.nameko.web.json_http import presented_token

Route = Callable[..., Any]


class AnswerCache:
    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[Any, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, version: Any) -> Any | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] != version:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: Any, version: Any, answer: Any) -> None:
        with self._lock:
            self._entries[key] = (version, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


ANSWERS = AnswerCache()


def data_version(service: Any) -> tuple[Any, ...]:
    """Which database, how far each source has been applied, and the day."""
    with service.db.transaction() as session:
        marks = tuple(sorted(tuple(row) for row in session.execute(select(feed_watermarks))))
        where = session.get_bind().url.render_as_string()
    return where, marks, service.clock.now().date()


def cached(route: Route) -> Route:
    """A GET route whose answer is reused until the data version moves, for the same
    reader (session or bearer token). Answers that set a cookie (a language switch) or
    are not 200 are never kept."""

    @functools.wraps(route)
    def answer(self: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        # A page names its reader and carries their session's CSRF token: answers are
        # kept per token (the access check has already run, outside this cache).
        identity = getattr(getattr(self, "caller", None), "identity", None)
        key = (route.__qualname__, request.full_path, request.cookies.get("lang"),
               presented_token(request)[0], identity)
        version = data_version(self)
        kept = ANSWERS.get(key, version)
        if kept is not None:
            return Response(kept[0], status=kept[1], headers=kept[2]) if isinstance(
                kept, tuple) else kept
        result = route(self, request, *args, **kwargs)
        if isinstance(result, Response):
            if result.status_code == 200 and "Set-Cookie" not in result.headers:
                ANSWERS.put(key, version, (result.get_data(), 200, list(result.headers)))
        elif isinstance(result, dict | list):
            ANSWERS.put(key, version, result)
        return result

    return answer
