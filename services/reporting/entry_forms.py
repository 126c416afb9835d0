"""The data-entry forms, a mixin for the reporting service: what cell secretaries record
(meetings scheduled, prepared and held, resolutions and their tasks, task progress,
corrections) and what supervisors log (visits), in the dashboard's own pages.

Each form is a server-rendered page that works without JavaScript; `static/forms.js`
adds a draft kept in the browser and an offline queue. A form is read whole by
`form_input` first: a wrong date or time is shown next to its field, in Vietnamese, and
nothing is sent. Then the page calls the owning service's command over RPC with the
caller's identity (the callee checks access again) and the form's own command id, which
the form carries in a hidden field: the same form sent twice records once, and the
second answer is the first. The service's refusals come back keyed by its fields and are
shown next to the form's (`form_input.form_errors`). After a write the page reads the
source's log (`feed.sync`) so the dashboard shows it at once, and redirects (303), so a
reload does not post again.

Every route declares its access: recording needs `record_meetings` over the cell (a
secretary's grant names their cell; any other cell is 403), a visit `supervise` over it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from chibo.access import AUTHENTICATED, Access, Scope
from chibo.errors import ChiboError, DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.command_log import MAX_COMMAND_ID_LENGTH
from chibo.nameko.access import access
from chibo.nameko.runtime import call_remote
from chibo.nameko.web import http
from services.reporting import form_input, paths
from services.reporting.form_input import GENERAL, FormRejected
from services.reporting.pages import html_errors, same_site_form
from services.reporting.periods import months_of, quarter_of
from services.reporting.read_model import archive, meetings, tasks, units, visits
from services.reporting.web import render, urls
from services.shared.access_roles import RECORD_MEETINGS, ROLES, SUPERVISE
from services.shared.events.meetings import MEETING_KINDS
from services.shared.score_sheet import ScoreSheet, sheet_for
from services.shared.settings import SharedSettings

RECORD_IN_CELL = Access(RECORD_MEETINGS, Scope("cell_id", "cell"))
RECORD_AT_MEETING = Access(RECORD_MEETINGS, Scope("meeting_id", "meeting"))
RECORD_ON_TASK = Access(RECORD_MEETINGS, Scope("task_id", "task"))
VISIT_CELL = Access(SUPERVISE, Scope("cell_id", "cell"))

#: What the forms' pages are at (urls.py holds the dashboard's other addresses).
PREFIX = urls.PREFIX


def my_cells_url() -> str:
    return f"{PREFIX}/my"


def calendar_url(cell_id: str, **params: Any) -> str:
    return f"{PREFIX}/cells/{urls._id(cell_id)}/calendar" + urls._query(**params)


def schedule_url(cell_id: str) -> str:
    return f"{PREFIX}/cells/{urls._id(cell_id)}/schedule"


def record_url(cell_id: str, **params: Any) -> str:
    return f"{PREFIX}/cells/{urls._id(cell_id)}/record" + urls._query(**params)


def preparation_url(cell_id: str, meeting_id: str) -> str:
    return f"{PREFIX}/cells/{urls._id(cell_id)}/meetings/{urls._id(meeting_id)}/preparation"


def resolution_url(meeting_id: str, **params: Any) -> str:
    return f"{PREFIX}/meetings/{urls._id(meeting_id)}/resolution" + urls._query(**params)


def correction_url(meeting_id: str) -> str:
    return f"{PREFIX}/meetings/{urls._id(meeting_id)}/correction"


def task_url(task_id: str) -> str:
    return f"{PREFIX}/tasks/{urls._id(task_id)}"


def visit_url(cell_id: str, **params: Any) -> str:
    return f"{PREFIX}/cells/{urls._id(cell_id)}/visit" + urls._query(**params)


FORM_URLS = {"my_cells": my_cells_url, "calendar": calendar_url, "schedule": schedule_url,
             "record": record_url, "preparation": preparation_url,
             "resolution": resolution_url, "correction": correction_url, "task": task_url,
             "visit": visit_url}


def new_command_id() -> str:
    """A form's command id: one per rendered form, so sending it twice records once."""
    return f"form-{uuid.uuid4()}"


