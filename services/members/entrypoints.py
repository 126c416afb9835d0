"""The members service: entrypoints only; rules live in domain.py, tree.py,
membership.py and roster.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from nameko.rpc import rpc
from nameko.timer import timer

from chibo import inputs
from chibo.contracts import load_command
from chibo.errors import ChiboError, NotFound, ValidationFailed
from chibo.eventstore.store import EventStore, StreamAppend
from chibo.nameko.providers import ClockProvider, Database, EventSource, EventSourcing, OutboxRelay
from chibo.nameko.web import command_answer, http, read_json, run_command
from services.members import api, commands, domain, read_model, roster
from services.members.api import COMMANDS
from services.shared.events.members import catalogue
from services.shared.membership import Member, add_months, fold, roll
from services.shared.text import text_sort_key
from services.shared.tree import Tree


def _on(value: str | None, today: date, field: str = "on") -> date:
    """The day a question is asked about: `?on=YYYY-MM-DD`, else today."""
    return inputs.day(value, field) or today


class MembersService(EventSource):
    name = "members"

    db = Database(read_model.metadata)
    events = EventSourcing(catalogue)
    clock = ClockProvider()
    relay = OutboxRelay()

    # -- loading state ----------------------------------------------------------------

    @staticmethod
    def _tree(store: EventStore, only: list[str] | None = None) -> Tree:
        """The whole tree, or (cheaper) just the named units when that is all a rule needs."""
        streams = None if only is None else [domain.unit_stream(u) for u in only if u]
        return Tree.from_events(store.read_category("unit", streams))

    @staticmethod
    def _members(store: EventStore, member_ids: list[str]) -> dict[str, tuple[int, Member]]:
        history = store.read_category("member", [domain.member_stream(m) for m in member_ids])
        folded = fold(history)
        versions: dict[str, int] = {}
        for event in history:
            versions[event.stream_id] = event.stream_version
        return {m: (versions[domain.member_stream(m)], folded[m]) for m in folded}

    def _member(self, store: EventStore, member_id: str) -> tuple[int, Member | None]:
        found = self._members(store, [member_id]).get(member_id)
        return found if found else (0, None)

    def _members_of(self, store: EventStore, cell_ids: list[str]
                    ) -> dict[str, tuple[int, Member]]:
        return self._members(store, read_model.member_ids_of_cells(store.session, cell_ids))

    def _apply(self, store: EventStore, appends: list[StreamAppend]) -> list[Any]:
        recorded = store.append_many(appends)
        read_model.index(store.session, recorded)
        return recorded

    def _run(self, schema: Any, payload: dict[str, Any],
             decide: Callable[[EventStore, dict[str, Any]], list[StreamAppend]]
             ) -> dict[str, Any]:
        command = load_command(schema, payload)

        def work(store: EventStore) -> dict[str, Any]:
            recorded = self._apply(store, decide(store, command))
            return {"events": [e.event_id for e in recorded],
                    **{k: command[k] for k in ("unit_id", "member_id") if k in command}}
        # A command id sent again answers what this command answered the first time.
        return self.events.run(command, work)

    def _today(self) -> date:
        return self.clock.now().date()

    # -- the tree -------------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    def establish_unit(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run(commands.EstablishUnit(), payload, lambda store, c: domain.establish_unit(
            self._tree(store, [c["unit_id"], c.get("parent_id")]), c))

    @rpc(expected_exceptions=ChiboError)
    def rename_unit(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run(commands.RenameUnit(), payload, lambda store, c: domain.rename_unit(
            self._tree(store, [c["unit_id"]]),
            self._version(store, domain.unit_stream(c["unit_id"])), c))

    @rpc(expected_exceptions=ChiboError)
    def move_unit(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run(commands.MoveUnit(), payload, lambda store, c: domain.move_unit(
            self._tree(store), self._version(store, domain.unit_stream(c["unit_id"])), c))

    @rpc(expected_exceptions=ChiboError)
    def dissolve_unit(self, payload: dict[str, Any]) -> dict[str, Any]:
        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            members = [m for _, m in self._members_of(store, [c["unit_id"]]).values()]
            return domain.dissolve_unit(self._tree(store), self._version(
                store, domain.unit_stream(c["unit_id"])), c, members)
        return self._run(commands.DissolveUnit(), payload, decide)

    @rpc(expected_exceptions=ChiboError)
    def merge_units(self, payload: dict[str, Any]) -> dict[str, Any]:
        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            tree = self._tree(store)
            return domain.merge_units(tree, self._unit_versions(store), c,
                                      self._members_of(store, c["merged_ids"]))
        return self._run(commands.MergeUnits(), payload, decide)

    @rpc(expected_exceptions=ChiboError)
    def split_unit(self, payload: dict[str, Any]) -> dict[str, Any]:
        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            return domain.split_unit(self._tree(store), self._unit_versions(store), c,
                                     self._members_of(store, [c["unit_id"]]))
        return self._run(commands.SplitUnit(), payload, decide)

    @staticmethod
    def _version(store: EventStore, stream_id: str) -> int:
        return len(store.read_stream(stream_id))

    @staticmethod
    def _unit_versions(store: EventStore) -> dict[str, int]:
        prefix = len(domain.unit_stream(""))
        return {e.stream_id[prefix:]: e.stream_version for e in store.read_category("unit")}

    # -- members --------------------------------------------------------------------

    def _member_command(self, schema: Any, payload: dict[str, Any],
                        rule: Callable[..., list[StreamAppend]], *, tree: bool = False,
                        today: bool = False) -> dict[str, Any]:
        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            version, member = self._member(store, c["member_id"])
            args: list[Any] = [self._tree(store, [c.get("to_cell_id")])] if tree else []
            args += [member, version, c]
            if today:
                args.append(self._today())
            return rule(*args)
        return self._run(schema, payload, decide)

    @rpc(expected_exceptions=ChiboError)
    def admit_member(self, payload: dict[str, Any]) -> dict[str, Any]:
        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            if c.get("member_code") and read_model.member_ids_by_code(
                    store.session, [c["member_code"]]):
                raise ValidationFailed({"member_code": ["Another member has this code."]})
            _, member = self._member(store, c["member_id"])
            return domain.admit_member(self._tree(store, [c["cell_id"]]), member, c,
                                       self._today())
        return self._run(commands.AdmitMember(), payload, decide)

    @rpc(expected_exceptions=ChiboError)
    def confirm_member(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._member_command(commands.ConfirmMember(), payload, domain.confirm_member,
                                    today=True)

    @rpc(expected_exceptions=ChiboError)
    def transfer_member(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._member_command(commands.TransferMember(), payload,
                                    domain.transfer_member, tree=True, today=True)

    @rpc(expected_exceptions=ChiboError)
    def transfer_temporarily(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._member_command(commands.TransferTemporarily(), payload,
                                    domain.transfer_temporarily, tree=True)

    @rpc(expected_exceptions=ChiboError)
    def exempt_member(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._member_command(commands.ExemptMember(), payload, domain.exempt_member)

    @rpc(expected_exceptions=ChiboError)
    def mark_working_away(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._member_command(commands.MarkWorkingAway(), payload,
                                    domain.mark_working_away)

    @rpc(expected_exceptions=ChiboError)
    def record_return(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._member_command(commands.RecordReturn(), payload, domain.record_return)

    @rpc(expected_exceptions=ChiboError)
    def remove_member(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._member_command(commands.RemoveMember(), payload, domain.remove_member,
                                    today=True)

    @rpc(expected_exceptions=ChiboError)
    def rate_member(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._member_command(commands.RateMember(), payload, domain.rate_member,
                                    today=True)

    @rpc(expected_exceptions=ChiboError)
    def assign_role(self, payload: dict[str, Any]) -> dict[str, Any]:
        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            history = store.read_stream(domain.roles_stream(c["cell_id"]))
            _, member = self._member(store, c["member_id"])
            return domain.assign_role(self._tree(store, [c["cell_id"]]), member, history,
                                      len(history), c)
        return self._run(commands.AssignRole(), payload, decide)

    @rpc(expected_exceptions=ChiboError)
    def end_role(self, payload: dict[str, Any]) -> dict[str, Any]:
        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            history = store.read_stream(domain.roles_stream(c["cell_id"]))
            return domain.end_role(history, len(history), c)
        return self._run(commands.EndRole(), payload, decide)

    @timer(interval=3600, eager=True)
    @rpc
    def issue_confirmation_reminders(self) -> int:
        """Probationary members whose 12 months are up get a reminder event, once."""
        today = self._today()
        with self.events.unit_of_work() as store:
            ids = read_model.unconfirmed_member_ids(store.session, add_months(today, -12))
            recorded = self._apply(store, domain.confirmation_reminders(
                self._members(store, ids), today))
        return len(recorded)

    @rpc(expected_exceptions=ChiboError)
    def import_rows(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply a batch of roster rows; a row that breaks a rule is reported, not applied."""
        batch = load_command(commands.ImportBatch(), payload)
        return self.events.run(batch, lambda store: self._import(store, batch["rows"]))

    def _import(self, store: EventStore, rows: list[dict[str, Any]]) -> dict[str, Any]:
        today = self._today()
        counts = {"admitted": 0, "changed": 0, "unchanged": 0, "events": 0}
        rejected: list[dict[str, Any]] = []
        tree = self._tree(store, sorted({r["cell_code"] for r in rows}))
        known = read_model.member_ids_by_code(store.session, [r["member_code"] for r in rows])
        current = self._members(store, list(known.values()))
        appends: list[StreamAppend] = []
        for row in rows:
            try:
                outcome, planned = roster.plan_row(
                    tree, current.get(known.get(row["member_code"], "")), row, today)
            except ChiboError as exc:
                rejected.append({"line": row["line"], "member_code": row["member_code"],
                                 "reason": roster.reason_of(exc)})
                continue
            counts[outcome] += 1
            appends.extend(planned)
        counts["events"] = len(self._apply(store, appends))
        return {**counts, "rejected": rejected}

    # -- questions ------------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    def tree(self, on: str | None = None) -> dict[str, Any]:
        day = _on(on, self._today())
        with self.events.unit_of_work() as store:
            snapshot = self._tree(store).as_of(day)
        nodes = {u: {**v.as_dict(), "children": []} for u, v in snapshot.items()}
        roots = []
        for node in sorted(nodes.values(),
                           key=lambda n: (text_sort_key(n["name"]), n["unit_id"])):
            parent = nodes.get(node["parent_id"]) if node["parent_id"] else None
            (parent["children"] if parent else roots).append(node)
        return {"on": day.isoformat(), "units": len(nodes), "roots": roots}

    @rpc(expected_exceptions=ChiboError)
    def unit(self, unit_id: str, on: str | None = None) -> dict[str, Any]:
        today = self._today()
        day = _on(on, today)
        with self.events.unit_of_work() as store:
            tree = self._tree(store)
        if not tree.exists(unit_id):
            raise NotFound(f"Unit {unit_id} does not exist.", field="unit_id")
        on_day = tree.version(unit_id, day)
        return {
            "unit_id": unit_id, "on": day.isoformat(),
            "as_of": on_day.as_dict() if on_day else None,
            "path_on": [v.as_dict() for v in tree.path(unit_id, day)],
            "path_today": [v.as_dict() for v in tree.path(unit_id, today)],
            "cells_covered_on": tree.cells_covered(unit_id, day),
            "history": [v.as_dict() for v in tree.history(unit_id)],
            "successor_today": tree.successor(unit_id),
        }

    @rpc(expected_exceptions=ChiboError)
    def attendance_roll(self, cell_id: str, on: str | None = None) -> dict[str, Any]:
        day = _on(on, self._today())
        with self.events.unit_of_work() as store:
            members = [m for _, m in self._members_of(store, [cell_id]).values()]
        return {"cell_id": cell_id, "on": day.isoformat(), **roll(members, cell_id, day)}

    @rpc(expected_exceptions=ChiboError)
    def cell_roles(self, cell_id: str, on: str | None = None) -> dict[str, Any]:
        day = _on(on, self._today())
        with self.events.unit_of_work() as store:
            history = store.read_stream(domain.roles_stream(cell_id))
            members = [m for _, m in self._members_of(store, [cell_id]).values()]
        return {"roles": domain.active_roles(history, day),
                **domain.committee_flag(members, history, cell_id, day)}

    @rpc(expected_exceptions=ChiboError)
    def member(self, member_id: str) -> dict[str, Any]:
        with self.events.unit_of_work() as store:
            version, member = self._member(store, member_id)
        if member is None:
            raise NotFound(f"Member {member_id} is not on the rolls.", field="member_id")
        today = self._today()
        excuse = member.excuse_on(today)
        return {"member_id": member_id, "member_code": member.member_code,
                "full_name": member.full_name, "cell_id": member.cell_on(today),
                "admitted_on": member.admitted_on.isoformat(),
                "full_since": member.full_since.isoformat() if member.full_since else None,
                "status": member.status_on(today),
                "removed": ({"on": member.removed[0].isoformat(), "kind": member.removed[1],
                             "reason": member.removed[2]} if member.removed else None),
                "excused_today": ({"standing": excuse[0], "reason": excuse[1]}
                                  if excuse else None),
                "ratings": {str(y): level for y, level in sorted(member.ratings.items())},
                "version": version}

    # -- HTTP -----------------------------------------------------------------------

    @http("POST", "/members/commands/<name>", expected_exceptions=ChiboError)
    def command_http(self, request: Any, name: str) -> tuple[int, dict[str, str], Any]:
        return run_command(self, COMMANDS, name, request)

    @http("GET", "/members/openapi.json")
    def openapi_http(self, request: Any) -> dict[str, Any]:
        return api.openapi()

    @http("POST", "/members/import-batches", expected_exceptions=ChiboError)
    def import_http(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        return command_answer(self, 200, self.import_rows(read_json(request)))

    @http("GET", "/members/tree", expected_exceptions=ChiboError)
    def tree_http(self, request: Any) -> dict[str, Any]:
        return self.tree(request.args.get("on"))

    @http("GET", "/members/units/<unit_id>", expected_exceptions=ChiboError)
    def unit_http(self, request: Any, unit_id: str) -> dict[str, Any]:
        return self.unit(unit_id, request.args.get("on"))

    @http("GET", "/members/cells/<cell_id>/roll", expected_exceptions=ChiboError)
    def roll_http(self, request: Any, cell_id: str) -> dict[str, Any]:
        return self.attendance_roll(cell_id, request.args.get("on"))

    @http("GET", "/members/cells/<cell_id>/roles", expected_exceptions=ChiboError)
    def roles_http(self, request: Any, cell_id: str) -> dict[str, Any]:
        return self.cell_roles(cell_id, request.args.get("on"))

    @http("GET", "/members/members/<member_id>", expected_exceptions=ChiboError)
    def member_http(self, request: Any, member_id: str) -> dict[str, Any]:
        return self.member(member_id)
