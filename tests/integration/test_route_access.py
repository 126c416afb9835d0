"""Every route and every RPC method, taken from the registered entrypoints (not a hand
list), called as an anonymous caller, as one whose roles cover only another commune, and
as one whose roles cover the target: 401, 403, and neither.

A route or RPC method that declares no access rule fails here (and its service refuses
to start); a command served over HTTP without one fails too. The matrix (routes × caller
kinds, with the answers) is written to the test's output and to
`$CHIBO_ACCESS_MATRIX` when that is set."""

from __future__ import annotations

import inspect
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler

from chibo.access import Access, Grant, Identity
from chibo.clock import FixedClock
from chibo.nameko.access import declared_access, undeclared_entrypoints
from chibo.nameko.commands import Commands
from chibo.nameko.runtime import rpc_caller, rpc_client
from services.app import SERVICES
from services.shared.access_roles import ADMIN as ADMIN_ROLE
from services.shared.access_roles import GRANTABLE, ROLES
from tests.sample_province import load_sample_province
from tests.support import (
    ADMIN,
    embedded_config,
    reporting_caught_up,
    running,
    token,
    wait_until,
)

TIMEOUT = 60
LOADED_ON = datetime(2026, 6, 10, 8, 0)
#: The targets live in commune xa-1; the out-of-scope caller holds every role on xa-2.
HOME, ELSEWHERE = "xa-1", "xa-2"
SCOPED_ROLES = [role for role in GRANTABLE if role != ADMIN_ROLE]


def everything_on(unit: str) -> Identity:
    return Identity(f"all-roles-{unit}", f"Mọi vai trò ở {unit}",
                    tuple(Grant(role, unit) for role in SCOPED_ROLES))


IN_SCOPE, OUT_OF_SCOPE = everything_on(HOME), everything_on(ELSEWHERE)
ANONYMOUS = "anonymous"
#: The only entrypoints open to anyone: signing in and out, and static assets.
PUBLIC_ROUTES = r"/login|/logout|/static/|\.authenticate$|/auth/token"
#: What a required argument that names no scoped thing is given.
PLACEHOLDER = "x"
#: Values of URL segments that name no scoped thing.
FIXED_SEGMENTS = {"year": "2026", "action": "acknowledge", "name": "app.js"}


@dataclass(frozen=True)
class Entry:
    """One route or RPC method and what it declares."""

    service: str
    kind: str  # "http" or "rpc"
    name: str  # "GET /members/tree" or "members.tree"
    rule: Access | None
    method: str = ""
    url: str = ""
    command: str | None = None
    #: RPC parameters: (name, required).
    parameters: tuple[tuple[str, bool], ...] = ()


def entries() -> list[Entry]:
    found = []
    for cls in SERVICES:
        commands = next((v for v in vars(cls).values() if isinstance(v, Commands)), None)
        if commands is None:
            commands = next((getattr(cls, a) for a in dir(cls)
                             if isinstance(getattr(cls, a, None), Commands)), None)
        handlers = {h.name: h for h in commands.handlers} if commands else {}
        for attribute, method in inspect.getmembers(cls, callable):
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                command = getattr(method, "__chibo_command__", False)
                if isinstance(entrypoint, HttpRequestHandler):
                    if command:  # POST /<service>/commands/<name>: one route per command
                        for handler in handlers.values():
                            if handler.http:
                                found.append(Entry(
                                    cls.name, "http", f"POST /{cls.name}/commands/{handler.name}",
                                    handler.access, "POST",
                                    f"/{cls.name}/commands/{handler.name}", handler.name))
                        continue
                    found.append(Entry(cls.name, "http",
                                       f"{entrypoint.method} {entrypoint.url}",
                                       declared_access(method), entrypoint.method,
                                       entrypoint.url))
                elif isinstance(entrypoint, Rpc):
                    rule = handlers[attribute].access if command else declared_access(method)
                    parameters = tuple(
                        (name, parameter.default is inspect.Parameter.empty)
                        for name, parameter in inspect.signature(method).parameters.items()
                    )[1:]
                    found.append(Entry(cls.name, "rpc", f"{cls.name}.{attribute}", rule,
                                       command=attribute if command else None,
                                       parameters=parameters))
    return sorted(found, key=lambda e: (e.kind, e.name))


