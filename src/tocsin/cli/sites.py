"""``tocsin group|user|event|site ...``: the site and its events from a shell (a face).

Registered by :mod:`tocsin.cli.commands`; the event commands are in
:mod:`tocsin.cli.events`.  Exit status 0 on success, 2 for refused input (the message
names the option or field and says what to change), 1 when the store cannot be opened.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tocsin.cli.events import CATEGORIES, CategoryOption
from tocsin.cli.support import DataOption, JsonOption, fail, out, run
from tocsin.model import Category
from tocsin.quiet import always_quiet, quiet_until, windows_from_data
from tocsin.quiet.spans import zone

if TYPE_CHECKING:
    from tocsin.services.context import Services
    from tocsin.services.sites import ImportReport

__all__ = ["group_app", "site_app", "user_app"]

group_app = typer.Typer(
    help="Alarm groups: a tree such as site → building → room.", no_args_is_help=True
)
user_app = typer.Typer(help="Users who receive alarm emails.", no_args_is_help=True)
site_app = typer.Typer(
    help="The whole site (groups and users) as a YAML file.", no_args_is_help=True
)


# ---------------------------------------------------------------------- groups
@group_app.command("add")
def group_add(
    group_id: Annotated[str, typer.Argument(metavar="ID", help="A short id, e.g. server-room.")],
    name: Annotated[str, typer.Option(help="The name shown in emails.")],
    parent: Annotated[str | None, typer.Option(help="The parent group's id.")] = None,
    data: DataOption = None,
) -> None:
    """Create an alarm group (below --parent, or a top-level one)."""
    fields = {"id": group_id, "name": name, "parent": parent}
    run(data, lambda s: s.sites.add_group(fields))
    out.print(f"[green]✓ Group '{group_id}' created.[/]")


@group_app.command("set")
def group_set(
    group_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    parent: Annotated[str | None, typer.Option(help="Move below this group.")] = None,
    top: Annotated[bool, typer.Option("--top", help="Make it a top-level group.")] = False,
    data: DataOption = None,
) -> None:
    """Rename a group or move it in the tree."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if parent is not None or top:
        changes["parent"] = None if top else parent
    if not changes:
        fail("Give --name, --parent or --top.")
    run(data, lambda s: s.sites.update_group(group_id, changes))
    out.print(f"[green]✓ Group '{group_id}' changed.[/]")


@group_app.command("set-policy")
def group_set_policy(
    group_id: Annotated[str, typer.Argument(metavar="ID")],
    category: CategoryOption,
    warnings: Annotated[
        bool, typer.Option("--warnings/--no-warnings", help="Email warnings too, or alarms only.")
    ] = True,
    max_per_hour: Annotated[
        int | None, typer.Option(help="At most this many notifications per hour.", min=1)
    ] = None,
    inherit: Annotated[
        bool, typer.Option("--inherit", help="Drop this group's own setting: use the parent's.")
    ] = False,
    data: DataOption = None,
) -> None:
    """Set a group's own policy for one category (or --inherit the parent's again)."""
    policy = None if inherit else {"email_warnings": warnings, "max_per_hour": max_per_hour}
    run(data, lambda s: s.sites.update_group(group_id, {"policies": {category.value: policy}}))
    if inherit:
        out.print(f"[green]✓ '{group_id}' inherits its {category.value} policy.[/]")
    else:
        cap = f"at most {max_per_hour} per hour" if max_per_hour else "no cap"
        what = "alarms and warnings" if warnings else "alarms only"
        out.print(f"[green]✓ '{group_id}' {category.value}: {what}, {cap}.[/]")


@group_app.command("ack-warnings")
def group_ack_warnings(
    group_id: Annotated[str, typer.Argument(metavar="ID")],
    choice: Annotated[
        str,
        typer.Argument(
            metavar="yes|no|inherit",
            help="Whether warnings carry an acknowledge link too; inherit: as the parent.",
        ),
    ],
    data: DataOption = None,
) -> None:
    """Choose whether warnings in a group (and its subgroups) can be acknowledged."""
    value = {"yes": True, "no": False, "inherit": "inherit"}.get(choice.lower())
    if value is None:
        fail("yes|no|inherit: give yes, no or inherit.")
    run(data, lambda s: s.sites.update_group(group_id, {"ack_warnings": value}))
    out.print(f"[green]✓ '{group_id}' acknowledge warnings: {choice.lower()}.[/]")


@group_app.command("remove")
def group_remove(
    group_id: Annotated[str, typer.Argument(metavar="ID")], data: DataOption = None
) -> None:
    """Delete a group (it must have no subgroups and no users)."""
    run(data, lambda s: s.sites.remove_group(group_id))
    out.print(f"[green]✓ Group '{group_id}' removed.[/]")


