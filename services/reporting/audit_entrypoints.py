"""The audit log's entrypoints, a mixin for the reporting service.

The RPC methods produce the data (and are plain methods too, so HTML pages call
them directly); the `*_http` methods only wrap them in JSON. Checks reach each
source over nameko RPC: `verify_log` (the source recomputes its own chain) and
`read_events` (its log, compared with reporting's archive).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import eventlet
from eventlet import tpool
from nameko.rpc import ServiceProxy
from sqlalchemy.orm import Session
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from chibo.errors import ChiboError
from chibo.eventstore import checkpoint
from chibo.eventstore.keys import service_keyring
from chibo.nameko.access import access, rate_limited
from chibo.nameko.providers import WorkerDatabase
from chibo.nameko.resilience import RpcProxy, rpc
from chibo.nameko.web import http
from services.reporting import audit_search, audit_trace, source_checks
from services.reporting.access_rules import AUDIT
from services.reporting.statement_timeout import StatementTimedOut, statement_timeout
from services.shared.events import SOURCES

#: The audit log is the province's: reading or checking it needs the whole tree.


class SourceRpc(RpcProxy):
    """nameko's RpcProxy to several services at once: `self.<name>[service].method()`."""

    def __init__(self, services: Iterable[str], **options: Any) -> None:
        super().__init__(None, **options)
        self.services = tuple(services)

    def get_dependency(self, worker_ctx: Any) -> dict[str, ServiceProxy]:
        return {name: ServiceProxy(worker_ctx, name, self.rpc_reply_listener, **self.options)
                for name in self.services}