def command_id_of(form: Mapping[str, Any]) -> str:
    """The posted form's command id; a missing or odd one is replaced (the form then
    records once per post, as a form without JavaScript would)."""
    given = str(form.get("command_id") or "")
    if 0 < len(given) <= MAX_COMMAND_ID_LENGTH and given.isprintable():
        return given
    return new_command_id()


def _criteria(sheet: ScoreSheet) -> list[dict[str, Any]]:
    return [{"name": name, "label_vi": spec["label_vi"],
             "label_en": spec.get("label_en") or spec["label_vi"], "max": spec["max"]}
            for name, spec in sheet.criteria.items()]


class EntryForms:
    """Mixin: the data-entry forms. Expects the reporting service's `db`, `clock`,
    `caller`, `feed`, `shared` and the RPC proxies `meetings`, `members`, `supervision`."""

    db: Any
    clock: Any
    caller: Any
    feed: Any
    shared: SharedSettings
    meetings: Any
    members: Any
    supervision: Any

    # -- helpers ---------------------------------------------------------------------

    def _today(self) -> date:
        return self.clock.now().date()

    def _send(self, service: str, command: str, payload: Mapping[str, Any],
              command_id: str) -> Any:
        """`command(payload)` on `service` over RPC, carrying the caller's identity (the
        worker's context data) and the form's command id, then the source's log read so
        the pages show the result at once."""
        proxy = getattr(self, service)
        data = proxy.worker_ctx.data
        before = data.get("command_id")
        data["command_id"] = command_id
        try:
            answer = call_remote(getattr(proxy, command), dict(payload))
        finally:
            if before is None:
                data.pop("command_id", None)
            else:
                data["command_id"] = before
        self.feed.sync(service)
        return answer

    def _unit(self, unit_id: str) -> dict[str, Any]:
        with self.db.transaction() as session:
            row = session.execute(select(units).where(units.c.unit_id == unit_id)).first()
        if row is None:
            raise NotFound(f"Không có đơn vị {unit_id} (no such unit).")
        return dict(row._mapping)

    def _meeting_row(self, meeting_id: str) -> dict[str, Any]:
        with self.db.transaction() as session:
            row = session.execute(select(meetings).where(
                meetings.c.meeting_id == meeting_id)).first()
        if row is None:
            raise NotFound(f"Chưa có biên bản buổi sinh hoạt {meeting_id} (no such meeting).")
        found = dict(row._mapping)
        for key in ("agenda", "speakers", "attendance", "flags"):
            found[key] = json.loads(found[key]) if found.get(key) else []
        return found

    def _held_meetings(self, cell_id: str) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            rows = session.execute(select(
                meetings.c.meeting_id, meetings.c.held_on, meetings.c.kind, meetings.c.month,
                meetings.c.topic, meetings.c.self_level, meetings.c.visit_level,
                meetings.c.members_present, meetings.c.members_counted,
                meetings.c.makes_up_month).where(meetings.c.cell_id == cell_id)
                .order_by(meetings.c.held_on.desc()))
            return [dict(r._mapping) for r in rows]

    def _planned_meetings(self, cell_id: str) -> list[dict[str, Any]]:
        """Meetings the cell scheduled and has not yet held, from the archive (reporting
        keeps every event; the read models hold meetings once held)."""
        held = {m["meeting_id"] for m in self._held_meetings(cell_id)}
        found: dict[str, dict[str, Any]] = {}
        with self.db.transaction() as session:
            scheduled = session.execute(
                select(archive.c.stream_id, archive.c.data)
                .where(archive.c.source == "meetings")
                .where(archive.c.type == "meeting_scheduled")
                .where(paths.containing(archive.c.data, json.dumps(cell_id)))
                .order_by(archive.c.position))
            streams = {}
            for stream_id, raw in scheduled:
                data = json.loads(raw)
                if data.get("cell_id") == cell_id:
                    found[data["meeting_id"]] = {**data, "prepared": None}
                    streams[stream_id] = data["meeting_id"]
            # What happened to them since: those events name the meeting, not the cell.
            later = session.execute(
                select(archive.c.stream_id, archive.c.type, archive.c.data)
                .where(archive.c.source == "meetings")
                .where(archive.c.stream_id.in_(list(streams)))
                .where(archive.c.type.in_(("meeting_prepared", "meeting_postponed",
                                           "meeting_cancelled")))
                .order_by(archive.c.position)) if streams else []
            for stream_id, kind, raw in later:
                meeting_id, data = streams[stream_id], json.loads(raw)
                if meeting_id not in found:
                    continue
                if kind == "meeting_prepared":
                    found[meeting_id]["prepared"] = data
                elif kind == "meeting_postponed":
                    found[meeting_id]["planned_on"] = data.get("planned_on")
                else:
                    found.pop(meeting_id)
        return sorted((m for m in found.values() if m["meeting_id"] not in held),
                      key=lambda m: str(m.get("planned_on")))

    def _open_tasks(self, cell_id: str) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            rows = session.execute(select(tasks).where(tasks.c.cell_id == cell_id)
                                   .where(tasks.c.state.in_(("assigned", "overdue")))
                                   .order_by(tasks.c.due_on))
            return [dict(r._mapping) for r in rows]

    def _roll(self, cell_id: str, day: date) -> dict[str, Any]:
        return call_remote(self.members.attendance_roll, cell_id, day.isoformat())

    def _page(self, template: str, request: Request, status: int = 200,
              **context: Any) -> Response:
        context.setdefault("errors", {})
        context.setdefault("values", {})
        context.setdefault("saved", request.args.get("saved"))
        response = render.render_page(template, request, status_code=status,
                                      form_urls=FORM_URLS, general=GENERAL,
                                      show_date=form_input.show_date,
                                      show_month=form_input.show_month, **context)
        # A form page holds the session's CSRF token and a fresh command id.
        response.headers["Cache-Control"] = "no-store"
        viewer = request.environ.get(render.VIEWER_KEY)
        if viewer is not None and viewer.account:
            # Whose page this is, for the forms' service worker: it keeps offline copies
            # per account and never serves one account's copy to another.
            response.headers["X-Chibo-Account"] = viewer.account
        return response

    def _refused(self, exc: ChiboError, places: Mapping[str, str] | None,
                 known: tuple[str, ...]) -> tuple[int, dict[str, list[str]]]:
        """A refusal as the form shows it: its status and the problems by form field."""
        if isinstance(exc, ValidationFailed):
            # Its fields arrive with it over RPC too (chibo.nameko.remote_errors).
            fields = exc.fields
            if fields:
                return exc.http_status, form_input.form_errors(fields, places, known)
        if isinstance(exc, DomainRuleViolated) and exc.details.get("field"):
            return exc.http_status, form_input.form_errors(
                {exc.details["field"]: [exc.message]}, places, known)
        return exc.http_status, {GENERAL: [form_input.vietnamese(exc.message)]}

    def _submit(self, request: Request, render_form: Callable[..., Response],
                build: Callable[[Any], Any], send: Callable[[Any, str], Any],
                done: Callable[[Any, Any], str], known: tuple[str, ...]) -> Response:
        """The shape of every form post: read the form (`build`), send it (`send`), then
        redirect (`done`); a problem re-renders the form with what was typed and each
        problem beside its field (422 for the form's own problems, the service's status
        for its refusals)."""
        form = request.form
        command_id = command_id_of(form)
        values = {key: (form.getlist(key) if key == "speakers" else form.get(key))
                  for key in form}
        try:
            built = build(form)
        except FormRejected as exc:
            return render_form(status=422, errors=exc.fields, values=values,
                               command_id=command_id)
        try:
            answer = send(built, command_id)
        except ChiboError as exc:
            places = built.places if isinstance(built, form_input.Parsed) else None
            status, errors = self._refused(exc, places, known)
            # Nothing was written: the corrected form is a new command.
            return render_form(status=status, errors=errors, values=values,
                               command_id=new_command_id())
        # The page it leads to names the command it confirms, so the browser forgets
        # that form's kept copy and no other (one cut short elsewhere is still owed).
        target = done(built, answer)
        target += ("&" if "?" in target else "?") + urlencode({"sent": command_id})
        return redirect(target, 303)

    # -- the offline copy of the forms ------------------------------------------------

    @http("GET", "/reporting/forms-sw.js")
    @access(AUTHENTICATED)  # registered by the form pages, with the session's cookie
    def forms_service_worker(self, request: Request) -> Response:
        """The forms' service worker (static/forms-sw.js), served from the dashboard's
        root so that it may keep the form pages under /reporting/ for offline use."""
        response = render.static_response("forms-sw.js", request)
        response.headers["Cache-Control"] = "no-cache"
        return response

    # -- my cells ----------------------------------------------------------------------

    @http("GET", "/reporting/my")
    @html_errors
    @access(AUTHENTICATED)
    def my_cells_page(self, request: Request) -> Response:
        """A secretary's cells (their grants naming a cell) and a supervisor's followed
        cells this quarter, those not yet visited first, with the share visited."""
        today = self._today()
        identity = self.caller.identity
        grants = identity.grants_on(today)
        recorded: list[dict[str, Any]] = []
        for grant in grants:
            if grant.unit_id and ROLES.permits(grant.role, RECORD_MEETINGS):
                try:
                    unit = self._unit(grant.unit_id)
                except NotFound:
                    continue
                if unit.get("kind") in self.shared.kinds and self.shared.kinds[
                        unit["kind"]].meets:
                    held = self._held_meetings(grant.unit_id)
                    recorded.append({**unit, "last_held": held[0] if held else None})
        supervises = any(ROLES.permits(g.role, SUPERVISE) for g in grants)
        quarter = request.args.get("quarter") or quarter_of(today.isoformat()[:7])
        followed: list[dict[str, Any]] = []
        coverage = None
        if supervises:
            answer = call_remote(self.supervision.followed_cells, quarter)
            for cell in answer["cells"]:
                try:
                    unit = self._unit(cell["cell_id"])
                except NotFound:
                    unit = {"unit_id": cell["cell_id"], "name": cell["cell_id"]}
                followed.append({**unit, **cell})
            followed.sort(key=lambda c: (c["visited"], c["name"]))
            coverage = {"visited": sum(1 for c in followed if c["visited"]),
                        "cells": len(followed)}
        return self._page("form_my.html", request, recorded=recorded, followed=followed,
                          supervises=supervises, quarter=quarter, coverage=coverage)

    # -- the cell's calendar -----------------------------------------------------------

    @http("GET", "/reporting/cells/<cell_id>/calendar")
    @html_errors
    @access(RECORD_IN_CELL)
    def calendar_page(self, request: Request, cell_id: str) -> Response:
        today = self._today()
        year_text = request.args.get("year") or str(today.year)
        year = int(year_text) if year_text.isdigit() and len(year_text) == 4 else today.year
        cell = self._unit(cell_id)
        held = self._held_meetings(cell_id)
        planned = self._planned_meetings(cell_id)
        months = []
        for month in months_of(str(year)):
            months.append({
                "month": month,
                "held": [m for m in held if m["month"] == month],
                "planned": [m for m in planned if str(m.get("planned_on", ""))[:7] == month],
                "due": month <= today.strftime("%Y-%m")})
        return self._page("form_calendar.html", request, cell=cell, year=year, months=months,
                          tasks=self._open_tasks(cell_id), today=today)

    # -- schedule ----------------------------------------------------------------------

    @http("GET", "/reporting/cells/<cell_id>/schedule")
    @html_errors
    @access(RECORD_IN_CELL)
    def schedule_form(self, request: Request, cell_id: str) -> Response:
        return self._schedule(request, cell_id)

    def _schedule(self, request: Request, cell_id: str, status: int = 200,
                  **context: Any) -> Response:
        context.setdefault("command_id", new_command_id())
        return self._page("form_schedule.html", request, status, cell=self._unit(cell_id),
                          kinds=MEETING_KINDS, **context)

    @http("POST", "/reporting/cells/<cell_id>/schedule")
    @html_errors
    @same_site_form
    @access(RECORD_IN_CELL)
    def schedule_post(self, request: Request, cell_id: str) -> Response:
        return self._submit(
            request, lambda **kw: self._schedule(request, cell_id, **kw),
            lambda form: form_input.schedule_command(form, cell_id),
            lambda body, cid: self._send("meetings", "schedule_meeting", body, cid),
            lambda body, answer: calendar_url(cell_id, saved="scheduled"),
            ("planned_on", "kind", "topic", "place"))

    # -- preparation -------------------------------------------------------------------

    @http("GET", "/reporting/cells/<cell_id>/meetings/<meeting_id>/preparation")
    @html_errors
    @access(RECORD_IN_CELL)
    def preparation_form(self, request: Request, cell_id: str, meeting_id: str) -> Response:
        return self._preparation(request, cell_id, meeting_id)

    def _preparation(self, request: Request, cell_id: str, meeting_id: str,
                     status: int = 200, **context: Any) -> Response:
        context.setdefault("command_id", new_command_id())
        planned = next((m for m in self._planned_meetings(cell_id)
                        if m["meeting_id"] == meeting_id), None)
        return self._page("form_preparation.html", request, status,
                          cell=self._unit(cell_id), meeting_id=meeting_id, planned=planned,
                          **context)

    @http("POST", "/reporting/cells/<cell_id>/meetings/<meeting_id>/preparation")
    @html_errors
    @same_site_form
    @access(RECORD_IN_CELL)
    def preparation_post(self, request: Request, cell_id: str, meeting_id: str) -> Response:
        return self._submit(
            request, lambda **kw: self._preparation(request, cell_id, meeting_id, **kw),
            lambda form: form_input.preparation_command(form, meeting_id),
            lambda body, cid: self._send("meetings", "record_preparation", body, cid),
            lambda body, answer: calendar_url(cell_id, saved="prepared"),
            ("preparation_held_on", "materials_sent_on"))

    # -- a meeting held ----------------------------------------------------------------

    @http("GET", "/reporting/cells/<cell_id>/record")
    @html_errors
    @access(RECORD_IN_CELL)
    def record_form(self, request: Request, cell_id: str) -> Response:
        values: dict[str, Any] = {}
        problems = form_input.Problems()
        on = form_input.parse_date(request.args.get("on"), "held_on", problems,
                                   required=False)
        scheduled = request.args.get("meeting") or ""
        if scheduled:
            planned = next((m for m in self._planned_meetings(cell_id)
                            if m["meeting_id"] == scheduled), None)
            if planned:
                values.update(meeting_id=scheduled, kind=planned.get("kind"),
                              topic=planned.get("topic"), place=planned.get("place"))
                on = on or date.fromisoformat(str(planned["planned_on"]))
        day = min(on or self._today(), self._today())
        values.setdefault("held_on", form_input.show_date(day))
        return self._record(request, cell_id, day, values=values, errors=problems.fields)

    def _record(self, request: Request, cell_id: str, day: date | None = None,
                status: int = 200, **context: Any) -> Response:
        context.setdefault("command_id", new_command_id())
        values = context.setdefault("values", {})
        if day is None:
            found = form_input.parse_date(values.get("held_on"), "held_on",
                                          form_input.Problems())
            day = min(found, self._today()) if found else self._today()
        roll = self._roll(cell_id, day)
        lines = form_input.roll_lines(roll)
        sheet = sheet_for(day, self.shared.sheets)
        return self._page("form_meeting.html", request, status, cell=self._unit(cell_id),
                          roll_day=day, lines=lines, criteria=_criteria(sheet),
                          sheet_version=sheet.version, kinds=MEETING_KINDS,
                          eligible=form_input.eligible_voters(roll), **context)

    @http("POST", "/reporting/cells/<cell_id>/record")
    @html_errors
    @same_site_form
    @access(RECORD_IN_CELL)
    def record_post(self, request: Request, cell_id: str) -> Response:
        problems = form_input.Problems()
        day = form_input.parse_date(request.form.get("held_on"), "held_on", problems)
        roll_day = min(day, self._today()) if day else self._today()
        lines = form_input.roll_lines(self._roll(cell_id, roll_day))
        sheet = sheet_for(roll_day, self.shared.sheets)
        return self._submit(
            request, lambda **kw: self._record(request, cell_id, roll_day, **kw),
            lambda form: form_input.meeting_held_command(form, cell_id, lines,
                                                         list(sheet.criteria)),
            lambda parsed, cid: self._send("meetings", "record_meeting_held",
                                           parsed.payload, cid),
            lambda parsed, answer: resolution_url(answer["meeting_id"], saved="held"),
            ("held_on", "kind", "topic", "place", "started_at", "ended_at", "chair_id",
             "minutes_taker_id", "dues_collected", "agenda", "speakers", "minutes",
             "conclusion", "makes_up_month", "attendance"))

    # -- a resolution and its tasks ----------------------------------------------------

    @http("GET", "/reporting/meetings/<meeting_id>/resolution")
    @html_errors
    @access(RECORD_AT_MEETING)
    def resolution_form(self, request: Request, meeting_id: str) -> Response:
        return self._resolution(request, meeting_id)

    def _resolution(self, request: Request, meeting_id: str, status: int = 200,
                    **context: Any) -> Response:
        context.setdefault("command_id", new_command_id())
        meeting = self._meeting_row(meeting_id)
        roll = self._roll(meeting["cell_id"], date.fromisoformat(meeting["held_on"]))
        return self._page("form_resolution.html", request, status, meeting=meeting,
                          cell=self._unit(meeting["cell_id"]),
                          eligible=form_input.eligible_voters(roll),
                          lines=form_input.roll_lines(roll), task_rows=form_input.TASK_ROWS,
                          **context)

    @http("POST", "/reporting/meetings/<meeting_id>/resolution")
    @html_errors
    @same_site_form
    @access(RECORD_AT_MEETING)
    def resolution_post(self, request: Request, meeting_id: str) -> Response:
        return self._submit(
            request, lambda **kw: self._resolution(request, meeting_id, **kw),
            lambda form: form_input.resolution_command(form, meeting_id),
            lambda parsed, cid: self._send("meetings", "adopt_resolution", parsed.payload,
                                           cid),
            lambda parsed, answer: resolution_url(meeting_id, saved="resolution"),
            ("title", "text", "in_favour", "against", "abstaining"))

    # -- a correction ------------------------------------------------------------------

    @http("GET", "/reporting/meetings/<meeting_id>/correction")
    @html_errors
    @access(RECORD_AT_MEETING)
    def correction_form(self, request: Request, meeting_id: str) -> Response:
        meeting = self._meeting_row(meeting_id)
        values = {name: meeting.get(name) or "" for name in (
            *form_input.CORRECTED_TEXTS, "started_at", "ended_at")}
        values["agenda"] = "\n".join(meeting.get("agenda") or [])
        return self._correction(request, meeting_id, values=values)

    def _correction(self, request: Request, meeting_id: str, status: int = 200,
                    **context: Any) -> Response:
        context.setdefault("command_id", new_command_id())
        meeting = self._meeting_row(meeting_id)
        return self._page("form_correction.html", request, status, meeting=meeting,
                          cell=self._unit(meeting["cell_id"]), **context)

    @http("POST", "/reporting/meetings/<meeting_id>/correction")
    @html_errors
    @same_site_form
    @access(RECORD_AT_MEETING)
    def correction_post(self, request: Request, meeting_id: str) -> Response:
        recorded = self._meeting_row(meeting_id)
        return self._submit(
            request, lambda **kw: self._correction(request, meeting_id, **kw),
            lambda form: form_input.correction_command(form, meeting_id, recorded),
            lambda body, cid: self._send("meetings", "correct_meeting", body, cid),
            lambda body, answer: calendar_url(recorded["cell_id"], saved="corrected"),
            ("reason", "topic", "place", "minutes", "conclusion", "started_at", "ended_at",
             "agenda", "changes"))

    # -- a task's progress -------------------------------------------------------------

    @http("GET", "/reporting/tasks/<task_id>")
    @html_errors
    @access(RECORD_ON_TASK)
    def task_form(self, request: Request, task_id: str) -> Response:
        return self._task(request, task_id)

    def _task(self, request: Request, task_id: str, status: int = 200,
              **context: Any) -> Response:
        context.setdefault("command_id", new_command_id())
        with self.db.transaction() as session:
            row = session.execute(select(tasks).where(tasks.c.task_id == task_id)).first()
        if row is None:
            raise NotFound(f"Không có nhiệm vụ {task_id} (no such task).")
        task = dict(row._mapping)
        return self._page("form_task.html", request, status, task=task,
                          cell=self._unit(task["cell_id"]), **context)

    @http("POST", "/reporting/tasks/<task_id>")
    @html_errors
    @same_site_form
    @access(RECORD_ON_TASK)
    def task_post(self, request: Request, task_id: str) -> Response:
        with self.db.transaction() as session:
            cell_id = session.execute(select(tasks.c.cell_id).where(
                tasks.c.task_id == task_id)).scalar()
        return self._submit(
            request, lambda **kw: self._task(request, task_id, **kw),
            lambda form: form_input.task_command(form, task_id),
            lambda built, cid: self._send("meetings", built[0], built[1], cid),
            lambda built, answer: calendar_url(str(cell_id), saved=built[0]),
            ("note", "result", "completed_on"))

    # -- a supervisor's visit ----------------------------------------------------------

    @http("GET", "/reporting/cells/<cell_id>/visit")
    @html_errors
    @access(VISIT_CELL)
    def visit_form(self, request: Request, cell_id: str) -> Response:
        values = {"visited_on": form_input.show_date(self._today()),
                  "meeting_id": request.args.get("meeting") or "", "score_choice": "confirm"}
        return self._visit(request, cell_id, values=values)

    def _visit(self, request: Request, cell_id: str, status: int = 200,
               **context: Any) -> Response:
        context.setdefault("command_id", new_command_id())
        held = self._held_meetings(cell_id)
        with self.db.transaction() as session:
            seen = list(session.execute(select(visits.c.meeting_id, visits.c.visited_on,
                                               visits.c.visitor, visits.c.confirmed_level)
                                        .where(visits.c.cell_id == cell_id)
                                        .order_by(visits.c.visited_on.desc())))
        sheet = sheet_for(self._today(), self.shared.sheets)
        values = context.get("values") or {}
        if not values.get("meeting_id") and held:
            values["meeting_id"] = held[0]["meeting_id"]
        context["values"] = values
        return self._page("form_visit.html", request, status, cell=self._unit(cell_id),
                          held=held[:24], visits=[dict(v._mapping) for v in seen],
                          criteria=_criteria(sheet), **context)

    @http("POST", "/reporting/cells/<cell_id>/visit")
    @html_errors
    @same_site_form
    @access(VISIT_CELL)
    def visit_post(self, request: Request, cell_id: str) -> Response:
        sheet = sheet_for(self._today(), self.shared.sheets)
        return self._submit(
            request, lambda **kw: self._visit(request, cell_id, **kw),
            lambda form: form_input.visit_command(form, cell_id, list(sheet.criteria)),
            lambda parsed, cid: self._send("supervision", "log_visit", parsed.payload, cid),
            lambda parsed, answer: my_cells_url() + "?saved=visit",
            ("visited_on", "meeting_id", "comments", "score_choice"))
