"""The OpenAPI 3.1 document of the JSON API, generated from ``rest.ENDPOINTS`` and the pydantic
models they name (``apimodels``): nothing here is written by hand but the frame."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from directord import __version__

if TYPE_CHECKING:
    from directord.web.apikit import Endpoint

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{(\w+)}")


def document(
    endpoints: list[Endpoint], common: dict[int, type[BaseModel] | None]
) -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for ep in endpoints:
        models.update(m for m in ep.responses.values() if m is not None)
        models.update(m for m in common.values() if m is not None)
        if ep.body is not None:
            models.add(ep.body)
    ordered = sorted(models, key=lambda m: m.__name__)
    # Request bodies are validated as input, responses are what we serialize.
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in ordered]
    pairs += [(m, "serialization") for m in ordered]
    keyed, defs = models_json_schema(pairs, ref_template=REF, by_alias=True)
    schemas = dict(defs.get("$defs", {}))

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(keyed[(model, mode)])  # type: ignore[index]

    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": ep.handler.__name__,
            "tags": list(ep.tags),
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PARAM.findall(ep.path)
            ]
            + [
                {
                    "name": q.name,
                    "in": "query",
                    "required": False,
                    "schema": q.schema,
                    "description": q.description,
                }
                for q in ep.query
            ],
            "responses": {},
            "security": [{"bearer": []}, {"session": []}],
        }
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(ep.body, "validation")}},
            }
        for status, model in {**common, **ep.responses}.items():
            response: dict[str, Any] = {"description": _describe(status)}
            if model is not None:
                response["content"] = {"application/json": {"schema": ref(model, "serialization")}}
            op["responses"][str(status)] = response
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "directord",
            "version": __version__,
            "description": "Jobs, runs, time periods, kinds and deployments of a directord daemon.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "http.token_file"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "directord_session",
                    "description": "a logged-in session; writes also need X-CSRF-Token",
                },
            },
        },
    }


def _describe(status: int) -> str:
    return {
        200: "OK",
        201: "Created",
        202: "Accepted",
        204: "No content",
        400: "Bad request",
        401: "Not authenticated",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        421: "Misdirected request (Host not served here)",
        422: "Invalid: every bad field",
        500: "Internal error (with a request id; never a traceback)",
    }.get(status, str(status))
