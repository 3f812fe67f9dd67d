"""The Zhipu JWT (reference §2): HS256 signed with the key's secret, `exp` in milliseconds.

PyJWT would read `exp` as seconds (far in the future), so its expiry check is disabled
and the millisecond check is done here. `alg: none` and every other algorithm are refused.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import jwt

from openmaas.errors import ExpiredToken, InvalidToken, TokenVerificationFailed

CLOCK_SKEW_MS = 5_000
DEFAULT_MAX_LIFETIME_MS = 24 * 3600 * 1000  # `exp` further ahead than this is refused


@dataclass(frozen=True)
class UnverifiedClaims:
    key_id: str


def read_key_id(token: str) -> UnverifiedClaims:
    """The `api_key` claim, read before the signature can be checked (it picks the secret)."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    if header.get("alg") != "HS256":
        raise InvalidToken("Authorization Token 非法: only HS256 tokens are accepted")
    key_id = claims.get("api_key")
    if not isinstance(key_id, str) or not key_id:
        raise InvalidToken("Authorization Token 非法: missing api_key claim")
    return UnverifiedClaims(key_id=key_id)


def verify(
    token: str, secret: str, now_ms: int | None = None, max_lifetime_ms: float = DEFAULT_MAX_LIFETIME_MS
) -> None:
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenVerificationFailed() from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidToken("Authorization Token 非法: missing exp claim")
    if not math.isfinite(exp):  # NaN/Infinity (json.loads reads them) would never expire
        raise InvalidToken("Authorization Token 非法: exp must be a finite number of milliseconds")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if exp + CLOCK_SKEW_MS < now:
        raise ExpiredToken()
    if exp > now + max_lifetime_ms + CLOCK_SKEW_MS:
        raise InvalidToken(
            f"Authorization Token 非法: exp is more than {max_lifetime_ms // 1000:.0f} "
            "seconds ahead (issue short-lived tokens)"
        )
