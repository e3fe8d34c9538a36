"""One guard between the network and PostgreSQL for every route: text and numbers it can store.

PostgreSQL cannot store a NUL character (U+0000) in ``text`` or ``jsonb``, asyncpg cannot encode a
lone UTF-16 surrogate, and ``bigint`` ends at 2**63 - 1. Each of these used to surface as a 500
from whichever query met it first. Other C0 control characters (and DEL) can be stored, but no
name, code or note needs them and they rewrite terminals and log lines that show them, so they are
refused too; tab, line feed and carriage return stay allowed. ``CheckedRoute`` (every router's ``route_class``) therefore
checks every path and query parameter and decodes every JSON body itself, before the route's own
validation runs, and answers 422 ``validation_failed`` naming the field. Decoding the body here also
gives every malformed body (bad UTF-8, bad JSON, nesting too deep) the same 422, instead of
FastAPI's 400 for some of them.
"""

from __future__ import annotations

import email.message
import json
import re
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator

from app.errors import ValidationFailed

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_JSON_DEPTH = 64
"""Deepest nesting accepted in a body; GeoJSON needs about 8 (collection, feature, rings, points)."""

MAX_PROBLEMS = 20

EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)

_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _printable(text: str) -> str:
    """The text with refused characters escaped, so a field name is safe to put in an error body."""
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def text_problem(text: str) -> str | None:
    """Why this string is refused (PostgreSQL cannot store it, or it holds a control character)."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = ord(found.group())
    if char == 0:
        return "contains a NUL character (U+0000), which cannot be stored"
    if char < 0xD800:
        return f"contains a control character (U+{char:04X}), which is not accepted"
    return f"contains a lone UTF-16 surrogate (U+{char:04X}), which is not valid Unicode"


def _only_floats(items: list[Any]) -> bool:
    """Floats, or lists of floats (GeoJSON positions and rings): nothing in them to check.

    The fast path for the bulk of an import; the types are gathered in C, not item by item.
    """
    kinds = set(map(type, items))
    if kinds <= {float}:
        return True
    return kinds == {list} and all(set(map(type, sub)) <= {float} for sub in items)


def _walk(value: Any, field: str) -> Iterator[tuple[str, str]]:
    """(field, problem) for every unstorable string or out-of-range integer, keys included."""
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:  # named at the root, as when the decoder itself gives up
            yield field, f"nested deeper than {MAX_JSON_DEPTH} levels"
            return
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                yield path, problem
        elif isinstance(item, bool | float) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                yield path, "integer out of range (beyond a signed 64-bit integer)"
        elif isinstance(item, dict):
            for key, sub in reversed(item.items()):
                sub_path = f"{path}.{_printable(key)}"
                problem = text_problem(key)
                if problem is not None:
                    yield sub_path, f"member name {problem}"
                stack.append((sub, sub_path, depth + 1))
        elif isinstance(item, list):
            if depth < MAX_JSON_DEPTH and _only_floats(item):
                continue
            stack.extend((sub, f"{path}.{i}", depth + 1) for i, sub in reversed(list(enumerate(item))))


def utc_instant(value: datetime) -> datetime:
    """The instant in UTC (naive means UTC), between 1970 and 9000.

    Python's datetime ends at years 1 and 9999, so 0001-01-01T00:00+14:00 cannot even be converted
    to UTC, and a default range reaching back from year 1 overflows: both were 500s. Within these
    bounds every later step (a default range, PostgreSQL's timestamptz) holds the value.
    """
    problem = f"must be from {EARLIEST_INSTANT.date()} to before {LATEST_INSTANT.date()} (UTC)"
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError(problem) from None
    if not EARLIEST_INSTANT <= utc < LATEST_INSTANT:
        raise ValueError(problem)
    return utc


UtcInstant = Annotated[datetime, AfterValidator(utc_instant)]
"""A datetime query parameter or field: 422 naming it when out of range, never an overflow."""


def _reject(problems: list[tuple[str, str]]) -> ValidationFailed:
    field, problem = problems[0]
    message = f"{field}: {problem}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return ValidationFailed(message, details=[{"field": f, "problem": p} for f, p in problems])


def check_value(value: Any, field: str) -> None:
    """Raise 422 listing (up to MAX_PROBLEMS) the places PostgreSQL could not store."""
    problems = []
    for found in _walk(value, field):
        problems.append(found)
        if len(problems) == MAX_PROBLEMS:
            break
    if problems:
        raise _reject(problems)


def decode_json_body(raw: bytes) -> Any:
    """The body as UTF-8 JSON (RFC 8259), checked by ``check_value``; else 422.

    NaN and Infinity are let through as Python's json reads them: the route's own validation
    rejects them with a more precise field (a GeoJSON feature's index, a model's bound).
    """

    def fail(problem: str) -> ValidationFailed:
        return ValidationFailed(f"body: {problem}", details=[{"field": "body", "problem": problem}])

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise fail(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # Python refuses to read integers this long (a denial-of-service guard)
        raise fail(f"a number with more than {sys.get_int_max_str_digits()} digits") from None
    check_value(value, "body")
    return value


def _is_json(request: Request) -> bool:
    """FastAPI's own rule: no content type, application/json or application/*+json."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def check_parameters(request: Request) -> None:
    """Path and query parameters (names and values) that PostgreSQL could not store: 422."""
    problems: list[tuple[str, str]] = []
    for name, value in request.path_params.items():
        problem = text_problem(str(value))
        if problem is not None:
            problems.append((f"path.{name}", problem))
    for name, value in request.query_params.multi_items():
        field = f"query.{_printable(name)}"
        problem = text_problem(name) or text_problem(value)
        if problem is not None:
            problems.append((field, problem))
    if problems:
        raise _reject(problems[:MAX_PROBLEMS])


class _DecodedRequest(Request):
    """The request with its body already read and its JSON decoded by ``decode_json_body``."""

    def __init__(self, request: Request, body: bytes, decoded: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._body = body
        self._json = decoded


class CheckedRoute(APIRoute):
    """An APIRoute whose inputs pass ``check_parameters`` and ``decode_json_body`` first."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def checked(request: Request) -> Response:
            check_parameters(request)
            if takes_body and _is_json(request):
                body = await request.body()
                if body:
                    request = _DecodedRequest(request, body, decode_json_body(body))
            return await handler(request)

        return checked
