"""Pure spend planning and money arithmetic."""

from __future__ import annotations

import pytest

from openmaas.billing.money import Price, ceil_div, micro_to_yuan, yuan_to_micro
from openmaas.billing.plan import PackFunds, plan_hold, plan_spend

GLM4 = Price(input_per_1k=100_000, output_per_1k=100_000)  # 0.1 元 / 1k tokens


def test_charge_rounds_up_never_to_zero():
    assert Price(500, 500).token_cost(1, 0) == 1  # 0.0005 元/1k × 1 token = 0.5 µ元 → 1
    assert Price().token_cost(1000, 1000) == 0
    assert GLM4.token_cost(10, 5) == 1500
    assert ceil_div(1001, 1000) == 2


def test_yuan_conversion_is_exact():
    assert yuan_to_micro("0.1") == 100_000
    assert yuan_to_micro("99") == 99_000_000
    assert micro_to_yuan(100_000) == "0.10"
    assert micro_to_yuan(123) == "0.000123"
    with pytest.raises(ValueError):
        yuan_to_micro("0.0000001")


def test_packs_cover_prompt_first_then_cash_at_output_price():
    price = Price(input_per_1k=1000, output_per_1k=3000)
    plan = plan_spend([PackFunds("a", 30), PackFunds("b", 10)], prompt=50, completion=20, price=price)
    assert plan.pack_takes == (("a", 30), ("b", 10))
    # 10 prompt tokens and 20 completion tokens left for cash
    assert plan.cash == ceil_div(10 * 1000 + 20 * 3000, 1000)


def test_hold_fails_without_funds_unless_flexible():
    assert plan_hold([], 1000, prompt=5, max_completion=100, price=GLM4, flexible=False) is None
    plan = plan_hold([], 1000, prompt=5, max_completion=100, price=GLM4, flexible=True)
    assert plan is not None and plan.completion_tokens == 5 and plan.cash == 1000
    assert plan_hold([], 400, prompt=5, max_completion=100, price=GLM4, flexible=True) is None
