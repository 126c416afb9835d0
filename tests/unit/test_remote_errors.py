"""A ChiboError crosses RPC with its details (chibo/nameko/remote_errors.py): the reply
as the service serializes it, read back by nameko's own deserializer, and given to the
caller as the kernel's error. No broker: the reply is what would be published."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import kombu.exceptions
from nameko.exceptions import RemoteError, deserialize, serialize

from chibo.access.rate import RateLimited
from chibo.errors import (
    ChiboError,
    DomainRuleViolated,
    ServiceUnavailable,
    ValidationFailed,
    from_remote,
)
from chibo.nameko.remote_errors import (
    DetailedResponder,
    RemoteChiboError,
    json_safe,
    serialize_error,
)
from chibo.nameko.resilience import is_transient, unavailable_from

#: A refusal as marshmallow and the domain say it: nested, with integer list indexes.
FIELDS: dict[Any, Any] = {
    "attendance": {3: {"reason": ["An excused absence needs its reason."]}},
    "held_on": ["A meeting dated in the future cannot be held."],
    "vote": {"in_favour": ["Missing data for required field."]},
}
#: The same as JSON carries it: every key is text.
WIRE_FIELDS = {
    "attendance": {"3": {"reason": ["An excused absence needs its reason."]}},
    "held_on": ["A meeting dated in the future cannot be held."],
    "vote": {"in_favour": ["Missing data for required field."]},
}


def over_the_wire(exc: BaseException) -> Any:
    """What the caller's proxy raises for `exc`: serialized, through JSON, deserialized."""
    return deserialize(json.loads(json.dumps(serialize_error(exc))))


def test_a_refusal_is_serialized_with_its_details_and_nameko_s_own_keys() -> None:
    error = ValidationFailed(FIELDS)
    data = serialize_error(error)
    assert data["exc_type"] == "ValidationFailed"
    assert data["exc_path"] == "chibo.errors.ValidationFailed"
    assert data["value"] == error.message == str(error)
    assert data["exc_args"] == [error.message, {"fields": WIRE_FIELDS}]
    # Anything else is serialized as nameko serializes it.
    assert serialize_error(ValueError("a bug")) == serialize(ValueError("a bug"))


def test_the_caller_still_gets_a_remote_error_and_the_details_with_it() -> None:
    error = ValidationFailed(FIELDS)
    raised = over_the_wire(error)
    assert isinstance(raised, RemoteError) and isinstance(raised, RemoteChiboError)
    assert raised.exc_type == "ValidationFailed" and raised.value == error.message
    assert str(raised) == str(RemoteError("ValidationFailed", error.message))
    assert raised.details == {"fields": WIRE_FIELDS}


def test_call_remote_s_error_is_the_kernel_s_with_its_fields() -> None:
    sent = ValidationFailed(FIELDS)
    raised = over_the_wire(sent)
    error = from_remote(raised.exc_type, raised.value, raised.details)
    assert isinstance(error, ValidationFailed)
    assert error.fields == WIRE_FIELDS and error.details == {"fields": WIRE_FIELDS}
    assert str(error) == error.message == sent.message
    assert error.http_status == 422
    assert error.to_dict() == {"error": "validation_failed", "message": sent.message,
                               "fields": WIRE_FIELDS}


def test_other_details_become_the_attributes_their_class_gives_them() -> None:
    limited = over_the_wire(RateLimited("Quá nhiều lần thử (too many tries).", retry_after=30))
    again = from_remote(limited.exc_type, limited.value, limited.details)
    assert isinstance(again, RateLimited) and again.retry_after == 30
    assert again.to_dict()["retry_after"] == 30

    refused = over_the_wire(DomainRuleViolated("Meeting m1 is already held.", field="held_on",
                                               code="not_this", http_status=200))
    again = from_remote(refused.exc_type, refused.value, refused.details)
    assert isinstance(again, DomainRuleViolated) and again.details["field"] == "held_on"
    # A detail never replaces what every ChiboError has of its own.
    assert again.code == "rule_violated" and again.http_status == 409


def test_details_keep_json_s_own_values() -> None:
    assert json_safe({"n": 1, "share": 0.5, "ok": True, "none": None, "on": date(2026, 7, 1),
                      3: ("a", {"b"})}) == {
        "n": 1, "share": 0.5, "ok": True, "none": None, "on": "2026-07-01", "3": ["a", ["b"]]}


def test_a_sender_that_sends_only_the_text_is_still_understood() -> None:
    error = ValidationFailed(FIELDS)
    raised = deserialize(json.loads(json.dumps(serialize(error))))  # nameko's own reply
    assert isinstance(raised, RemoteChiboError) and raised.details == {}
    again = from_remote(raised.exc_type, raised.value, raised.details)
    assert isinstance(again, ValidationFailed) and again.fields == {}
    assert again.message == error.message
    # As before: two arguments, no details.
    assert isinstance(from_remote("ValidationFailed", "x"), ValidationFailed)
    assert from_remote("KeyError", "x") is None


def test_a_class_defined_later_crosses_too_and_plain_errors_stay_plain() -> None:
    class ArchiveSealedForTest(ChiboError):
        http_status = 409
        code = "sealed"

    raised = over_the_wire(ArchiveSealedForTest("Sealed.", since="2026-07-01"))
    assert isinstance(raised, RemoteChiboError)
    assert raised.exc_type == "ArchiveSealedForTest" and raised.details == {"since": "2026-07-01"}
    plain = over_the_wire(KeyError("x"))
    assert type(plain) is RemoteError and plain.exc_type == "KeyError"


def test_a_retryable_answer_stays_transient_for_the_next_caller() -> None:
    raised = over_the_wire(unavailable_from(kombu.exceptions.OperationalError("x")))
    assert isinstance(raised, RemoteChiboError) and is_transient(raised)
    assert raised.details == {"cause": "message broker"}
    again = from_remote(raised.exc_type, raised.value, raised.details)
    assert isinstance(again, ServiceUnavailable) and again.retry_after > 0


class _Message:
    properties = {"content_type": "application/json", "reply_to": "reply-q",
                  "correlation_id": "corr-1"}


class _Publisher:
    sent: list[dict[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def publish(self, payload: Any, **kwargs: Any) -> None:
        self.sent.append({"payload": payload, **kwargs})


def test_the_rpc_reply_carries_the_details() -> None:
    responder = DetailedResponder("memory://", "nameko-rpc", "json", _Message())
    responder.publisher_cls = _Publisher
    error = ValidationFailed(FIELDS)
    result, exc_info = responder.send_response(None, (ValidationFailed, error, None))
    assert result is None and exc_info[1] is error
    sent = _Publisher.sent[-1]
    assert sent["routing_key"] == "reply-q" and sent["correlation_id"] == "corr-1"
    assert sent["payload"] == {"result": None, "error": serialize_error(error)}

    # A result that cannot be encoded is answered as nameko answers it.
    result, exc_info = responder.send_response(object(), None)
    assert result is None
    assert _Publisher.sent[-1]["payload"]["error"]["exc_type"] == "UnserializableValueError"
