"""Every failure the platform reports, as typed exceptions carrying a Zhipu business code.

The API layer maps them to HTTP responses in one place (`api/errors.py`); services
raise them and never build HTTP objects. The tree:

    PlatformError                      code / http_status / message
    ├── AuthError                      401, codes 1000–1004
    ├── InvalidRequest                 400, 1210 (unparseable), 1213 (missing), 1214 (invalid field)
    │   ├── ModelNotFound              400, 1211
    │   ├── ModelUnsupported           400, 1212
    │   ├── PromptTooLong              400, 1261
    │   ├── UnsafeContent              400, 1301 (a chat prompt the moderator blocked)
    │   ├── DuplicateRequest           400, 1231 (request_id already charged: never twice)
    │   ├── InputTooLong               400, 1261 (one embedding input over the model's limit)
    │   ├── UnsupportedFileType        400, 1214 (param file)
    │   ├── QuotaExceeded              400, 1214 (per-account cap: keys, files, storage bytes)
    │   └── DocumentRejected           400, 1214 (a knowledge document that cannot be ingested)
    ├── FileTooLarge                   435, 1210 (over the purpose's size limit; HTTP 435 as documented)
    ├── PermissionDenied               403, 1220 (admin only)
    │   └── CsrfRejected               403, 1220 (cookie session without the X-CSRF-Token echo)
    ├── NotFound                       404, 1222-style resource lookups (ids scoped to account)
    ├── PayloadTooLarge                413, 1210
    ├── RateLimited                    429, 1302 / 1303 / 1305 (+ Retry-After)
    │   ├── SendingTooOften            429, 1303 (verification codes requested too often)
    │   ├── TooManyAttempts            429, 1303 (login/register/codes/redeem attempts, per address/target)
    │   └── UpstreamUnavailable        429, 1305 (no replica of an upstream model can serve now)
    ├── InsufficientBalance            429, 1113 (not retryable)
    ├── KeyBudgetExceeded              429, 1310 (an API key's monthly budget is spent)
    ├── ClientGone                     499 (logged only: the client is no longer there)
    └── InternalFailure                500, 500 / 1230
        ├── DeliveryFailed             500 (a code or notification could not be sent)
        └── UpstreamFailure            500, 1234 (an upstream replica failed: 5xx, broken answer)
            └── UpstreamTimeout        500, 1234 (an upstream replica did not answer in time)
"""

from __future__ import annotations

import logging

log = logging.getLogger("openmaas.errors")


class PlatformError(Exception):
    code: str = "500"
    http_status: int = 500
    default_message: str = "内部错误 (internal error)"
    retryable: bool | None = None  # None: let the client decide by status

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.message = message or self.default_message
        self.param = param
        super().__init__(self.message)


class AuthError(PlatformError):
    http_status = 401
    code = "1000"
    default_message = "身份验证失败 (authentication failed)"


class MissingCredentials(AuthError):
    code = "1001"
    default_message = "Header 中未收到 Authorization 参数，无法进行身份验证 (no Authorization header)"


class InvalidToken(AuthError):
    code = "1002"
    default_message = "Authorization Token 非法，请确认 Authorization Token 正确传递 (invalid token)"


class ExpiredToken(AuthError):
    code = "1003"
    default_message = "Authorization Token 已过期，请重新生成/获取 (token expired)"


class TokenVerificationFailed(AuthError):
    code = "1004"
    default_message = "通过 Authorization Token 的验证失败 (token verification failed)"


class InvalidRequest(PlatformError):
    http_status = 400
    code = "1210"
    default_message = "API 调用参数有误，请检查文档 (invalid request parameters)"


class MissingField(InvalidRequest):
    code = "1213"

    def __init__(self, field: str) -> None:
        super().__init__(f"未正常接收到 {field} 参数 (missing field: {field})", param=field)


class InvalidField(InvalidRequest):
    code = "1214"

    def __init__(self, field: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"{field} 参数非法。请检查文档 (invalid {field}{detail})", param=field)


class ModelNotFound(InvalidRequest):
    code = "1211"

    def __init__(self, model: str) -> None:
        super().__init__(f"模型不存在，请检查模型代码 (model does not exist: {model})", param="model")


class ModelUnsupported(InvalidRequest):
    code = "1212"

    def __init__(self, model: str, method: str) -> None:
        super().__init__(f"当前模型不支持 {method} 调用方式 ({model} does not support {method})")


class PromptTooLong(InvalidRequest):
    code = "1261"

    def __init__(self, prompt_tokens: int, context_window: int) -> None:
        # worded as OpenAI and Anthropic word it: LangChain and pydantic-ai tell a context
        # overflow (which their agents handle by trimming history) by these phrases
        super().__init__(
            f"Prompt 超长 (prompt is too long: {prompt_tokens} tokens > {context_window}, "
            "the model's maximum context length)",
            param="messages",
        )


