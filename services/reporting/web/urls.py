"""Every dashboard address the templates link to, in one place, so the routes the
service declares and the links the pages draw cannot drift apart unnoticed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

PREFIX = "/reporting"


def _id(value: Any) -> str:
    return quote(str(value), safe="")


def _query(**params: Any) -> str:
    kept = {k: v for k, v in params.items() if v is not None and v != ""}
    return "?" + urlencode(kept) if kept else ""


def home() -> str:
    return f"{PREFIX}/"


def unit(unit_id: str, **params: Any) -> str:
    return f"{PREFIX}/units/{_id(unit_id)}" + _query(**params)


def cell(cell_id: str, **params: Any) -> str:
    return f"{PREFIX}/cells/{_id(cell_id)}" + _query(**params)


def heatmap(unit_id: str, **params: Any) -> str:
    return f"{PREFIX}/units/{_id(unit_id)}/heatmap" + _query(**params)


def meeting(meeting_id: str) -> str:
    return f"{PREFIX}/meetings/{_id(meeting_id)}"


def member(member_id: str, **params: Any) -> str:
    return f"{PREFIX}/members/{_id(member_id)}" + _query(**params)


def escalations(**params: Any) -> str:
    return f"{PREFIX}/escalations" + _query(**params)


def acknowledge(escalation_id: str) -> str:
    return f"{PREFIX}/escalations/{_id(escalation_id)}/acknowledge"


def resolve(escalation_id: str) -> str:
    return f"{PREFIX}/escalations/{_id(escalation_id)}/resolve"


def audit(**params: Any) -> str:
    return f"{PREFIX}/audit" + _query(**params)


def audit_event(event_id: str) -> str:
    return f"{PREFIX}/audit/events/{_id(event_id)}"


def audit_verify() -> str:
    return f"{PREFIX}/audit/verify"


def quarterly_report(quarter: str) -> str:
    return f"{PREFIX}/reports/quarterly.xlsx" + _query(quarter=quarter)


def period_report(fmt: str, unit_id: str | None, period: str) -> str:
    """A committee's report for a quarter, half-year or year: ``pdf`` or ``xlsx``."""
    return f"{PREFIX}/reports/period.{fmt}" + _query(unit=unit_id, period=period)


def half_of(period: str) -> str:
    """The half-year a period falls in: '2026-08' and '2026-Q3' -> '2026-H2'."""
    quarter = quarter_of(period)
    return f"{quarter[:4]}-H{1 if quarter[-1] in '12' else 2}"


def login(next: str | None = None) -> str:
    """The login page (served by reporting, outside the dashboard's prefix)."""
    return "/login" + _query(next=next)


def login_oidc(next: str | None = None) -> str:
    return "/login/oidc" + _query(next=next)


def logout() -> str:
    return "/logout"


def static(name: str) -> str:
    return f"{PREFIX}/static/{name}"


def quarter_of(period: str) -> str:
    """The quarter a period falls in (a year: its last quarter), for the quarterly report."""
    if "-Q" in period:
        return period
    year = period[:4]
    if len(period) >= 7:
        return f"{year}-Q{(int(period[5:7]) - 1) // 3 + 1}"
    return f"{year}-Q4"
