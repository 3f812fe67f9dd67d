"""Pure planning of holds and charges: which packs and how much cash cover a request.

Spend order: free grants → other packs by soonest expiry → cash. Pack tokens cover the
prompt tokens first, then completion tokens; what packs do not cover is paid in cash at
the model's input/output prices.
"""

from __future__ import annotations

from dataclasses import dataclass

from openmaas.billing.money import Price


@dataclass(frozen=True)
class PackFunds:
    pack_id: str
    available: int


@dataclass(frozen=True)
class Plan:
    pack_takes: tuple[tuple[str, int], ...]  # (pack_id, tokens) in spend order
    cash: int
    completion_tokens: int

    @property
    def pack_tokens(self) -> int:
        return sum(tokens for _, tokens in self.pack_takes)


def plan_spend(packs: list[PackFunds], prompt: int, completion: int, price: Price) -> Plan:
    """Cover prompt+completion tokens from packs in order, the rest in cash (may exceed funds)."""
    need, takes = prompt + completion, []
    for pack in packs:
        if need == 0:
            break
        take = min(pack.available, need)
        if take > 0:
            takes.append((pack.pack_id, take))
            need -= take
    covered = prompt + completion - need
    cash_prompt = max(prompt - covered, 0)
    cash_completion = need - cash_prompt
    return Plan(tuple(takes), price.token_cost(cash_prompt, cash_completion), completion)


def plan_hold(
    packs: list[PackFunds],
    cash_available: int,
    prompt: int,
    max_completion: int,
    price: Price,
    flexible: bool,
) -> Plan | None:
    """The hold for a request's upper bound, or None when funds do not cover it.

    With `flexible` (the caller set no max_tokens) the completion allowance shrinks to
    what the account can afford, down to one token.
    """
    plan = plan_spend(packs, prompt, max_completion, price)
    if plan.cash <= cash_available:
        return plan
    if not flexible:
        return None
    low, high, best = 1, max_completion - 1, None
    while low <= high:  # largest affordable completion allowance
        mid = (low + high) // 2
        candidate = plan_spend(packs, prompt, mid, price)
        if candidate.cash <= cash_available:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    return best
