"""The shipped email templates kept as skeletons: Jinja's text without running Jinja (issue 11).

In a burst of alarms rendering is the intake's largest cost, and Jinja ran about a
third of it: 30-40 µs an email for its two parts (the templates' generators, the
sandbox's attribute lookups, an ``escape()`` call per value), where what changes from
one email to the next is only the values put in.  The shipped templates use their text
values in two ways only: they test whether a value is empty (``{% if subheadline %}``,
a loop over a list of some length) and they print it, as it is or autoescaped.  So a
template rendered once with a marker in place of each non-empty value gives, split at
the markers, the text of every email of the same *shape* (the same keys, which values
are empty, how long the lists are) with the values in the marked places: a
:class:`_Skeleton`.  Filling one in is a few C calls.

``tests/routing/test_skeletons.py`` holds the shipped templates to that for any values,
every kind of email and language: the same text as Jinja's, character for character.
An admin's override templates may do anything with a value, so they always go through
Jinja (:meth:`tocsin.alarm_email.EmailTemplates.render`); so does a context holding
anything but text, ``None``, lists of text (or of tuples of text) and dicts of text (a
summary's count), and a template that fails.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from types import MappingProxyType
from typing import Final, NoReturn, TypeAlias

__all__ = ["FrozenTexts", "Skeletons"]

Shape: TypeAlias = tuple[object, ...]
"""What a skeleton fits: the context's keys, the lists' lengths, which values are empty."""

KEPT: Final = 256
"""Skeletons kept (a few kB each); all are dropped when one more is made."""

_MARK: Final = "\x00"
# A value's place in the marked rendering; a shipped template's own text holds no NUL.
_MARKED: Final = re.compile("\x00([0-9]+)\x00")
_TEXT: Final = {str}
_TUPLE: Final = {tuple}
_NONE_KEPT: Final[Mapping[str, _Skeleton | None]] = MappingProxyType({})


class FrozenTexts(dict[str, str]):
    """Texts by code that never change once made (a language's words in the emails,
    ``t`` in the templates): a dict to every reader, Jinja included, that refuses to be
    changed, and whose values a skeleton takes as listed once, not walked per email
    (48 words: about 5 µs of an email's rendering, with the copy it replaces)."""

    __slots__ = ("codes", "listed")

    def __init__(self, texts: Mapping[str, str]) -> None:
        super().__init__(texts)
        self.listed: list[str] = list(self.values())
        if not set(map(type, self.listed)) <= _TEXT:
            raise TypeError("FrozenTexts holds text values only")
        self.codes: tuple[str, ...] = tuple(self)

    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError("FrozenTexts cannot be changed")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


class _Unfit(Exception):
    """A context value of a kind a skeleton does not take (Jinja renders it)."""


class _Skeleton:
    """A template's text for one shape: static pieces, and which value goes between them."""

    __slots__ = ("_escaped", "_layout", "_take")

    def __init__(self, marked: str, escaped: bool) -> None:
        pieces = _MARKED.split(marked)
        places = [int(p) for p in pieces[1::2]]
        # The static pieces with a gap between each two, where a value goes.
        self._layout: list[str] = [piece if i % 2 == 0 else "" for i, piece in enumerate(pieces)]
        self._escaped = escaped
        self._take: Callable[[Sequence[str]], Sequence[str]]
        if len(places) > 1:
            self._take = itemgetter(*places)  # a tuple of the values, in one C call
        else:
            self._take = lambda values: [values[p] for p in places]

    def fill(self, values: Sequence[str]) -> str:
        """The template's text with ``values`` in their places (autoescaped, if it is)."""
        taken = self._take(values)
        if self._escaped:
            taken = _escaped(taken)
        # The values into the gaps of a copy, in one C call: half the time of joining
        # the pieces zipped with the values (about 2 µs of an email's 4, issue 11).
        text = self._layout.copy()
        text[1::2] = taken
        return "".join(text)


class Skeletons:
    """The skeletons of one template environment's templates, by name and shape.

    ``render`` is the environment's rendering (``(name, context) -> text``) and
    ``escaped`` tells which templates it autoescapes (Jinja's ``autoescape(name)``).
    Thread-safe: two threads meeting a new shape at once both make it, one is kept.
    """

    def __init__(
        self,
        render: Callable[[str, Mapping[str, object]], str],
        escaped: Callable[[str], bool],
    ) -> None:
        self._render = render
        self._escaped = escaped
        # By shape, then by name (one lookup of the long shape for both parts of an
        # email); None: Jinja's.
        self._kept: dict[Shape, dict[str, _Skeleton | None]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(map(len, list(self._kept.values())))

    def fill(self, names: Iterable[str], context: Mapping[str, object]) -> list[str] | None:
        """Templates ``names`` over ``context``, as Jinja renders them; None when a
        skeleton does not fit one of them (the caller renders them with Jinja)."""
        try:
            values, shape = _flat(context)
        except _Unfit:
            return None
        kept = self._kept.get(shape, _NONE_KEPT)
        texts = []
        for name in names:
            try:
                skeleton = kept[name]
            except KeyError:  # a new shape (a clear() by another thread is harmless)
                skeleton = self._make(name, context, values)
                with self._lock:
                    if len(self) >= KEPT:
                        self._kept.clear()
                    self._kept.setdefault(shape, {})[name] = skeleton
            if skeleton is None:
                return None
            texts.append(skeleton.fill(values))
        return texts

    def _make(
        self, name: str, context: Mapping[str, object], values: list[str]
    ) -> _Skeleton | None:
        try:
            marked = self._render(name, _marked(context, values))
            escaped = self._escaped(name)
        except Exception:  # Jinja renders it, and raises what it raises
            return None
        found = _MARKED.findall(marked)
        if _MARKED.sub("", marked).count(_MARK) or any(int(p) >= len(values) for p in found):
            return None  # a NUL of the template's own: not a text to split at markers
        return _Skeleton(marked, escaped)


def _flat(context: Mapping[str, object]) -> tuple[list[str], Shape]:
    """The context's text values in a fixed order, and its shape; raises :class:`_Unfit`."""
    values: list[str] = []
    shape: list[object] = []
    for key, value in context.items():
        if type(value) is str:
            values.append(value)
            shape.append(key)
        elif value is None:
            shape.append((key, None))
        elif type(value) is list:
            items, lengths = _items(value)
            values += items
            shape.append((key, lengths))
        elif type(value) is FrozenTexts:
            values += value.listed
            shape.append((key, value.codes))
        elif type(value) is dict:
            texts = list(value.values())
            if not set(map(type, texts)) <= _TEXT:
                raise _Unfit(key)
            values += texts
            shape.append((key, *value))
        else:
            raise _Unfit(key)
    shape.append(tuple(map(bool, values)))  # which values are empty
    return values, tuple(shape)


def _items(value: list[object]) -> tuple[list[str], object]:
    """A list's text values (its items, or the items of its tuples: rows of label and
    value) and its lengths; raises :class:`_Unfit`."""
    kinds = set(map(type, value))
    if kinds <= _TEXT:
        return value, len(value)  # type: ignore[return-value]
    if kinds == _TUPLE:
        rows: list[tuple[object, ...]] = value  # type: ignore[assignment]
        items = list(chain.from_iterable(rows))
        if set(map(type, items)) <= _TEXT:
            return items, tuple(map(len, rows))  # type: ignore[return-value]
    raise _Unfit(kinds)


def _marked(context: Mapping[str, object], values: list[str]) -> dict[str, object]:
    """``context`` with each non-empty text value replaced by its marker, in the order
    of :func:`_flat` (empty ones kept: the template's ``if`` must see them empty)."""
    marks = iter([f"{_MARK}{i}{_MARK}" if v else "" for i, v in enumerate(values)])
    out: dict[str, object] = {}
    for key, value in context.items():
        if type(value) is str:
            out[key] = next(marks)
        elif type(value) is list:
            out[key] = [
                tuple(next(marks) for _ in item) if type(item) is tuple else next(marks)
                for item in value
            ]
        elif type(value) is dict or type(value) is FrozenTexts:
            out[key] = {k: next(marks) for k in value}
        else:
            out[key] = value
    return out


def _escaped(values: Sequence[str]) -> list[str]:
    """``values`` as Jinja's autoescape writes each (MarkupSafe's ``escape``), in one pass.

    Escaping works a character at a time and leaves NUL alone, so the values joined by
    NUL escape to the escaped values joined by NUL; a value holding a NUL itself is
    escaped on its own.
    """
    from markupsafe import escape

    joined = str(escape(_MARK.join(values))).split(_MARK)
    if len(joined) == len(values):
        return joined
    return [str(escape(v)) for v in values]
