"""Builds the account services from settings; `build_services` adds them as `services.accounts`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from openmaas.accounts.console_login import ConsoleLogin
from openmaas.accounts.directory import AccountDirectory
from openmaas.accounts.grant_claims import GrantClaims, grant_claims_key
from openmaas.accounts.keys import KeyService
from openmaas.accounts.licences import LicenceStore
from openmaas.accounts.recovery import AccountRecovery
from openmaas.accounts.registration import Registration
from openmaas.accounts.verification import VerificationService
from openmaas.auth.codes import VerificationCodes, code_hmac_key
from openmaas.auth.console_sessions import ConsoleSessions
from openmaas.auth.key_cache import KeyCache
from openmaas.auth.passwords import Passwords
from openmaas.auth.sealing import SecretSealer, load_or_create_server_key
from openmaas.auth.throttle import Throttle, build_throttle
from openmaas.billing.service import BillingService
from openmaas.config import Settings
from openmaas.notify.dispatcher import NotificationDispatcher
from openmaas.notify.factory import build_notifier
from openmaas.notify.router import ChannelRouter
from openmaas.store.db import Database


@dataclass
class AccountServices:
    notifier: ChannelRouter
    registration: Registration
    login: ConsoleLogin
    sessions: ConsoleSessions
    directory: AccountDirectory
    keys: KeyService
    verification: VerificationService
    notifications: NotificationDispatcher
    throttle: Throttle  # attempt limits of login, register, codes and redeem
    recovery: AccountRecovery  # forgotten passwords, a new email or phone


def build_account_services(
    settings: Settings,
    db: Database,
    sealer: SecretSealer,
    billing: BillingService,
    key_cache: KeyCache | None = None,
) -> AccountServices:
    config = settings.accounts
    notifier = build_notifier(settings.notify, settings.environment)
    server_key = load_or_create_server_key(settings.secret_key, settings.data_dir)
    codes = VerificationCodes(db, code_hmac_key(server_key), config)
    passwords = Passwords(
        config.password_hash_profile, config.password_min_length, config.password_hash_concurrency
    )
    claims = GrantClaims(grant_claims_key(server_key))
    sessions = ConsoleSessions(db, timedelta(hours=config.session_ttl_hours))
    licences = LicenceStore(settings.data_dir / "verification", config.licence_max_bytes)
    directory = AccountDirectory(db, passwords, sessions)
    return AccountServices(
        notifier=notifier,
        registration=Registration(db, billing, codes, passwords, notifier, config.code_ttl_seconds, claims),
        login=ConsoleLogin(db, passwords, sessions),
        sessions=sessions,
        directory=directory,
        keys=KeyService(db, sealer, key_cache, config.max_keys_per_account),
        verification=VerificationService(db, sealer, billing, licences, claims),
        notifications=NotificationDispatcher(db, notifier),
        throttle=build_throttle(settings.redis_url),
        recovery=AccountRecovery(db, codes, notifier, directory, config.code_ttl_seconds),
    )