class AuditEntrypoints:
    """Mixin: search and trace archived events, check every source's log.
    Expects the service's Database as `db`, with `source_checks.audit_metadata` among its
    metadatas, and its `clock` (a check is stamped with the clock's time)."""

    db: WorkerDatabase
    clock: Any
    config: Mapping[str, Any]  # optional: AUDIT.search_timeout_seconds

    audit_sources = SourceRpc(SOURCES)
    #: Seconds to wait for one call to a source: verifying a long log takes a while, and
    #: nameko's RpcProxy alone would wait forever for a source that never answers.
    audit_rpc_timeout = 300.0
    #: Envelopes read from a source per call when comparing with the archive.
    audit_batch = 5000
    #: Seconds one search may run (config AUDIT.search_timeout_seconds overrides it).
    audit_search_timeout = 5.0

    # -- the data -------------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    @access(AUDIT)
    def audit_search(self, source: str | None = None, stream: str | None = None,
                     type: str | None = None, actor: str | None = None,
                     recorded_from: str | None = None, recorded_to: str | None = None,
                     limit: int = 100, before: str | None = None, after: str | None = None,
                     oldest: bool = False) -> dict[str, Any]:
        return self._bounded_search(lambda session: audit_search.search(
            session, source=source, stream=stream, type=type, actor=actor,
            recorded_from=recorded_from, recorded_to=recorded_to, limit=limit, before=before,
            after=after, oldest=oldest))

    def audit_search_args(self, args: Mapping[str, str]) -> dict[str, Any]:
        """`audit_search` from URL query parameters (`from`, `to`, …), for the JSON API
        and pages alike; errors name the parameters as sent."""
        return self._bounded_search(lambda session: audit_search.search_by_query(session,
                                                                                 args))

    def _bounded_search(self, run: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
        """`run` the search within the time limit, in one of eventlet's OS threads: SQLite
        and psycopg2 calls block the thread they run in, and on the hub's thread they
        would stop every other request of every service in the process meanwhile."""
        configured = (getattr(self, "config", None) or {}).get("AUDIT") or {}
        seconds = float(configured.get("search_timeout_seconds") or self.audit_search_timeout)
        with self.db.transaction() as session, statement_timeout(
                session, seconds, f"Tìm kiếm quá {seconds:g} giây (the search ran past "
                f"{seconds:g} s and was stopped): narrow the filters, e.g. add actor, type, "
                "stream or source, or a shorter from/to range, then try again."):
            if isinstance(session.get_bind().pool, SingletonThreadPool | StaticPool):
                # An in-memory SQLite database lives in its creating thread's connection.
                return run(session)
            return tpool.execute(run, session)

    @rpc(expected_exceptions=ChiboError)
    @access(AUDIT)
    def audit_event(self, event_id: str) -> dict[str, Any]:
        with self.db.transaction() as session:
            return audit_trace.event(session, event_id)

    @rpc(expected_exceptions=ChiboError)
    @access(AUDIT)
    def audit_status(self) -> list[dict[str, Any]]:
        """The last check of each source, without checking again."""
        with self.db.transaction() as session:
            return source_checks.latest_status(session, SOURCES)

    @rpc(expected_exceptions=ChiboError)
    @access(AUDIT)
    def audit_verify(self) -> list[dict[str, Any]]:
        """Check every source now (one after another), record and return the verdicts.
        Signatures are checked with each source's public keys from SIGNING.keys_dir."""
        results = []
        for source in SOURCES:
            proxy = self.audit_sources[source]
            with self.db.factory() as session:
                results.append(source_checks.check_source(
                    session, source,
                    lambda proxy=proxy: self._audit_call(proxy.verify_log),
                    lambda after, limit, proxy=proxy: self._audit_call(
                        proxy.read_events, after=after, limit=limit),
                    batch=self.audit_batch, now=self.clock.now(),
                    keyring=service_keyring(getattr(self, "config", None) or {}, source)))
        return results

    @rpc
    @access(AUDIT)
    def audit_checkpoints(self) -> dict[str, Any]:
        """The checkpoints held in `SIGNING.checkpoint_dir` (newest first), and each
        source's newest one checked against its log now (`check_checkpoint`): state
        "ok", "tampered" (with the problems) or "unknown" (the source did not answer)."""
        folder = (self.config.get("SIGNING") or {}).get("checkpoint_dir") if getattr(
            self, "config", None) else None
        if not folder:
            return {"folder": None, "held": [], "checked": []}
        held, texts = [], {}
        for path in sorted(Path(str(folder)).glob("*.checkpoint")):
            text = path.read_text(encoding="utf-8")
            try:
                note = checkpoint.parse(text)
            except checkpoint.BadCheckpoint as error:
                held.append({"file": path.name, "source": None, "size": None, "time": None,
                             "problem": str(error)})
                continue
            held.append({"file": path.name, "source": note.service, "size": note.size,
                         "time": note.time, "problem": None})
            newest = texts.get(note.service)
            if note.service in SOURCES and (newest is None or note.size >= newest[0]):
                texts[note.service] = (note.size, text)
        checked = []
        for source, (_, text) in sorted(texts.items()):
            try:
                answer = self._audit_call(self.audit_sources[source].check_checkpoint,
                                          text=text)
                state = "tampered" if answer["problems"] else "ok"
            except Exception as error:  # the source did not answer: say so, never guess
                answer = {"size": None, "time": None, "problems": [f"{error}"]}
                state = "unknown"
            checked.append({"source": source, "state": state, **answer})
        held.sort(key=lambda c: (c["time"] or "", c["file"]), reverse=True)
        return {"folder": str(folder), "held": held, "checked": checked}

    def _audit_call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        seconds = self.audit_rpc_timeout
        with eventlet.Timeout(seconds, TimeoutError(f"no answer within {seconds:g} s")):
            return method(**kwargs)

    # -- JSON over HTTP -----------------------------------------------------------------

    @http("GET", "/reporting/api/audit/events", expected_exceptions=ChiboError)
    @access(AUDIT)
    @rate_limited("audit search")
    def audit_events_http(self, request: Any) -> Any:
        try:
            return self.audit_search_args(request.args)
        except StatementTimedOut as exc:
            return exc.http_status, {"Retry-After": str(exc.retry_after)}, exc.to_dict()

    @http("GET", "/reporting/api/audit/events/<event_id>", expected_exceptions=ChiboError)
    @access(AUDIT)
    def audit_event_http(self, request: Any, event_id: str) -> dict[str, Any]:
        return self.audit_event(event_id)

    @http("GET", "/reporting/api/audit/status", expected_exceptions=ChiboError)
    @access(AUDIT)
    def audit_status_http(self, request: Any) -> dict[str, Any]:
        return {"sources": self.audit_status()}

    @http("GET", "/reporting/api/audit/checkpoints", expected_exceptions=ChiboError)
    @access(AUDIT)
    @rate_limited("audit check")
    def audit_checkpoints_http(self, request: Any) -> dict[str, Any]:
        return self.audit_checkpoints()

    @http("POST", "/reporting/api/audit/verify", expected_exceptions=ChiboError)
    @access(AUDIT)
    @rate_limited("audit check")
    def audit_verify_http(self, request: Any) -> dict[str, Any]:
        return {"sources": self.audit_verify()}
