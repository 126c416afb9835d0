"""The dashboard's HTML pages, a mixin for the reporting service.

Each route parses its parameters, asks `queries` (or the service's own read methods)
for the data, has `views` shape it and renders the page, or one of its tables as
CSV or Excel (``?format=csv|xlsx&table=<id>``). A caller's mistake (NotFound,
ValidationFailed, …) gets the friendly error page with its status; anything else
is logged and gets the 500 page, never a traceback.

Every route declares what it needs (`chibo.nameko.access.access`): a page asked for
without a valid session sends the browser to the login page (303), one outside the
reader's grants answers the error page with 403 and what is missing. Every page shows
who is logged in and a logout button; every form that posts carries the session's
CSRF token, which the web server checks.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import EnvironBuilder
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from chibo import inputs
from chibo.access import AUTHENTICATED, PUBLIC, Access, Identity, Scope, Unauthenticated
from chibo.errors import ChiboError, Forbidden, ValidationFailed
from chibo.nameko import rejections
from chibo.nameko.access import access, rate_limited
from chibo.nameko.runtime import call_remote
from chibo.nameko.web import http
from chibo.nameko.web.json_http import SESSION_COOKIE
from services.reporting import month_states, paths, queries, views
from services.reporting.access_rules import (
    ACT_ON_ESCALATION,
    AUDIT,
    RECORD_OF_MEMBER,
    REPORTS_OF_CELL,
    REPORTS_OF_ESCALATION,
    REPORTS_OF_MEETING,
    REPORTS_OF_UNIT,
    REPORTS_OF_UNIT_QUERY,
    home_unit_by_default,
    home_units,
    sees_personal_data,
)
from services.reporting.page_cache import cached
from services.reporting.periods import months_of
from services.reporting.periods import parse as parse_period
from services.reporting.read_model import archive
from services.reporting.web import html_tables, i18n, render, urls
from services.shared.access_roles import (
    HANDLE_ESCALATIONS,
    READ_PERSONAL_DETAILS,
    RECORD_MEETINGS,
    ROLE_LABELS,
    ROLES,
    SUPERVISE,
    VIEW_AUDIT,
    VIEW_REPORTS,
)
from services.shared.events.members import PERSONAL_DATA_PURPOSES
from services.shared.settings import SharedSettings
from services.shared.tree import UnitKinds, default_kinds

_log = logging.getLogger(__name__)

QUARTER = re.compile(r"^\d{4}-Q[1-4]$")
#: Where a form may send the reader back to: the dashboard's own pages only.
NEXT_PREFIX = urls.PREFIX + "/"

Page = Callable[..., Response]

#: Reading a member's birth date and identity number (the members service records it).
PERSONAL_DETAILS_OF_MEMBER = Access(READ_PERSONAL_DETAILS, Scope("member_id", "member"))



@dataclass(frozen=True)
class Viewer:
    """Who a page is shown to: their name, their roles as people read them (with the
    unit each covers) and the session's CSRF token for the page's forms."""

    name: str
    roles: tuple[str, ...]
    csrf: str | None
    #: What the page offers them (each action is still checked when it is taken).
    can_audit: bool = False
    can_act_on_escalations: bool = False
    #: Records a cell's meetings or supervises cells: the nav offers "my cells".
    can_enter: bool = False
    #: The account as the browser may know it (`account_pseudonym`): what keys its
    #: drafts and offline copies, so one account never gets another's.
    account: str | None = None


def viewer_of(identity: Identity | None, csrf: str | None, unit_names: Mapping[str, str],
              today: date) -> Viewer | None:
    if identity is None:
        return None
    roles = []
    current = identity.grants_on(today)
    for grant in current:
        label = ROLE_LABELS.get(grant.role, grant.role)
        if grant.unit_id is not None:
            label = f"{label} — {unit_names.get(grant.unit_id, grant.unit_id)}"
        roles.append(label)
    # The audit log is province-wide: it is offered to a grant over the whole tree.
    audits = any(ROLES.permits(g.role, VIEW_AUDIT) and g.unit_id is None for g in current)
    acts = any(ROLES.permits(g.role, HANDLE_ESCALATIONS) for g in current)
    enters = any(g.unit_id is not None and (ROLES.permits(g.role, RECORD_MEETINGS)
                                            or ROLES.permits(g.role, SUPERVISE))
                 for g in current)
    return Viewer(identity.name, tuple(roles), csrf, audits, acts, enters)


def _viewer(service: Any) -> Viewer | None:
    caller = getattr(service, "caller", None)
    identity = getattr(caller, "identity", None)
    if identity is None:
        return None
    today = service.clock.now().date()
    units = {grant.unit_id for grant in identity.grants_on(today) if grant.unit_id}
    names: dict[str, str] = {}
    if units:
        with service.db.transaction() as session:
            tree = paths.places_for(session).tree
            for unit_id in units:
                found = tree.latest(unit_id)
                if found is not None:
                    names[unit_id] = found.name
    found = viewer_of(identity, getattr(caller, "csrf", None), names, today)
    signer = getattr(caller, "signer", None)
    if found is None or signer is None:
        return found
    return dataclasses.replace(found, account=account_pseudonym(signer, identity.account_id))


#: Separates the account pseudonym from any other use of the cluster's secret.
ACCOUNT_PSEUDONYM = "reporting.browser-account"


def account_pseudonym(signer: Any, account_id: str) -> str:
    """The account as the pages name it to the browser (`data-account`, the forms'
    `X-Chibo-Account`): a keyed hash, so a shared computer's storage says whose a draft
    is without the account id being written there."""
    return str(signer.pseudonym(ACCOUNT_PSEUDONYM, account_id))


def login_address(request: Request) -> str:
    """The login page, coming back to this page (a form post: to the page it came from)."""
    if request.method in ("GET", "HEAD"):
        query = request.query_string.decode("latin-1")
        here = request.path + ("?" + query if query else "")
    else:
        here = safe_next(request.form.get("next"), urls.home())
    return urls.login(next=here)


def html_errors(route: Page) -> Page:
    """A page route whose errors are pages: without a valid session, the login page
    (303, coming back here); a ChiboError gets the error page with its status and
    message (the hint says what to do next); anything else is logged and gets the 500
    page. The page is told who is reading it (`render.VIEWER_KEY`)."""

    @functools.wraps(route)
    def page(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            request.environ[render.VIEWER_KEY] = _viewer(self)
            request.environ[render.TODAY_KEY] = self.clock.now().date()
            return route(self, request, *args, **kwargs)
        except Unauthenticated:
            response = redirect(login_address(request), 303)
            if request.cookies.get(SESSION_COOKIE):
                response.delete_cookie(SESSION_COOKIE, path="/")  # expired or forged
            return response
        except Forbidden as exc:
            return rejections.describe(render.error_page(
                request, 403, exc.message, "error.hint.forbidden"), exc)
        except ChiboError as exc:
            return rejections.describe(render.error_page(request, exc.http_status, exc.message),
                                       exc)
        except Exception:
            _log.exception("the page %s failed", request.path)
            return render.error_page(request, 500)

    return page


class CrossSiteForm(ChiboError):
    http_status = 403
    code = "cross_site_form"


def same_site_form(route: Page) -> Page:
    """A form post must come from these pages: a browser names the page's origin in
    `Origin` (or, failing that, the page in `Referer`), so another site cannot make a
    logged-in user's browser act here. A post carried by the session cookie that names
    neither is refused too; the session's CSRF token is checked by the web server."""

    @functools.wraps(route)
    def checked(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        origin = request.headers.get("Origin") or request.headers.get("Referer")
        if origin and origin != "null":
            if urlsplit(origin).netloc != request.host:
                raise CrossSiteForm("Biểu mẫu này phải gửi từ chính trang chibo (this form "
                                    "must be sent from chibo's own pages). Mở lại trang và "
                                    "thử lại.")
        elif origin == "null" or request.cookies.get(SESSION_COOKIE):
            raise CrossSiteForm("Biểu mẫu không cho biết nó được gửi từ trang nào (the form "
                                "was sent without an Origin or Referer header, so it cannot "
                                "be told from another site's). Mở lại trang và thử lại.")
        return route(self, request, *args, **kwargs)

    return checked


def may_read_personal_details(service: Any, member_id: str) -> bool:
    """Whether the page offers the caller the form that reads the member's personal
    details (the read itself is checked again by the members service)."""
    return bool(service.caller.allows(PERSONAL_DETAILS_OF_MEMBER, {"member_id": member_id}))


def whole_number(value: str | None, field: str) -> int | None:
    """An optional whole-number parameter, bounded: a year inside the window the system
    reasons about, anything else within a database integer (chibo.inputs)."""
    if field == "year":
        return inputs.year(value, field)
    return inputs.whole_number(value, field)


def grace_days(service: Any) -> int:
    """The days after a month ends before it is judged (`SUPERVISION.grace_days`, as
    supervision reads it): until then a month without a meeting is not yet missed."""
    config = getattr(service, "config", None) or {}
    raw = (config.get("SUPERVISION") or {}).get("grace_days")
    return int(raw) if raw not in (None, "") else month_states.DEFAULT_GRACE_DAYS


def escalation_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """`?state=&level=&rule=&unit=`: open ones unless a state is asked for; an empty
    state (the form's "all") means every state."""
    state = args.get("state", "open") or None
    if state is not None and state not in views.ESCALATION_STATES:
        raise ValidationFailed({"state": [
            f"Expected one of {', '.join(views.ESCALATION_STATES)}, or nothing for all."]})
    return {"state": state, "level": whole_number(args.get("level"), "level"),
            "rule": args.get("rule") or None, "unit_id": args.get("unit") or None}


def safe_next(value: str | None, default: str) -> str:
    """A form's ``next``: only an address on the dashboard itself, else `default`."""
    if (not value or not value.startswith(NEXT_PREFIX) or "\\" in value
            or any(c in value for c in "\r\n\x00")):
        return default
    return value


def request_for(request: Request, address: str) -> Request:
    """A GET of `address` with the reader's cookies: the page shown in answer to a form
    post (its links, language switch and export links then point at that page)."""
    parts = urlsplit(address)
    headers = {"Cookie": request.headers["Cookie"]} if "Cookie" in request.headers else {}
    shown = Request(EnvironBuilder(path=parts.path, query_string=parts.query,
                                   headers=headers).get_environ())
    shown.environ[render.VIEWER_KEY] = request.environ.get(render.VIEWER_KEY)
    return shown


def quarterly_data(session: Session, quarter: str | None, grouping: str | None,
                   today: date, kinds: UnitKinds | None = None,
                   unit_id: str | None = None) -> dict[str, Any]:
    """What the quarterly workbook holds (see `views.quarterly`), for the province or the
    subtree of `unit_id`; `kinds`: the service's configured unit kinds (the packaged
    ones when None)."""
    kinds = default_kinds() if kinds is None else kinds
    quarter = quarter or urls.quarter_of(queries.default_period(session, today))
    top = queries.overview(session, unit_id, quarter, grouping, today=today, kinds=kinds)
    grouping = top["grouping"]
    below = [queries.overview(session, child["unit_id"], quarter, grouping, today=today,
                              kinds=kinds)
             for child in top["children"]
             if child["kind"] in kinds and not kinds[child["kind"]].meets]
    # A month the clock has not reached yet has no figures to report: it is left out
    # rather than shown as a row of zeros (the month running is marked as such).
    started = [month for month in months_of(quarter) if month <= today.strftime("%Y-%m")]
    return {"quarter": quarter, "top": top, "today": today.isoformat(),
            "months": [queries.overview(session, top["unit"]["unit_id"], month, grouping,
                                        today=today, kinds=kinds)
                       for month in started],
            "below": below,
            "escalations": queries.escalation_list(session, today, "open", unit_id=unit_id)}


class DashboardPages:
    """Mixin: every dashboard page. Expects the reporting service's `db`, `clock`, the
    read methods of `ReportingQueries`, `act_on_escalation` and the audit mixin."""

    db: Any
    clock: Any
    shared: SharedSettings  # the unit kinds the config names (services.shared.settings)
    escalations: Callable[..., dict[str, Any]]
    act_on_escalation: Callable[..., dict[str, Any]]
    audit_search_args: Callable[[Mapping[str, str]], dict[str, Any]]
    audit_status: Callable[[], list[dict[str, Any]]]
    audit_checkpoints: Callable[[], dict[str, Any]]
    audit_event: Callable[[str], dict[str, Any]]
    audit_verify: Callable[[], list[dict[str, Any]]]
    members: Any  # the members service over RPC (LoginPages' proxy)
    material_context: Callable[..., dict[str, Any]]  # MaterialPages: the materials section

    # -- the tree ----------------------------------------------------------------------

    @http("GET", "/reporting")
    @html_errors
    @access(AUTHENTICATED)
    def home_redirect(self, request: Request) -> Response:
        """`/reporting` typed without its slash (the server's own redirect has no
        Location)."""
        query = request.query_string.decode("latin-1")
        return redirect(urls.home() + ("?" + query if query else ""), 308)

    @http("GET", "/reporting/")
    @html_errors
    @home_unit_by_default(VIEW_REPORTS, lambda request, unit_id: urls.unit(
        unit_id, **request.args.to_dict()))
    @access(REPORTS_OF_UNIT_QUERY)
    @cached
    def overview_page(self, request: Request) -> Response:
        return self._overview(request, None)

    @http("GET", "/reporting/units/<unit_id>")
    @html_errors
    @access(REPORTS_OF_UNIT)
    @cached
    def unit_page(self, request: Request, unit_id: str) -> Response:
        return self._overview(request, unit_id)

    def _overview(self, request: Request, unit_id: str | None) -> Response:
        args = request.args
        with self.db.transaction() as session:
            data = queries.overview(session, unit_id, args.get("period") or None,
                                    args.get("grouping") or None, today=self.clock.now().date(),
                                    kinds=self.shared.kinds)
        context = views.overview(data)
        name = "tong-quan" if unit_id is None else f"tong-quan-{unit_id}"
        return render.render_or_export("overview.html", request, f"{name}-{data['period']}",
                                       unit_kinds=self.shared.kinds, **context)

    @http("GET", "/reporting/heatmap")
    @html_errors
    @home_unit_by_default(VIEW_REPORTS, lambda request, unit_id: urls.heatmap(
        unit_id, **{k: v for k, v in request.args.items() if k != "unit"}))
    @access(REPORTS_OF_UNIT_QUERY)
    @cached
    def heatmap_page(self, request: Request) -> Response:
        return self._heatmap(request, request.args.get("unit") or None)

    @http("GET", "/reporting/units/<unit_id>/heatmap")
    @html_errors
    @access(REPORTS_OF_UNIT)
    @cached
    def unit_heatmap_page(self, request: Request, unit_id: str) -> Response:
        return self._heatmap(request, unit_id)

    def _heatmap(self, request: Request, unit_id: str | None) -> Response:
        args = request.args
        with self.db.transaction() as session:
            data = queries.heatmap_cells(session, unit_id, whole_number(args.get("year"), "year"),
                                         args.get("grouping") or None, self.clock.now().date(),
                                         grace_days(self), kinds=self.shared.kinds)
        context = views.heatmap(data)
        return render.render_or_export(
            "heatmap.html", request, f"ban-do-sinh-hoat-{data['unit']['unit_id']}-{data['year']}",
            unit_kinds=self.shared.kinds, **context)

    @http("GET", "/reporting/cells/<cell_id>")
    @html_errors
    @access(REPORTS_OF_CELL)
    @cached
    def cell_page(self, request: Request, cell_id: str) -> Response:
        year = whole_number(request.args.get("year"), "year")
        with self.db.transaction() as session:
            data = queries.cell(session, cell_id, year, today=self.clock.now().date(),
                                grace_days=grace_days(self))
        if not sees_personal_data(self, "cell", cell_id):
            data = queries.without_personal_data(data)
        # The cell's secretary is offered the forms (each is checked again when sent).
        can_record = bool(self.caller.allows(Access(RECORD_MEETINGS, Scope("cell_id", "cell")),
                                             {"cell_id": cell_id}))
        return render.render_or_export("cell.html", request, f"chi-bo-{cell_id}-{data['year']}",
                                       unit_kinds=self.shared.kinds, can_record=can_record,
                                       **views.cell(data))

    @http("GET", "/reporting/meetings/<meeting_id>")
    @html_errors
    @access(REPORTS_OF_MEETING)
    @cached
    def meeting_page(self, request: Request, meeting_id: str) -> Response:
        with self.db.transaction() as session:
            data = queries.meeting(session, meeting_id, today=self.clock.now().date())
        if not sees_personal_data(self, "meeting", meeting_id):
            data = queries.without_personal_data(data)
        return render.render_or_export("meeting.html", request, f"bien-ban-{meeting_id}",
                                       **views.meeting(data),
                                       **self.material_context(request, meeting_id))

    @http("GET", "/reporting/members/<member_id>")
    @html_errors
    @access(RECORD_OF_MEMBER)
    @cached
    def member_page(self, request: Request, member_id: str) -> Response:
        return self._member(request, member_id)

    @http("POST", "/reporting/members/<member_id>/personal")
    @html_errors
    @same_site_form
    @access(PERSONAL_DETAILS_OF_MEMBER)
    def member_personal_form(self, request: Request, member_id: str) -> Response:
        """The member's page with their birth date and identity number, read from the
        members service for the purpose the form names. Members checks the caller again
        (the call carries their identity) and records the read, with the reader as its
        actor, before it answers. The answer is never cached: this route is not
        `@cached`, and the browser is told not to keep it."""
        purpose = request.form.get("purpose") or None
        details = call_remote(self.members.personal_data, member_id, purpose,
                              route=urls.member(member_id))
        response = self._member(request_for(request, urls.member(member_id)), member_id,
                                personal=details)
        response.headers["Cache-Control"] = "no-store"
        return response

    def _member(self, request: Request, member_id: str,
                personal: Mapping[str, Any] | None = None) -> Response:
        year = whole_number(request.args.get("year"), "year")
        with self.db.transaction() as session:
            data = queries.member(session, member_id, year, today=self.clock.now().date())
        reads = may_read_personal_details(self, member_id)
        return render.render_or_export("member.html", request,
                                       f"dang-vien-{member_id}-{data['year']}",
                                       **views.member(data),
                                       personal_form=reads, purposes=PERSONAL_DATA_PURPOSES,
                                       personal=personal if reads else None)

    # -- escalations -------------------------------------------------------------------

    @http("GET", "/reporting/escalations")
    @html_errors
    @home_unit_by_default(VIEW_REPORTS)
    @access(REPORTS_OF_UNIT_QUERY)
    @cached
    def escalations_page(self, request: Request) -> Response:
        data = self.escalations(**escalation_filters(request.args))
        return render.render_or_export("escalations.html", request, "canh-bao",
                                       **views.escalations(data),
                                       done=self._action_done(request.args))

    def _action_done(self, args: Mapping[str, str]) -> dict[str, Any] | None:
        """After an acknowledge or resolve (`?done=<action>&esc=<id>`): who acted and when,
        as supervision recorded it (the login's account, the event's time), read from
        the archive."""
        action, escalation_id = args.get("done"), args.get("esc")
        if action not in ("acknowledge", "resolve") or not escalation_id:
            return None
        if not self.caller.allows(REPORTS_OF_ESCALATION, {"escalation_id": escalation_id}):
            return None  # an id from elsewhere in the tree tells nothing
        kind = "escalation_acknowledged" if action == "acknowledge" else "escalation_resolved"
        with self.db.transaction() as session:
            found = session.execute(
                select(archive.c.data, archive.c.metadata, archive.c.recorded_at)
                .where(archive.c.source == "supervision")
                .where(archive.c.stream_id == f"escalation-{escalation_id}")
                .where(archive.c.type == kind)
                .order_by(archive.c.position.desc()).limit(1)).first()
        if found is None:
            return None
        data, metadata = json.loads(found.data), json.loads(found.metadata)
        actor = metadata.get("actor_name") or data.get("by") or metadata.get("actor")
        return {"action": action, "escalation_id": escalation_id, "by": actor,
                "at": found.recorded_at, "how": data.get("how")}

    @http("POST", "/reporting/escalations/<escalation_id>/acknowledge")
    @html_errors
    @same_site_form
    @access(ACT_ON_ESCALATION)
    def acknowledge_form(self, request: Request, escalation_id: str) -> Response:
        return self._act(request, "acknowledge", escalation_id)

    @http("POST", "/reporting/escalations/<escalation_id>/resolve")
    @html_errors
    @same_site_form
    @access(ACT_ON_ESCALATION)
    def resolve_form(self, request: Request, escalation_id: str) -> Response:
        return self._act(request, "resolve", escalation_id)

    def _act(self, request: Request, action: str, escalation_id: str) -> Response:
        """A form's action, then back to the page it came from (303, so a reload does
        not post again); refused, the escalations page again with the reason. Who acted
        is the login's account, recorded by supervision from the identity the call
        carries."""
        form = request.form
        target = safe_next(form.get("next"), urls.escalations())
        payload = {}
        if action == "resolve":
            payload["how"] = form.get("how", "").strip()
        try:
            self.act_on_escalation(action, escalation_id, payload)
        except ChiboError as exc:
            page = target if urlsplit(target).path == urls.escalations() else urls.escalations()
            shown = request_for(request, page)
            filters = escalation_filters(shown.args)
            if not filters.get("unit_id"):
                # A caller who sees part of the tree sees the list of their own unit.
                homes = home_units(self.caller.identity, VIEW_REPORTS, self.clock.now().date())
                filters["unit_id"] = homes[0] if homes else None
            data = self.escalations(**filters)
            return render.render_page("escalations.html", shown, status_code=exc.http_status,
                                      **views.escalations(data, exc.message, exc.http_status))
        # The page it goes back to says who did it and when (`_action_done`).
        parts = urlsplit(target)
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if k not in ("done", "esc")]
        query = urlencode([*kept, ("done", action), ("esc", escalation_id)])
        return redirect(f"{parts.path}?{query}", 303)

    # -- audit -------------------------------------------------------------------------

    @http("GET", "/reporting/audit")
    @html_errors
    @access(AUDIT)
    @rate_limited("audit search")
    def audit_page(self, request: Request) -> Response:
        found = self.audit_search_args(request.args)
        context = views.audit(found, self.audit_status(), request.args,
                              self.audit_checkpoints())
        return render.render_or_export("audit.html", request, "nhat-ky-kiem-tra", **context)

    @http("GET", "/reporting/audit/events/<event_id>")
    @html_errors
    @access(AUDIT)
    def audit_event_page(self, request: Request, event_id: str) -> Response:
        context = views.audit_event(self.audit_event(event_id))
        return render.render_or_export("audit_event.html", request, f"su-kien-{event_id}",
                                       **context)

    @http("POST", "/reporting/audit/verify")
    @html_errors
    @same_site_form
    @access(AUDIT)
    @rate_limited("audit check")
    def audit_verify_form(self, request: Request) -> Response:
        self.audit_verify()
        return redirect(safe_next(request.form.get("next"), urls.audit()), 303)

    # -- the quarterly report ----------------------------------------------------------

    @http("GET", "/reporting/reports/quarterly.xlsx", expected_exceptions=ChiboError)
    @home_unit_by_default(VIEW_REPORTS)
    @access(REPORTS_OF_UNIT_QUERY)
    @rate_limited("report")
    def quarterly_report(self, request: Request) -> Response:
        """The provincial committee's workbook for a quarter (default: the latest's), of
        the province or of the subtree `?unit=` names (a reader whose grants cover part
        of the tree gets their unit's). A download, so its errors are JSON like the
        API's."""
        quarter = request.args.get("quarter") or None
        if quarter is not None and not QUARTER.match(quarter):
            raise ValidationFailed({"quarter": ["Expected a quarter as YYYY-Qn, e.g. 2026-Q3."]})
        if quarter is not None:
            parse_period(quarter, "quarter")  # its year inside the window, too
        with self.db.transaction() as session:
            data = quarterly_data(session, quarter, request.args.get("grouping") or None,
                                  self.clock.now().date(), self.shared.kinds,
                                  request.args.get("unit") or None)
        tr = i18n.Translator(i18n.pick_lang(request), self.shared.kinds)
        title, sheets = views.quarterly(data, tr)
        heading = html_tables.PrintHeading(data["top"]["unit"]["name"],
                                           tr.period(data["quarter"]))
        return html_tables.export_response(sheets, "xlsx", tr, f"bao-cao-quy-{data['quarter']}",
                                           title=title, heading=heading)

    # -- static files ------------------------------------------------------------------

    @http("GET", "/reporting/static/<path:name>")
    @access(PUBLIC)
    def static_file(self, request: Request, name: str) -> Response:
        return render.static_response(name, request)
