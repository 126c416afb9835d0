"""One table abstraction for pages and exports: what a page shows is what CSV and
Excel give, with the same translated column labels.

Rows are plain dicts keyed by column key; values are str, int, float, None or ISO
dates. Code columns (levels, states, kinds) hold codes and are translated on output.
"""

from __future__ import annotations

import csv
import io
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from werkzeug.wrappers import Response

from services.reporting.web.i18n import MISSING, Translator, as_date, as_datetime

KINDS = ("text", "int", "number", "percent", "date", "datetime", "month", "period",
         "level", "state", "code", "label", "link")
NUMERIC_KINDS = ("int", "number", "percent")
CODE_KINDS = ("level", "state", "code")
#: Quality levels best first, so sorting by a level column ranks them, not spells them.
LEVEL_RANK = {"good": 4, "fair": 3, "average": 2, "poor": 1, "unscored": 0}


@dataclass
class Column:
    key: str
    label: str  # a message key
    kind: str = "text"
    #: For code columns, the message key prefix of their codes ("esc_state" -> "esc_state.raised").
    #: Defaults to the kind itself ("level" -> "level.good"). A "label" column shows a value
    #: by its label when it has one (``event_type.meeting_held``) and as it is otherwise
    #: (a person's name in the actor column).
    codes: str | None = None

    @property
    def code_prefix(self) -> str:
        return self.codes or self.kind


@dataclass(frozen=True)
class Phrase:
    """A cell value that reads differently in each language: a sentence built from
    facts (an escalation's reason, its period), rendered for the reader. `sort` is what
    the page sorts it by (empty: by its shown text)."""

    render: Callable[[str], str]
    sort: str = ""


@dataclass
class Table:
    id: str
    title: str  # a message key
    columns: list[Column]
    rows: list[dict[str, Any]]
    #: column key -> URL template filled from the row, e.g. "/reporting/cells/{cell_id}".
    link: dict[str, str] = field(default_factory=dict)


# -- cells ----------------------------------------------------------------------------

def display(column: Column, value: Any, tr: Translator) -> str:
    """A value as a reader sees it on a page, in the translator's language."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, Phrase):
        return value.render(tr.lang) or MISSING
    kind = column.kind
    if kind in ("int", "number"):
        return tr.number(value)
    if kind == "percent":
        return tr.percent(value)
    if kind == "date":
        return tr.date(value)
    if kind == "datetime":
        return tr.datetime(value)
    if kind == "month":
        return tr.month(value)
    if kind == "period":
        return tr.period(value)
    if kind in CODE_KINDS:
        return tr.code(column.code_prefix, value)
    if kind == "label":
        key = f"{column.code_prefix}.{value}"
        return tr(key) if tr.has(key) else str(value)
    return str(value)


def sort_value(column: Column, value: Any) -> str:
    """What the page's script sorts a cell by: raw numbers, ISO dates, level ranks.
    Empty for text, which is sorted by its shown (translated) form."""
    if value is None or value == "":
        return ""
    if isinstance(value, Phrase):
        return value.sort
    if column.kind in NUMERIC_KINDS:
        return repr(float(value)) if isinstance(value, int | float) else str(value)
    if column.kind in ("date", "datetime", "month", "period"):
        return str(value)
    if column.kind == "level":
        return str(LEVEL_RANK.get(str(value), -1))
    return ""


def row_cells(table: Table, row: Mapping[str, Any], tr: Translator) -> Markup:
    """A row's ``<td>`` cells, every value escaped. Built here rather than in the table
    macro: a page of a few hundred cells is otherwise mostly template calls."""
    cells = []
    for column in table.columns:
        value = row.get(column.key)
        text = escape(display(column, value, tr))
        sort = sort_value(column, value)
        href = cell_link(table, column, row)
        if value and column.kind == "level":
            text = Markup(f'<span class="badge level-{escape(value)}">{text}</span>')
        elif value and column.kind == "state":
            text = Markup(f'<span class="badge state state-{escape(value)}" '
                          f'data-state="{escape(value)}">{text}</span>')
        if href:
            text = Markup(f'<a href="{escape(href)}">{text}</a>')
        sorted_by = f' data-sort="{escape(sort)}"' if sort else ""
        cells.append(f'<td class="k-{column.kind}"{sorted_by}>{text}</td>')
    return Markup("".join(cells))


class _QuotingFormatter(string.Formatter):
    """Fills a URL template, percent-encoding each value (ids may hold anything)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        return quote(str(value), safe="")


_FORMATTER = _QuotingFormatter()


