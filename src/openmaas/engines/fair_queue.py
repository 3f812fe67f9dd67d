"""A thread-safe queue that serves owners (accounts) round-robin, FIFO within an owner.

One busy account cannot starve the others: each owner with waiting work gets the
next turn in rotation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        self._by_owner: OrderedDict[str, deque[T]] = OrderedDict()
        self._ready = threading.Condition()

    def put(self, owner: str, item: T) -> None:
        with self._ready:
            self._by_owner.setdefault(owner, deque()).append(item)
            self._ready.notify()

    def get(self, timeout: float | None = None, accept: Callable[[T], bool] | None = None) -> T | None:
        """The next item in rotation; None on timeout, or when `accept` refuses it (it stays)."""
        with self._ready:
            if not self._by_owner and timeout != 0 and not self._ready.wait(timeout):
                return None
            if not self._by_owner:
                return None
            owner, items = next(iter(self._by_owner.items()))
            if accept is not None and not accept(items[0]):
                return None
            item = items.popleft()
            del self._by_owner[owner]
            if items:  # the owner goes to the back of the rotation
                self._by_owner[owner] = items
            return item

    def __len__(self) -> int:
        with self._ready:
            return sum(len(items) for items in self._by_owner.values())
