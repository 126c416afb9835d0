"""Pages from Jinja2 templates, their exports, and the static files they load.

Every page gets ``lang``, ``t`` (a Translator: ``t('nav.overview')``, ``t.date(...)``)
and ``url_with(**params)`` (this page's address with query parameters replaced),
which the language switch, the period pickers and the export links are built from,
and ``viewer`` (who is logged in: their name, roles and the session's CSRF token,
which the ``csrf_field(viewer)`` macro of ``_parts.html`` puts in every form that
posts; None on the login page).
`unit_kinds` (the service's configured kinds; the packaged ones when None) label
the tree's node kinds.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from werkzeug.wrappers import Request, Response

from services.reporting.web import html_tables, i18n, urls
from services.shared.tree import UnitKinds

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
NODE_MODULES = HERE / "node_modules"
#: Files served under /reporting/static/vendor/: name -> path under node_modules. A fixed
#: list, so nothing else in node_modules can be reached through the URL.
VENDOR = {
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}
VENDOR_MISSING = ("The chart library is not installed. Run `make` (or "
                  "`npm ci --prefix services/reporting/web`) and reload; "
                  "pages work without it, only the charts are missing.\n")
HTML = "text/html; charset=utf-8"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
# App files may change with a deployment: revalidate soon. Vendor files change only
# with package-lock.json.
CACHE_APP = "public, max-age=300"
CACHE_VENDOR = "public, max-age=86400"

UrlWith = Callable[..., str]
#: Where a page route leaves the `Viewer` for the page it renders (request.environ).
VIEWER_KEY = "chibo.viewer"
#: Where a page route leaves the clock's day, printed at the top of a printed page.
TODAY_KEY = "chibo.today"


def _lang_filter(format_: Callable[..., str]) -> Callable[..., str]:
    """A Jinja filter that formats in the page's language."""

    @pass_context
    def apply(context: Any, value: Any, *args: Any) -> str:
        return format_(value, context.get("lang", i18n.DEFAULT_LANG), *args)

    return apply


def pretty_json(value: Any) -> str:
    """Event data for people: indented, keys sorted, Vietnamese kept readable."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def charts_available() -> bool:
    return all((NODE_MODULES / path).is_file() for path in VENDOR.values())


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        auto_reload=False,  # templates ship with the code; no stat() of each per page
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({
        "date": _lang_filter(i18n.format_date),
        "datetime": _lang_filter(i18n.format_datetime),
        "month": _lang_filter(i18n.format_month),
        "period": _lang_filter(i18n.format_period),
        "percent": _lang_filter(i18n.format_percent),
        "number": _lang_filter(i18n.format_number),
        "pretty_json": pretty_json,
    })
    # Globals reach macros imported without context (the table macro).
    env.globals.update({
        "row_cells": html_tables.row_cells,
        "urls": urls,
    })
    return env


def url_with_for(request: Request) -> UrlWith:
    """``url_with(**params)``: the request's path and query, with `params` replaced
    (None removes one). Relative to the host, so it works behind any proxy name."""

    def url_with(**params: Any) -> str:
        query = [(k, v) for k, v in request.args.items(multi=True) if k not in params]
        query += [(k, str(v)) for k, v in params.items() if v is not None and v != ""]
        return request.path + ("?" + urlencode(query) if query else "")

    return url_with


def render_html(template: str, lang: str, url_with: UrlWith, *,
                unit_kinds: UnitKinds | None = None, **context: Any) -> str:
    """The page as text (what ``render_page`` sends; also handy in tests)."""
    tr = i18n.Translator(lang, unit_kinds)
    context.setdefault("viewer", None)
    return environment().get_template(template).render(
        **context, lang=tr.lang, t=tr, url_with=url_with, charts=charts_available())


def render_page(template: str, request: Request, *, status_code: int = 200,
                unit_kinds: UnitKinds | None = None, **context: Any) -> Response:
    """A page in the reader's language; remembers a language chosen with ``?lang=``."""
    lang = i18n.pick_lang(request)
    context.setdefault("viewer", request.environ.get(VIEWER_KEY))
    context.setdefault("printed_on", request.environ.get(TODAY_KEY))
    body = render_html(template, lang, url_with_for(request), unit_kinds=unit_kinds,
                       **context)
    response = Response(body, status=status_code, content_type=HTML)
    chosen = i18n.normal_lang(request.args.get("lang"))
    if chosen:
        response.set_cookie("lang", chosen, max_age=LANG_COOKIE_SECONDS, path="/",
                            samesite="Lax", httponly=True)
    return response


