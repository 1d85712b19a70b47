"""The ``tocsin`` command's table: each top-level command, where it lives, its summary.

Every run of ``tocsin`` builds only the command it runs: :func:`lazy_app` registers a
stand-in per entry (a name and the summary ``tocsin --help`` lists) and
:class:`LazyGroup` swaps in the real command when the command line names it, importing
its module then.  So ``tocsin --help`` imports no command module, and ``tocsin settings
show`` only those of ``tocsin settings``.  :func:`full_app` registers the real commands
at once (``tocsin.cli.app``: tests and tools that walk every command).

Both are built from :data:`COMMANDS`, in its order, which is the order of
``tocsin --help``: commands first, then the groups.  A summary is the first paragraph
of the command's help (its docstring, or the group's ``help=``);
``tests/test_cli_startup.py`` checks each against the real command.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from tocsin.cli.helptext import plain_help

__all__ = ["COMMANDS", "Entry", "LazyGroup", "full_app", "lazy_app"]

HELP = "Tocsin: email notifications for alarms and warnings."


@dataclass(frozen=True, slots=True)
class Entry:
    """One top-level command: a group (a ``typer.Typer``) or a command (a function)."""

    name: str
    module: str
    attribute: str
    summary: str
    group: bool

    def load(self) -> Any:
        """The Typer or the function, imported from its module."""
        return getattr(importlib.import_module(self.module), self.attribute)

    def register(self, app: typer.Typer) -> None:
        """Add the real command to ``app`` (importing its module)."""
        if self.group:
            app.add_typer(self.load(), name=self.name)
        else:
            app.command(self.name)(self.load())

    def register_stand_in(self, app: typer.Typer) -> None:
        """Add a stand-in to ``app``: this name and summary, nothing imported."""
        if self.group:
            app.add_typer(typer.Typer(help=self.summary), name=self.name)
        else:
            app.command(self.name, help=self.summary)(_stand_in)


def _command(name: str, module: str, attribute: str, summary: str) -> Entry:
    return Entry(name, f"tocsin.cli.{module}", attribute, summary, group=False)


def _group(name: str, module: str, attribute: str, summary: str) -> Entry:
    return Entry(name, f"tocsin.cli.{module}", attribute, summary, group=True)


COMMANDS: tuple[Entry, ...] = (
    _command(
        "worker",
        "outbox",
        "worker",
        "Run the delivery engine alone ('serve' runs it too), until SIGTERM or Ctrl-C.",
    ),
    _command(
        "backup",
        "db",
        "backup",
        "Back up the database and the keys (sealed with a passphrase) into FILE.",
    ),
    _command(
        "restore",
        "db",
        "restore",
        "Restore a backup into the data directory; the service must be stopped.",
    ),
    _command(
        "test-email",
        "test_email",
        "send_test",
        "Send a test email and report every step of the conversation, with hints.",
    ),
    _command(
        "serve",
        "serve",
        "serve",
        "Run the service: web interface, REST API and the delivery engine, in one process.",
    ),
    _command(
        "systemd-unit",
        "systemd_unit",
        "systemd_unit",
        "Print the systemd unit for this installation (tocsin user, /var/lib/tocsin, hardened).",
    ),
    _group("settings", "settings", "settings_app", "Show and change the email settings."),
    _group("outbox", "outbox", "outbox_app", "Look into the outbox, retry or purge emails."),
    _group("admin", "accounts", "admin_app", "Administrator accounts for the web interface."),
    _group(
        "token", "accounts", "token_app", "API tokens (for devices posting events, or scripts)."
    ),
    # The group commands of tocsin.cli.sites, and the escalation ones that module adds.
    _group(
        "group", "escalation", "group_app", "Alarm groups: a tree such as site → building → room."
    ),
    _group("user", "sites", "user_app", "Users who receive alarm emails."),
    _group(
        "event",
        "events",
        "event_app",
        "Raise or clear an event by hand; list recent events; delete old ones.",
    ),
    _group("site", "sites", "site_app", "The whole site (groups and users) as a YAML file."),
    _group(
        "intake",
        "intake",
        "intake_app",
        "Ways in: Alertmanager and Grafana webhooks (see /ways-in).",
    ),
    _group(
        "relay",
        "relay",
        "relay_app",
        "The online service: the relay that sites send their email through.",
    ),
    _group("online", "relay", "online_app", "This installation's link to the online service."),
    _group("db", "db", "db_app", "The database's schema version: show it, or upgrade it."),
    _group(
        "mqtt",
        "mqtt",
        "mqtt_app",
        "Show and change the MQTT intake (a broker's topics as a way in).",
    ),
)
"""The top-level commands, in the order ``tocsin --help`` lists them."""

_BY_NAME = {entry.name: entry for entry in COMMANDS}


def _root(**options: Any) -> typer.Typer:
    return typer.Typer(help=HELP, no_args_is_help=True, pretty_exceptions_enable=False, **options)


def full_app() -> typer.Typer:
    """The ``tocsin`` command with every command registered (every module imported)."""
    app = _root()
    for entry in COMMANDS:
        entry.register(app)
    return app


def _stand_in() -> None:
    """Never runs: :class:`LazyGroup` swaps in the real command first."""
    raise AssertionError("a stand-in command ran")  # pragma: no cover


def lazy_app() -> typer.Typer:
    """The ``tocsin`` command with a stand-in per entry, replaced when it is run."""
    app = _root(cls=LazyGroup)
    for entry in COMMANDS:
        entry.register_stand_in(app)
    return app


def _real_command(entry: Entry) -> Any:
    """The click command of ``entry`` as :func:`full_app` would build it, plain help set."""
    holder = _root()
    entry.register(holder)
    return plain_help(typer.main.get_group(holder).commands[entry.name])


class LazyGroup(TyperGroup):
    """The root group of :func:`lazy_app`: a stand-in gives its name and summary to the
    help and to shell completion; naming it on the command line imports the real one.

    What it loads gets :func:`~tocsin.cli.helptext.plain_help`, as :func:`tocsin.cli.run`
    gives the whole tree.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.stand_ins = {name for name in self.commands if name in _BY_NAME}

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if name in self.stand_ins:
            command = self.commands[name] = _real_command(_BY_NAME[name])
            self.stand_ins.discard(name)
        return name, command, rest
