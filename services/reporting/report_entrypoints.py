"""A committee's period report for printing, a mixin for the reporting service.

``GET /reporting/reports/period.pdf`` and ``…/period.xlsx`` with ``unit`` (any unit
the caller's grants cover; a caller who sees part of the tree gets their unit's),
``period`` (``2026-Q3``, ``2026-H1`` or ``2026``; default: the quarter of the latest
month with figures), ``grouping`` (``then``/``today``) and, for the printed page,
``number``, ``place``, ``position`` and ``signer`` (blank lines to fill in by hand
when absent). A report of many cell-months (a province's year), or any with
``background=1``, is made by a background job: the answer is 303 to the job's page,
which refreshes itself until the report is ready and then links it. Every report is
made once per state of the read models (`report_jobs`, in reporting's database: any
instance serves a job's page and file); the printing itself runs on one of eventlet's
real threads (`eventlet.tpool`), one report at a time in each process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eventlet.patcher
import eventlet.tpool
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from chibo.access import AUTHENTICATED
from chibo.errors import ChiboError, NotFound, ValidationFailed
from chibo.nameko.access import access, rate_limited
from chibo.nameko.web import http
from services.reporting import period_report, queries, report_render
from services.reporting.access_rules import REPORTS_OF_UNIT_QUERY, home_unit_by_default
from services.reporting.page_cache import data_version
from services.reporting.pages import html_errors
from services.reporting.report_jobs import JobStatus, Made, ReportJobs, ReportKey
from services.reporting.web import html_tables, i18n, render, urls
from services.shared.access_roles import VIEW_REPORTS
from services.shared.settings import SharedSettings

#: Above this many cell-months (about 1,700 cells for a year) a report is made in the
#: background while the reader's page polls.
LARGE_CELL_MONTHS = 20_000
#: The longest a number, place, position or name printed on the report may be.
MAX_FIELD = 200
#: The optional fields printed on the report: query parameter -> `period_report.PrintedFields`.
ASKED_FIELDS = {"number": "number", "place": "place", "position": "signer_position",
                "signer": "signer_name"}
FORMATS = {"pdf": report_render.PDF, "xlsx": html_tables.CONTENT_TYPES["xlsx"]}


def job_url(job_id: str) -> str:
    return f"{urls.PREFIX}/reports/jobs/{job_id}"


def asked_of(args: Any) -> period_report.PrintedFields:
    problems = {name: [f"At most {MAX_FIELD} characters."]
                for name in ASKED_FIELDS if len(args.get(name) or "") > MAX_FIELD}
    if problems:
        raise ValidationFailed(problems)
    return period_report.PrintedFields(**{field: (args.get(name) or None)
                                    for name, field in ASKED_FIELDS.items()})


#: One rendering at a time: WeasyPrint and Pango make no promise for several threads.
_RENDERING = eventlet.patcher.original("threading").Lock()


def _render(fmt: str, report: period_report.PeriodReport, tr: i18n.Translator) -> bytes:
    with _RENDERING:
        return (report_render.to_pdf(report, tr) if fmt == "pdf"
                else report_render.to_xlsx(report, tr))


def off_the_hub(fmt: str, report: period_report.PeriodReport, tr: i18n.Translator) -> bytes:
    """The report printed on one of eventlet's real threads when the process runs on
    green threads: printing is seconds of work that would otherwise hold every other
    request of the process."""
    if eventlet.patcher.is_monkey_patched("thread"):
        return eventlet.tpool.execute(_render, fmt, report, tr)
    return _render(fmt, report, tr)


def download(made: Made) -> Response:
    return Response(made.body, content_type=made.content_type, headers={
        "Content-Disposition": html_tables.content_disposition(made.filename),
        "Cache-Control": "no-store",
    })


class ReportPages:
    """Mixin: the period report's routes. Expects the reporting service's `db`,
    `clock`, `shared` and `caller`."""

    db: Any
    clock: Any
    shared: SharedSettings
    caller: Any

    @http("GET", "/reporting/reports/period.pdf", expected_exceptions=ChiboError)
    @home_unit_by_default(VIEW_REPORTS)
    @access(REPORTS_OF_UNIT_QUERY)
    @rate_limited("report")
    def period_report_pdf(self, request: Request) -> Response:
        """The unit's report for a quarter, half-year or year, as the committee prints,
        signs and files it. A download: its errors are JSON like the API's."""
        return self._period_report(request, "pdf")

    @http("GET", "/reporting/reports/period.xlsx", expected_exceptions=ChiboError)
    @home_unit_by_default(VIEW_REPORTS)
    @access(REPORTS_OF_UNIT_QUERY)
    @rate_limited("report")
    def period_report_xlsx(self, request: Request) -> Response:
        """The same report as an Excel workbook, for those who edit it."""
        return self._period_report(request, "xlsx")

    @http("GET", "/reporting/reports/jobs/<job_id>")
    @html_errors
    @access(AUTHENTICATED)
    def report_job_page(self, request: Request, job_id: str) -> Response:
        """A report being made: its progress (the page refreshes itself), then its link.
        ``?format=json`` answers the job's status. Only the account that asked sees it."""
        job = self._job(job_id)
        if request.args.get("format") == "json":
            return Response(_json(job.status()), content_type="application/json")
        return render.render_page("report_job.html", request, job=job.status(),
                                  file_url=f"{job_url(job.job_id)}/file")

    @http("GET", "/reporting/reports/jobs/<job_id>/file", expected_exceptions=ChiboError)
    @access(AUTHENTICATED)
    def report_job_file(self, request: Request, job_id: str) -> Response:
        self._job(job_id, "No such report in preparation (it may have expired): ask "
                          "for the report again.")
        made = self._jobs().file(job_id, self._owner())
        if made is None:
            raise NotFound("The report is not ready yet: wait on its page.")
        return download(made)

    # -- making the report ---------------------------------------------------------------

    def _jobs(self) -> ReportJobs:
        return ReportJobs(self.db.factory, self.clock)

    def _job(self, job_id: str, message: str = "report.job.missing") -> JobStatus:
        """The caller's own job (NotFound for anyone else's: its id says nothing)."""
        job = self._jobs().get(job_id, self._owner())
        if job is None:
            raise NotFound(message)
        return job

    def _owner(self) -> str:
        identity = getattr(self.caller, "identity", None)
        return str(getattr(identity, "account_id", "") or "")

    def _period_report(self, request: Request, fmt: str) -> Response:
        args = request.args
        today = self.clock.now().date()
        asked = asked_of(args)
        background = args.get("background") or ""
        if background not in ("", "1"):
            raise ValidationFailed({"background": ["Expected 1 (make it in the background)."]})
        grouping = args.get("grouping") or None
        lang = i18n.pick_lang(request)
        with self.db.transaction() as session:
            unit_id = args.get("unit") or queries.root_id(session)
            if args.get("period"):
                period = period_report.parse_period(args["period"])
            else:
                period = period_report.ReportPeriod(
                    urls.quarter_of(queries.default_period(session, today)))
            unit_name = queries.unit_name(session, unit_id)
            large = queries.report_size(session, unit_id, period.value) > LARGE_CELL_MONTHS
        tr = i18n.Translator(lang, self.shared.kinds)
        title = f"{tr('report.subtitle', period=period.phrase(lang))} — {unit_name}"
        # The database is the jobs' own: its watermarks and the day are the position.
        _, marks, day = data_version(self)
        key = ReportKey(fmt, unit_id, period.value, grouping, lang, asked,
                        [list(mark) for mark in marks] + [day.isoformat()], title)
        produce = self._producer(fmt, unit_id, period, grouping, tr, asked)
        if large or background:
            job = self._jobs().start(key, self._owner(), 3, produce)
            return redirect(job_url(job.job_id), 303)
        return download(self._jobs().make_now(key, self._owner(), produce))

    def _producer(self, fmt: str, unit_id: str, period: period_report.ReportPeriod,
                  grouping: str | None, tr: i18n.Translator, asked: period_report.PrintedFields
                  ) -> Callable[[Callable[[], None]], Made]:
        """What makes the report, in steps (figures read; document assembled; printed),
        on a session of its own: it may run after the request that asked has ended."""
        factory, today, kinds = self.db.factory, self.clock.now().date(), self.shared.kinds

        def produce(step: Callable[[], None]) -> Made:
            with factory() as session, session.begin():
                data = queries.period_report_figures(
                    session, unit_id, period.value, period.previous().value, grouping,
                    today=today, kinds=kinds)
            step()
            report = period_report.assemble(data, tr, asked)
            step()
            body = off_the_hub(fmt, report, tr)
            step()
            return Made(body, FORMATS[fmt], f"{report.filename}.{fmt}")

        return produce


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
