"""The Zhipu JWT (reference §2): HS256 with the key's secret, `exp` in MILLISECONDS."""

from __future__ import annotations

import time

import jwt
import pytest
from zhipuai.core._jwt_token import generate_token

from openmaas.auth import zhipu_jwt
from openmaas.errors import ExpiredToken, InvalidToken, TokenVerificationFailed

KEY_ID, SECRET = "3f2a9c0e5b7d4e1fa0c2b4d6e8f01234", "s3cr3t-value-of-the-key"
NOW_MS = 1_750_000_000_000


def token(
    payload: dict | None = None, secret: str | None = SECRET, algorithm: str = "HS256", **claims
) -> str:
    body = {"api_key": KEY_ID, "exp": NOW_MS + 210_000, "timestamp": NOW_MS} | claims
    if payload is not None:
        body = payload
    return jwt.encode(body, secret, algorithm=algorithm, headers={"alg": algorithm, "sign_type": "SIGN"})


def test_a_valid_token_verifies_and_names_its_key():
    signed = token()
    assert zhipu_jwt.read_key_id(signed).key_id == KEY_ID
    zhipu_jwt.verify(signed, SECRET, now_ms=NOW_MS)


def test_the_sdk_generated_token_verifies():
    signed = generate_token(f"{KEY_ID}.{SECRET}")
    assert zhipu_jwt.read_key_id(signed).key_id == KEY_ID
    assert jwt.get_unverified_header(signed)["sign_type"] == "SIGN"
    zhipu_jwt.verify(signed, SECRET)  # against the real clock: exp is now + 210 s in ms


def test_exp_is_read_as_milliseconds():
    signed = token(exp=NOW_MS + 1_000)
    zhipu_jwt.verify(signed, SECRET, now_ms=NOW_MS)
    with pytest.raises(ExpiredToken):
        zhipu_jwt.verify(signed, SECRET, now_ms=NOW_MS + 1_000 + zhipu_jwt.CLOCK_SKEW_MS + 1)


def test_exp_in_seconds_is_long_expired_when_read_as_ms():
    seconds_exp = NOW_MS // 1000 + 3600  # what a generic JWT library would write
    with pytest.raises(ExpiredToken):
        zhipu_jwt.verify(token(exp=seconds_exp), SECRET, now_ms=NOW_MS)


@pytest.mark.parametrize("late_ms", [0, 1, 4_000, zhipu_jwt.CLOCK_SKEW_MS])
def test_clock_skew_is_tolerated(late_ms):
    zhipu_jwt.verify(token(exp=NOW_MS), SECRET, now_ms=NOW_MS + late_ms)


def test_past_the_skew_is_expired():
    with pytest.raises(ExpiredToken) as caught:
        zhipu_jwt.verify(token(exp=NOW_MS), SECRET, now_ms=NOW_MS + zhipu_jwt.CLOCK_SKEW_MS + 1)
    assert (caught.value.code, caught.value.http_status) == ("1003", 401)


def test_wrong_secret_is_1004():
    with pytest.raises(TokenVerificationFailed) as caught:
        zhipu_jwt.verify(token(secret="another-secret"), SECRET, now_ms=NOW_MS)
    assert (caught.value.code, caught.value.http_status) == ("1004", 401)


def test_tampered_payload_fails_the_signature():
    header, _, signature = token().split(".")
    forged_payload = token(
        payload={"api_key": "someone-else", "exp": NOW_MS + 10**9, "timestamp": NOW_MS}
    ).split(".")[1]
    with pytest.raises(TokenVerificationFailed):
        zhipu_jwt.verify(f"{header}.{forged_payload}.{signature}", SECRET, now_ms=NOW_MS)


def test_alg_none_is_refused_before_any_lookup():
    unsigned = jwt.encode({"api_key": KEY_ID, "exp": NOW_MS + 10_000}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        zhipu_jwt.read_key_id(unsigned)
    with pytest.raises((InvalidToken, TokenVerificationFailed)):
        zhipu_jwt.verify(unsigned, SECRET, now_ms=NOW_MS)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_algorithms_are_refused(algorithm):
    with pytest.raises(InvalidToken):
        zhipu_jwt.read_key_id(token(algorithm=algorithm))
    with pytest.raises((InvalidToken, TokenVerificationFailed)):
        zhipu_jwt.verify(token(algorithm=algorithm), SECRET, now_ms=NOW_MS)


@pytest.mark.parametrize(
    "payload",
    [
        {"exp": NOW_MS + 10_000},  # no api_key
        {"api_key": "", "exp": NOW_MS + 10_000},  # empty api_key
        {"api_key": 12345, "exp": NOW_MS + 10_000},  # not a string
    ],
)
def test_missing_key_claim_is_invalid(payload):
    with pytest.raises(InvalidToken):
        zhipu_jwt.read_key_id(token(payload=payload))


@pytest.mark.parametrize(
    "payload",
    [
        {"api_key": KEY_ID},
        {"api_key": KEY_ID, "exp": "tomorrow"},
    ],
)
def test_missing_or_non_numeric_exp_is_invalid(payload):
    with pytest.raises(InvalidToken):
        zhipu_jwt.verify(token(payload=payload), SECRET, now_ms=NOW_MS)


@pytest.mark.parametrize("garbage", ["a.b.c", "..", "not-a-jwt.at.all", "eyJ.eyJ.sig"])
def test_garbage_is_invalid(garbage):
    with pytest.raises(InvalidToken):
        zhipu_jwt.read_key_id(garbage)


def test_default_clock_is_the_real_clock():
    now = int(time.time() * 1000)
    zhipu_jwt.verify(token(exp=now + 60_000), SECRET)
    with pytest.raises(ExpiredToken):
        zhipu_jwt.verify(token(exp=now - 60_000), SECRET)
