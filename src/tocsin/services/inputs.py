"""Checking input from outside (JSON, YAML, CLI options) field by field.

One reader, :class:`Fields`, serves the event intake, the groups and users API, the
CLI and the site file, so the same mistake gets the same field-named answer
everywhere.  Problems are collected, not raised one at a time: a client learns
about every bad field of a request at once.  :class:`InputRefused` carries them as
:class:`~tocsin.validation.Issue` objects (stable ``code``, English and German text).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Final, TypeVar

from tocsin.errors import ConfigError
from tocsin.headers import UnsafeHeaderText, check_header_text, unsafe_character
from tocsin.validation import Issue, Level

__all__ = ["Fields", "InputRefused", "decode_json", "issue", "refuse"]

E = TypeVar("E", bound=StrEnum)


def issue(field: str, code: str, **params: object) -> Issue:
    """An error about ``field`` (parameters are shown as text)."""
    return Issue(
        field=field, code=code, level=Level.ERROR, params={k: str(v) for k, v in params.items()}
    )


class InputRefused(ConfigError, ValueError):
    """Input that was refused as a whole; ``issues`` names each bad field and the problem.

    ``conflict`` is True when the only problems are conflicts with what is stored
    (an id taken, a client event id reused): HTTP 409 rather than 422.
    """

    def __init__(self, issues: Iterable[Issue], *, conflict: bool = False) -> None:
        found = tuple(issues)
        first = found[0] if found else issue("", "invalid_value", detail="refused")
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        super().__init__(f"{first.field}: {first.text('en')}{more}", issues=found)
        self.conflict = conflict

    def as_dicts(self, language: str = "en") -> list[dict[str, object]]:
        """The issues, JSON-ready."""
        return [i.as_dict(language) for i in self.issues]


MAX_NUMBER_CHARS: Final = 100
"""Characters of one JSON number: far beyond any reading, far below Python's int limit."""


class _Refusal(ValueError):
    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code, self.params = code, params


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # RFC 8259 §4: names "SHOULD be unique"; parsers differ on which value wins,
    # so a body two parsers could read differently is refused, not guessed at.
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found:
            raise _Refusal("json_duplicate_key", key=key[:80])
        found[key] = value
    return found


def _number(kind: type[int] | type[float]) -> Callable[[str], object]:
    def parse(text: str) -> object:
        if len(text) > MAX_NUMBER_CHARS:
            raise _Refusal("json_number_too_long", limit=MAX_NUMBER_CHARS)
        return kind(text)

    return parse


def _no_constant(name: str) -> object:
    raise _Refusal("malformed_json", detail=f"{name} is not a JSON number")


def decode_json(body: bytes) -> object:
    """Strict JSON from a request body: UTF-8, no NaN / Infinity, no key twice in one
    object, no number longer than :data:`MAX_NUMBER_CHARS`.

    Raises :class:`InputRefused` (field ``body``: ``malformed_json``,
    ``json_duplicate_key`` or ``json_number_too_long``) saying what is wrong.
    """
    if not body.strip():
        raise refuse("body", "malformed_json", detail="the body is empty")
    try:
        return json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_pairs,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_no_constant,
        )
    except _Refusal as exc:
        raise refuse("body", exc.code, **exc.params) from None
    except json.JSONDecodeError as exc:
        detail = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    except UnicodeDecodeError as exc:
        detail = f"not UTF-8 (byte {exc.start + 1})"
    except RecursionError:
        detail = "nested too deeply"
    raise refuse("body", "malformed_json", detail=detail)


def refuse(field: str, code: str, **params: object) -> InputRefused:
    """An :class:`InputRefused` with one issue (raise it)."""
    return InputRefused([issue(field, code, **params)])


def _choices(enum: type[StrEnum]) -> str:
    """``enum``'s values as an error message lists them (only on the error path)."""
    return ", ".join(e.value for e in enum)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