class UnsafeContent(InvalidRequest):
    code = "1301"
    default_message = (
        "系统检测到输入或生成内容可能包含不安全或敏感内容，"
        "请您避免输入易产生敏感内容的提示语，感谢您的配合 (unsafe or sensitive content)"
    )


class DuplicateRequest(InvalidRequest):
    code = "1231"

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"您已有请求：{request_id} (request_id already used: {request_id})", param="request_id"
        )


class InputTooLong(InvalidRequest):
    code = "1261"

    def __init__(self, index: int, tokens: int, limit: int) -> None:
        super().__init__(
            f"input[{index}] 超长 (input[{index}] has {tokens} tokens; the model takes at most {limit})",
            param="input",
        )


class UnsupportedFileType(InvalidRequest):
    code = "1214"

    def __init__(self, filename: str, allowed: str) -> None:
        super().__init__(
            f"文件格式不支持 (unsupported file type: {filename!r}; allowed: {allowed})", param="file"
        )


class DocumentRejected(InvalidRequest):
    """A knowledge document that cannot be ingested; `reason_code` is its failInfo code."""

    code = "1214"

    def __init__(self, message: str, reason_code: int = 10003) -> None:
        super().__init__(message, param="file")
        self.reason_code = reason_code


class QuotaExceeded(InvalidRequest):
    """A per-account cap (API keys, stored files, storage bytes) is reached; not retryable."""

    code = "1214"
    retryable = False

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"已达到数量或容量上限 ({what} quota exceeded: {detail})", param=what)


class FileTooLarge(PlatformError):
    http_status = 435
    code = "1210"
    retryable = False

    def __init__(self, limit: int, purpose: str) -> None:
        super().__init__(
            f"文件大小超出限制 (file larger than {limit} bytes, the limit for purpose {purpose!r})",
            param="file",
        )


class NotFound(PlatformError):
    http_status = 404
    code = "1222"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} 不存在 ({what} not found)")


class PayloadTooLarge(PlatformError):
    http_status = 413
    code = "1210"

    def __init__(self, limit: int) -> None:
        super().__init__(f"请求体过大 (request body exceeds {limit} bytes)")


class RateLimited(PlatformError):
    http_status = 429
    code = "1302"
    default_message = "您当前使用该 API 的并发数过高，请降低并发 (too many concurrent requests)"

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InsufficientBalance(PlatformError):
    http_status = 429
    code = "1113"
    default_message = "您的账户已欠费，请充值后重试 (insufficient balance)"
    retryable = False


class KeyBudgetExceeded(PlatformError):
    """The API key spent its monthly budget (the account may still have money)."""

    http_status = 429
    code = "1310"
    default_message = "该 API Key 已达到本月预算上限 (this API key reached its monthly budget)"
    retryable = False


class ClientGone(PlatformError):
    """The client disconnected before the answer was ready (nginx's 499); nobody reads it."""

    http_status = 499
    code = "1234"
    default_message = "client closed the request"


class InternalFailure(PlatformError):
    code = "500"
    http_status = 500


class PermissionDenied(PlatformError):
    http_status = 403
    code = "1220"
    default_message = "您无权访问该 API (no permission: administrators only)"


class CsrfRejected(PermissionDenied):
    default_message = (
        "CSRF 校验失败 (CSRF check failed: echo the openmaas_csrf cookie in the X-CSRF-Token header)"
    )


class SendingTooOften(RateLimited):
    code = "1303"
    default_message = "验证码发送过于频繁，请稍后再试 (verification codes requested too often)"


class TooManyAttempts(RateLimited):
    """Login, registration, code or redeem attempts over the per-address/per-target limit."""

    code = "1303"
    default_message = "请求过于频繁，请稍后再试 (too many attempts: wait and try again)"


class DeliveryFailed(InternalFailure):
    default_message = "消息发送失败，请稍后重试 (the message could not be delivered; try again later)"


class UpstreamUnavailable(RateLimited):
    """No replica of an upstream-served model can take the request (all down or overloaded)."""

    code = "1305"

    def __init__(self, model: str, detail: str, *, retry_after: float = 1.0) -> None:
        # the detail names internal replica URLs: the log gets it, the caller does not
        log.warning("no upstream replica of %s is available: %s", model, detail)
        self.detail = detail
        super().__init__(
            f"该模型当前访问量过大，请您稍后再试 (no upstream replica of {model} is "
            "available; try again later)",
            retry_after=retry_after,
        )


class UpstreamFailure(InternalFailure):
    code = "1234"
    what = "failed"

    def __init__(self, model: str, detail: str) -> None:
        # the detail names internal replica URLs: the log gets it, the caller does not
        log.warning("upstream of %s %s: %s", model, self.what, detail)
        self.detail = detail
        super().__init__(f"网络错误 (upstream of {model} {self.what})")


class UpstreamTimeout(UpstreamFailure):
    what = "timed out"
