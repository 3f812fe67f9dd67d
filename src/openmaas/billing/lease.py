"""Funds leases: the chat money path without a database transaction per request.

A process leases part of an account's funds for one model and price: one held
`Reservation` (request id `lease:…`) in the ledger like any other hold. It then holds each
request against the lease in memory, with the same plans as `BillingService.reserve` and
`settle` (packs in spend order, then cash; the charge capped at the hold), and the usage
recorder writes the settled requests in batches (`lease_flush.write_lease`): one
transaction releases the lease, charges what its requests used, writes their usage rows,
and holds a fresh lease for what is still in flight plus headroom.

Exactness of 1113 (insufficient balance):
- a lease grows only while the account keeps more than `floor` outside all leases, and by
  at most half of what is outside, so near exhaustion every request takes the exact path;
- a request that does not fit its lease waits for the lease's next write if the lease may
  grow (`UsageRecorder.lease_hold_soon`), else takes the exact path (`BillingService.reserve`
  through `UsageRecorder.hold_exactly`); if that finds too little, this process writes its
  unwritten settlements, gives its own leases back and asks the others for theirs
  (`Wallet.lease_recall_at`), and retries until they had time to answer, before 1113.

All methods run on the event loop thread; `write_lease` runs in a worker thread on a
`LeaseSnapshot` and hands back a `LeaseCommit`, applied on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from openmaas.billing.money import Price
from openmaas.billing.plan import PackFunds, Plan, plan_hold, plan_spend

LEASE_PREFIX = "lease:"  # request id of a lease's reservation: lease:<process>:<serial>
GROW = "grow"
KEEP = "keep"
SHRINK = "shrink"  # give back all headroom: idle, recalled, or the price changed


@dataclass
class Funds:
    """Pack tokens (pack id → tokens, in spend order) and cash (µ元)."""

    packs: dict[str, int] = field(default_factory=dict)
    cash: int = 0

    def pack_funds(self) -> list[PackFunds]:
        return [PackFunds(pack_id, tokens) for pack_id, tokens in self.packs.items()]

    def take(self, plan: Plan) -> None:
        for pack_id, tokens in plan.pack_takes:
            self.packs[pack_id] -= tokens
        self.cash -= plan.cash

    def give(self, plan: Plan) -> None:
        for pack_id, tokens in plan.pack_takes:
            self.packs[pack_id] = self.packs.get(pack_id, 0) + tokens
        self.cash += plan.cash

    def add(self, other: Funds, sign: int = 1) -> None:
        for pack_id, tokens in other.packs.items():
            self.packs[pack_id] = self.packs.get(pack_id, 0) + sign * tokens
        self.cash += sign * other.cash

    def copy(self) -> Funds:
        return Funds(dict(self.packs), self.cash)

    def empty(self) -> bool:
        return self.cash == 0 and not any(self.packs.values())


@dataclass(frozen=True, slots=True)
class LeaseCharge:
    """One settled request: what it used of the lease, and its usage row's fields."""

    plan: Plan
    row: dict[str, Any]


@dataclass
class SubHold:
    """A request's hold on a lease (`Hold.lease`)."""

    lease: Lease
    plan: Plan
    settled: bool = False


@dataclass(frozen=True)
class LeaseSnapshot:
    """What one flush writes for one lease."""

    lease_key: tuple[str, str, Price]
    account_id: str
    model: str
    price: Price
    reservation_id: str | None  # the lease's current hold (None: not held yet)
    charges: tuple[LeaseCharge, ...]
    trim: Funds  # headroom given back (already taken out of `available`)
    mode: str
    grow_tokens: int  # the headroom to hold, in completion tokens, when growing
    floor_tokens: int


@dataclass(frozen=True)
class LeaseCommit:
    reservation_id: str | None  # the new hold (None: the lease is closed)
    added: Funds  # headroom newly held
    recalled: bool  # another process asked for leases back
    spend_order: tuple[str, ...] = ()  # the account's spendable packs, in spend order


