"""The reporting service: archives every event, projects read models, serves them.

Entrypoints only: the figures come from `queries`, the pages from `pages`.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from typing import Any

from nameko.dependency_providers import Config

from chibo.access import Access
from chibo.errors import ChiboError, ValidationFailed
from chibo.nameko.access import Caller, access
from chibo.nameko.commands import ServesOpenApi
from chibo.nameko.providers import ClockProvider, Database, Feed, LoadedSettings
from chibo.nameko.resilience import RpcProxy, feed_handler, rpc
from chibo.nameko.runtime import call_remote
from chibo.nameko.web import http, read_json
from services.reporting import access_rules, projector, queries, read_model, report_jobs
from services.reporting.access_rules import (
    ACT_ON_ESCALATION,
    PERSONAL_OF_CELL,
    RECORD_OF_MEMBER,
    REPORTS_OF_CELL,
    REPORTS_OF_MEETING,
    REPORTS_OF_UNIT,
    REPORTS_OF_UNIT_QUERY,
    home_unit_by_default,
    sees_personal_data,
    unit_named_for_a_subtree,
)
from services.reporting.api import openapi_document
from services.reporting.audit_entrypoints import AuditEntrypoints
from services.reporting.entry_forms import EntryForms
from services.reporting.login_entrypoints import LoginPages
from services.reporting.material_pages import MaterialPages
from services.reporting.oidc_entrypoints import OidcSignIn
from services.reporting.page_cache import cached
from services.reporting.pages import DashboardPages, grace_days, whole_number
from services.reporting.rebuild import rebuild_if_requested
from services.reporting.report_entrypoints import ReportPages
from services.reporting.source_checks import audit_metadata
from services.shared import settings
from services.shared.access_roles import (
    OPERATE,
    ROLES,
    VIEW_REPORTS,
)
from services.shared.events import SOURCES, catalogue

log = logging.getLogger(__name__)
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")



class ProjectingFeed(Feed):
    """A feed whose projector functions are given the configured unit kinds (which
    units are cells) as `kinds`, and which first projects the archive again when a
    migration asked for it (`rebuild_requests`)."""

    def start(self) -> None:
        # Every provider is set up before any starts: the settings are loaded by now.
        shared = next(d for d in self.container.dependencies if isinstance(d, LoadedSettings)
                      and isinstance(d.loaded, settings.SharedSettings))
        kinds = shared.loaded.kinds
        self.project = functools.partial(self.project, kinds=kinds)
        if self.project_run is not None:
            self.project_run = functools.partial(self.project_run, kinds=kinds)
        database = next(d for d in self.container.dependencies if isinstance(d, Database))
        started = time.perf_counter()
        projected = rebuild_if_requested(database.factory, kinds)
        if projected is not None:
            log.warning("reporting: dựng lại báo cáo từ kho lưu trữ (read models rebuilt from "
                        "the archive, as a migration asked): %d events in %.1f s",
                        projected, time.perf_counter() - started)
        super().start()


class ReportingQueries:
    """The read side: RPC and JSON over HTTP for everything the pages show."""

    db: Database
    clock: ClockProvider
    shared: settings.SharedSettings

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def overview(self, unit_id: str | None = None, period: str | None = None,
                 grouping: str | None = None) -> dict[str, Any]:
        with self.db.transaction() as session:
            return queries.overview(session, unit_id, period, grouping,
                                    today=self.clock.now().date(), kinds=self.shared.kinds)

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def heatmap(self, unit_id: str | None = None, year: int | None = None,
                grouping: str | None = None) -> dict[str, Any]:
        with self.db.transaction() as session:
            return queries.heatmap(session, unit_id, year, grouping, self.clock.now().date(),
                                   grace_days(self), kinds=self.shared.kinds)

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_CELL)
    def cell(self, cell_id: str, year: int | None = None) -> dict[str, Any]:
        with self.db.transaction() as session:
            data = queries.cell(session, cell_id, year, today=self.clock.now().date(),
                                grace_days=grace_days(self))
        return data if sees_personal_data(self, "cell", cell_id) else \
            queries.without_personal_data(data)

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_MEETING)
    def meeting(self, meeting_id: str) -> dict[str, Any]:
        with self.db.transaction() as session:
            data = queries.meeting(session, meeting_id, today=self.clock.now().date())
        return data if sees_personal_data(self, "meeting", meeting_id) else \
            queries.without_personal_data(data)

    @rpc(expected_exceptions=ChiboError)
    @access(RECORD_OF_MEMBER)
    def member(self, member_id: str, year: int | None = None) -> dict[str, Any]:
        with self.db.transaction() as session:
            return queries.member(session, member_id, year, today=self.clock.now().date())

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def escalations(self, state: str | None = "open", level: int | None = None,
                    rule: str | None = None, unit_id: str | None = None) -> dict[str, Any]:
        with self.db.transaction() as session:
            return queries.escalation_list(session, self.clock.now().date(), state, level, rule,
                                           unit_id)

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def cell_months(self, month: str, unit_id: str | None = None) -> list[dict[str, Any]]:
        """Every cell's month (under `unit_id`; None: the whole tree)."""
        if not isinstance(month, str) or not MONTH.match(month):
            raise ValidationFailed({"month": ["Expected a month as YYYY-MM, e.g. 2026-10."]})
        with self.db.transaction() as session:
            return queries.cell_month_report(session, month, unit_id)

    @rpc(expected_exceptions=ChiboError)
    @access(PERSONAL_OF_CELL)  # who was given each task
    def tasks(self, cell_id: str) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            return queries.cell_tasks(session, cell_id, today=self.clock.now().date())

    # -- JSON over HTTP --------------------------------------------------------------

    @http("GET", "/reporting/api/overview", expected_exceptions=ChiboError)
    @unit_named_for_a_subtree(VIEW_REPORTS)
    @access(REPORTS_OF_UNIT_QUERY)
    @cached
    def overview_api(self, request: Any) -> dict[str, Any]:
        args = request.args
        return self.overview(args.get("unit") or None, args.get("period") or None,
                             args.get("grouping") or None)

    @http("GET", "/reporting/api/units/<unit_id>", expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    @cached
    def unit_api(self, request: Any, unit_id: str) -> dict[str, Any]:
        return self.overview(unit_id, request.args.get("period") or None,
                             request.args.get("grouping") or None)

    @http("GET", "/reporting/api/heatmap", expected_exceptions=ChiboError)
    @unit_named_for_a_subtree(VIEW_REPORTS)
    @access(REPORTS_OF_UNIT_QUERY)
    @cached
    def heatmap_api(self, request: Any) -> dict[str, Any]:
        args = request.args
        return self.heatmap(args.get("unit") or None, whole_number(args.get("year"), "year"),
                            args.get("grouping") or None)

    @http("GET", "/reporting/api/cells/<cell_id>", expected_exceptions=ChiboError)
    @access(REPORTS_OF_CELL)
    @cached
    def cell_api(self, request: Any, cell_id: str) -> dict[str, Any]:
        return self.cell(cell_id, whole_number(request.args.get("year"), "year"))

    @http("GET", "/reporting/api/meetings/<meeting_id>", expected_exceptions=ChiboError)
    @access(REPORTS_OF_MEETING)
    @cached
    def meeting_api(self, request: Any, meeting_id: str) -> dict[str, Any]:
        return self.meeting(meeting_id)

    @http("GET", "/reporting/api/members/<member_id>", expected_exceptions=ChiboError)
    @access(RECORD_OF_MEMBER)
    @cached
    def member_api(self, request: Any, member_id: str) -> dict[str, Any]:
        return self.member(member_id, whole_number(request.args.get("year"), "year"))

    @http("GET", "/reporting/api/escalations", expected_exceptions=ChiboError)
    @unit_named_for_a_subtree(VIEW_REPORTS)
    @access(REPORTS_OF_UNIT_QUERY)
    @cached
    def escalations_api(self, request: Any) -> dict[str, Any]:
        args = request.args
        return self.escalations(args.get("state", "open") or None,
                                whole_number(args.get("level"), "level"), args.get("rule") or None,
                                args.get("unit") or None)

    @http("GET", "/reporting/cell-months", expected_exceptions=ChiboError)
    @home_unit_by_default(VIEW_REPORTS)
    @access(REPORTS_OF_UNIT_QUERY)
    def cell_months_http(self, request: Any) -> dict[str, Any]:
        month = request.args.get("month", "")
        unit_id = request.args.get("unit") or None
        return {"month": month, "unit": unit_id, "cells": self.cell_months(month, unit_id)}

    @http("GET", "/reporting/cells/<cell_id>/tasks", expected_exceptions=ChiboError)
    @access(PERSONAL_OF_CELL)
    def tasks_http(self, request: Any, cell_id: str) -> dict[str, Any]:
        return {"cell_id": cell_id, "tasks": self.tasks(cell_id)}


class ReportingService(ReportingQueries, AuditEntrypoints, DashboardPages, EntryForms, LoginPages,
                       OidcSignIn, MaterialPages, ReportPages, ServesOpenApi,
                       openapi=openapi_document):
    name = "reporting"

    db = Database(read_model.metadata, audit_metadata, report_jobs.metadata)
    clock = ClockProvider()
    # who calls, and what their roles let them do where in the tree
    caller = Caller(ROLES, locate=access_rules.locate)
    config = Config()  # SUPERVISION.grace_days: when a month without a meeting is missed
    shared = LoadedSettings(settings.from_config)  # unit kinds, score sheets
    feed = ProjectingFeed(SOURCES, projector.project, catalogue,
                          project_run=projector.project_run)
    supervision = RpcProxy("supervision")
    meetings = RpcProxy("meetings")  # the data-entry forms' commands (entry_forms), materials

    @feed_handler("members", "#")
    def on_members_event(self, envelope: dict[str, Any]) -> None:
        self.feed.offer(envelope)

    @feed_handler("meetings", "#")
    def on_meetings_event(self, envelope: dict[str, Any]) -> None:
        self.feed.offer(envelope)

    @feed_handler("supervision", "#")
    def on_supervision_event(self, envelope: dict[str, Any]) -> None:
        self.feed.offer(envelope)

    @rpc
    @access(Access(OPERATE))
    def watermarks(self) -> dict[str, int]:
        return {source: self.feed.feed.watermark(source) for source in SOURCES}

    # -- acting on escalations: supervision decides, reporting shows the result -------

    @rpc(expected_exceptions=ChiboError)
    @access(ACT_ON_ESCALATION)
    def act_on_escalation(self, action: str, escalation_id: str,
                          payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Acknowledge or resolve through supervision, then read its log so the pages
        show the new state at once. Supervision checks the caller again (the call
        carries their identity) and records them as the one who acted."""
        if action not in ("acknowledge", "resolve"):
            raise ValidationFailed({"action": ["Expected 'acknowledge' or 'resolve'."]})
        method = getattr(self.supervision, f"{action}_escalation")
        result = call_remote(method, {**(payload or {}), "escalation_id": escalation_id})
        self.feed.sync("supervision")
        return result

    @http("POST", "/reporting/api/escalations/<escalation_id>/<action>",
          expected_exceptions=ChiboError)
    @access(ACT_ON_ESCALATION)
    def act_on_escalation_api(self, request: Any, escalation_id: str, action: str
                              ) -> dict[str, Any]:
        return self.act_on_escalation(action, escalation_id, read_json(request))