def test_every_entrypoint_declares_an_access_rule():
    for cls in SERVICES:
        assert undeclared_entrypoints(cls) == [], cls.name
    unruled = [e.name for e in entries() if e.kind == "http" and e.rule is None]
    assert unruled == [], "commands served over HTTP without an access rule"
    public = sorted(e.name for e in entries() if e.rule is not None and e.rule.public)
    # Only signing in and static assets are open (health is the web server's own).
    assert all(re.search(PUBLIC_ROUTES, name)
               for name in public), public


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    folder = tmp_path_factory.mktemp("routes")
    clock = FixedClock(LOADED_ON)
    config = embedded_config(folder, CLOCK=clock)
    with running(config), rpc_client(config, timeout=180, token=token(ADMIN)) as proxy:
        load_sample_province(rpc_caller(proxy), LOADED_ON.date(), months=2,
                             progress=lambda _: None)
        clock.set(datetime(2026, 7, 8, 8, 0))
        proxy.supervision.close_periods(since="2026-04-01")
        wait_until(lambda: reporting_caught_up(proxy), timeout=120,
                   message="reporting to read every source's log")
        yield config, f"http://{config['WEB_SERVER_ADDRESS']}", targets(proxy)


def targets(proxy: Any) -> dict[str, str]:
    """One thing of each kind inside commune xa-1, found through the services."""
    cell = f"{HOME}-cb-1"
    meeting = f"{cell}-202604"
    roll = proxy.members.attendance_roll(cell)
    member = next(m["member_id"] for group in roll.values() if isinstance(group, list)
                  for m in group if isinstance(m, dict) and "member_id" in m)
    escalations = proxy.reporting.escalations(state=None, unit_id=HOME)["escalations"]
    tasks = proxy.reporting.tasks(cell)
    event = proxy.reporting.audit_search(limit=1)["results"][0]["event_id"]
    found = {"unit": HOME, "cell": cell, "meeting": meeting, "member": member,
             "event": event, "account": "tk-quantri"}
    if escalations:
        found["escalation"] = escalations[0]["escalation_id"]
    if tasks:
        found["task"] = tasks[0]["task_id"]
    return found


def value_for(parameter: str, rule: Access | None, found: dict[str, str]) -> Any:
    if rule is not None and rule.scope is not None and parameter == rule.scope.field:
        return found.get(rule.scope.kind, found["unit"])
    kind = parameter.removesuffix("_id")
    if kind in found:
        return found[kind]
    return FIXED_SEGMENTS.get(parameter, PLACEHOLDER)


def http_request(entry: Entry, found: dict[str, str]) -> tuple[str, dict[str, Any]]:
    url = entry.url
    segments = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", url)
    for segment in segments:
        url = re.sub(rf"<(?:[a-z]+:)?{segment}>", str(value_for(segment, entry.rule, found)),
                     url)
    scope_field = entry.rule.scope.field if entry.rule and entry.rule.scope else None
    extra: dict[str, Any] = {}
    if scope_field and scope_field not in segments:
        value = value_for(scope_field, entry.rule, found)
        if entry.method == "GET":
            extra["params"] = {scope_field: value}
        else:
            extra["json"] = {scope_field: value}
    if entry.method != "GET" and "json" not in extra:
        extra["json"] = {}
    return url, extra


def call_http(base: str, entry: Entry, found: dict[str, str], caller: Identity | str
              ) -> tuple[int, str]:
    url, extra = http_request(entry, found)
    # As a browser sends it: a form's post carries the page's origin.
    headers = {"Origin": base}
    if caller != ANONYMOUS:
        headers["Authorization"] = f"Bearer {token(caller)}"
    response = requests.request(entry.method, base + url, headers=headers, timeout=TIMEOUT,
                                allow_redirects=False, **extra)
    if response.status_code == 303 and "/login" in response.headers.get("Location", ""):
        return 401, ""  # a page sends a visitor without a session to the login page
    return response.status_code, response.text[:300]