def error_page(request: Request, status_code: int, message: str | None = None,
               hint: str | None = None) -> Response:
    """The friendly error page. `message`/`hint` are message keys or plain text;
    absent, they are chosen from the status."""
    return render_page("error.html", request, status_code=status_code,
                       code=status_code, message=message, hint=hint)


def render_or_export(template: str, request: Request, filename: str, *,
                     unit_kinds: UnitKinds | None = None, **context: Any) -> Response:
    """The page, or one of its tables when asked with ``?format=csv|xlsx&table=<id>``
    (CSV with ``&sep=semicolon`` for Excel set to Vietnamese: ";" between fields, ","
    as the decimal mark).

    For XLSX without ``table=``, every table of the page, one sheet each, its printed
    pages headed by the page's unit and period. An unknown table, format or separator
    gets the error page (404 / 400).
    """
    fmt = request.args.get("format")
    if not fmt:
        return render_page(template, request, unit_kinds=unit_kinds, **context)
    tr = i18n.Translator(i18n.pick_lang(request), unit_kinds)
    found = html_tables.find_tables(context)
    wanted = request.args.get("table")
    if fmt not in html_tables.CONTENT_TYPES:
        return error_page(request, 400, "error.bad_format")
    sep = request.args.get("sep") or "comma"
    if sep not in html_tables.CSV_SEPARATORS:
        return error_page(request, 400, "error.bad_separator")
    if wanted:
        if wanted not in found:
            return error_page(request, 404, "error.no_table")
        chosen: list[html_tables.Table] = [found[wanted]]
        filename = f"{filename}-{wanted}"
    elif fmt == "csv":
        return error_page(request, 400, "error.csv_one_table")
    else:
        chosen = list(found.values())
    return html_tables.export_response(chosen, fmt, tr, filename, sep=sep,
                                       heading=print_heading(context, tr))


def print_heading(context: dict[str, Any], tr: i18n.Translator) -> html_tables.PrintHeading:
    """What a page's printed sheets are headed with: its unit (a committee, a cell) and
    its period or year, where the page has them."""
    unit = context.get("unit") or context.get("cell") or {}
    name = unit.get("name") if isinstance(unit, dict) else None
    period = context.get("period") or context.get("year")
    return html_tables.PrintHeading(str(name or ""), tr.period(str(period)) if period else "")


# -- static files ----------------------------------------------------------------------

def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


def _resolve_static(name: str) -> Path | None:
    """The file a static name refers to, or None: no traversal, no hidden files."""
    parts = name.split("/")
    if not name or "\\" in name or "\x00" in name or any(
            part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    try:
        path = (STATIC / name).resolve()
        if not path.is_relative_to(STATIC) or not path.is_file():
            return None
    except OSError:  # e.g. a name longer than the file system allows: no such file
        return None
    return path


def _content_type(path: Path) -> str:
    guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        guessed = "text/javascript"  # some systems' mime tables still say application/x-js
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def static_response(name: str, request: Request | None = None) -> Response:
    """A file from ``static/`` or ``vendor/<file>`` from node_modules; 404 for anything
    else, including any path that tries to climb out. With `request`, answers a
    matching ``If-None-Match`` with 304."""
    if name.startswith("vendor/"):
        vendored = VENDOR.get(name.removeprefix("vendor/"))
        if vendored is None:
            return _plain(404, "Not found.\n")
        path = NODE_MODULES / vendored
        if not path.is_file():
            return _plain(404, VENDOR_MISSING)
        cache = CACHE_VENDOR
    else:
        found = _resolve_static(name)
        if found is None:
            return _plain(404, "Not found.\n")
        path, cache = found, CACHE_APP
    response = Response(path.read_bytes(), content_type=_content_type(path),
                        headers={"Cache-Control": cache})
    response.add_etag()
    if request is not None:
        response.make_conditional(request)
    return response

