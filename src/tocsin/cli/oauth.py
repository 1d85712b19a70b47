"""``tocsin settings oauth``: sign in with OAuth2, set the client secret or certificate.

Secrets never pass through the command line: the client secret is asked without echo
(or read from stdin / a private file), and the refresh token of a sign-in goes straight
into the encrypted settings, never to the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tocsin.cli.secrets import read_private_file, read_secret
from tocsin.cli.support import DataOption, LangOption, err, fail, out, run
from tocsin.errors import ConfigError, DeliveryError, SignInFailed
from tocsin.i18n import translate

if TYPE_CHECKING:
    from tocsin.services.context import Services
    from tocsin.signin import DeviceCode

__all__ = ["oauth_app"]

oauth_app = typer.Typer(
    help="OAuth2 sign-in for Microsoft 365, Google or any OAuth2 provider.",
    no_args_is_help=True,
)


def _issues(exc: ConfigError, language: str) -> None:
    for issue in exc.issues:
        err.print(f"[red]✗[/] [bold]{issue.field}[/]: {issue.text(language)}")


@oauth_app.command("sign-in")
def sign_in(data: DataOption = None, language: LangOption = "en") -> None:
    """Sign in the mailbox: the device code flow shows a code and an address to open on
    any device; the loopback flow an address to open in a browser on this machine.
    Waits, then stores the refresh token (encrypted)."""
    import asyncio

    from tocsin.services.oauth_signin import browser_sign_in, device_sign_in
    from tocsin.settings import OAuthFlow

    def show(code: DeviceCode) -> None:
        minutes = max(1, round(code.expires_in / 60))
        out.print(
            translate(
                "oauth_device_prompt",
                language,
                url=code.verification_uri,
                code=code.user_code,
                minutes=minutes,
            )
        )
        out.file.flush()

    def show_url(url: str) -> None:
        out.print(translate("oauth_browser_prompt", language, url=url))
        out.file.flush()

    def work(services: Services) -> str:
        if services.settings.load().oauth_flow is OAuthFlow.LOOPBACK:
            return asyncio.run(browser_sign_in(services, show=show_url))
        return asyncio.run(device_sign_in(services, show=show))

    try:
        mailbox = run(data, work)
    except ConfigError as exc:
        _issues(exc, language)
        fail(translate("oauth_sign_in_not_ready", language))
    except SignInFailed as exc:
        text = translate(f"oauth_sign_in_{exc.code}", language)
        if exc.hint:
            text += " " + translate(f"oauth_hint_{exc.hint}", language)
        err.print(f"[red]✗[/] {text}")
        raise typer.Exit(1) from None
    except DeliveryError as exc:
        err.print(f"[red]✗[/] {translate('oauth_sign_in_unreachable', language)} ({exc})")
        raise typer.Exit(1) from None
    out.print(f"[green]✓[/] {translate('oauth_signed_in', language, mailbox=mailbox)}")


@oauth_app.command("secret")
def secret(
    data: DataOption = None,
    language: LangOption = "en",
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the secret from stdin.")] = False,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read the secret from a file only you can read.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the stored secret.")] = False,
) -> None:
    """Set the OAuth2 client secret (asked without echo), or clear it."""
    value = (
        None if clear else read_secret("Client secret: ", stdin=stdin, file=file, language=language)
    )

    def work(services: Services) -> bool:
        _, report, saved = services.settings.update({"oauth_client_secret": value})
        for issue in report.issues:
            if not saved and issue.level.value == "error":
                err.print(f"[red]✗[/] [bold]{issue.field}[/]: {issue.text(language)}")
        return saved

    if not run(data, work):
        fail(translate("oauth_secret_not_saved", language))
    code = "oauth_secret_cleared" if clear else "oauth_secret_saved"
    out.print(f"[green]✓[/] {translate(code, language)}")


@oauth_app.command("key")
def key(
    file: Annotated[
        Path, typer.Option("--file", help="The service account's JSON key (mode 0600).")
    ],
    data: DataOption = None,
    language: LangOption = "en",
) -> None:
    """Google: store the service account's JSON key (encrypted); the file may be deleted
    afterwards."""
    text = read_private_file(file, language)

    def work(services: Services) -> bool:
        _, report, saved = services.settings.update({"oauth_service_account_key": text})
        for issue in report.issues:
            if not saved and issue.level.value == "error":
                err.print(f"[red]✗[/] [bold]{issue.field}[/]: {issue.text(language)}")
        return saved

    if not run(data, work):
        fail(translate("oauth_key_not_saved", language))
    out.print(f"[green]✓[/] {translate('oauth_key_saved', language)}")


@oauth_app.command("certificate")
def certificate(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="PEM file with the private key and the certificate (mode 0600)."
        ),
    ] = None,
    data: DataOption = None,
    language: LangOption = "en",
    clear: Annotated[bool, typer.Option("--clear", help="Remove the stored certificate.")] = False,
) -> None:
    """Microsoft app-only: store the private key and certificate (PEM, encrypted) that sign
    the client assertion instead of a client secret; or clear them."""
    if file is None and not clear:
        fail(translate("oauth_certificate_not_saved", language))
    value = None if clear or file is None else read_private_file(file, language)

    def work(services: Services) -> bool:
        _, report, saved = services.settings.update({"oauth_client_certificate": value})
        for issue in report.issues:
            if not saved and issue.level.value == "error":
                err.print(f"[red]✗[/] [bold]{issue.field}[/]: {issue.text(language)}")
            elif issue.field == "oauth_client_certificate":
                err.print(f"[yellow]![/] {issue.text(language)}")
        return saved

    if not run(data, work):
        fail(translate("oauth_certificate_not_saved", language))
    code = "oauth_certificate_cleared" if clear else "oauth_certificate_saved"
    out.print(f"[green]✓[/] {translate(code, language)}")
