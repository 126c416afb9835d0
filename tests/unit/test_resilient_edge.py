"""The services' messaging edge (chibo/nameko/resilience.py): which faults count as
transient, how they reach callers, and that every service takes its entrypoints from it."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import kombu.exceptions
import psycopg2
import pytest
from sqlalchemy import exc as sa_exc

from chibo.errors import ServiceUnavailable, from_remote
from chibo.nameko.resilience import is_transient, unavailable_from

ROOT = Path(__file__).resolve().parents[2]


def wrapped(orig: BaseException, cls: type = sa_exc.OperationalError) -> BaseException:
    return cls("SELECT 1", {}, orig)


def test_database_faults_that_pass_are_transient() -> None:
    assert is_transient(wrapped(psycopg2.OperationalError("server closed the connection")))
    assert is_transient(wrapped(psycopg2.InterfaceError("connection already closed"),
                                sa_exc.InterfaceError))
    assert is_transient(psycopg2.OperationalError("could not connect to server"))
    assert is_transient(wrapped(sqlite3.OperationalError("database is locked")))
    assert is_transient(sa_exc.TimeoutError("QueuePool limit reached"))


def test_bugs_and_refusals_are_not_transient() -> None:
    assert not is_transient(wrapped(sqlite3.OperationalError("no such table: events")))
    assert not is_transient(wrapped(psycopg2.IntegrityError("duplicate key"),
                                    sa_exc.IntegrityError))
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(FileNotFoundError(2, "no such file"))
    assert not is_transient(None)


def test_broker_faults_are_transient_and_say_so() -> None:
    lost = kombu.exceptions.OperationalError("[Errno 111] Connection refused")
    assert is_transient(lost)
    assert is_transient(ConnectionResetError(104, "reset by peer"))
    assert "message broker" in unavailable_from(lost).message
    try:
        raise RuntimeError("while handling") from wrapped(psycopg2.OperationalError("gone"))
    except RuntimeError as error:
        assert is_transient(error)
        assert "database" in unavailable_from(error).message


def test_the_retryable_error_crosses_rpc_by_name() -> None:
    error = unavailable_from(kombu.exceptions.OperationalError("x"))
    assert error.http_status == 503 and error.to_dict()["error"] == "unavailable"
    assert error.to_dict()["retry_after"] == ServiceUnavailable.retry_after
    again = from_remote("ServiceUnavailable", error.message)
    assert isinstance(again, ServiceUnavailable) and again.retry_after > 0


SERVICE_FILES = sorted((ROOT / "services").rglob("*.py"))


@pytest.mark.parametrize("path", SERVICE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_take_messaging_entrypoints_from_the_resilient_edge(path: Path) -> None:
    """nameko's own @rpc beside chibo's would be two consumers of one queue, and nameko's
    @event_handler and RpcProxy die with the container when an ack fails."""
    stock = {("nameko.rpc", "rpc"), ("nameko.rpc", "RpcProxy"), ("nameko.rpc", "Rpc"),
             ("nameko.events", "event_handler"), ("nameko.events", "EventHandler")}
    found = [(node.module, alias.name) for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.ImportFrom) for alias in node.names
             if (node.module, alias.name) in stock]
    assert not found, f"{path.name} imports {found}: use chibo.nameko.resilience"


def test_an_answer_raised_after_a_transient_fault_stays_that_answer() -> None:
    from chibo.errors import NotFound

    try:
        try:
            raise wrapped(psycopg2.OperationalError("gone"))
        except sa_exc.OperationalError:
            raise NotFound("no such unit") from None
    except NotFound as error:
        assert not is_transient(error)
    import amqp.exceptions

    assert is_transient(amqp.exceptions.ConnectionForced("closed by the broker"))
