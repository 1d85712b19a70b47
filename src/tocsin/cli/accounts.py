"""``tocsin admin`` and ``tocsin token``: administrators of the web interface and the
API tokens of devices and scripts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from tocsin.cli.support import DataOption, LangOption, err, open_services, out, read_secret
from tocsin.i18n import available_languages, translate

__all__ = ["admin_app", "token_app"]

admin_app = typer.Typer(help="Administrator accounts for the web interface.", no_args_is_help=True)
token_app = typer.Typer(
    help="API tokens (for devices posting events, or scripts).", no_args_is_help=True
)


def _admin_refusal(message: str, language: str) -> str:
    """The service's English refusal of an admin, in ``language``."""
    from tocsin.security import MIN_PASSWORD_LENGTH

    if message.startswith("the username"):
        return translate("cli_admin_username_invalid", language)
    if message.startswith("the password"):
        return translate("cli_admin_password_short", language, count=MIN_PASSWORD_LENGTH)
    if message.startswith("the language"):
        languages = ", ".join(available_languages())
        return translate("cli_language_unknown", language, languages=languages)
    return message


@admin_app.command("create")
def admin_create(
    username: Annotated[str, typer.Option(help="Login name.")] = "admin",
    language: LangOption = "en",
    data: DataOption = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create an administrator (the password is asked without echo)."""
    prompt = translate("cli_admin_password_prompt", language)
    password = read_secret(prompt, stdin=stdin, language=language, confirm=True)
    services = open_services(data)
    try:
        services.accounts.create_admin(username, password, language)
    except ValueError as exc:
        err.print(f"[red]✗[/] {escape(_admin_refusal(str(exc), language))}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    done = translate("cli_admin_created", language, username=username)
    out.print(f"[green]✓ {escape(done)}[/]")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'site A gateway'.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="events (post events) or admin (everything); repeatable."),
    ] = None,
    data: DataOption = None,
) -> None:
    """Create an API token. It is shown once; only its hash is stored."""
    services = open_services(data)
    try:
        token, record = services.accounts.create_token(name, tuple(scope or ["events"]))
    except ValueError as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    err.print(
        f"Token {record.id} '{record.name}' ({' '.join(record.scopes)}). "
        "Copy it now: it is not shown again."
    )
    out.print(token)


@token_app.command("list")
def token_list(data: DataOption = None) -> None:
    """List API tokens (never their values)."""
    services = open_services(data)
    try:
        tokens = services.accounts.list_tokens()
    finally:
        services.close()
    for t in tokens:
        state = "active" if t.active else "revoked"
        out.print(f"{t.id:>4}  {state:<8} {' '.join(t.scopes):<14} {t.name}")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id.")], data: DataOption = None
) -> None:
    """Revoke a token at once."""
    services = open_services(data)
    try:
        done = services.accounts.revoke_token(token_id)
    finally:
        services.close()
    if not done:
        err.print(f"[red]✗[/] No active token {token_id} (see 'tocsin token list').")
        raise typer.Exit(2)
    out.print(f"[green]✓ Token {token_id} revoked.[/]")
