"""No URL a caller can type gets a 500: every GET route of the four services, given
years out of range, impossible months and quarters, huge or negative numbers and odd
ids, answers 4xx (422 naming the parameter where it is one) or a page, never 5xx.

The sweep is sent as the tests' provincial administrator (a bearer token), so every
request reaches its handler; the same requests sent by nobody are refused before any
parameter is read: 401 from the APIs, the login page (303) from the dashboard's pages.

The sample province is loaded first, so the routes reach their queries and reports
rather than stopping early at an empty database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.sample_province import sample_province_served
from tests.support import (
    ADMIN,
    bearer,
)

TIMEOUT = 60
CELL, UNIT, MEMBER, MEETING = "xa-1-cb-1", "xa-1", "dv-00001", "xa-1-cb-1-202604"
HUGE = "99999999999999999999999"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sample_province_served(tmp_path_factory.mktemp("no-5xx"), close_quarter=False) as served:
        yield served


def get(base: str, path: str) -> requests.Response:
    """`path` as the provincial administrator."""
    return requests.get(base + path, headers=bearer(ADMIN), timeout=TIMEOUT)


# --------------------------------------------------------------------------- named refusals

REFUSED = [
    (f"/supervision/cells/{CELL}/quality/0", "year"),
    (f"/supervision/cells/{CELL}/quality/10000", "year"),
    (f"/supervision/cells/{CELL}/quality/{HUGE}", "year"),
    (f"/supervision/cells/{CELL}/quality/2025.5", "year"),
    (f"/supervision/cells/{CELL}/quality/hai-nghin", "year"),
    ("/supervision/coverage?quarter=2026-Q5", "quarter"),
    ("/supervision/coverage?quarter=0000-Q1", "quarter"),
    ("/reporting/api/overview?period=0000", "period"),
    ("/reporting/api/overview?period=0000-01", "period"),
    ("/reporting/api/overview?period=2026-13", "period"),
    ("/reporting/api/overview?period=2026-Q5", "period"),
    (f"/reporting/api/units/{UNIT}?period=0000-Q1", "period"),
    ("/reporting/api/heatmap?year=-1", "year"),
    ("/reporting/api/heatmap?year=0001", "year"),
    (f"/reporting/api/heatmap?year={HUGE}", "year"),
    (f"/reporting/api/cells/{CELL}?year=0001", "year"),
    (f"/reporting/api/cells/{CELL}?year=10000", "year"),
    (f"/reporting/api/members/{MEMBER}?year=2025.5", "year"),
    (f"/reporting/api/escalations?level={HUGE}", "level"),
    ("/reporting/api/escalations?level=-1", "level"),
    ("/reporting/cell-months?month=2026-13", "month"),
    ("/reporting/reports/quarterly.xlsx?quarter=0000-Q1", "quarter"),
    ("/reporting/reports/quarterly.xlsx?quarter=2026-Q5", "quarter"),
    ("/members/tree?on=2026-13-01", "on"),
    (f"/members/cells/{CELL}/roll?on=mai", "on"),
]


@pytest.mark.parametrize(("path", "field"), REFUSED, ids=[p for p, _ in REFUSED])
def test_a_bad_parameter_is_422_naming_it(base: str, path: str, field: str) -> None:
    response = get(base, path)
    assert response.status_code == 422, (path, response.status_code, response.text[:300])
    body = response.json()
    assert body["error"] == "validation_failed"
    assert set(body["fields"]) == {field}


PAGES = [
    "/reporting/?period=0000",
    f"/reporting/units/{UNIT}?period=0000-Q1",
    f"/reporting/cells/{CELL}?year=0001",
    f"/reporting/cells/{CELL}?year=10000&format=csv&table=meetings",
    "/reporting/heatmap?year=-1",
    f"/reporting/units/{UNIT}/heatmap?year={HUGE}",
    f"/reporting/members/{MEMBER}?year=0",
    f"/reporting/escalations?level={HUGE}",
]


@pytest.mark.parametrize("path", PAGES)
def test_a_dashboard_page_with_a_bad_parameter_is_the_422_page(base: str, path: str) -> None:
    response = get(base, path)
    assert response.status_code == 422, (path, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/html")


def test_a_static_name_longer_than_the_file_system_allows_is_404(base: str) -> None:
    assert get(base, "/reporting/static/" + "x" * 300).status_code == 404


# --------------------------------------------------------------------------- the sweep

ROUTES = [
    "/members/tree?on={day}", "/members/units/{id}?on={day}",
    "/members/cells/{id}/roll?on={day}", "/members/cells/{id}/roles?on={day}",
    "/members/members/{id}",
    "/meetings/meetings/{id}", "/meetings/tasks/{id}", "/meetings/cells/{id}/open-tasks",
    "/supervision/escalations?state={word}&target={id}", "/supervision/coverage?quarter={quarter}",
    "/supervision/cells/{id}/quality/{number}",
    "/reporting/?period={period}&grouping={word}&unit={id}",
    "/reporting/units/{id}?period={period}&grouping={word}",
    "/reporting/heatmap?year={number}&unit={id}", "/reporting/units/{id}/heatmap?year={number}",
    "/reporting/cells/{id}?year={number}", "/reporting/meetings/{id}",
    "/reporting/members/{id}?year={number}",
    "/reporting/escalations?state={word}&level={number}&rule={word}&unit={id}",
    "/reporting/audit?source={word}&from={day}&to={day}&limit={number}&before={id}",
    "/reporting/audit/events/{id}", "/reporting/reports/quarterly.xlsx?quarter={quarter}",
    "/reporting/api/audit/events?source={word}&from={day}&to={day}&limit={number}&before={id}",
    "/reporting/api/audit/events/{id}",
    "/reporting/api/overview?period={period}&grouping={word}&unit={id}",
    "/reporting/api/units/{id}?period={period}", "/reporting/api/heatmap?year={number}",
    "/reporting/api/cells/{id}?year={number}", "/reporting/api/meetings/{id}",
    "/reporting/api/members/{id}?year={number}",
    "/reporting/api/escalations?state={word}&level={number}",
    "/reporting/cell-months?month={period}", "/reporting/cells/{id}/tasks",
    "/reporting/cells/{id}?year={number}&format={word}&table={word}",
]
GOOD = {"day": "2026-05-01", "id": CELL, "word": "open", "quarter": "2026-Q2",
        "number": "2026", "period": "2026-05"}
BAD = {
    "day": ["0001-01-01", "9999-12-31", "2026-13-01", "2026-02-30", "20260101", "x"],
    "id": ["0", "-1", "x" * 300, "%00", "%C3%A1", "..", HUGE],
    "word": ["", "x", "%0A", "xlsx", "csv"],
    "quarter": ["2026-Q5", "2026-Q0", "0000-Q1", "9999-Q4", "-001-Q1", "x"],
    "number": ["0", "-1", "10000", HUGE, "2025.5", "1e3", "0001", "x"],
    "period": ["0000", "0000-01", "2026-13", "2026-Q5", "9999-12", "10000", "x"],
}
SWEEP = [(route, key, value) for route in ROUTES for key in BAD if "{" + key + "}" in route
         for value in BAD[key]]


@pytest.mark.parametrize(("route", "key", "value"), SWEEP,
                         ids=[f"{r.split('?')[0]}:{k}={v[:20]}" for r, k, v in SWEEP])
def test_no_parameter_gets_a_server_error(base: str, route: str, key: str, value: str) -> None:
    path = route.format(**{**GOOD, key: value})
    response = get(base, path)
    assert response.status_code < 500, (path, response.status_code, response.text[:300])


def refused_as_nobody(response: requests.Response) -> bool:
    """The refusal of a request with no login: 401 from an API or a download, the login
    page coming back here (303) from a page of the dashboard."""
    if response.status_code == 303:
        return response.headers["Location"].startswith("/login?next=")
    return response.status_code == 401 and response.json()["error"] == "unauthenticated"


def test_nobody_is_refused_before_any_parameter_is_read(base: str) -> None:
    # An id of ".." is resolved away by the client (a dot segment), reaching no route.
    paths = ([p for p, _ in REFUSED] + PAGES
             + [route.format(**{**GOOD, key: value}) for route, key, value in SWEEP
                if value != ".."]
             + [route.format(**GOOD) for route in ROUTES])
    wrong = []
    for path in paths:
        response = requests.get(base + path, allow_redirects=False, timeout=TIMEOUT)
        if not refused_as_nobody(response) or (path in PAGES
                                               and response.status_code != 303):
            wrong.append(f"{path} {response.status_code} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)
