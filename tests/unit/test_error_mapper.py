"""The one error mapper: validation errors → 1213/1214 with a field path; envelopes; headers."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from openmaas.api.chat.schemas import OpenAIChatBody, ZhipuChatBody
from openmaas.api.errors import error_body, error_headers, validation_to_platform_error
from openmaas.errors import (
    InsufficientBalance,
    InvalidRequest,
    ModelNotFound,
    PlatformError,
    RateLimited,
)

HELLO = [{"role": "user", "content": "hi"}]


def mapped(schema, body) -> PlatformError:
    """Validate like FastAPI does (errors located under "body") and map the failure."""
    with pytest.raises(ValidationError) as caught:
        schema.model_validate(body)
    errors = [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]
    return validation_to_platform_error(RequestValidationError(errors))


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": HELLO}, "model"),
        ({"model": "glm-4"}, "messages"),
        ({"model": "glm-4", "messages": [{"content": "no role"}]}, "messages[0].role"),
    ],
)
def test_missing_field_is_1213_with_its_path(body, param):
    error = mapped(ZhipuChatBody, body)
    assert (error.code, error.http_status, error.param) == ("1213", 400, param)
    assert param in error.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "glm-4", "messages": HELLO, "temperature": "hot"}, "temperature"),
        ({"model": "glm-4", "messages": HELLO, "temperature": 1.5}, "temperature"),
        ({"model": "glm-4", "messages": HELLO, "max_tokens": 0}, "max_tokens"),
        ({"model": "glm-4", "messages": HELLO, "top_p": 2}, "top_p"),
        ({"model": "glm-4", "messages": HELLO, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"model": "", "messages": HELLO}, "model"),
        ({"model": "glm-4", "messages": "hi"}, "messages"),
        ({"model": "glm-4", "messages": [HELLO[0], {"role": "wizard", "content": "x"}]}, "messages[1].role"),
    ],
)
def test_invalid_field_is_1214_with_its_path(body, param):
    error = mapped(ZhipuChatBody, body)
    assert (error.code, error.http_status, error.param) == ("1214", 400, param)
    assert f"{param} 参数非法" in error.message


def test_openai_body_has_its_own_limits():
    assert (
        mapped(OpenAIChatBody, {"model": "m", "messages": HELLO, "temperature": 2.5}).param == "temperature"
    )
    OpenAIChatBody.model_validate({"model": "m", "messages": HELLO, "temperature": 2.0})
    assert mapped(OpenAIChatBody, {"model": "m", "messages": HELLO, "n": 2}).param == "n"


def test_non_object_body_is_1210():
    error = validation_to_platform_error(
        RequestValidationError(
            [{"type": "model_attributes_type", "loc": ("body",), "msg": "not an object", "input": []}]
        )
    )
    assert (error.code, error.http_status) == ("1210", 400)
    assert validation_to_platform_error(RequestValidationError([])).code == "1210"


def test_zhipu_envelope_is_code_and_message_only():
    assert error_body(ModelNotFound("x"), openai=False) == {
        "error": {"code": "1211", "message": ModelNotFound("x").message}
    }


def test_openai_envelope_adds_type_and_param():
    body = error_body(ModelNotFound("x"), openai=True)["error"]
    assert body == {
        "message": ModelNotFound("x").message,
        "type": "invalid_request_error",
        "param": "model",
        "code": "1211",
    }
    assert error_body(InsufficientBalance(), openai=True)["error"]["type"] == "insufficient_quota"
    assert error_body(PlatformError(), openai=True)["error"]["type"] == "server_error"


def test_codes_are_numeric_strings():
    for exc in (ModelNotFound("m"), InvalidRequest(), RateLimited(), InsufficientBalance(), PlatformError()):
        assert isinstance(exc.code, str) and exc.code.isdigit()


def test_rate_limit_headers_help_openai_clients():
    headers = error_headers(RateLimited(retry_after=2.4))
    assert headers == {"Retry-After": "2", "retry-after-ms": "2400"}
    assert "x-should-retry" not in headers


def test_unfixable_429_tells_the_sdk_not_to_retry():
    assert error_headers(InsufficientBalance())["x-should-retry"] == "false"
    assert error_headers(ModelNotFound("m")) == {}