class Lease:
    def __init__(self, account_id: str, model: str, price: Price) -> None:
        self.account_id, self.model, self.price = account_id, model, price
        self.reservation_id: str | None = None
        self.available = Funds()  # held by the lease's reservation, not yet used by requests
        self.in_flight = 0
        self.pending: list[LeaseCharge] = []
        self.flushing = False
        self.bound = 0  # the largest request (prompt + completion allowance) seen
        # demand since the last flush: the headroom must cover what is in flight plus what
        # arrives before the next flush can grow it
        self.peak_in_flight = 0
        self.holds_since_flush = 0
        self.demand = 0
        self.last_hold = time.monotonic()
        self.recalled_until = 0.0
        self.grow_after = 0.0  # a grow that found too little is not retried before this
        self.waiters: list[asyncio.Future[None]] = []  # requests waiting for the next flush

    @property
    def key(self) -> tuple[str, str, Price]:
        return self.account_id, self.model, self.price

    def capacity_tokens(self) -> int:
        """Roughly how many tokens the headroom pays for (packs + cash at the output price)."""
        tokens = sum(self.available.packs.values())
        if self.price.output_per_1k:
            tokens += self.available.cash * 1000 // self.price.output_per_1k
        return tokens


class LeaseBook:
    """This process's leases, keyed by (account, model, price)."""

    def __init__(
        self, requests_per_lease: int = 32, idle_seconds: float = 1.0, recall_seconds: float = 5.0
    ) -> None:
        self.requests_per_lease = requests_per_lease
        self.idle_seconds = idle_seconds
        self.recall_seconds = recall_seconds
        self.owner = secrets.token_hex(4)
        self._serial = itertools.count(1)
        self._leases: dict[tuple[str, str, Price], Lease] = {}

    # the request path --------------------------------------------------------------------
    def hold(
        self, account_id: str, model: str, price: Price, prompt_tokens: int, max_tokens: int
    ) -> SubHold | None:
        """Hold a request's upper bound on its lease; None when it does not fit (or there is
        no lease yet: one is asked for, the request takes the exact path)."""
        lease = self._leases.get((account_id, model, price))
        if lease is None:
            if time.monotonic() < self._recalled_until(account_id):
                return None
            lease = self._leases[(account_id, model, price)] = Lease(account_id, model, price)
        lease.bound = max(lease.bound, prompt_tokens + max_tokens)
        lease.last_hold = time.monotonic()
        lease.holds_since_flush += 1  # asked, granted or not: the demand to grow for
        plan = plan_hold(
            lease.available.pack_funds(),
            lease.available.cash,
            prompt_tokens,
            max_tokens,
            price,
            flexible=False,
        )
        if plan is None:
            return None
        lease.available.take(plan)
        lease.in_flight += 1
        lease.peak_in_flight = max(lease.peak_in_flight, lease.in_flight)
        return SubHold(lease, plan)

    def settle(
        self, sub: SubHold, prompt_tokens: int, completion_tokens: int, charge: bool, row: dict[str, Any]
    ) -> int:
        """Release the request's hold and charge its real usage (capped at the hold) from
        the lease, exactly as `BillingService.settle` would; returns µ元 charged. `row` (the
        usage row) is written with the lease's next flush."""
        if sub.settled:
            return 0
        sub.settled = True
        lease = sub.lease
        lease.available.give(sub.plan)
        lease.in_flight -= 1
        spent = Plan((), 0, 0)
        if charge:
            completion = min(completion_tokens, sub.plan.completion_tokens)
            spent = plan_spend(lease.available.pack_funds(), prompt_tokens, completion, lease.price)
            lease.available.take(spent)
        lease.pending.append(LeaseCharge(spent, row | {"cost_micro": spent.cash}))
        return spent.cash

    # flushing ----------------------------------------------------------------------------
    def due(self) -> list[Lease]:
        """Leases with something to write: settled requests, headroom to grow or give back.
        Forgets leases that hold nothing and have nothing to write."""
        for key, lease in list(self._leases.items()):
            if (
                lease.reservation_id is None
                and not lease.in_flight
                and not lease.pending
                and not lease.flushing
                and time.monotonic() - lease.last_hold > self.idle_seconds
            ):
                del self._leases[key]
        return [lease for lease in self._leases.values() if not lease.flushing and self._mode(lease)]

    def snapshot(self, lease: Lease) -> LeaseSnapshot:
        mode = self._mode(lease) or KEEP
        trim = Funds()
        if mode == SHRINK:
            trim, lease.available = lease.available, Funds()
        charges, lease.pending = tuple(lease.pending), []
        lease.flushing = True
        lease.demand = max(lease.peak_in_flight + lease.holds_since_flush, lease.in_flight)
        lease.peak_in_flight = lease.holds_since_flush = 0
        target = self._target_tokens(lease)
        return LeaseSnapshot(
            lease.key,
            lease.account_id,
            lease.model,
            lease.price,
            lease.reservation_id,
            charges,
            trim,
            mode,
            grow_tokens=target,
            floor_tokens=2 * target,
        )

    def _target_tokens(self, lease: Lease) -> int:
        """Headroom for `requests_per_lease` of the largest requests, or twice the recent
        demand when that is more."""
        return max(lease.bound, 1) * max(self.requests_per_lease, 2 * lease.demand)

    def may_grow(self, account_id: str, model: str, price: Price) -> Lease | None:
        """The lease, when its next flush may grow it (worth waiting for)."""
        lease = self._leases.get((account_id, model, price))
        now = time.monotonic()
        if lease is None or now < lease.recalled_until or now < lease.grow_after:
            return None
        return lease

    async def flushed(self, lease: Lease, timeout: float) -> None:
        """Until the lease's next flush ended (or `timeout`)."""
        waiter = asyncio.get_running_loop().create_future()
        lease.waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancellation (3.11)
                await waiter

    def _wake_waiters(self, lease: Lease) -> None:
        waiters, lease.waiters = lease.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def commit(self, snapshot: LeaseSnapshot, result: LeaseCommit) -> None:
        lease = self._leases[snapshot.lease_key]
        self._wake_waiters(lease)
        lease.flushing = False
        lease.reservation_id = result.reservation_id
        lease.available.add(result.added)
        _reorder(lease.available, result.spend_order)
        if result.recalled:
            lease.recalled_until = time.monotonic() + self.recall_seconds
        if snapshot.mode == GROW and lease.capacity_tokens() < self._target_tokens(lease) // 2:
            lease.grow_after = time.monotonic() + self.idle_seconds
        if lease.reservation_id is None and lease.in_flight == 0 and not lease.pending:
            del self._leases[snapshot.lease_key]

    def abort(self, snapshot: LeaseSnapshot) -> None:
        """The flush failed: its charges and trim are still to write."""
        lease = self._leases[snapshot.lease_key]
        self._wake_waiters(lease)
        lease.flushing = False
        lease.pending[:0] = snapshot.charges
        lease.available.add(snapshot.trim)

    def next_request_id(self) -> str:
        return f"{LEASE_PREFIX}{self.owner}:{next(self._serial)}"

    def shrink_account(self, account_id: str) -> list[Lease]:
        """Mark the account's leases to give their headroom back at once (a request found
        too little outside them); returns those that hold any."""
        marked = []
        for lease in self._leases.values():
            if lease.account_id == account_id:
                lease.recalled_until = time.monotonic() + self.recall_seconds
                if lease.reservation_id is not None:
                    marked.append(lease)
        return marked

    def shrink_all(self) -> None:
        for lease in self._leases.values():
            lease.recalled_until = float("inf")

    def holds_headroom(self, account_id: str) -> bool:
        return any(
            lease.account_id == account_id and (lease.flushing or not lease.available.empty())
            for lease in self._leases.values()
        )

    def holds_any(self) -> bool:
        return any(lease.reservation_id is not None or lease.flushing for lease in self._leases.values())

    def any(self) -> bool:
        return bool(self._leases)

    def _recalled_until(self, account_id: str) -> float:
        return max(
            (lease.recalled_until for lease in self._leases.values() if lease.account_id == account_id),
            default=0.0,
        )

    def _mode(self, lease: Lease) -> str | None:
        now = time.monotonic()
        recalled = now < lease.recalled_until
        idle = now - lease.last_hold > self.idle_seconds
        has_headroom = not lease.available.empty()
        if (recalled or idle) and (has_headroom or lease.pending):
            return SHRINK
        if lease.reservation_id is not None and lease.in_flight == 0 and not has_headroom:
            return SHRINK  # nothing left to hold: close the reservation
        if (
            not recalled
            and not idle
            and now >= lease.grow_after
            and lease.capacity_tokens() < self._target_tokens(lease) // 2
        ):
            return GROW
        return KEEP if lease.pending else None


def _reorder(funds: Funds, spend_order: tuple[str, ...]) -> None:
    """Keep the lease's packs in the account's spend order (packs it no longer finds
    spendable, such as one that expired while held, first: they are used up first)."""
    rank = {pack_id: i for i, pack_id in enumerate(spend_order)}
    funds.packs = dict(
        sorted(
            ((p, t) for p, t in funds.packs.items() if t > 0 or p in rank), key=lambda pt: rank.get(pt[0], -1)
        )
    )
