"""Stop work whose client has gone: a request handler's long await raced against the disconnect.

Uvicorn does not cancel a handler when its client disconnects; a plan abandoned after 3 s would
run to the end and hold its worker. ``unless_disconnected`` waits for the ASGI
``http.disconnect`` message beside the work and cancels the work when it comes first. It is for
handlers that have read their whole body (FastAPI has, for a JSON body): the next ``receive``
then only ever returns the disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import Request

from app.errors import DomainError

T = TypeVar("T")


class ClientGone(DomainError):
    """The client closed the connection before the answer; nobody reads this response."""

    code = "client_closed_request"
    http_status = 499


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
        await asyncio.sleep(0.1)  # a server that answers with empty body messages is polled, not spun on


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """The result of ``work``, or ``ClientGone`` once ``work`` is cancelled because the client left."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():  # the client left (or this handler was cancelled): stop the work
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watch
    if task.cancelled():
        raise ClientGone("the client closed the connection; the work was cancelled")
    return task.result()
