"""OpenAPI documents for a service's HTTP API, from its marshmallow schemas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "example": "validation_failed"},
        "message": {"type": "string"},
        "fields": {"type": "object", "description": "problems by field"},
    },
}

COMMAND_ID_HEADER = {
    "in": "header", "name": "X-Command-Id", "required": False,
    "schema": {"type": "string", "maxLength": 64},
    "description": "Idempotency key: sent again with the same command and body, the first "
                   "answer comes back (header Idempotent-Replayed: true) and nothing is done "
                   "twice; with another command or body, 409 command_id_reused.",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI style: /members/units/{unit_id}
    summary: str
    body: Any = None  # a marshmallow Schema class for the JSON body
    query: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (name, description)
    status: int = 200


def document(title: str, version: str, routes: Sequence[Route]) -> dict[str, Any]:
    spec = APISpec(title=title, version=version, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()])
    spec.components.schema("Error", ERROR)
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "parameters": [
                {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                for name in _path_names(route.path)] + [
                {"in": "query", "name": name, "description": text, "required": False,
                 "schema": {"type": "string"}} for name, text in route.query],
            "responses": {
                str(route.status): {"description": "done",
                                    "content": {"application/json": {"schema": {
                                        "type": "object"}}}},
                "404": _error("not found"),
                "409": _error("refused by a rule, changed concurrently, or an X-Command-Id "
                              "already used for another command or body "
                              "(command_id_reused)"),
                "422": _error("invalid input, field by field; nothing was written"),
            },
        }
        if route.body is not None:
            name = route.body.__name__
            if name not in spec.components.schemas:
                spec.components.schema(name, schema=route.body)
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}
            operation["parameters"].append(COMMAND_ID_HEADER)
        spec.path(path=route.path, operations={route.method.lower(): operation})
    return spec.to_dict()


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
