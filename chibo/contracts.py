"""The event catalogue: one marshmallow schema per event type and version; and
`load_command`, which checks a command body against its schema.

Producers validate on append; consumers upcast what they read. Old versions are
never rewritten in a log: an upcaster turns version n into n+1 at read time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import marshmallow

from chibo.errors import ValidationFailed
from chibo.eventstore.hashing import canonical_json

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(LookupError):
    pass


@dataclass
class _TypeEntry:
    schemas: dict[int, marshmallow.Schema] = field(default_factory=dict)
    upcasters: dict[int, Upcaster] = field(default_factory=dict)

    @property
    def latest(self) -> int:
        return max(self.schemas)


class Catalogue:
    def __init__(self) -> None:
        self._types: dict[str, _TypeEntry] = {}

    def register(self, event_type: str, version: int, schema: type[marshmallow.Schema],
                 upcast_from_previous: Upcaster | None = None) -> None:
        """Register `schema` for `event_type` at `version`.

        Versions after the first must say how to turn the previous version's
        data into theirs, so every stored event stays readable.
        """
        entry = self._types.setdefault(event_type, _TypeEntry())
        if version in entry.schemas:
            raise ValueError(f"{event_type} v{version} is already registered")
        if version > 1 and upcast_from_previous is None and (version - 1) in entry.schemas:
            raise ValueError(f"{event_type} v{version} needs an upcaster from v{version - 1}")
        entry.schemas[version] = schema()
        if upcast_from_previous is not None:
            entry.upcasters[version - 1] = upcast_from_previous

    def event(self, event_type: str, version: int = 1,
              upcast_from_previous: Upcaster | None = None
              ) -> Callable[[type[marshmallow.Schema]], type[marshmallow.Schema]]:
        """Class decorator form of `register`."""
        def decorate(schema: type[marshmallow.Schema]) -> type[marshmallow.Schema]:
            self.register(event_type, version, schema, upcast_from_previous)
            return schema
        return decorate

    def include(self, other: Catalogue) -> None:
        for name, entry in other._types.items():
            if name in self._types and self._types[name] is not entry:
                raise ValueError(f"{name} is registered in two catalogues")
            self._types[name] = entry

    def knows(self, event_type: str) -> bool:
        return event_type in self._types

    def latest_version(self, event_type: str) -> int:
        return self._entry(event_type).latest

    def validate(self, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Check `data` against the latest schema and return its JSON-ready form.

        Raises ValidationFailed naming every bad field.
        """
        schema = self._entry(event_type).schemas[self.latest_version(event_type)]
        try:
            # Validate the wire form: what consumers will read is JSON, not Python objects.
            loaded = schema.load(wire_form(data))
        except marshmallow.ValidationError as exc:
            raise ValidationFailed(_as_dict(exc.messages)) from None
        return wire_form(loaded)

    def types(self) -> list[str]:
        """Every event type the catalogue knows, in the order they were declared."""
        return list(self._types)

    def private_fields(self, event_type: str) -> tuple[str, ...]:
        """Fields a schema marks private (`class Meta: private = (...)`): they stay in
        the producing service's log and are blanked wherever events leave it."""
        if event_type not in self._types:
            return ()
        schema = self._entry(event_type).schemas[self.latest_version(event_type)]
        return tuple(getattr(getattr(schema, "Meta", None), "private", ()))

    def redact(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        private = self.private_fields(event_type)
        if not private:
            return data
        return {key: (None if key in private else value) for key, value in data.items()}

    def upcast(self, event_type: str, version: int, data: dict[str, Any]
               ) -> tuple[int, dict[str, Any]]:
        """Bring stored data of `version` up to the latest version."""
        entry = self._entry(event_type)
        while version < entry.latest:
            data = entry.upcasters[version](dict(data))
            version += 1
        return version, data

    def _entry(self, event_type: str) -> _TypeEntry:
        try:
            return self._types[event_type]
        except KeyError:
            raise UnknownEventType(f"no schema registered for event type {event_type!r}") from None


class Command(dict[str, Any]):
    """A validated command: its fields, and what it was asked as.

    `name` says which command it is (the schema's name in snake case unless given); `digest` is the
    SHA-256 of the name and the body as sent, in canonical JSON. Both serve the command
    log: a command id sent again must come with the same command and the same body.
    The digest covers the body as sent, not as loaded, because loading fills defaults
    such as a newly generated id that differ on every call.
    """

    name: str
    digest: str


def load_command(schema: marshmallow.Schema, payload: Any, name: str | None = None
                 ) -> Command:
    """Validate a command body; bad input raises ValidationFailed naming each field."""
    if not isinstance(payload, Mapping):
        raise ValidationFailed({"_body": ["Expected a JSON object."]})
    body = wire_form(payload)  # what the body is on the wire, for in-process callers too
    try:
        command = Command(schema.load(body))
    except marshmallow.ValidationError as exc:
        raise ValidationFailed(_as_dict(exc.messages)) from None
    command.name = name or command_name(schema)
    command.digest = payload_digest(command.name, body)
    return command


def command_name(schema: marshmallow.Schema) -> str:
    """The name callers use: the schema AdmitMember is the command admit_member."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(schema).__name__).lower()


def payload_digest(name: str, body: Any) -> str:
    """SHA-256 (hex) of a command's name and body, independent of key order."""
    return hashlib.sha256(canonical_json([name, body]).encode("utf-8")).hexdigest()


def wire_form(value: Any) -> Any:
    """The value as JSON would carry it: dates as ISO text, tuples as lists."""
    if isinstance(value, Mapping):
        return {key: wire_form(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_form(item) for item in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _as_dict(messages: Any) -> dict[str, Any]:
    return messages if isinstance(messages, dict) else {"_schema": messages}
