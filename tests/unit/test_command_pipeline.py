"""The command pipeline (chibo.commands) on an in-memory SQLite store, without nameko:
a refused command writes nothing, wherever it is refused; a command id answers its
first answer; the service's index commits with the events or not at all."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow
import pytest
from marshmallow import fields
from sqlalchemy import Column, MetaData, String, Table, func, insert, select

from chibo.commands import AllowEveryone, Decision, Handler, Handlers, Pipeline
from chibo.contracts import Catalogue, Command
from chibo.db import create_schema, make_engine, session_factory
from chibo.errors import CommandIdReused, DomainRuleViolated, Forbidden, NotFound, ValidationFailed
from chibo.eventstore.store import EventStore, NewEvent, StreamAppend
from chibo.eventstore.tables import command_log, events
from tests.support import SessionRuntime

catalogue = Catalogue()


@catalogue.event("thing_named", 1)
class ThingNamed(marshmallow.Schema):
    thing_id = fields.String(required=True)
    name = fields.String(required=True)


class NameThing(marshmallow.Schema):
    thing_id = fields.String(load_default=lambda: uuid.uuid4().hex)
    name = fields.String(required=True)


index_metadata = MetaData()
names = Table("names", index_metadata, Column("thing_id", String, primary_key=True),
              Column("name", String, nullable=False))




def runtime(factory: Any, command_id: str | None = None,
            actor: str = "cán bộ Hà") -> SessionRuntime:
    return SessionRuntime(factory, catalogue, command_id, actor)


@pytest.fixture
def factory():
    engine = make_engine("sqlite://")
    create_schema(engine, index_metadata)
    yield session_factory(engine)
    engine.dispose()


def name_thing(store: EventStore, command: Command, deps: Any) -> list[StreamAppend]:
    stream = f"thing-{command['thing_id']}"
    if store.read_stream(stream):
        raise DomainRuleViolated(f"{command['thing_id']} is named already.")
    if command["name"] == "refused":
        raise DomainRuleViolated("That name is refused.")
    return [StreamAppend(stream, 0, [NewEvent("thing_named", {
        "thing_id": command["thing_id"], "name": command["name"]})])]


def index_names(session: Any, recorded: Any) -> None:
    rows = [{"thing_id": e.data["thing_id"], "name": e.data["name"]} for e in recorded]
    if rows:
        session.execute(insert(names), rows)
    if any(row["name"] == "unindexable" for row in rows):
        raise RuntimeError("the index failed")


def pipeline(*handlers: Handler, policy: Any = None) -> Pipeline:
    registry = Handlers()
    for handler in handlers or (Handler("name_thing", NameThing(), name_thing,
                                        answer=("thing_id",)),):
        registry.add(handler)
    return Pipeline(registry, index=index_names, policy=policy)


def written(factory: Any) -> dict[str, int]:
    with factory() as session:
        return {table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (events, command_log, names)}


NOTHING = {"events": 0, "command_log": 0, "names": 0}


def test_a_command_appends_indexes_and_answers(factory):
    answer = pipeline().run("name_thing", {"thing_id": "a", "name": "Bản Máy"}, None,
                            runtime(factory))
    assert answer["thing_id"] == "a" and len(answer["events"]) == 1
    assert written(factory) == {"events": 1, "command_log": 0, "names": 1}


def test_an_unknown_command_is_not_found(factory):
    with pytest.raises(NotFound, match="commands: name_thing"):
        pipeline().run("rename_thing", {"name": "x"}, None, runtime(factory, "cmd-1"))
    assert written(factory) == NOTHING


def test_a_validation_error_writes_nothing(factory):
    with pytest.raises(ValidationFailed) as refused:
        pipeline().run("name_thing", {"thing_id": "a"}, None, runtime(factory, "cmd-1"))
    assert set(refused.value.fields) == {"name"}
    assert written(factory) == NOTHING


class RefuseAnonymous:
    def __init__(self) -> None:
        self.admitted: list[str] = []

    def admit(self, runtime: Any, handler: Handler, payload: Any) -> None:
        self.admitted.append(handler.name)

    def authorize(self, runtime: Any, handler: Handler, command: Command) -> None:
        if runtime.metadata.actor == "anonymous":
            raise Forbidden(f"{handler.name} needs a known actor.")


def test_a_refusing_policy_stops_before_prepare_and_writes_nothing(factory):
    prepared: list[Command] = []

    def prepare(command: Command, deps: Any) -> Any:
        prepared.append(command)
        return deps
    handler = Handler("name_thing", NameThing(), name_thing, prepare=prepare)
    policy = RefuseAnonymous()
    run = pipeline(handler, policy=policy).run
    with pytest.raises(Forbidden) as refused:
        run("name_thing", {"thing_id": "a", "name": "x"}, None,
            runtime(factory, "cmd-1", actor="anonymous"))
    assert refused.value.http_status == 403
    assert policy.admitted == ["name_thing"]
    assert prepared == [] and written(factory) == NOTHING
    # A known actor passes, and prepare runs.
    run("name_thing", {"thing_id": "a", "name": "x"}, None, runtime(factory, "cmd-1"))
    assert len(prepared) == 1


def test_a_caller_the_policy_does_not_admit_learns_nothing_of_the_body(factory):
    class AdmitNobody(RefuseAnonymous):
        def admit(self, runtime: Any, handler: Handler, payload: Any) -> None:
            raise Forbidden("no")

    handler = Handler("name_thing", NameThing(), name_thing)
    with pytest.raises(Forbidden):  # not ValidationFailed: the body is never read
        pipeline(handler, policy=AdmitNobody()).run("name_thing", {"bogus": 1}, None,
                                                    runtime(factory, "cmd-1"))
    assert written(factory) == NOTHING


def test_the_default_policy_allows_everyone(factory):
    assert pipeline().policy.__class__ is AllowEveryone
    pipeline().run("name_thing", {"thing_id": "a", "name": "x"}, None,
                   runtime(factory, actor="anonymous"))
    assert written(factory)["events"] == 1


def test_a_repeated_command_id_answers_the_first_answer_and_appends_nothing(factory):
    run = pipeline().run
    first_runtime, again_runtime = runtime(factory, "cmd-1"), runtime(factory, "cmd-1")
    # No thing_id: the schema makes one up, and the retry must answer that same one.
    first = run("name_thing", {"name": "Bản Ngàm"}, None, first_runtime)
    again = run("name_thing", {"name": "Bản Ngàm"}, None, again_runtime)
    assert again == first and (first_runtime.replayed, again_runtime.replayed) == (False, True)
    assert written(factory) == {"events": 1, "command_log": 1, "names": 1}


def test_a_reused_command_id_with_another_body_is_refused_and_writes_nothing(factory):
    run = pipeline().run
    run("name_thing", {"thing_id": "a", "name": "x"}, None, runtime(factory, "cmd-1"))
    before = written(factory)
    with pytest.raises(CommandIdReused):
        run("name_thing", {"thing_id": "b", "name": "y"}, None, runtime(factory, "cmd-1"))
    assert written(factory) == before


def test_decide_raising_writes_nothing_and_leaves_the_id_free(factory):
    run = pipeline().run
    with pytest.raises(DomainRuleViolated):
        run("name_thing", {"thing_id": "a", "name": "refused"}, None, runtime(factory, "cmd-1"))
    assert written(factory) == NOTHING
    # The id was not kept: another body may use it.
    run("name_thing", {"thing_id": "a", "name": "x"}, None, runtime(factory, "cmd-1"))
    assert written(factory) == {"events": 1, "command_log": 1, "names": 1}


def test_the_index_runs_in_the_command_transaction(factory):
    seen: list[int] = []

    def index(session: Any, recorded: Any) -> None:
        # The events just appended are visible to the index: the same transaction.
        seen.append(session.execute(select(func.count()).select_from(events)).scalar_one())
        index_names(session, recorded)
    registry = Handlers()
    registry.add(Handler("name_thing", NameThing(), name_thing))
    run = Pipeline(registry, index=index).run
    run("name_thing", {"thing_id": "a", "name": "x"}, None, runtime(factory))
    assert seen == [1]
    # An index that fails takes the events and the command id down with it.
    with pytest.raises(RuntimeError):
        run("name_thing", {"thing_id": "b", "name": "unindexable"}, None,
            runtime(factory, "cmd-2"))
    assert written(factory) == {"events": 1, "command_log": 0, "names": 1}


def test_prepare_gives_decide_its_deps_and_decision_extras_join_the_answer(factory):
    def prepare(command: Command, deps: dict[str, str]) -> dict[str, str]:
        return {**deps, "prefix": "Chi bộ "}

    def decide(store: EventStore, command: Command, deps: dict[str, str]) -> Decision:
        named = {**command, "name": deps["prefix"] + command["name"]}
        return Decision(name_thing(store, Command(named), None), {"named": named["name"]})
    handler = Handler("name_thing", NameThing(), decide, prepare=prepare, answer=("thing_id",))
    answer = pipeline(handler).run("name_thing", {"thing_id": "a", "name": "Bản Máy"},
                                   {"unit": "x"}, runtime(factory))
    assert answer["named"] == "Chi bộ Bản Máy" and answer["thing_id"] == "a"


def test_refresh_decides_once_more_after_a_refusal_it_can_mend(factory):
    attempts: list[str] = []

    def prepare(command: Command, deps: Any) -> Any:
        attempts.append("prepare")
        return deps

    def decide(store: EventStore, command: Command, deps: Any) -> list[StreamAppend]:
        if attempts.count("prepare") == 1:
            raise NotFound("not in the replica yet")
        return name_thing(store, command, deps)

    def refresh(error: Exception, command: Command, deps: Any) -> bool:
        attempts.append("refresh")
        return isinstance(error, NotFound)
    handler = Handler("name_thing", NameThing(), decide, prepare=prepare, refresh=refresh)
    pipeline(handler).run("name_thing", {"thing_id": "a", "name": "x"}, None, runtime(factory))
    assert attempts == ["prepare", "refresh", "prepare"]
    assert written(factory)["events"] == 1


def test_a_name_is_registered_once():
    registry = Handlers()
    registry.command(NameThing())(name_thing)
    assert [h.name for h in registry] == ["name_thing"]
    with pytest.raises(ValueError, match="twice"):
        registry.command(NameThing())(name_thing)