def cell_link(table: Table, column: Column, row: Mapping[str, Any]) -> str | None:
    """The address a cell links to: the table's template for the column, or the row's
    ``href`` for a link column; None when a value the template needs is missing."""
    template = table.link.get(column.key)
    if template is None:
        return row.get("href") if column.kind == "link" else None
    try:
        return _FORMATTER.vformat(template, (), row)
    except (KeyError, IndexError):
        return None


# -- CSV -------------------------------------------------------------------------------

def _export_label(column: Column, tr: Translator) -> str:
    label = tr(column.label)
    return f"{label} (%)" if column.kind == "percent" else label


#: Text starting with one of these is a formula to a spreadsheet: minutes, reasons and
#: names are typed by people, so a cell must never run as one when the file is opened.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


#: CSV separators a download may ask for (``?sep=``): "comma" (the default: "," between
#: fields, "." decimal mark) or "semicolon" (";" between fields, "," decimal mark), which
#: is what Excel expects on a computer set to Vietnamese regional settings, where the
#: list separator is ";" and "," is the decimal mark.
CSV_SEPARATORS = ("comma", "semicolon")


def _csv_value(column: Column, value: Any, tr: Translator, decimal: str = ".") -> str:
    # Plain numbers (no thousands separator) so the data stays machine readable; dates
    # as the users write them.
    if value is None or value == "":
        return ""
    if column.kind == "percent":
        return f"{float(value) * 100:.1f}".replace(".", decimal)
    if column.kind in ("int", "number"):
        return str(value).replace(".", decimal)
    text = display(column, value, tr)
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(table: Table, tr: Translator, sep: str = "comma") -> bytes:
    """UTF-8 with a BOM, which is what makes Excel read Vietnamese correctly. `sep`:
    one of `CSV_SEPARATORS`."""
    if sep not in CSV_SEPARATORS:
        raise ValueError(f"unknown CSV separator {sep!r}; expected one of {CSV_SEPARATORS}")
    delimiter, decimal = (";", ",") if sep == "semicolon" else (",", ".")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([_export_label(c, tr) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_value(c, row.get(c.key), tr, decimal) for c in table.columns])
    return out.getvalue().encode("utf-8-sig")


# -- XLSX ------------------------------------------------------------------------------

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_WIDTH_SAMPLE = 2000  # rows looked at to size columns; enough, and cheap on big tables


def sheet_name(title: str, taken: set[str]) -> str:
    """A valid, unique sheet name: no []:*?/\\, at most 31 characters."""
    base = _SHEET_FORBIDDEN.sub(" ", title).strip().strip("'")[:31].strip() or "Sheet"
    name, number = base, 2
    while name.lower() in taken:
        suffix = f" ({number})"
        name = base[:31 - len(suffix)] + suffix
        number += 1
    taken.add(name.lower())
    return name


def _xlsx_value(column: Column, value: Any, tr: Translator) -> tuple[Any, str | None]:
    """A cell's value and number format: real dates and fractions, so Excel can
    sort, filter and compute on them."""
    if value is None or value == "":
        return None, None
    kind = column.kind
    if kind == "date" and (day := as_date(value)):
        return day, "DD/MM/YYYY"
    if kind == "datetime" and (moment := as_datetime(value)):
        return moment.replace(tzinfo=None), "DD/MM/YYYY HH:MM:SS"
    if kind == "percent":
        return float(value), "0.0%"
    if kind == "int" and isinstance(value, int | float):
        return value, "#,##0"
    if kind == "number" and isinstance(value, int | float):
        return value, "#,##0.0"
    return display(column, value, tr), None


def _widths(table: Table, tr: Translator) -> list[float]:
    widths = []
    for column in table.columns:
        longest = len(_export_label(column, tr))
        for row in table.rows[:_WIDTH_SAMPLE]:
            longest = max(longest, len(display(column, row.get(column.key), tr)))
        widths.append(min(max(longest + 2, 8), 60))
    return widths


@dataclass(frozen=True)
class PrintHeading:
    """What a printed sheet's page header names: the committee and the period (either
    may be empty)."""

    committee: str = ""
    period: str = ""


#: Column widths (in characters) that still read well on a portrait A4 page: wider
#: sheets are printed landscape.
PORTRAIT_WIDTH = 95


def _header_text(text: str) -> str:
    # "&" starts a code in Excel's header language (&P, &N): a name's own is doubled.
    return text.replace("&", "&&")


