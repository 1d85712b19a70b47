"""``tocsin group set-escalation|show-escalation``: a group's escalation policy from a shell.

Registered on the ``group`` commands by importing this module (see :mod:`tocsin.cli.commands`,
whose ``group`` entry imports it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tocsin.cli.sites import group_app
from tocsin.cli.support import DataOption, JsonOption, fail, out, run
from tocsin.model import Category

if TYPE_CHECKING:
    from tocsin.services.context import Services

__all__ = ["group_set_escalation", "group_show_escalation"]


def parse_step(text: str) -> dict[str, object]:
    """``5:carol,dan`` → ``{"after_minutes": 5, "users": ["carol", "dan"]}``."""
    minutes, sep, users = text.partition(":")
    if not sep or not minutes.strip().isdigit() or not users.strip():
        fail(f"--step {text!r}: write MINUTES:USER[,USER...], e.g. --step 5:carol,dan")
    return {
        "after_minutes": int(minutes),
        "users": [u.strip() for u in users.split(",") if u.strip()],
    }


@group_app.command("set-escalation")
def group_set_escalation(
    group_id: Annotated[str, typer.Argument(metavar="ID")],
    category: Annotated[
        list[Category] | None,
        typer.Option("--category", help="A category that escalates (repeat: fire, sabotage...)."),
    ] = None,
    step: Annotated[
        list[str] | None,
        typer.Option(help="MINUTES:USER[,USER...]: email these users if nobody acknowledged."),
    ] = None,
    remind_every: Annotated[
        int | None, typer.Option(help="Remind those told every N minutes.", min=1)
    ] = None,
    remind_max: Annotated[int, typer.Option(help="At most this many reminders.", min=0)] = 0,
    inherit: Annotated[
        bool, typer.Option("--inherit", help="Drop this group's own policy: use the parent's.")
    ] = False,
    off: Annotated[
        bool, typer.Option("--off", help="No escalation here and below (unless overridden).")
    ] = False,
    data: DataOption = None,
) -> None:
    """Set a group's escalation policy: who is emailed when nobody acknowledges an alarm."""
    if inherit and off:
        fail("Give --inherit or --off, not both.")
    policy: dict[str, object] | None = None
    if not inherit:
        policy = {"categories": [], "steps": []}
        if not off:
            if not category:
                fail("Name at least one --category (e.g. --category fire), or give --off.")
            policy = {
                "categories": [c.value for c in category],
                "steps": [parse_step(s) for s in step or []],
                "remind_every": remind_every,
                "remind_max": remind_max if remind_every else 0,
            }
    run(data, lambda s: s.sites.update_group(group_id, {"escalation": policy}))
    if inherit:
        out.print(f"[green]✓ '{group_id}' inherits its escalation policy.[/]")
    elif off:
        out.print(f"[green]✓ '{group_id}': no escalation here and below.[/]")
    else:
        out.print(f"[green]✓ '{group_id}' escalation: {_text(policy or {})}.[/]")


@group_app.command("show-escalation")
def group_show_escalation(
    group_id: Annotated[str, typer.Argument(metavar="ID")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the escalation policy that applies in a group, and where it comes from."""

    def work(s: Services) -> dict[str, Any]:
        return s.sites.group_dict(s.sites.group(group_id))

    group = run(data, work)
    found = group["effective_escalation"]
    if as_json:
        out.print_json(json.dumps({"own": group["escalation"], "effective": found}))
        return
    if found is None:
        out.print(f"'{group_id}': no escalation (no policy here or above).")
        return
    source = "own policy" if found["from"] == group_id else f"from '{found['from']}'"
    out.print(f"'{group_id}' ({source}): {_text(found)}")


def _text(policy: dict[str, Any]) -> str:
    if not policy.get("categories"):
        return "off"
    steps = "; ".join(
        f"after {s['after_minutes']} min → {', '.join(s['users'])}" for s in policy["steps"]
    )
    parts = [", ".join(policy["categories"]), steps or "no steps"]
    if policy.get("remind_every"):
        parts.append(f"remind every {policy['remind_every']} min, {policy['remind_max']}×")
    return "; ".join(parts)
