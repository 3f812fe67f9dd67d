"""How many jobs of each kind may wait and run, per account and per worker (`[jobs]`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_KIND = "*"  # the limits of a kind not named


class JobSettings(BaseModel):
    # Jobs of one kind an account may have queued or running at once; past it a submission
    # is refused with 1302 (the account's own jobs have to finish first).
    max_queued_per_account: dict[str, int] = Field(
        default_factory=lambda: {
            "async_chat": 200,
            "batch": 20,
            "knowledge_ingest": 500,
            "fine_tune": 5,
            DEFAULT_KIND: 100,
        }
    )
    # Jobs of one kind one account may have running at once (across every worker): the rest
    # wait, and other accounts' jobs of that kind go first.
    max_running_per_account: dict[str, int] = Field(
        default_factory=lambda: {
            "async_chat": 4,
            "batch": 2,
            "knowledge_ingest": 2,
            "fine_tune": 1,
            DEFAULT_KIND: 2,
        }
    )
    # Jobs of one kind one worker runs at once (a pool per kind, so a kind cannot starve
    # another). Fine-tunes: one, the trainer's own slot, so a queued fine-tune waits in the
    # queue, not in a worker slot.
    worker_slots: dict[str, int] = Field(
        default_factory=lambda: {
            "async_chat": 8,
            "batch": 4,
            "knowledge_ingest": 4,
            "fine_tune": 1,
            DEFAULT_KIND: 4,
        }
    )

    # Threads the job worker's blocking calls (claims, holds, usage rows, batch lines' writes)
    # may use at once, apart from the pool interactive requests use: a tenant's flood of jobs
    # cannot hold every thread, and the rest of the process keeps the interpreter lock.
    background_threads: int = Field(default=2, ge=1, le=64)
    # While interactive requests are being served, the share of CPU time those threads may
    # use (each rests after a call in proportion to the CPU it used); idle, they run freely.
    background_share: float = Field(default=0.25, gt=0, le=1.0)

    # How often a worker re-checks the owners of the jobs it runs: a job whose key was revoked
    # (or whose account was disabled) stops within about this long (one query per check).
    owner_check_seconds: float = Field(default=0.5, gt=0, le=1.0)

    def queued_cap(self, kind: str) -> int:
        return _for(self.max_queued_per_account, kind)

    def running_cap(self, kind: str) -> int:
        return _for(self.max_running_per_account, kind)

    def slots(self, kind: str) -> int:
        return max(1, _for(self.worker_slots, kind))


def _for(table: dict[str, int], kind: str) -> int:
    return table.get(kind, table.get(DEFAULT_KIND, 1))
