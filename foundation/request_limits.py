"""Limits on what a request may carry, checked before the body is read: a size per path
prefix (413 before a byte of an oversized body is parsed), and JSON bodies of bounded depth.

Twilio's webhooks are a few hundred bytes to 2 kB of form fields; the JSON APIs take one small
object. Anything much larger is an attack or a mistake, and reading it whole first is how one
unsigned 100 MB body costs 300 MB of memory.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import LengthRequired, RequestEntityTooLarge
from werkzeug.wrappers import Request

WEBHOOK_MAX_BYTES = 8 * 1024
API_MAX_BYTES = 16 * 1024
DEFAULT_MAX_BYTES = 64 * 1024  # any other route
JSON_MAX_DEPTH = 8  # a session or billing request is one flat object with small lists
MAX_FORM_PARTS = 200  # fields in one form body

_LIMITS = "body_limits"


def limit_bodies(app: Flask, prefix: str, max_bytes: int) -> None:
    """Bodies for paths under `prefix` may have at most `max_bytes` (longest prefix wins); the
    first call also sets the app's default for every other path."""
    limits: dict[str, int] | None = app.extensions.get(_LIMITS)
    if limits is None:
        limits = app.extensions[_LIMITS] = {}
        app.config["MAX_CONTENT_LENGTH"] = DEFAULT_MAX_BYTES
        app.config["MAX_FORM_PARTS"] = MAX_FORM_PARTS
        app.before_request(_apply)
    limits[prefix.rstrip("/")] = max_bytes


def _apply() -> None:
    from flask import current_app

    limits: dict[str, int] = current_app.extensions[_LIMITS]
    path = request.path
    best = ""
    for prefix in limits:
        if (path == prefix or path.startswith(prefix + "/")) and len(prefix) > len(best):
            best = prefix
    if best:
        request.max_content_length = limits[best]
        request.max_form_memory_size = limits[best]
    refuse_unbounded(request, best or "this path")


def refuse_unbounded(request: Request, where: str) -> None:
    """Raise 411 for a body of unknown length and 413 for one over the request's
    `max_content_length` (`where` names the path the limit is for)."""
    limit = request.max_content_length
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        # A body of unknown length would be cut at the limit without a word: refuse it.
        raise LengthRequired("send Content-Length (chunked bodies are not accepted)")
    if (
        request.content_length is not None
        and limit is not None
        and (request.content_length > limit)
    ):
        raise RequestEntityTooLarge(f"at most {limit} bytes for {where}")


class BodyProblem(ValueError):
    """The body is not one JSON object within the limits; the message says why."""


def json_object(max_depth: int = JSON_MAX_DEPTH) -> dict[str, Any]:
    """The request's JSON body as a dict. Raises BodyProblem for anything else: not JSON, not
    an object, or nested deeper than `max_depth` (checked without recursion)."""
    if not request.is_json:
        raise BodyProblem("expected a JSON object (Content-Type: application/json)")
    raw = request.get_data(cache=True)  # bounded by the size limit above
    try:
        body = json.loads(raw or b"null", parse_constant=_no_constant)
    except RecursionError:
        raise BodyProblem(f"JSON nested more than {max_depth} levels deep") from None
    except (ValueError, UnicodeDecodeError):
        raise BodyProblem("expected a JSON object (Content-Type: application/json)") from None
    if not isinstance(body, dict):
        raise BodyProblem("expected a JSON object (Content-Type: application/json)")
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise BodyProblem(f"JSON nested more than {max_depth} levels deep")
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
