"""The API against its own OpenAPI schema: schemathesis, in process, every operation, every role.

Schemathesis generates requests from ``/openapi.json`` (valid ones and, in its coverage phase,
invalid ones and undeclared methods) and sends each with a token of every role to a fresh app on
the test database, through its ASGI transport (which runs the app's lifespan in its own event loop).
Every answer must be: no 5xx, a status the operation documents, a declared content type, a body
that matches the documented schema, and every error in the one ``{code, message, details}`` shape.
The flight routes answer 503 ``link_not_connected`` for these unlinked drones: documented, not
excluded. Generation is derandomized and small per operation so the run stays in seconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.auth import Role
from app.config import Settings
from app.main import create_app
from app.services import tokens
from tests.conftest import auth
from tests.dbtools import private_database


class ErrorShapeViolation(AssertionError):
    pass


@schemathesis.check
def one_error_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx/5xx body is exactly {code: str, message: str, details: any}."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise ErrorShapeViolation(
            f"{response.status_code} body is not JSON: {response.content[:200]!r}"
        ) from None
    if not (
        isinstance(body, dict)
        and set(body) == {"code", "message", "details"}
        and isinstance(body["code"], str)
        and isinstance(body["message"], str)
    ):
        raise ErrorShapeViolation(f"{response.status_code} body is not the error shape: {body!r}")
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    one_error_shape,
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fresh_dsn(server_dsn: str) -> AsyncIterator[str]:
    """A database of its own: generated requests revoke tokens and delete rows at random."""
    async with private_database(server_dsn, "aerogrid_schemathesis") as db:
        yield db.dsn


@pytest.fixture(scope="module")
def fresh_app(fresh_dsn: str) -> Iterator[FastAPI]:
    """An app on that database; schemathesis starts its lifespan (migrations included), this stops it.

    The failed-login limiter is off: schemathesis sends requests without a token on purpose, and
    the 429s that would follow would hide the rest of each operation's answers.
    """
    settings = Settings(database_url=fresh_dsn, pool_min_size=1, pool_max_size=4, auth_fail_burst=0)
    yield create_app(settings)
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def api_schema(fresh_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fresh_app)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fresh_tokens(api_schema: schemathesis.BaseSchema, fresh_dsn: str) -> dict[str, str]:
    """One district-wide token per role in that database (migrated once the schema was loaded)."""
    conn = await asyncpg.connect(fresh_dsn)
    try:
        created = [
            await tokens.create(conn, name=f"fuzz {role}", role=role, communities=None, created_by=None)
            for role in Role
        ]
    finally:
        await conn.close()
    return {role.value: token for role, (token, _) in zip(Role, created, strict=True)}


EXAMPLES_PER_OPERATION = 6


def _run_operation(operation: Any, mode: GenerationMode, role_tokens: list[str], client: Any) -> None:
    """Generated cases of one operation in one mode, each sent with every role's token; a 201's
    ``Location`` must read the new resource back."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        for token in role_tokens:
            response = case.call(headers=auth(token))
            case.validate_response(response, checks=CHECKS)
            if response.status_code == 201:
                location = response.headers.get("location", [""])[0]
                read = client.get(location, headers=auth(token))
                assert read.status_code == 200, f"201 Location {location!r} reads back {read.status_code}"

    run()


def test_every_operation_conforms_to_the_schema_for_every_role(
    api_schema: schemathesis.BaseSchema, fresh_app: FastAPI, fresh_tokens: dict[str, str]
) -> None:
    role_tokens = [fresh_tokens[role] for role in sorted(fresh_tokens)]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 33
    # Revoking tokens last: generated ids are small, and these tokens have ids 1..4.
    operations.sort(key=lambda op: op.label == "DELETE /tokens/{token_id}")
    failures = []
    with asgi.get_client(fresh_app) as client:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _run_operation(operation, mode, role_tokens, client)
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE, operation.label  # nothing there to make invalid
                except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures
                    failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)


HTTP_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def test_every_undeclared_method_is_405_with_allow_listing_the_declared_ones(
    api_schema: schemathesis.BaseSchema, fresh_app: FastAPI
) -> None:
    """Routing answers 405 before any token is looked at, so no token is sent."""
    paths: dict[str, dict[str, Any]] = api_schema.raw_schema["paths"]
    tried = 0
    with asgi.get_client(fresh_app) as client:
        for template, item in paths.items():
            declared = {m.upper() for m in item if m.upper() in HTTP_METHODS}
            url = re.sub(r"\{[a-z_]+_id\}", "1", template).replace("{action}", "arm").replace("{code}", "G1")
            for method in sorted(set(HTTP_METHODS) - declared):
                r = client.request(method, url)
                assert r.status_code == 405, (method, url, r.text)
                assert r.json() == {
                    "code": "method_not_allowed",
                    "message": "Method Not Allowed",
                    "details": None,
                }
                assert set(r.headers["Allow"].split(", ")) == declared, (method, url, r.headers["Allow"])
                tried += 1
    assert tried >= 100