@group_app.command("list")
def group_list(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Show the group tree with each group's own policies."""

    def work(s: Services) -> list[dict[str, Any]]:
        view = s.sites.view()
        return [s.sites.group_dict(g, view=view) for g in s.sites.groups()]

    groups = run(data, work)
    if as_json:
        out.print_json(json.dumps(groups))
        return
    if not groups:
        out.print("No alarm groups yet: tocsin group add ID --name NAME")
    for group in groups:
        depth = len(group["path"]) - 1
        own = ", ".join(_policy_text(c, p) for c, p in group["policies"].items())
        out.print(f"{'  ' * depth}{group['id']}  [bold]{group['name']}[/]  {own}".rstrip())


def _policy_text(category: str, policy: dict[str, Any]) -> str:
    cap = f"≤{policy['max_per_hour']}/h" if policy["max_per_hour"] else "no cap"
    warn = "+warnings" if policy["email_warnings"] else "alarms only"
    return f"{category}: {warn}, {cap}"


# ---------------------------------------------------------------------- users
@user_app.command("add")
def user_add(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str, typer.Option(help="The person's name.")],
    email: Annotated[str, typer.Option(help="The email address.")],
    language: Annotated[str, typer.Option(help="en or de.")] = "en",
    time_zone: Annotated[
        str | None,
        typer.Option(help="IANA zone, e.g. Europe/Berlin (default: this server's zone)."),
    ] = None,
    group: Annotated[list[str] | None, typer.Option(help="An alarm group; repeatable.")] = None,
    category: Annotated[
        list[str] | None, typer.Option(help=f"Email on for: {CATEGORIES}; repeatable.")
    ] = None,
    data: DataOption = None,
) -> None:
    """Create a user. Email stays off until categories are chosen (--category)."""
    fields: dict[str, object] = {
        "id": user_id,
        "name": name,
        "email": email,
        "language": language,
        "groups": group or [],
        "categories": category or [],
    }
    if time_zone is not None:
        fields["time_zone"] = time_zone
    user = run(data, lambda s: s.sites.add_user(fields))
    out.print(f"[green]✓ User '{user.id}' created.[/]")
    if not user.email_categories:
        out.print("  No email yet: choose categories with 'tocsin user categories'.")


@user_app.command("assign")
def user_assign(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    group: Annotated[list[str], typer.Option(help="An alarm group; repeatable.")],
    remove: Annotated[bool, typer.Option("--remove", help="Unassign these groups.")] = False,
    data: DataOption = None,
) -> None:
    """Assign a user to alarm groups (each covers its subgroups), or --remove them."""

    def work(s: Services) -> frozenset[str]:
        current = s.sites.user(user_id).group_ids
        groups = current - set(group) if remove else current | set(group)
        return s.sites.update_user(user_id, {"groups": sorted(groups)}).group_ids

    groups = run(data, work)
    out.print(f"[green]✓ '{user_id}' is assigned to: {', '.join(sorted(groups)) or 'nothing'}.[/]")


@user_app.command("categories")
def user_categories(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    categories: Annotated[
        list[str] | None, typer.Argument(help=f"Email on for these: {CATEGORIES} (none: all off).")
    ] = None,
    data: DataOption = None,
) -> None:
    """Choose the categories a user gets email for (all others off)."""
    user = run(data, lambda s: s.sites.update_user(user_id, {"categories": categories or []}))
    chosen = ", ".join(c.value for c in Category if c in user.email_categories)
    out.print(f"[green]✓ '{user_id}' gets email for: {chosen or 'nothing'}.[/]")


@user_app.command("quiet")
def user_quiet(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    windows: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="WINDOW...",
            help="Quiet-hours windows in the user's time zone, e.g. 'mon-fri 22:00-07:00' "
            "'sat,sun 00:00-00:00' (equal times: the whole day). None: no quiet hours.",
        ),
    ] = None,
    data: DataOption = None,
) -> None:
    """Set a user's quiet hours: only fire and sabotage alarms reach them then; the rest
    arrives as one summary when the quiet hours end."""
    user = run(data, lambda s: s.sites.update_user(user_id, {"quiet_hours": windows or []}))
    chosen = "; ".join(w.text() for w in user.quiet_hours)
    out.print(f"[green]✓ '{user_id}' quiet hours: {chosen or 'none'} ({user.time_zone}).[/]")


