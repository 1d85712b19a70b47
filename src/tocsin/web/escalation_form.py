"""The group form's escalation section: form fields ↔ the service's policy dictionary.

Steps are typed one per line as ``MINUTES: user, user``; a line that does not read so
goes on as typed, for the service to refuse with the field named (nothing is guessed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tocsin.model import Category

__all__ = ["escalation_payload", "escalation_values", "escalation_values_from_form"]

_CATEGORIES = tuple(c.value for c in Category)


def escalation_values(own: dict[str, Any] | None) -> dict[str, Any]:
    """What the section shows for a group's own policy (``None``: it inherits)."""
    if own is None:
        return {"mode": "inherit", "categories": [], "steps": "", "every": "", "max": ""}
    steps = "\n".join(f"{s['after_minutes']}: {', '.join(s['users'])}" for s in own["steps"])
    return {
        "mode": "own" if own["categories"] else "off",
        "categories": list(own["categories"]),
        "steps": steps,
        "every": "" if own["remind_every"] is None else str(own["remind_every"]),
        "max": str(own["remind_max"]) if own["remind_every"] else "",
    }


def escalation_values_from_form(form: Mapping[str, str], categories: list[str]) -> dict[str, Any]:
    """What the admin typed, in the shape of :func:`escalation_values`."""
    mode = form.get("esc_mode", "inherit")
    return {
        "mode": mode if mode in ("inherit", "own", "off") else "inherit",
        "categories": [c for c in categories if c in _CATEGORIES],
        "steps": form.get("esc_steps", "").strip(),
        "every": form.get("esc_every", "").strip(),
        "max": form.get("esc_max", "").strip(),
    }


def _number(text: str) -> object:
    return int(text) if text.isascii() and text.isdigit() else text


def _step(line: str) -> dict[str, object]:
    minutes, _, users = line.partition(":")
    return {
        "after_minutes": _number(minutes.strip()),
        "users": [u.strip() for u in users.split(",") if u.strip()],
    }


def escalation_payload(values: dict[str, Any]) -> object:
    """The service's form of the section: ``"inherit"``, an empty policy, or the policy."""
    if values["mode"] == "inherit":
        return "inherit"
    if values["mode"] == "off":
        return {"categories": []}
    every = values["every"]
    return {
        "categories": list(values["categories"]),
        "steps": [_step(line) for line in values["steps"].splitlines() if line.strip()],
        "remind_every": _number(every) if every else None,
        "remind_max": (_number(values["max"]) if values["max"] else 1) if every else 0,
    }
