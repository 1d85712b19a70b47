"""What ``tocsin serve`` tells its operator at start: loose file modes and the next step.

:func:`exposed_database` names the SQLite files (database, ``-wal``, ``-shm``) that
other users of the machine may read; :func:`next_steps` the step a fresh installation
needs next (create the first administrator, enable email).  Both only read.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from tocsin.i18n import translate
from tocsin.services.context import Services
from tocsin.store import SQLiteStore

__all__ = [
    "base_url",
    "command_name",
    "exposed_database",
    "next_steps",
    "permission_warning",
]

SETUP_PATH = "/setup"
EMAIL_SETTINGS_PATH = "/settings/email"
ENV_COMMAND = "TOCSIN_COMMAND"


def exposed_database(services: Services) -> list[Path]:
    """The database files that users other than the owner may access (SQLite only)."""
    store = services.store
    if not isinstance(store, SQLiteStore):
        return []
    found: list[Path] = []
    for path in (store.path, Path(f"{store.path}-wal"), Path(f"{store.path}-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(path)
    return found


def permission_warning(files: list[Path], language: str = "en") -> str | None:
    """One sentence on ``files`` (from :func:`exposed_database`) and the command that
    closes them, or None when there are none."""
    if not files:
        return None
    command = "chmod 600 " + " ".join(shlex.quote(str(f)) for f in files)
    return translate("database_readable_by_others", language, path=files[0], command=command)


def base_url(host: str, port: int) -> str:
    """The address a browser on this machine opens for ``host``:``port``."""
    if host in ("0.0.0.0", "", "*"):  # noqa: S104 - names the wildcard, binds nothing
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def command_name() -> str:
    """How the operator calls the command: ``$TOCSIN_COMMAND`` (``./scripts/serve``
    sets ``./tocsin``, the checkout's wrapper), else ``tocsin``."""
    return os.environ.get(ENV_COMMAND, "").strip() or "tocsin"


def next_steps(services: Services, url: str, language: str = "en") -> list[str]:
    """The next step for the state found: no administrator yet → the setup page;
    email disabled → where to enable it.  Empty when nothing is left to do."""
    steps: list[str] = []
    command = command_name()
    if services.accounts.first_run():
        setup = url + SETUP_PATH
        steps.append(translate("next_step_setup", language, url=setup, command=command))
    if not services.settings.load().enabled:
        email = url + EMAIL_SETTINGS_PATH
        steps.append(translate("next_step_email", language, url=email, command=command))
    return steps