@user_app.command("test-alarm")
def user_test_alarm(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a user a test alarm: the real alarm email in their language, routed and
    queued like any alarm (the running service delivers it; see 'tocsin outbox list')."""
    sent = run(data, lambda s: s.events.send_test_alarm(user_id))
    if as_json:
        out.print_json(json.dumps(sent.as_dict()))
        return
    out.print(
        f"[green]✓ Test alarm for '{user_id}' queued[/] to {sent.email} "
        f"(group {sent.group_id}, category {sent.category.value}, event {sent.event_id})."
    )


def _set_enabled(user_id: str, enabled: bool, data: Path | None) -> None:
    run(data, lambda s: s.sites.update_user(user_id, {"enabled": enabled}))
    out.print(f"[green]✓ '{user_id}' {'enabled' if enabled else 'disabled'}.[/]")


@user_app.command("disable")
def user_disable(
    user_id: Annotated[str, typer.Argument(metavar="ID")], data: DataOption = None
) -> None:
    """Stop all email to a user (settings are kept)."""
    _set_enabled(user_id, False, data)


@user_app.command("enable")
def user_enable(
    user_id: Annotated[str, typer.Argument(metavar="ID")], data: DataOption = None
) -> None:
    """Resume email to a disabled user."""
    _set_enabled(user_id, True, data)


@user_app.command("remove")
def user_remove(
    user_id: Annotated[str, typer.Argument(metavar="ID")], data: DataOption = None
) -> None:
    """Delete a user."""
    run(data, lambda s: s.sites.remove_user(user_id))
    out.print(f"[green]✓ User '{user_id}' removed.[/]")


@user_app.command("list")
def user_list(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Show every user with groups and categories."""
    from tocsin.services.site_input import user_to_dict

    users = [user_to_dict(u) for u in run(data, lambda s: s.sites.users())]
    now = datetime.now(UTC)
    for user in users:
        user["quiet_until"] = _quiet_until(user, now)
    if as_json:
        out.print_json(json.dumps(users))
        return
    if not users:
        out.print("No users yet: tocsin user add ID --name NAME --email ADDRESS")
    for u in users:
        state = "" if u["enabled"] else " [yellow](disabled)[/]"
        out.print(
            f"{u['id']}  [bold]{u['name']}[/] <{u['email']}> {u['language']} {u['time_zone']}"
            f"{state}\n  groups: {', '.join(u['groups']) or '-'}; "
            f"email for: {', '.join(u['categories']) or 'nothing'}" + _quiet_text(u)
        )


def _quiet_until(user: dict[str, Any], now: datetime) -> str | None:
    """When the quiet hours the user is in now end (local ISO time), ``"always"`` when they
    never end (no hour of the week free), or None."""
    windows = windows_from_data(user["quiet_hours"])
    until = quiet_until(windows, user["time_zone"], now)
    if until is None:
        return None
    if always_quiet(windows, user["time_zone"], now):
        return "always"
    return until.astimezone(zone(user["time_zone"])).isoformat()


def _quiet_text(user: dict[str, Any]) -> str:
    if not user["quiet_hours"]:
        return ""
    windows = "; ".join(w.text() for w in windows_from_data(user["quiet_hours"]))
    until = user["quiet_until"]
    if until == "always":
        now = " [yellow](always quiet: only fire and sabotage alarms are emailed)[/]"
    else:
        now = f" [yellow](quiet until {until[11:16]})[/]" if until else ""
    return f"\n  quiet hours: {windows}{now}"


# ---------------------------------------------------------------------- the site file
@site_app.command("export")
def site_export(
    file: Annotated[str, typer.Argument(metavar="FILE.yaml", help="Where to write ('-': stdout).")],
    data: DataOption = None,
) -> None:
    """Write the whole site (groups and users) as YAML."""
    from tocsin.services.sites import dump_site

    text = dump_site(run(data, lambda s: s.sites.export_site()))
    if file == "-":
        sys.stdout.write(text)
        return
    Path(file).write_text(text, encoding="utf-8")
    out.print(f"[green]✓ Site written to {file}.[/]")


@site_app.command("import")
def site_import(
    file: Annotated[Path, typer.Argument(metavar="FILE.yaml", help="The site file ('-': stdin).")],
    merge: Annotated[
        bool, typer.Option("--merge", help="Keep groups and users the file does not list.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would change.")
    ] = False,
    data: DataOption = None,
) -> None:
    """Set up the site from a YAML file; checked completely before anything is written.

    Without --merge the file is the whole site: groups and users it does not list are removed.
    """
    from tocsin.services.sites import load_site

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"FILE: cannot read {file}: {exc}")
    report = run(
        data, lambda s: s.sites.import_site(load_site(text), replace=not merge, dry_run=dry_run)
    )
    _print_import(report)


def _print_import(report: ImportReport) -> None:
    lines = [
        ("groups added", report.added_groups),
        ("groups changed", report.changed_groups),
        ("groups removed", report.removed_groups),
        ("users added", report.added_users),
        ("users changed", report.changed_users),
        ("users removed", report.removed_users),
    ]
    for label, ids in lines:
        if ids:
            out.print(f"  {label}: {', '.join(ids)}", markup=False)
    if report.applied:
        out.print(f"[green]✓ Site imported[/] ({report.unchanged} unchanged).")
    else:
        out.print(f"Dry run: nothing was changed ({report.unchanged} would stay the same).")