class Fields:
    """Reads the fields of one input object, adding an issue per problem to ``issues``.

    ``prefix`` names the object in field paths (``events[3].``); unknown keys are
    problems too, so a typo (``severty``) is never silently ignored.  A reader method
    returns a harmless default after a problem, so checking goes on.
    """

    def __init__(
        self,
        data: object,
        *,
        prefix: str = "",
        known: Collection[str],
        issues: list[Issue],
    ) -> None:
        self.prefix = prefix
        self.issues = issues
        self.data: Mapping[str, object] = data if isinstance(data, dict) else {}
        if not isinstance(data, dict):
            self.problem("", "field_type", expected="an object")
            return
        for key in self.data:
            if key not in known:
                self.problem(str(key), "field_unknown", known=", ".join(sorted(known)))

    def path(self, name: str) -> str:
        """The field path of ``name`` in error messages."""
        return f"{self.prefix}{name}" if name else self.prefix.rstrip(".") or "body"

    def problem(self, name: str, code: str, **params: object) -> None:
        """Record a problem with field ``name``."""
        self.issues.append(issue(self.path(name), code, **params))

    def has(self, name: str) -> bool:
        """True if ``name`` is present and not null."""
        return self.data.get(name) is not None

    def text(
        self,
        name: str,
        *,
        limit: int,
        required: bool = True,
        default: str = "",
        header: bool = True,
    ) -> str:
        """A string of at most ``limit`` characters.

        ``header``: it may reach an email header, so line breaks, control characters
        and encoded words are refused; otherwise line breaks and tabs are allowed.
        """
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, "field_missing")
            return default
        if not isinstance(value, str):
            self.problem(name, "field_type", expected=f"a string, not {_type_name(value)}")
            return default
        if len(value) > limit:
            self.problem(name, "field_too_long", limit=limit, length=len(value))
            return default
        if required and not value.strip():
            self.problem(name, "field_empty")
            return default
        return value if self._safe(name, value, header=header) else default

    def _safe(self, name: str, value: str, *, header: bool) -> bool:
        if header:
            try:
                check_header_text(value, what=f"'{self.path(name)}'")
            except UnsafeHeaderText as exc:
                self.problem(name, "field_unsafe", detail=str(exc))
                return False
            return True
        # Free text may have lines (any break str.splitlines() knows) and tabs.
        problem = unsafe_character(" ".join(value.splitlines()).replace("\t", " "))
        if problem is not None:
            self.problem(name, "field_unsafe", detail=f"a control character: {problem}")
            return False
        return True

    def choice(self, name: str, enum: type[E], *, default: E | None = None) -> E | None:
        """One of ``enum``'s values; required unless a ``default`` is given."""
        value = self.data.get(name)
        if value is None:
            if default is None:
                self.problem(name, "field_missing")
            return default
        if not isinstance(value, str):
            expected = f"one of {_choices(enum)}, not {_type_name(value)}"
            self.problem(name, "field_type", expected=expected)
            return default
        try:
            return enum(value)
        except ValueError:
            shown = value[:40].encode("ascii", "backslashreplace").decode()
            self.problem(name, "field_choice", value=shown, choices=_choices(enum))
            return default

    def number(self, name: str) -> float | None:
        """An optional finite number (JSON numbers only: no strings, no booleans)."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, "field_type", expected=f"a number, not {_type_name(value)}")
            return None
        result = float(value)
        if not math.isfinite(result):
            self.problem(name, "field_number")
            return None
        return result

    def integer(self, name: str, *, low: int, high: int) -> int | None:
        """An optional whole number within ``low``..``high``."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(name, "field_range", low=low, high=high)
            return None
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        """An optional true / false."""
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(name, "field_type", expected=f"true or false, not {_type_name(value)}")
            return default
        return value

    def strings(self, name: str, *, limit: int = 1000) -> list[str]:
        """An optional list of strings (absent: empty)."""
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(name, "field_type", expected="a list of strings")
            return []
        if len(value) > limit:
            self.problem(name, "field_range", low=0, high=limit)
            return []
        return list(value)

    def time(self, name: str) -> datetime | None:
        """An optional ISO 8601 time with a time zone."""
        value = self.data.get(name)
        if value is None:
            return None
        try:
            if not isinstance(value, str) or len(value) > 40:
                raise ValueError(value)
            parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            self.problem(name, "field_time")
            return None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.problem(name, "field_time")
            return None
        return parsed
