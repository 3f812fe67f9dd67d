"""Real-name verification: personal (name + resident ID) or enterprise (company, credit code,
licence image) → pending → approved (with the verification grant) or rejected with a reason.

Identifiers are kept sealed (Fernet) with a masked copy for display. One account has at most
one pending application and is verified at most once, so the grant is paid at most once.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.accounts.grant_claims import GrantClaims, canonical_id_number
from openmaas.accounts.identity import mask, validate_credit_code, validate_id_number
from openmaas.accounts.licences import LicenceStore
from openmaas.accounts.views import (
    ApplicationView,
    VerificationStatus,
    application_view,
    verification_status,
)
from openmaas.auth.sealing import SecretSealer
from openmaas.billing.audit import audit
from openmaas.billing.service import BillingService
from openmaas.errors import InvalidField, MissingField, NotFound
from openmaas.store.db import Database
from openmaas.store.tables import Account, VerificationApplication, new_id, utcnow

STATUSES = ("pending", "approved", "rejected")


def latest_application(session: Session, account_id: str) -> VerificationApplication | None:
    return session.scalar(
        sa.select(VerificationApplication)
        .where(VerificationApplication.account_id == account_id)
        .order_by(VerificationApplication.created_at.desc())
        .limit(1)
    )


def current_status(session: Session, account_id: str) -> VerificationStatus:
    return verification_status(latest_application(session, account_id))


def required_text(field: str, value: str, max_length: int = 200) -> str:
    text = value.strip()
    if not text:
        raise MissingField(field)
    if len(text) > max_length:
        raise InvalidField(field, f"at most {max_length} characters")
    return text


class VerificationService:
    def __init__(
        self,
        db: Database,
        sealer: SecretSealer,
        billing: BillingService,
        licences: LicenceStore,
        claims: GrantClaims | None = None,
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._billing = billing
        self.licences = licences
        self._claims = claims  # the grant is paid once per ID number / credit code

    # the applicant -----------------------------------------------------------------------
    def submit_personal(self, account_id: str, real_name: str, id_number: str) -> ApplicationView:
        name = required_text("real_name", real_name, 50)
        number = validate_id_number(id_number)
        application = self._new(account_id, "personal", name, number)
        return self._insert(application)

    def submit_enterprise(
        self, account_id: str, company_name: str, credit_code: str, licence: bytes
    ) -> ApplicationView:
        name = required_text("company_name", company_name)
        code = validate_credit_code(credit_code)
        self.licences.check(licence)  # every check before anything is written
        application = self._new(account_id, "enterprise", name, code)
        application.licence_blob, application.licence_content_type = self.licences.save(
            account_id, application.id, licence
        )
        try:
            return self._insert(application)
        except BaseException:
            self.licences.delete(application.licence_blob)
            raise

    def status(self, account_id: str) -> VerificationStatus:
        with self._db.session() as session:
            return current_status(session, account_id)

    def _new(self, account_id: str, kind: str, name: str, identifier: str) -> VerificationApplication:
        return VerificationApplication(
            id=new_id("vapp_")[:37],
            account_id=account_id,
            kind=kind,
            status="pending",
            subject_name=name,
            identifier_sealed=self._sealer.seal(identifier),
            identifier_masked=mask(identifier),
        )

    def _insert(self, application: VerificationApplication) -> ApplicationView:
        with self._db.session() as session:
            session.get(Account, application.account_id, with_for_update=True)  # one at a time
            latest = latest_application(session, application.account_id)
            if latest is not None and latest.status == "pending":
                raise InvalidField("verification", "an application is already waiting for review")
            if latest is not None and latest.status == "approved":
                raise InvalidField("verification", "this account is already verified")
            session.add(application)
            session.flush()
            audit(
                session,
                application.account_id,
                application.account_id,
                "verification.submit",
                application_id=application.id,
                kind=application.kind,
            )
            return application_view(application)

    # the reviewer ------------------------------------------------------------------------
    def list_applications(
        self, status: str | None, limit: int = 50, offset: int = 0
    ) -> list[ApplicationView]:
        if status is not None and status not in STATUSES:
            raise InvalidField("status", "pending, approved or rejected")
        query = sa.select(VerificationApplication).order_by(VerificationApplication.created_at)
        if status is not None:
            query = query.where(VerificationApplication.status == status)
        with self._db.session() as session:
            return [application_view(r) for r in session.scalars(query.limit(limit).offset(offset))]

    def approve(self, actor_id: str, application_id: str) -> ApplicationView:
        with self._db.session() as session:
            application = self._pending(session, application_id)
            self._review(application, actor_id, "approved")
            granted = self._claim(session, application)
            if granted:
                self._billing.grant_verification(session, application.account_id)
            audit(
                session,
                actor_id,
                application.account_id,
                "verification.approve",
                application_id=application.id,
                grant_tokens=self._billing.config.verification_grant_tokens if granted else 0,
            )
            return application_view(application)

    def reject(self, actor_id: str, application_id: str, reason: str) -> ApplicationView:
        text = required_text("reason", reason, 500)
        with self._db.session() as session:
            application = self._pending(session, application_id)
            self._review(application, actor_id, "rejected")
            application.reject_reason = text
            audit(
                session,
                actor_id,
                application.account_id,
                "verification.reject",
                application_id=application.id,
                reason=text,
            )
            return application_view(application)

    def licence(self, application_id: str) -> tuple[bytes, str]:
        with self._db.session() as session:
            application = session.get(VerificationApplication, application_id)
        if application is None or application.licence_blob is None:
            raise NotFound("licence")
        return self.licences.read(application.licence_blob), application.licence_content_type or ""

    def _claim(self, session: Session, application: VerificationApplication) -> bool:
        """Whether this identity's grant is still unpaid (then it is claimed for this account)."""
        if self._claims is None:
            return True
        identifier = canonical_id_number(self._sealer.unseal(application.identifier_sealed))
        return self._claims.claim(session, f"id-{application.kind}", identifier, application.account_id)

    @staticmethod
    def _pending(session: Session, application_id: str) -> VerificationApplication:
        application = session.get(VerificationApplication, application_id, with_for_update=True)
        if application is None:
            raise NotFound("verification application")
        if application.status != "pending":
            raise InvalidField("status", f"the application is {application.status}, not pending")
        return application

    @staticmethod
    def _review(application: VerificationApplication, actor_id: str, status: str) -> None:
        application.status = status
        application.reviewed_by = actor_id
        application.reviewed_at = utcnow()
