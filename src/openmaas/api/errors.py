"""The one error mapper: typed exceptions → the envelope of the surface that was called.

Zhipu surface: `{"error": {"code": "<digits>", "message": ...}}`.
OpenAI surface (`/v1/...`): `{"error": {"message", "type", "param", "code"}}`.
Anthropic surface (`/v1/messages...`): `{"type": "error", "error": {"type", "message"}}`.
Nothing ever leaves as a bare 500 with a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openmaas.api.responses import JSONBody
from openmaas.errors import (
    InternalFailure,
    InvalidField,
    InvalidRequest,
    MissingField,
    ModelNotFound,
    NotFound,
    PlatformError,
)

log = logging.getLogger(__name__)

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def is_openai_path(path: str) -> bool:
    return path.startswith("/v1/") or path == "/v1"


ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def is_anthropic_path(path: str) -> bool:
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def anthropic_error_body(exc: PlatformError) -> dict[str, Any]:
    kind = "billing_error" if exc.code == "1113" else ANTHROPIC_TYPES.get(exc.http_status, "api_error")
    if isinstance(exc, ModelNotFound):
        kind = "not_found_error"
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


def error_body(exc: PlatformError, openai: bool) -> dict[str, Any]:
    if not openai:
        return {"error": {"code": exc.code, "message": exc.message}}
    kind = "insufficient_quota" if exc.code == "1113" else OPENAI_TYPES.get(exc.http_status, "server_error")
    if isinstance(exc, ModelNotFound):
        kind = "invalid_request_error"  # OpenAI's own type for its 404 model_not_found
    return {"error": {"message": exc.message, "type": kind, "param": exc.param, "code": exc.code}}


def surface_status(exc: PlatformError, path: str) -> int:
    """The Zhipu API answers an unknown model 400 (1211); OpenAI and Anthropic answer 404, and
    their SDKs (and the agents built on them) raise their not-found errors only for a 404."""
    if isinstance(exc, ModelNotFound) and is_openai_path(path):
        return 404
    return exc.http_status


def error_headers(exc: PlatformError) -> dict[str, str]:
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
        headers["retry-after-ms"] = str(int(retry_after * 1000))
    if exc.retryable is False:
        headers["x-should-retry"] = "false"
    return headers


def error_response(request: Request, exc: PlatformError) -> JSONBody:
    path = request.url.path
    body = anthropic_error_body(exc) if is_anthropic_path(path) else error_body(exc, is_openai_path(path))
    return JSONBody(body, status_code=surface_status(exc, path), headers=error_headers(exc))


def validation_to_platform_error(exc: RequestValidationError) -> PlatformError:
    errors = exc.errors()
    if not errors:
        return InvalidRequest()
    first = errors[0]
    if first.get("type") in ("json_invalid", "model_attributes_type") and len(first["loc"]) <= 1:
        return InvalidRequest("请求体不是合法的 JSON 对象 (request body is not a valid JSON object)")
    field = _field_path(first.get("loc", ()))
    if first.get("type") == "missing":
        return MissingField(field)
    return InvalidField(field, first.get("msg", ""))


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def install_error_handlers(app: FastAPI) -> None:
    async def on_platform_error(request: Request, exc: PlatformError) -> JSONBody:
        return error_response(request, exc)

    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONBody:
        return error_response(request, validation_to_platform_error(exc))

    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONBody:
        if exc.status_code == 404:
            mapped: PlatformError = NotFound(f"API {request.url.path}")
        else:
            mapped = InvalidRequest(str(exc.detail))
            mapped.http_status = exc.status_code
        return error_response(request, mapped)

    async def on_unexpected(request: Request, exc: Exception) -> JSONBody:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, InternalFailure())

    # Starlette types a handler as taking any Exception; each of these is registered (and
    # so only called) for its own class
    app.add_exception_handler(PlatformError, on_platform_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)
