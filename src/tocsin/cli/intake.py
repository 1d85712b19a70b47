"""``tocsin intake mapping show|set|reset``: the webhooks' label mapping from a shell (a face).

``set`` takes ``FIELD=VALUE`` pairs like ``tocsin settings set``; the list fields take
comma-separated names (``device=host,instance``).  Exit status 0 on success, 2 for
refused input (the message names the field), 1 when the store cannot be opened.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tocsin.cli.support import DataOption, JsonOption, fail, out, run
from tocsin.intake.mapping import MAPPING_FIELDS, IntakeMapping, mapping_to_dict

if TYPE_CHECKING:
    from tocsin.services.context import Services

__all__ = ["intake_app"]

intake_app = typer.Typer(
    help="Ways in: Alertmanager and Grafana webhooks (see /ways-in).", no_args_is_help=True
)
mapping_app = typer.Typer(
    help="Which alert label gives group, category, severity, device, sensor and text.",
    no_args_is_help=True,
)
intake_app.add_typer(mapping_app, name="mapping")

_SINGLE = ("default_group", "default_category", "default_severity")


def _print(mapping: IntakeMapping, as_json: bool) -> None:
    data = mapping_to_dict(mapping)
    if as_json:
        out.print_json(json.dumps({"mapping": data}))
        return
    for name in MAPPING_FIELDS:
        value = data[name]
        shown = ", ".join(value) if isinstance(value, list) else value
        if name == "default_group" and not value:
            shown = "(the only top-level group)"
        out.print(f"{name:<17} {shown}")


@mapping_app.command("show")
def mapping_show(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Show the mapping (labels are looked up first, then annotations)."""
    _print(run(data, lambda s: s.webhooks.mapping.load()), as_json)


def _changes(pairs: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            fail(f"'{pair}': write FIELD=VALUE, e.g. device=host,instance")
        if name in _SINGLE:
            changes[name] = value.strip()
        else:
            changes[name] = [v.strip() for v in value.split(",") if v.strip()]
    return changes


@mapping_app.command("set")
def mapping_set(
    pairs: Annotated[
        list[str],
        typer.Argument(
            metavar="FIELD=VALUE...",
            help=f"Fields: {', '.join(MAPPING_FIELDS)}; lists comma-separated.",
        ),
    ],
    data: DataOption = None,
) -> None:
    """Change fields of the mapping; the others stay."""
    changes = _changes(pairs)

    def work(s: Services) -> IntakeMapping:
        return s.webhooks.mapping.update(changes)

    mapping = run(data, work)
    out.print("[green]✓ Mapping saved.[/]")
    _print(mapping, False)


@mapping_app.command("reset")
def mapping_reset(data: DataOption = None) -> None:
    """Back to the defaults (severity=critical is an alarm, warning a warning, ...)."""
    mapping = run(data, lambda s: s.webhooks.mapping.reset())
    out.print("[green]✓ Mapping reset to the defaults.[/]")
    _print(mapping, False)
