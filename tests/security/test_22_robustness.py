"""Security review finding 22 (robustness): user-triggerable 500s from alert thresholds that
overflow the BIGINT columns; internal URLs and SMTP/webhook/SearxNG errors in the messages
callers get; a pypdf floor (>=4.0) without flate-bomb limits; an email "address" with a comma
(`root,victim@x.com` — the review's `victim@x.com,root@example.com` was already refused)
accepted as one address, which smtplib would split into two recipients.

Now: alert thresholds are bounded (400, 1214); error messages name no internal host, port or
server reply (the log keeps them); pypdf >= 7.1; addresses admit no list separators. Each test
fails on 99cbb66. (`/async-result` on other job kinds belongs to the jobs work.)"""

from __future__ import annotations

import asyncio
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from openmaas.accounts.contacts import normalize_email
from openmaas.config import NotifyConfig
from openmaas.errors import (
    DeliveryFailed,
    InvalidField,
    UpstreamFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from openmaas.notify.base import OutgoingMessage
from openmaas.notify.smtp import SmtpNotifier
from openmaas.notify.webhook import WebhookNotifier
from openmaas.search.providers import SearchFailed, SearxNGProvider

ALERTS = "/api/platform/billing/alerts"
MESSAGE = OutgoingMessage(
    channel="email", target="ann@example.com", kind="verification_code", subject="s", body="b"
)
INTERNAL = re.compile(r"127\.0\.0\.1|10\.1\.2\.3|:\d{2,5}\b|internal-replica")


@pytest.mark.parametrize(
    "body",
    [
        {"pack_tokens": 99999999999999999999},
        {"threshold_yuan": "1e30"},
        {"threshold_yuan": "9223372036855"},
        {"threshold_yuan": "Infinity"},
        {"threshold_yuan": "NaN"},
        {"pack_tokens": 2**63},
    ],
)
def test_huge_alert_thresholds_are_400_not_500(harness, body):
    response = harness.client.put(ALERTS, json=body, headers=harness.tenant.manage_headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("1213", "1214")
    ok = harness.client.put(
        ALERTS, json={"threshold_yuan": "1000000000"}, headers=harness.tenant.manage_headers
    )
    assert ok.status_code == 200


def test_upstream_errors_name_no_internal_url():
    detail = "http://10.1.2.3:8001/v1/chat/completions answered HTTP 502: internal-replica broke"
    for error in (
        UpstreamFailure("glm-4", detail),
        UpstreamTimeout("glm-4", detail),
        UpstreamUnavailable("glm-4", detail),
    ):
        assert not INTERNAL.search(error.message), error.message
        assert error.detail == detail  # kept for the log


def test_smtp_failure_message_names_no_server():
    config = NotifyConfig(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=1, timeout_seconds=2)
    with pytest.raises(DeliveryFailed) as caught:
        SmtpNotifier(config).send(MESSAGE)
    assert not INTERNAL.search(caught.value.message) and "refused" not in caught.value.message.lower()


def test_webhook_failure_message_names_no_gateway():
    failing = httpx.MockTransport(lambda request: httpx.Response(503))
    with pytest.raises(DeliveryFailed) as caught:
        WebhookNotifier("http://10.1.2.3:9000/internal-replica", transport=failing).send(MESSAGE)
    assert not INTERNAL.search(caught.value.message), caught.value.message


def test_searxng_failure_message_names_no_host():
    failing = httpx.MockTransport(lambda request: httpx.Response(500, text="boom"))
    provider = SearxNGProvider("http://10.1.2.3:8888", transport=failing)
    with pytest.raises(SearchFailed) as caught:
        asyncio.run(provider.search("q", 3))
    assert not INTERNAL.search(caught.value.message), caught.value.message


# The review's own example (two full addresses) was already refused (two "@"); a comma in the
# local part was not: `root,victim@x.com` is two recipients, the local "root" and the victim.
@pytest.mark.parametrize(
    "address",
    [
        "root,victim@x.com",
        '"a,b"@x.com',
        "a;b@x.com",
        "a<b@x.com",
        "victim@x.com,root@example.com",
        "Eve <eve@x.com>",
    ],
)
def test_an_address_is_exactly_one_mailbox(address):
    with pytest.raises(InvalidField):
        normalize_email(address)


def test_pypdf_floor_has_decompression_limits():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    [requirement] = [d for d in pyproject["project"]["dependencies"] if d.startswith("pypdf")]
    floor = tuple(int(x) for x in requirement.split(">=")[1].split(",")[0].split("."))
    assert floor >= (6, 0)  # FlateDecode output limits arrived in 6.0 (py-pdf/pypdf#3430)
    installed = tuple(int(x) for x in version("pypdf").split(".")[:2])
    assert installed >= floor
