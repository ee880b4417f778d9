"""The agent's API as an OpenAPI 3.1 document, generated from the wire messages (`agent.protocol`).

The schemas come from the Structs themselves (`msgspec.json.schema_components`); what the Structs
cannot say (paths, methods, status codes, media types) is the table `OPERATIONS` below. Served at
GET /v1/openapi.json behind the same bearer token as every other route (it is harmless, but one rule
for every route is simpler to reason about than an exception; the bots hold the token anyway).
tests/agent/service/test_openapi.py checks the table against the routes the app really registers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import msgspec

from agent.protocol import (
    API_PREFIX,
    MESSAGES,
    DeriveQuote,
    DeriveRequest,
    EditRequest,
    ErrorBody,
    Event,
    GrantRequest,
    Job,
    Quota,
    Status,
    SubmitRequest,
)

__all__ = ["Operation", "OPERATIONS", "openapi_document", "REF"]

REF = "#/components/schemas/{name}"
JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI template: /v1/jobs/{job_id}
    summary: str
    request: type | None = None
    responses: dict[int, type | str] = field(default_factory=dict)  # status -> message type, or a media type
    stream: type | None = None  # a 200 text/event-stream of this message


_ERRORS_JOB = {404: ErrorBody}
OPERATIONS: tuple[Operation, ...] = (
    Operation("post", f"{API_PREFIX}/jobs", "Submit a job (idempotent on request_id); with review, it waits after "
              "its script; with parent_job_id and changes, it is made from that job's files", SubmitRequest,
              {202: Job, 400: ErrorBody, 409: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody}),
    Operation("get", f"{API_PREFIX}/jobs/{{job_id}}", "A job's state", None, {200: Job, **_ERRORS_JOB}),
    Operation("delete", f"{API_PREFIX}/jobs/{{job_id}}", "Cancel a job", None,
              {202: Job, 404: ErrorBody, 409: ErrorBody}),
    Operation("post", f"{API_PREFIX}/jobs/{{job_id}}/quote", "What a job derived from this one with these changes "
              "would cost (submit it with parent_job_id and the same changes)", DeriveRequest,
              {200: DeriveQuote, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody}),
    Operation("post", f"{API_PREFIX}/jobs/{{job_id}}/approve", "Render a job whose script is in review "
              "(status review)", None, {202: Job, 404: ErrorBody, 409: ErrorBody}),
    Operation("post", f"{API_PREFIX}/jobs/{{job_id}}/rewrite", "Write a new script for a job in review", None,
              {202: Job, 404: ErrorBody, 409: ErrorBody}),
    Operation("post", f"{API_PREFIX}/jobs/{{job_id}}/edit", "Replace the narrations of a job in review",
              EditRequest, {200: Job, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody}),
    Operation("get", f"{API_PREFIX}/jobs/{{job_id}}/events", "The job's events (SSE; id = seq; Last-Event-ID "
              "resumes)", None, {400: ErrorBody, 404: ErrorBody}, stream=Event),
    Operation("get", f"{API_PREFIX}/jobs/{{job_id}}/video", "The video (Range requests)", None,
              {200: "video/mp4", 206: "video/mp4", 404: ErrorBody, 409: ErrorBody, 416: ErrorBody}),
    Operation("get", f"{API_PREFIX}/status", "Backends, queue, storage", None, {200: Status}),
    Operation("get", f"{API_PREFIX}/users/{{platform}}/{{user_id}}/quota", "A user's credits and the prices",
              None, {200: Quota, 404: ErrorBody}),
    Operation("post", f"{API_PREFIX}/users/{{platform}}/{{user_id}}/credits", "Grant credits (admin)",
              GrantRequest, {200: Quota, 400: ErrorBody, 404: ErrorBody}),
    Operation("get", f"{API_PREFIX}/openapi.json", "This document", None, {200: JSON}),
)


def _content(kind: type | str, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    if isinstance(kind, str):
        schema: dict[str, Any] = {"type": "string", "format": "binary"} if kind != JSON else {"type": "object"}
        return {kind: {"schema": schema}}
    return {JSON: {"schema": refs[kind]}}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once: it depends only on the code)."""
    kinds = MESSAGES
    schemas, components = msgspec.json.schema_components(kinds, ref_template=REF)
    refs = dict(zip(kinds, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {}
        for status, kind in op.responses.items():
            responses[str(status)] = {"description": "error" if kind is ErrorBody else "ok",
                                      "content": _content(kind, refs)}
        if op.stream is not None:
            responses["200"] = {"description": f"text/event-stream; every `data:` is one {op.stream.__name__}",
                                "content": {"text/event-stream": {"schema": refs[op.stream]}}}
        entry: dict[str, Any] = {"summary": op.summary, "responses": responses,
                                 "security": [{"bearer": []}]}
        params = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
        if params:
            entry["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                   for p in params]
        if op.request is not None:
            entry["requestBody"] = {"required": True, "content": {JSON: {"schema": refs[op.request]}}}
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "reelbot agent", "version": "1"},
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