def call_rpc(config: dict[str, Any], entry: Entry, found: dict[str, str],
             caller: Identity | str) -> tuple[int, str]:
    if entry.command:
        scope = entry.rule.scope.field if entry.rule and entry.rule.scope else None
        kwargs: dict[str, Any] = {"payload": {scope: value_for(scope, entry.rule, found)}
                                  if scope else {}}
    else:
        kwargs = {}
        for name, required in entry.parameters:
            value = value_for(name, entry.rule, found)
            if required or value != PLACEHOLDER:
                kwargs[name] = value
    service, method = entry.name.split(".")
    with rpc_client(config, timeout=TIMEOUT,
                    token=None if caller == ANONYMOUS else token(caller)) as proxy:
        try:
            getattr(getattr(proxy, service), method)(**kwargs)
        except RemoteError as error:
            return ({"Unauthenticated": 401, "Forbidden": 403}.get(error.exc_type, 200),
                    f"{error.exc_type}: {error.value}"[:300])
    return 200, ""


def expected(entry: Entry, caller: Identity | str) -> set[int] | str:
    rule = entry.rule
    if rule is not None and rule.public:
        return "open"
    if caller == ANONYMOUS:
        return {401}
    if rule is None:  # a command only services may give
        return {403}
    if caller is OUT_OF_SCOPE and rule.permission:
        return {403}
    return "allowed"


def in_scope_caller(rule: Access | None) -> Identity:
    """Every scoped role on the target's commune, or the provincial administrator for a
    rule over the whole tree or a permission no scoped role carries."""
    if rule is None or rule.scope is None or not any(
            ROLES.permits(role, rule.permission) for role in SCOPED_ROLES):
        return ADMIN
    return IN_SCOPE


def verdict(status: int, want: set[int] | str) -> bool:
    if want == "open":  # a public route may still refuse (wrong password: 401)
        return status < 500
    if want == "allowed":
        return status not in (401, 403) and status < 500
    return status in want


def test_every_route_and_rpc_method_as_each_kind_of_caller(province):
    config, base, found = province
    rows, wrong = [], []
    for entry in entries():
        cells = []
        for caller in (ANONYMOUS, OUT_OF_SCOPE, IN_SCOPE):
            as_caller = in_scope_caller(entry.rule) if caller is IN_SCOPE else caller
            if entry.kind == "http":
                status, said = call_http(base, entry, found, as_caller)
            else:
                status, said = call_rpc(config, entry, found, as_caller)
            want = expected(entry, caller)
            cells.append(status)
            if not verdict(status, want):
                wrong.append((entry.name, entry.rule.describe() if entry.rule else "services",
                              caller if caller == ANONYMOUS else caller.account_id, status, want,
                              said))
        rows.append((entry.name, entry.rule.describe() if entry.rule else "services only",
                     *cells))
    matrix = render(rows)
    print(matrix)
    if os.environ.get("CHIBO_ACCESS_MATRIX"):
        with open(os.environ["CHIBO_ACCESS_MATRIX"], "w", encoding="utf-8") as out:
            out.write(matrix)
    assert wrong == [], json.dumps(wrong, ensure_ascii=False, indent=1, default=str)
    open_to_anonymous = [row[0] for row in rows if row[2] not in (401,)]
    assert all(re.search(PUBLIC_ROUTES, name)
               for name in open_to_anonymous), open_to_anonymous


def render(rows: list[tuple[Any, ...]]) -> str:
    counts = Counter((kind, status) for row in rows
                     for kind, status in zip(("anonymous", "out of scope", "in scope"),
                                             row[2:], strict=True))
    lines = ["| route or RPC method | needs | anonymous | out of scope | in scope |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {rule} | {a} | {o} | {i} |" for name, rule, a, o, i in rows]
    summary = ", ".join(f"{kind} {status}: {n}" for (kind, status), n in sorted(counts.items()))
    return "\n".join(lines) + f"\n\n{len(rows)} entrypoints; {summary}\n"
