"""`openmaas users set-password|set-tier|verify-list|verify-approve|verify-reject` and
`openmaas keys rotate`: account actions for operators, each one audited (actor "cli")."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from openmaas.accounts.wiring import AccountServices, build_account_services
from openmaas.auth.accounts import find_account
from openmaas.auth.sealing import SecretSealer, load_or_create_server_key
from openmaas.billing.service import BillingService
from openmaas.config import load_settings
from openmaas.errors import PlatformError
from openmaas.store import migrate
from openmaas.store.db import Database

console = Console()
OPERATOR = "cli"


def _accounts() -> tuple[AccountServices, Database]:
    settings = load_settings()
    db = Database(settings.resolved_database_url)
    migrate.upgrade(db.engine)
    sealer = SecretSealer(load_or_create_server_key(settings.secret_key, settings.data_dir))
    return build_account_services(settings, db, sealer, BillingService(db, settings.billing)), db


def account_id_or_exit(db: Database, ref: str) -> str:
    with db.session() as session:
        account = find_account(session, ref)
    if account is None:
        console.print(f"[red]no account {ref}[/red]")
        raise typer.Exit(1)
    return account.id


def _run(action):
    try:
        return action()
    except PlatformError as exc:
        console.print(f"[red]error {exc.code}:[/red] {exc.message}")
        raise typer.Exit(1) from None


def set_password(
    account: Annotated[str, typer.Argument(help="account id, email or phone")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set an account's console password (ends its console sessions)."""
    accounts, _ = _accounts()
    account_id = _run(lambda: accounts.directory.set_password(OPERATOR, account, password))
    console.print(f"password set for {account_id}")


def set_tier(
    account: Annotated[str, typer.Argument(help="account id, email or phone")],
    tier: Annotated[str, typer.Argument(help="V0, V1, V2 or V3")],
) -> None:
    """Change an account's tier (its concurrency limits follow)."""
    accounts, db = _accounts()
    view = _run(lambda: accounts.directory.set_tier(OPERATOR, account_id_or_exit(db, account), tier.upper()))
    console.print(f"{view.id} is now {view.tier}")


def verify_list(
    status: Annotated[str, typer.Option(help="pending, approved or rejected")] = "pending",
) -> None:
    """Real-name applications waiting for review (or in another state)."""
    accounts, _ = _accounts()
    for a in _run(lambda: accounts.verification.list_applications(status, limit=500)):
        # one plain line each: ids stay whole and copyable whatever the terminal width
        print(
            a.id,
            a.account_id,
            a.kind,
            a.subject_name,
            a.identifier_masked,
            a.created_at.isoformat(timespec="seconds"),
            sep="\t",
        )


def verify_approve(application_id: str) -> None:
    """Approve a real-name application: the account gets the verification grant."""
    accounts, _ = _accounts()
    view = _run(lambda: accounts.verification.approve(OPERATOR, application_id))
    console.print(f"approved {view.id} for {view.account_id}")


def verify_reject(application_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Reject a real-name application with a reason the applicant will see."""
    accounts, _ = _accounts()
    view = _run(lambda: accounts.verification.reject(OPERATOR, application_id, reason))
    console.print(f"rejected {view.id}")


def keys_rotate(
    key_id: str, account: Annotated[str, typer.Option(help="account id, email or phone")]
) -> None:
    """Leaked key: revoke it and issue a new one with the same name (printed once)."""
    accounts, db = _accounts()
    issued = _run(lambda: accounts.keys.rotate(account_id_or_exit(db, account), key_id, actor_id=OPERATOR))
    console.print(f"revoked {key_id}; the new key (shown once):")
    print(issued.api_key, flush=True)  # plain print: never wrapped, easy to copy or grep


def add_account_commands(users_app: typer.Typer, keys_app: typer.Typer) -> None:
    users_app.command("set-password")(set_password)
    users_app.command("set-tier")(set_tier)
    users_app.command("verify-list")(verify_list)
    users_app.command("verify-approve")(verify_approve)
    users_app.command("verify-reject")(verify_reject)
    keys_app.command("rotate")(keys_rotate)
