"""Security review finding 20: secrets and logging. Production accepted the example secret
shipped in deploy/systemd/env.example (and any short one); the `log` notifier wrote
verification codes to the production log; the access log recorded image capability URLs;
`/metrics` was open to anyone the port reaches.

Now: production refuses the example and short secrets; in production the log notifier
withholds message bodies; capability paths are redacted in the access logs; without a
`metrics_token`, production serves /metrics only to `metrics_allow_from` (loopback). Each
test fails on 99cbb66."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from openmaas.app import create_app
from openmaas.config import Settings
from openmaas.notify.base import OutgoingMessage
from openmaas.notify.factory import build_notifier
from openmaas.observability.middleware import CapabilityPathFilter, redact_capabilities

ENV_EXAMPLE = Path(__file__).parents[2] / "deploy" / "systemd" / "env.example"
STRONG = "k" * 48


def example_secret() -> str:
    line = next(x for x in ENV_EXAMPLE.read_text().splitlines() if x.startswith("OPENMAAS_SECRET_KEY="))
    return line.split("=", 1)[1]


@pytest.mark.parametrize("secret", [example_secret(), "correct-but-short-secret", "  changeme  "])
def test_production_refuses_example_and_short_secrets(secret, tmp_path):
    with pytest.raises(ValidationError, match="OPENMAAS_SECRET_KEY"):
        Settings(environment="production", secret_key=secret, data_dir=tmp_path)
    Settings(environment="development", secret_key=secret, data_dir=tmp_path)  # allowed there
    Settings(environment="production", secret_key=STRONG, data_dir=tmp_path)


def test_production_log_notifier_withholds_the_code(caplog):
    message = OutgoingMessage(
        channel="email",
        target="a@example.com",
        kind="verification_code",
        subject="code",
        body="Your OpenMaaS verification code is 493817",
    )
    with caplog.at_level(logging.WARNING, logger="openmaas.notify"):
        build_notifier(Settings().notify, "production").send(message)
    assert "493817" not in caplog.text and "a@example.com" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="openmaas.notify"):
        build_notifier(Settings().notify, "development").send(message)
    assert "493817" in caplog.text  # development keeps the convenience


def test_image_capability_urls_are_redacted_in_access_logs():
    name = "a" * 32 + ".png"
    assert redact_capabilities(f"/api/paas/v4/images/files/{name}") == "/api/paas/v4/images/files/<redacted>"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", f"/v1/images/files/{name}?x=1", "1.1", 200),
        None,
    )
    CapabilityPathFilter().filter(record)
    assert name not in record.getMessage()


def test_access_log_line_redacts_image_paths(harness, caplog):
    name = "b" * 32 + ".png"
    with caplog.at_level(logging.INFO, logger="openmaas.access"):
        harness.client.get(f"/api/paas/v4/images/files/{name}")
    assert caplog.records and name not in caplog.text


def test_production_metrics_need_a_token_or_a_local_scraper(make_settings):
    app = create_app(make_settings(environment="production", secret_key=STRONG))
    with TestClient(app, raise_server_exceptions=False) as client:  # peer "testclient": not local
        refused = client.get("/metrics")
        assert refused.status_code == 403, refused.text
    app = create_app(
        make_settings(environment="production", secret_key=STRONG, metrics_allow_from=["testclient"])
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 200
    app = create_app(make_settings(environment="production", secret_key=STRONG, metrics_token="t"))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer t"}).status_code == 200
