"""The reporting service: archives every event, projects read models, serves them."""

from __future__ import annotations

import re
from typing import Any

from nameko.events import event_handler
from nameko.rpc import rpc

from chibo.errors import ChiboError, ValidationFailed
from chibo.nameko.providers import Database, Feed
from chibo.nameko.web import http
from services.catalogue import SOURCES, catalogue
from services.reporting import projection

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ReportingService:
    name = "reporting"

    db = Database(projection.metadata)
    feed = Feed(SOURCES, projection.project, catalogue)

    @event_handler("members", "#")
    def on_members_event(self, envelope: dict[str, Any]) -> None:
        self.feed.offer(envelope)

    @event_handler("meetings", "#")
    def on_meetings_event(self, envelope: dict[str, Any]) -> None:
        self.feed.offer(envelope)

    @event_handler("supervision", "#")
    def on_supervision_event(self, envelope: dict[str, Any]) -> None:
        self.feed.offer(envelope)

    @rpc(expected_exceptions=ChiboError)
    def cell_months(self, month: str) -> list[dict[str, Any]]:
        if not isinstance(month, str) or not MONTH.match(month):
            raise ValidationFailed({"month": ["Expected a month as YYYY-MM, e.g. 2026-10."]})
        with self.db.transaction() as session:
            return projection.cell_month_report(session, month)

    @rpc
    def tasks(self, cell_id: str) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            return projection.cell_tasks(session, cell_id)

    @rpc
    def watermarks(self) -> dict[str, int]:
        return {source: self.feed.feed.watermark(source) for source in SOURCES}

    @http("GET", "/reporting/cells/<cell_id>/tasks", expected_exceptions=ChiboError)
    def tasks_http(self, request: Any, cell_id: str) -> dict[str, Any]:
        return {"cell_id": cell_id, "tasks": self.tasks(cell_id)}

    @http("GET", "/reporting/cell-months", expected_exceptions=ChiboError)
    def cell_months_http(self, request: Any) -> dict[str, Any]:
        month = request.args.get("month", "")
        return {"month": month, "cells": self.cell_months(month)}
