"""The route class of every API router: what a large JSON body costs the event loop.

FastAPI parses a JSON body with `json.loads` on the event loop before validating it. A
parse holds the GIL for as long as it runs (a thread does not shorten that), and its cost
is the objects it builds: a near-limit body of 100 000 tiny messages took ~30 ms of CPU
(~70 ms on a busy machine) during which every other request waited. So, for bodies of
`LARGE_BODY_BYTES` or more:

- a body that cannot be valid because it holds more than `MAX_JSON_CONTAINERS` objects and
  arrays is refused (400, 1214) before anything is parsed. The count is a byte count of `{`
  and `[` (~1 ms for 8 MiB); braces inside strings count too, so the bound only errs on the
  side of a body of tens of thousands of literal braces, and names the limit when it does;
- the rest are parsed in a worker thread (the loop is free while the body is read, and
  between the parse and the validation). orjson was measured no faster on such bodies
  (object creation dominates) and reads integers past 64 bits as floats, so `json.loads`
  it stays: every body parses exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from openmaas.concurrency import run_in_threadpool
from openmaas.errors import ClientGone, InvalidField

LARGE_BODY_BYTES = 64 * 1024
# Objects and arrays one JSON body may hold. The largest valid bodies hold far fewer: a chat
# request's 4096 messages with their parts and tool calls, 128 tool schemas, an embeddings
# batch of token arrays.
MAX_JSON_CONTAINERS = 65_536


class TooManyJsonContainers(InvalidField):
    def __init__(self, count: int) -> None:
        super().__init__(
            "body",
            f"at most {MAX_JSON_CONTAINERS} JSON objects and arrays "
            f"(counting '{{' and '[' characters, strings included: {count})",
        )


class OffLoopJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) < LARGE_BODY_BYTES:
                self._json = json.loads(body)
            else:
                self._json = await run_in_threadpool(json.loads, body)
        return self._json


def check_structure(body: bytes) -> None:
    """TooManyJsonContainers for a large body that holds too many objects and arrays."""
    if len(body) < LARGE_BODY_BYTES:
        return
    count = body.count(b"{") + body.count(b"[")
    if count > MAX_JSON_CONTAINERS:
        raise TooManyJsonContainers(count)


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class OffLoopJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def off_loop_json(request: Request) -> Response:
            request = OffLoopJSONRequest(request.scope, request.receive)
            if _is_json(request):  # (an upload is not read here: it streams to its handler)
                try:
                    check_structure(await request.body())
                except ClientDisconnect:
                    raise ClientGone() from None
            return await handler(request)

        return off_loop_json
