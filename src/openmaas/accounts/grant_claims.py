"""One free grant per person: keyed digests of who claimed the registration and real-name grants.

`a.b+promo@x.com` and `ab@x.com` reach one mailbox (plus-tags, and dots for the common
providers), so registration grants go by the canonical form; real-name grants go by the ID
number. Only a keyed digest is stored (the sealed identifiers use a random IV and cannot be
compared), so the table reveals nothing without the server key.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.orm import Session

from openmaas.auth.codes import lock_target
from openmaas.store.tables import GrantClaim


def canonical_email(email: str) -> str:
    """Lower case, `+tag` dropped, dots of the local part dropped: one mailbox, one form."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0].replace(".", "")
    domain = "gmail.com" if domain == "googlemail.com" else domain
    return f"{local}@{domain}"


def canonical_identity(channel: str, target: str) -> str:
    return canonical_email(target) if channel == "email" else target.strip()


def canonical_id_number(identifier: str) -> str:
    return "".join(identifier.split()).upper()


class GrantClaims:
    def __init__(self, hmac_key: bytes) -> None:
        self._key = hmac_key

    def digest(self, kind: str, identity: str) -> str:
        return hmac.new(self._key, f"{kind}\n{identity}".encode(), hashlib.sha256).hexdigest()

    def claim(self, session: Session, kind: str, identity: str, account_id: str) -> bool:
        """True if this account is the first to claim `identity` for `kind` (in the caller's
        transaction: the grant and the claim commit together); False if already claimed."""
        digest = self.digest(kind, identity)
        lock_target(session, digest)  # PostgreSQL: one claimant at a time; SQLite: one writer
        if session.get(GrantClaim, digest) is not None:
            return False
        session.add(GrantClaim(digest=digest, kind=kind, account_id=account_id))
        session.flush()
        return True


def grant_claims_key(server_key: bytes) -> bytes:
    return hmac.new(server_key, b"openmaas grant claims", hashlib.sha256).digest()
