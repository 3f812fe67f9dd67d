"""The operator CLI for money: credit, codes, balance, set-price, reconcile."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from openmaas.cli import app


def run(runner, *args):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_billing_cli_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENMAAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPENMAAS_SECRET_KEY", "cli-test")
    runner = CliRunner()
    account = run(runner, "users", "create", "buyer", "--email", "buyer@example.com").strip()
    run(runner, "billing", "credit", "buyer@example.com", "12.5", "--reason", "pilot")
    codes = run(runner, "billing", "codes", "3", "--count", "2").split()
    assert len(codes) == 2 and all(re.fullmatch(r"[0-9A-F]{4}(-[0-9A-F]{4}){3}", c) for c in codes)
    balance = run(runner, "billing", "balance", account)
    assert "cash 12.50 元" in balance and "1,000,000" in balance  # the registration grant
    assert "agree" in run(runner, "billing", "reconcile", account)
    run(runner, "billing", "set-price", "glm-4", "--input", "0.2")
    bad = runner.invoke(app, ["billing", "credit", account, "0", "--reason", "x"])
    assert bad.exit_code == 1 and "must be positive" in bad.output
    missing = runner.invoke(app, ["billing", "credit", "nobody", "1", "--reason", "x"])
    assert missing.exit_code == 1
