"""The OpenMP wait policy reaches the environment before any engine loads libgomp."""

from __future__ import annotations

import os

import pytest

from openmaas.config import Settings
from openmaas.engines.factory import apply_omp_wait_policy


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    return monkeypatch


def test_platform_default_is_a_bounded_spin(clean_env) -> None:
    settings = Settings(environment="test", secret_key="s")
    apply_omp_wait_policy(settings.omp_wait_policy, settings.omp_spin_count)
    assert "OMP_WAIT_POLICY" not in os.environ
    assert os.environ["GOMP_SPINCOUNT"] == "1000"


def test_passive_ignores_the_spin_count(clean_env) -> None:
    # libgomp would make PASSIVE threads spin GOMP_SPINCOUNT iterations too.
    apply_omp_wait_policy("PASSIVE", 1000)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "GOMP_SPINCOUNT" not in os.environ


def test_values_already_in_the_environment_win(clean_env) -> None:
    clean_env.setenv("GOMP_SPINCOUNT", "5")
    apply_omp_wait_policy("default", 1000)
    assert os.environ["GOMP_SPINCOUNT"] == "5"
