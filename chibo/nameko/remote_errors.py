"""A ChiboError crosses RPC with its details, not only its type name and text.

nameko serializes a worker's exception as `{exc_type, exc_path, exc_args, value}` and
its callers deserialize it as `RemoteError(exc_type, value)`, dropping everything but
the text: a ValidationFailed reached the caller without its `fields`. Here:

* the service side (`DetailedResponder`, used by `chibo.nameko.resilience`'s RPC
  consumer) sends a ChiboError's `exc_args` as `[message, details]`, details made
  JSON-safe (a nested schema's integer keys become text: `{"attendance": {"3": …}}`,
  numbers stay numbers);
  `exc_type`, `exc_path` and `value` stay what nameko sends, so a caller that knows
  nothing of this reads the same reply as before;
* the calling side (`install`, run on import) puts a factory for every ChiboError class
  path in `nameko.exceptions.registry`, the table nameko's `deserialize` consults; the
  factory gives a `RemoteChiboError`, which still is nameko's `RemoteError` (same
  `exc_type`, `value` and text) and also holds `.details`. The in-service `RpcProxy`
  and the standalone `ClusterRpcProxy` both deserialize through that table.

A class the calling process never imported has no entry, so its error arrives as a
plain RemoteError, as before; `chibo.errors.from_remote` could not name it either.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import kombu.serialization
from nameko import exceptions as nameko_exceptions
from nameko.exceptions import (
    RemoteError,
    UnserializableValueError,
    get_module_path,
    serialize,
)
from nameko.rpc import Responder

from chibo.errors import ChiboError, watch_error_classes


class RemoteChiboError(RemoteError):
    """nameko's RemoteError for a ChiboError another service raised, with its details
    (`to_dict` of the remote error, less its code and message)."""

    def __init__(self, exc_type: str | None = None, value: str = "",
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(exc_type, value)
        self.details: dict[str, Any] = dict(details) if isinstance(details, dict) else {}


def serialize_error(exc: BaseException) -> dict[str, Any]:
    """nameko's serialized form of `exc`; for a ChiboError, `exc_args` is
    `[message, details]`."""
    data: dict[str, Any] = serialize(exc)
    if isinstance(exc, ChiboError):
        data["exc_args"] = [data["value"], json_safe(exc.details)]
    return data


def json_safe(value: Any) -> Any:
    """`value` as JSON can carry it: mappings with text keys, sequences as lists, JSON's
    own scalars kept (nameko's `safe_for_serialization` makes every number text),
    anything else as its text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - as nameko's fallback for a value with no text
        return "[__str__ failed]"


def _factory(exc_type: str) -> Any:
    def remote(value: Any = "", details: Any = None, *_more: Any) -> RemoteChiboError:
        # A service without this edge sends nameko's own `exc_args`: the message alone.
        return RemoteChiboError(exc_type, value if isinstance(value, str) else str(value),
                                details if isinstance(details, dict) else None)
    remote.__qualname__ = f"remote_{exc_type}"
    return remote


def _register(cls: type[ChiboError]) -> None:
    nameko_exceptions.registry.setdefault(get_module_path(cls), _factory(cls.__name__))


_installed = False


def install() -> None:
    """Teach nameko's deserializer every ChiboError class, now and as modules define
    more. Idempotent."""
    global _installed
    if not _installed:
        _installed = True
        watch_error_classes(_register)


class DetailedResponder(Responder):
    """nameko's Responder, serializing a ChiboError with its details.

    As `nameko.rpc.Responder.send_response` (nameko 2.14), whose error serialization
    cannot be swapped on its own: the reply carries `serialize_error(exc)`.
    """

    def send_response(self, result: Any, exc_info: Any) -> tuple[Any, Any]:
        error = None
        if exc_info is not None:
            error = serialize_error(exc_info[1])

        # The reply is encoded as the request was.
        content_type = self.message.properties["content_type"]
        serializer = kombu.serialization.registry.type_to_name[content_type]

        # A result that cannot be encoded would fail the publish below and kill the
        # container; it is answered as nameko answers it.
        try:
            kombu.serialization.dumps(result, serializer)
        except Exception:  # noqa: BLE001 - any failure to encode, as nameko catches it
            exc_info = sys.exc_info()
            error = serialize(UnserializableValueError(result))
            result = None

        payload = {"result": result, "error": error}
        publisher = self.publisher_cls(self.amqp_uri, ssl=self.ssl,
                                       login_method=self.login_method)
        publisher.publish(payload, serializer=serializer, exchange=self.exchange,
                          routing_key=self.message.properties["reply_to"],
                          correlation_id=self.message.properties.get("correlation_id"))
        return result, exc_info


install()
