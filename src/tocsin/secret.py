"""Secrets that never show, and the sentinel that tells "left out" from "cleared"."""

from __future__ import annotations

from enum import Enum
from typing import Final, Literal

__all__ = ["UNSET", "Secret", "Unset"]

_MASK: Final = "<secret>"


class Secret:
    """A value that prints as ``<secret>`` everywhere; only :meth:`reveal` gives it.

    ``repr``, ``str`` and ``format`` are masked, so a secret that slips into a
    log line, an exception text or a JSON answer shows nothing.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value. Call it only where the value goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        # A secret is never pickled by accident (multiprocessing, caches).
        raise TypeError("Secret values cannot be pickled")


class Unset(Enum):
    """Type of :data:`UNSET`."""

    token = 0

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final[Literal[Unset.token]] = Unset.token
"""A field that an update leaves out: keep the stored value."""
