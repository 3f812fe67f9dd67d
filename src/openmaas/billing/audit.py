"""The audit log: every admin or money action, written in the same transaction as the action."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openmaas.store.tables import AuditEntry


def audit(
    session: Session, actor_id: str | None, account_id: str | None, action: str, **details: Any
) -> None:
    session.add(AuditEntry(actor_id=actor_id, account_id=account_id, action=action, details=details))
