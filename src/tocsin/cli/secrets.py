"""Reading a secret without putting it on the command line.

A secret given as an argument stays in the shell history and is visible to every user
in ``ps`` (``/proc/<pid>/cmdline``) while the command runs.  So secrets come from a
prompt without echo, from stdin (``--stdin``, or a pipe), or from a file that only its
owner can read (``--token-file``).
"""

from __future__ import annotations

import getpass
import stat
import sys
from pathlib import Path

from tocsin.cli.support import fail
from tocsin.i18n import translate

__all__ = ["SECRET_COMMANDS", "read_private_file", "read_secret", "refuse_secret_pairs"]

SECRET_COMMANDS = {
    "password": "tocsin settings password",
    "device_credential": "tocsin online enroll URL",
    "oauth_client_secret": "tocsin settings oauth secret",
    "oauth_refresh_token": "tocsin settings oauth sign-in",
    "oauth_service_account_key": "tocsin settings oauth key --file KEY.json",
    "oauth_client_certificate": "tocsin settings oauth certificate --file KEY_AND_CERT.pem",
}
"""Per secret setting, the command that sets it without the command line."""


def refuse_secret_pairs(keys: list[str], language: str) -> None:
    """Exit with status 2 and a one-line hint if any of ``keys`` names a secret."""
    from tocsin.settings import SECRET_FIELDS

    for key in keys:
        if key in SECRET_FIELDS:
            command = SECRET_COMMANDS.get(key, "the web interface")
            fail(translate("secret_on_command_line", language, field=key, command=command))


def read_private_file(path: Path, language: str = "en") -> str:
    """The text of ``path``; exits with status 2 if others may read or write it."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            fail(translate("secret_file_open", language, path=path))
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(translate("secret_file_unreadable", language, path=path, reason=exc.strerror))


def read_secret(
    prompt: str, *, stdin: bool = False, file: Path | None = None, language: str = "en"
) -> str:
    """The secret from ``file``, stdin (``stdin`` or when stdin is no terminal) or a
    prompt without echo; surrounding whitespace is dropped.

    Exits with status 2 if the file is readable by others or the secret is empty.
    """
    if file is not None:
        text = read_private_file(file, language)
    elif stdin or not sys.stdin.isatty():
        text = sys.stdin.readline()
    else:
        text = getpass.getpass(prompt)
    text = text.strip()
    if not text:
        fail(translate("secret_empty", language))
    return text
