"""Who a job runs as: its key and account as they are now, not as they were at submission.

A job runs with its account's real tier; a job whose key was revoked, or whose account
was disabled, after it was queued does not run (it fails with 1002), and one already
running when that happens is stopped: the worker asks `stopped` about its running jobs
every `JobSettings.owner_check_seconds` (one query for all of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from openmaas.auth.principal import Principal
from openmaas.errors import AuthError
from openmaas.store.db import Database
from openmaas.store.tables import Account, ApiKey, Job


class JobOwnerInactive(AuthError):
    code = "1002"

    def __init__(self, reason: str) -> None:
        super().__init__(f"任务已停止：{reason} (the job was stopped: {reason})")


def trusted_owner(job: Job) -> Principal:
    """The job's own ids, unchecked (unit tests of the worker; nothing is billed there)."""
    return Principal(account_id=job.account_id, api_key_id=job.api_key_id)


class JobOwners:
    def __init__(self, db: Database) -> None:
        self._db = db

    def principal(self, job: Job) -> Principal:
        """The job's principal at its account's tier; JobOwnerInactive if it may not run."""
        with self._db.session(read_only=True) as session:
            account = session.get(Account, job.account_id)
            key = session.get(ApiKey, job.api_key_id) if job.api_key_id else None
        if (stop := _why_stopped(job, account, key)) is not None:
            raise stop
        assert account is not None  # _why_stopped refuses a missing account
        return Principal(
            account_id=account.id, api_key_id=job.api_key_id, tier=account.tier, is_admin=account.is_admin
        )

    def stopped(self, jobs: Sequence[Job]) -> dict[str, JobOwnerInactive]:
        """Of these running jobs, those whose owner may no longer run them, by job id."""
        account_ids = {job.account_id for job in jobs}
        key_ids = {job.api_key_id for job in jobs if job.api_key_id}
        with self._db.session(read_only=True) as session:
            accounts = {
                a.id: a for a in session.scalars(sa.select(Account).where(Account.id.in_(account_ids)))
            }
            keys = (
                {k.id: k for k in session.scalars(sa.select(ApiKey).where(ApiKey.id.in_(key_ids)))}
                if key_ids
                else {}
            )
        stops = {
            job.id: _why_stopped(job, accounts.get(job.account_id), keys.get(job.api_key_id or ""))
            for job in jobs
        }
        return {job_id: stop for job_id, stop in stops.items() if stop is not None}


def _why_stopped(job: Job, account: Account | None, key: ApiKey | None) -> JobOwnerInactive | None:
    if account is None or account.status != "active":
        return JobOwnerInactive("its account is disabled")
    if job.api_key_id and (key is None or key.revoked_at is not None or key.account_id != account.id):
        return JobOwnerInactive("its API key was revoked")
    return None