def page_setup(sheet: Any, widths: Sequence[float], header_rows: int, tr: Translator,
               heading: PrintHeading | None, pages_high: int = 0) -> None:
    """Print a sheet on A4: landscape when its columns are wider than a portrait page,
    scaled to the page's width (as many pages down as it takes, or at most `pages_high`
    when given), the header rows repeated on every page, the committee and the period
    in the page header and the page number ("Trang 2/5") in the footer."""
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape" if sum(widths) > PORTRAIT_WIDTH else "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = pages_high
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.page_margins.header = sheet.page_margins.footer = 0.25
    sheet.print_title_rows = f"1:{header_rows}"
    if heading is not None:
        sheet.oddHeader.left.text = _header_text(heading.committee)
        sheet.oddHeader.right.text = _header_text(heading.period)
        sheet.oddHeader.left.size = sheet.oddHeader.right.size = 9
    sheet.oddFooter.center.text = tr("print.page_of", page="&P", pages="&N")
    sheet.oddFooter.center.size = 9


def write_sheet(book: Workbook, table: Table, tr: Translator, title: str | None,
                 taken: set[str], heading: PrintHeading | None = None,
                 pages_high: int = 0) -> None:
    sheet = book.create_sheet(sheet_name(tr(table.title), taken))
    header_row = 2 if title else 1
    # Write-only sheets take their layout before any row is appended.
    widths = _widths(table, tr)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    page_setup(sheet, widths, header_row, tr, heading, pages_high)
    sheet.freeze_panes = f"A{header_row + 1}"
    last = get_column_letter(max(len(table.columns), 1))
    sheet.auto_filter.ref = f"A{header_row}:{last}{header_row + max(len(table.rows), 1)}"
    if title:
        heading = WriteOnlyCell(sheet, value=title)
        heading.font = Font(bold=True, size=14)
        sheet.append([heading])
    bold = Font(bold=True)
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=_export_label(column, tr))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        cells = []
        for column in table.columns:
            value, number_format = _xlsx_value(column, row.get(column.key), tr)
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would store "=..." as a formula
            if number_format:
                cell.number_format = number_format
            cells.append(cell)
        sheet.append(cells)


def to_xlsx(tables: Sequence[Table], tr: Translator, title: str | None = None,
            heading: PrintHeading | None = None, pages_high: int = 0) -> bytes:
    """One sheet per table, a bold frozen header, real dates, percent formats, set up
    to print (`page_setup`)."""
    # Write-only: a province-wide table has tens of thousands of rows.
    book = Workbook(write_only=True)
    taken: set[str] = set()
    for table in tables:
        write_sheet(book, table, tr, title, taken, heading, pages_high)
    if not tables:
        book.create_sheet("Sheet")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- responses -------------------------------------------------------------------------

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def ascii_filename(name: str, fallback: str = "export") -> str:
    """A plain-ASCII stand-in for clients that ignore ``filename*``: "Báo cáo" -> "Bao cao",
    "ĐẢNG" -> "DANG" (NFKD leaves "Đ" whole, so it is spelled out first); `fallback` when
    nothing of the name is left."""
    name = name.replace("đ", "d").replace("Đ", "D")
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9._ -]+", "_", plain).strip() or fallback


def content_disposition(filename: str, fallback: str = "export") -> str:
    """``attachment`` with an ASCII ``filename`` and the real name per RFC 5987 (quoted,
    so no name can break the header)."""
    return (f'attachment; filename="{ascii_filename(filename, fallback)}"; '
            f"filename*=UTF-8''{quote(filename, safe='')}")


def export_response(table_or_tables: Table | Sequence[Table], fmt: str, tr: Translator,
                    filename: str, title: str | None = None,
                    heading: PrintHeading | None = None, sep: str = "comma",
                    pages_high: int = 0) -> Response:
    """A download of one table as CSV (`sep`: one of `CSV_SEPARATORS`), or of one or
    more tables as XLSX (printed with `heading`, at most `pages_high` pages down when
    given).

    `filename` may omit the extension. Raises ValueError for an unknown format or
    separator, or for CSV of several tables (a CSV file holds one table: pick it with
    ``table=``).
    """
    tables = [table_or_tables] if isinstance(table_or_tables, Table) else list(table_or_tables)
    if fmt == "csv":
        if len(tables) != 1:
            raise ValueError("a CSV file holds exactly one table")
        body = to_csv(tables[0], tr, sep)
    elif fmt == "xlsx":
        body = to_xlsx(tables, tr, title, heading, pages_high)
    else:
        raise ValueError(f"unknown export format {fmt!r}; expected csv or xlsx")
    if not filename.lower().endswith("." + fmt):
        filename = f"{filename}.{fmt}"
    return Response(body, content_type=CONTENT_TYPES[fmt], headers={
        "Content-Disposition": content_disposition(filename),
        "Cache-Control": "no-store",
    })


def find_tables(context: Mapping[str, Any]) -> dict[str, Table]:
    """The tables in a page's context by id: what its export links may ask for."""
    return {value.id: value for value in context.values() if isinstance(value, Table)}
