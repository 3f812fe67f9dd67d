"""`openmaas billing ...`: money actions for operators (every one is audited)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from openmaas.billing.money import Price, micro_to_yuan, yuan_to_micro
from openmaas.billing.service import BillingService
from openmaas.cli_accounts import account_id_or_exit
from openmaas.config import load_settings
from openmaas.errors import PlatformError
from openmaas.store import migrate
from openmaas.store.db import Database

billing_app = typer.Typer(help="Balances, top-ups, redemption codes, prices.", no_args_is_help=True)
console = Console()
OPERATOR = "cli"


def _service() -> BillingService:
    settings = load_settings()
    db = Database(settings.resolved_database_url)
    migrate.upgrade(db.engine)
    service = BillingService(db, settings.billing)
    service.seed()
    return service


def _account_id(service: BillingService, ref: str) -> str:
    return account_id_or_exit(service.db, ref)


def _run(action):
    try:
        return action()
    except (PlatformError, ValueError) as exc:
        console.print(f"[red]error:[/red] {getattr(exc, 'message', exc)}")
        raise typer.Exit(1) from None


@billing_app.command("credit")
def credit(account: str, yuan: str, reason: Annotated[str, typer.Option()]) -> None:
    """Add cash to an account (admin credit, with a reason)."""
    service = _service()
    account_id = _account_id(service, account)
    _run(lambda: service.admin_credit(OPERATOR, account_id, yuan_to_micro(yuan), reason))
    console.print(f"credited {yuan} 元 to {account_id}")


@billing_app.command("codes")
def codes(yuan: str, count: Annotated[int, typer.Option()] = 1) -> None:
    """Generate single-use redemption codes worth `yuan` each; printed once."""
    service = _service()
    for code in _run(lambda: service.create_redemption_codes(OPERATOR, yuan_to_micro(yuan), count)):
        print(code)


@billing_app.command("balance")
def balance(account: str) -> None:
    service = _service()
    view = service.balance(_account_id(service, account))
    console.print(
        f"cash {micro_to_yuan(view.cash_micro + view.held_micro)} 元 "
        f"(held {micro_to_yuan(view.held_micro)} 元)"
    )
    table = Table("pack", "source", "model", "remaining", "total", "expires")
    for pack in view.packs:
        table.add_row(
            pack.name,
            pack.source,
            pack.model or "all",
            f"{pack.remaining_tokens:,}",
            f"{pack.total_tokens:,}",
            "expired" if pack.expired else str(pack.expires_at),
        )
    console.print(table)


@billing_app.command("set-price")
def price(
    model: str,
    input_per_1k: Annotated[str, typer.Option("--input")] = "0",
    output_per_1k: Annotated[str | None, typer.Option("--output")] = None,
    per_image: Annotated[str, typer.Option("--image")] = "0",
) -> None:
    """Set a model's price in 元 (per 1k tokens / per image); the old price stays in history."""
    service = _service()
    new = _run(
        lambda: Price(
            yuan_to_micro(input_per_1k),
            yuan_to_micro(output_per_1k or input_per_1k),
            yuan_to_micro(per_image),
        )
    )
    _run(lambda: service.set_price(OPERATOR, model, new))
    console.print(f"{model}: {input_per_1k}/{output_per_1k or input_per_1k} 元 per 1k tokens")


@billing_app.command("reconcile")
def reconcile(account: str) -> None:
    """Check an account's cached balances against the ledger."""
    service = _service()
    problems = service.reconcile(_account_id(service, account))
    for problem in problems:
        console.print(f"[red]{problem.what}[/red]: cached {problem.cached}, ledger {problem.ledger}")
    console.print("ledger and balances agree" if not problems else "")
    raise typer.Exit(1 if problems else 0)
