"""How many A4 pages each sheet of the quarterly workbook prints on, and the period
report's PDF pages: `python -m bench.print_pages [--cells N]`.

A synthetic province (`bench.dashboard.synthetic_province`: 30 intermediate
committees, grassroots organisations and cells under them, a year of meetings,
visits and escalations) is projected into SQLite; the quarterly workbook of its third
quarter is converted to PDF by LibreOffice (``soffice --headless --convert-to pdf``,
Debian ``libreoffice-calc-nogui``) and its pages counted per sheet with pypdf (each
sheet is printed alone). The period report's PDF (WeasyPrint) for the quarter and the
year is timed and its pages counted. LibreOffice takes tens of seconds to start: this
is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from pypdf import PdfReader

from bench.dashboard import YEAR, synthetic_province
from chibo.db import create_schema, make_engine, session_factory
from services.reporting import pages, period_report, queries, report_render, views
from services.reporting.projector import project_run
from services.reporting.read_model import metadata
from services.reporting.source_checks import audit_metadata
from services.reporting.web import html_tables, i18n

TODAY = datetime(YEAR + 1, 1, 15).date()


def load(cells: int) -> object:
    engine = make_engine("sqlite://")
    create_schema(engine, metadata, audit_metadata)
    factory = session_factory(engine)
    logs = synthetic_province(cells)
    for source in ("members", "meetings", "supervision"):
        events = logs[source]
        for i in range(0, len(events), 5000):
            with factory() as session, session.begin():
                project_run(session, events[i:i + 5000])
    return factory


def sheet_pages(workbook: bytes, folder: Path) -> dict[str, int]:
    """Each sheet saved alone and printed by LibreOffice: its page count."""
    names = load_workbook(io.BytesIO(workbook)).sheetnames
    out = {}
    for index, name in enumerate(names):
        book = load_workbook(io.BytesIO(workbook))
        for other in names:
            if other != name:
                del book[other]
        path = folder / f"sheet{index}.xlsx"
        book.save(path)
        subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir",
                        str(folder), str(path)], check=True, capture_output=True, timeout=300)
        out[name] = len(PdfReader(folder / f"sheet{index}.pdf").pages)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=240, help="cells in the province")
    parser.add_argument("--keep", metavar="DIR", help="write the printed pages' PDFs there")
    args = parser.parse_args(argv)
    if shutil.which("soffice") is None:
        print("soffice not found: apt-get install -y libreoffice-calc-nogui", file=sys.stderr)
        return 2
    started = time.perf_counter()
    factory = load(args.cells)
    print(f"province of {args.cells} cells projected in {time.perf_counter() - started:.1f} s")
    tr = i18n.Translator("vi")
    quarter = f"{YEAR}-Q3"
    with factory() as session:
        data = pages.quarterly_data(session, quarter, None, TODAY)
    title, sheets = views.quarterly(data, tr)
    heading = html_tables.PrintHeading(data["top"]["unit"]["name"], tr.period(quarter))
    workbook = html_tables.to_xlsx(sheets, tr, title, heading)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        counts = sheet_pages(workbook, Path(folder))
        seconds = time.perf_counter() - started
    print(f"quarterly workbook {quarter}: pages per sheet (LibreOffice, {seconds:.0f} s):")
    for (name, count), table in zip(counts.items(), sheets, strict=True):
        print(f"  {name:<32} {count:>3} pages  ({len(table.rows)} rows)")
    for period in (quarter, str(YEAR)):
        started = time.perf_counter()
        with factory() as session:
            figures = queries.period_report_figures(
                session, None, period, period_report.ReportPeriod(period).previous().value,
                None, today=TODAY)
        report = period_report.assemble(figures, tr)
        pdf = report_render.to_pdf(report, tr)
        print(f"period report {period}: {len(PdfReader(io.BytesIO(pdf)).pages)} pages, "
              f"{len(pdf) / 1024:.0f} KiB, {time.perf_counter() - started:.2f} s")
    browser_pages(factory, Path(args.keep) if args.keep else None)
    return 0 if max(counts.values()) <= 4 else 1


def page_service(factory: object) -> object:
    """The reporting service's page routes as plain methods, as the administrator."""
    from chibo.clock import FixedClock
    from services.reporting.audit_entrypoints import AuditEntrypoints
    from services.reporting.entrypoints import ReportingQueries
    from services.shared import settings as shared_settings
    from tests.reporting_caller import as_identity
    from tests.support import Db

    class Pages(ReportingQueries, AuditEntrypoints, pages.DashboardPages):
        pass

    service = Pages()
    service.db = Db(factory)
    service.clock = FixedClock(datetime(YEAR + 1, 1, 15, 8))
    service.shared = shared_settings.from_config({})
    return as_identity(service)


def browser_pages(factory: object, keep_to: Path | None = None) -> None:
    """The overview, a committee, a cell and the escalations printed by Chromium
    (Playwright, Debian's /usr/bin/chromium) on A4, with the print stylesheet and
    without it (as the pages printed before it had rules)."""
    from playwright.sync_api import sync_playwright
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from services.reporting.web.render import STATIC

    service: Any = page_service(factory)
    quarter = f"{YEAR}-Q3"
    shown = {
        "overview": lambda r: service.overview_page(r),
        "committee C00": lambda r: service.unit_page(r, "C00"),
        "cell G1-0": lambda r: service.cell_page(r, "G1-0"),
        "escalations": lambda r: service.escalations_page(r),
    }
    queries_of = {"overview": f"period={quarter}", "committee C00": f"period={quarter}",
                  "cell G1-0": f"year={YEAR}", "escalations": ""}
    print("dashboard pages printed by Chromium on A4 (pages: with print.css / without):")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()

        current = {"html": ""}

        def serve(route: Any) -> None:
            if "/reporting/static/" not in route.request.url:
                route.fulfill(body=current["html"], content_type="text/html; charset=utf-8")
                return
            name = route.request.url.split("/reporting/static/", 1)[1]
            path = STATIC / name
            if not path.is_file():
                route.fulfill(status=404, body="")
                return
            route.fulfill(body=path.read_bytes(), content_type=(
                "text/css" if name.endswith(".css") else "text/javascript"))

        page.route("http://chibo.invalid/**", serve)
        for name, route in shown.items():
            request = Request(EnvironBuilder(path="/reporting/",
                                             query_string=queries_of[name]).get_environ())
            html = route(request).get_data(as_text=True)
            counts = []
            for text in (html, html.replace('media="print"', 'media="not all"')):
                current["html"] = text
                page.goto("http://chibo.invalid/reporting/page", wait_until="load")
                printed = page.pdf(format="A4")
                counts.append(len(PdfReader(io.BytesIO(printed)).pages))
                if keep_to:
                    (keep_to / f"{name.split()[0]}-{len(counts)}.pdf").write_bytes(printed)
            print(f"  {name:<16} {counts[0]:>3} / {counts[1]:>3} pages")
        browser.close()


if __name__ == "__main__":
    raise SystemExit(main())
