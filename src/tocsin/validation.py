"""Validation results: field-named issues, each an error (refuse) or advice (save, but show)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Any

from tocsin.address import Address, InvalidAddress
from tocsin.i18n import translate

__all__ = ["Issue", "Level", "Report", "address_issue", "internal_address_issue"]


class Level(StrEnum):
    """How serious an issue is. Only ``error`` refuses a save."""

    ERROR = "error"
    WARNING = "warning"
    TIP = "tip"


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding about one field, with a stable ``code`` and text parameters.

    ``text_code`` names a more specific text than the code's own (the code
    ``invalid_address`` says *what* is wrong, ``address_no_at`` *why*), so clients
    keep branching on the stable code while users read one sentence in their language.
    """

    field: str
    code: str
    level: Level
    params: Mapping[str, str] = dataclass_field(default_factory=dict)
    text_code: str = ""

    def text(self, language: str = "en") -> str:
        """The issue in words, in ``language``."""
        return translate(self.text_code or self.code, language, **self.params)

    def as_dict(self, language: str = "en") -> dict[str, Any]:
        """A JSON-ready form, as the API and the CLI show it."""
        return {
            "field": self.field,
            "code": self.code,
            "level": self.level.value,
            "message": self.text(language),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """All issues found; ``ok`` when none is an error."""

    issues: tuple[Issue, ...] = ()

    @classmethod
    def of(cls, issues: Iterable[Issue]) -> Report:
        """Build a report from any iterable of issues."""
        return cls(tuple(issues))

    @property
    def errors(self) -> tuple[Issue, ...]:
        """Issues that refuse a save."""
        return tuple(i for i in self.issues if i.level is Level.ERROR)

    @property
    def advice(self) -> tuple[Issue, ...]:
        """Warnings and tips: saved, but shown to the user."""
        return tuple(i for i in self.issues if i.level is not Level.ERROR)

    @property
    def ok(self) -> bool:
        """True when nothing refuses the save."""
        return not self.errors

    def __add__(self, other: Report) -> Report:
        return Report(self.issues + other.issues)

    def as_dicts(self, language: str = "en") -> list[dict[str, Any]]:
        """Every issue as JSON, its text in ``language`` (what the API and ``--json`` show)."""
        return [issue.as_dict(language) for issue in self.issues]


def address_issue(field: str, error: InvalidAddress) -> Issue:
    """The error for an address refused by :func:`~tocsin.address.parse_address`."""
    return Issue(field, "invalid_address", Level.ERROR, dict(error.params), text_code=error.code)


def internal_address_issue(field: str, address: Address) -> Issue:
    """The warning for an address at an internal domain (accepted, but worth knowing)."""
    return Issue(field, "address_internal", Level.WARNING, {"address": address.text})
