"""A committee's period report (`period_report.PeriodReport`) printed: PDF through
WeasyPrint (template ``report_period.html``, stylesheet ``static/report.css``; A4
portrait, "Trang X/Y" at the foot of each page), or the same report as an XLSX
workbook for those who edit it (the text on a first sheet, each table on its own).

Vietnamese diacritics need fonts that carry them: Debian's ``fonts-liberation``,
``fonts-noto-core`` or ``fonts-dejavu-core`` (the stylesheet names them in that
order), and WeasyPrint needs Pango (``libpango-1.0-0``, ``libpangoft2-1.0-0``).
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font

from services.reporting.period_report import PeriodReport
from services.reporting.web import html_tables
from services.reporting.web.html_tables import PrintHeading
from services.reporting.web.i18n import Translator
from services.reporting.web.render import STATIC, environment

PDF = "application/pdf"
STYLESHEET = STATIC / "report.css"


def to_html(report: PeriodReport, tr: Translator) -> str:
    """The report as the HTML WeasyPrint prints."""
    return environment().get_template("report_period.html").render(
        report=report, t=tr, display=html_tables.display,
        page_word="Trang" if tr.lang == "vi" else "Page")


@lru_cache(maxsize=1)
def _stylesheet() -> Any:
    import weasyprint  # loaded on first use: it brings Pango in

    return weasyprint.CSS(filename=str(STYLESHEET))


def to_pdf(report: PeriodReport, tr: Translator) -> bytes:
    import weasyprint

    document = weasyprint.HTML(string=to_html(report, tr), base_url=str(STATIC))
    return document.write_pdf(stylesheets=[_stylesheet()])


def to_xlsx(report: PeriodReport, tr: Translator) -> bytes:
    """The report's text on its first sheet (header block, title, sentences, signature),
    then one sheet per table, each set up to print like every export."""
    book = Workbook(write_only=True)
    taken: set[str] = set()
    heading = PrintHeading(report.unit_name, report.subtitle)
    cover = book.create_sheet(html_tables.sheet_name(tr("report.sheet.text"), taken))
    cover.column_dimensions["A"].width = 110
    html_tables.page_setup(cover, [90], 1, tr, heading)
    bold, big = Font(bold=True), Font(bold=True, size=14)
    wrap = Alignment(wrap_text=True, vertical="top")
    headings = {section.heading for section in report.sections}
    for line in report.lines():
        cell = WriteOnlyCell(cover, value=line or None)
        cell.data_type = "s" if line else cell.data_type  # a line is never a formula
        if line in (report.title, report.subtitle):
            cell.font = big
        elif line in headings or line in (report.issuer_name, report.party_line):
            cell.font = bold
        cell.alignment = wrap
        cover.append([cell])
    for table in report.tables():
        html_tables.write_sheet(book, table, tr, report.subtitle, taken, heading)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
