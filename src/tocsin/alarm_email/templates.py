"""The template chain of the emails: an admin's override directory first, then the shipped ones.

Rendering runs in Jinja2's immutable sandbox with HTML autoescaping; a template
typo fails loudly (``StrictUndefined``) so the renderer can fall back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeAlias

from tocsin.alarm_email.skeletons import Skeletons

if TYPE_CHECKING:
    from jinja2 import BaseLoader
    from jinja2.sandbox import ImmutableSandboxedEnvironment

_TEMPLATE_PACKAGE: Final = ("tocsin", "templates/email")
_Pair: TypeAlias = "tuple[ImmutableSandboxedEnvironment, ImmutableSandboxedEnvironment]"
"""The shipped templates' environment, and the chain's (the same without overrides)."""


def _sandbox(loader: BaseLoader) -> ImmutableSandboxedEnvironment:
    from jinja2 import StrictUndefined, select_autoescape
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=select_autoescape(("html", "htm"), default_for_string=False, default=False),
        undefined=StrictUndefined,  # a typo in an admin's template fails loudly, then falls back
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def _environments(override_dir: Path | None) -> _Pair:
    from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader

    shipped = PackageLoader(*_TEMPLATE_PACKAGE)
    alone = _sandbox(shipped)
    if override_dir is None:
        return alone, alone
    return alone, _sandbox(ChoiceLoader([FileSystemLoader(override_dir), shipped]))


class EmailTemplates:
    """The template chain: ``override_dir`` first (if given), then the shipped templates.

    Templates named ``*.html`` are autoescaped, ``*.txt`` are not.  Rendering is
    sandboxed: templates cannot reach Python internals (``__class__``, ...) nor
    change the values they get.  Templates are compiled once and not reloaded:
    build a new instance when the override directory changes.

    Jinja2 and the environments come with the first render, not with the instance:
    every command that opens the data directory builds one (through the events
    service), and most never render an email.
    """

    def __init__(
        self, override_dir: str | os.PathLike[str] | None = None, *, skeletons: bool = True
    ) -> None:
        """``skeletons=False``: every render through Jinja (the tests compare the two)."""
        self.override_dir = Path(override_dir) if override_dir is not None else None
        self._built: _Pair | None = None
        self._lock = threading.Lock()
        self._skeletons = Skeletons(self._shipped, self._escaped) if skeletons else None

    def _shipped(self, name: str, context: Mapping[str, object]) -> str:
        return _render(self._pair()[0], name, context)

    def _escaped(self, name: str) -> bool:
        rule = self._pair()[0].autoescape
        return bool(rule(name) if callable(rule) else rule)

    def _pair(self) -> _Pair:
        built = self._built
        if built is None:
            with self._lock:  # one pair per instance, whichever thread renders first
                if self._built is None:
                    self._built = _environments(self.override_dir)
                built = self._built
        return built

    def render(self, name: str, context: Mapping[str, object], *, shipped: bool = False) -> str:
        """Render template ``name`` through Jinja; ``shipped`` skips the override directory.

        Raises ``jinja2.TemplateError`` (``SecurityError``, ``UndefinedError``,
        ``TemplateNotFound``, ...) and whatever an admin's template raises.
        """
        shipped_env, chain = self._pair()
        return _render(shipped_env if shipped else chain, name, context)

    def filled(self, names: Sequence[str], context: Mapping[str, object]) -> list[str] | None:
        """The shipped templates ``names`` over ``context`` from their kept skeletons
        (:mod:`tocsin.alarm_email.skeletons`: Jinja's text, without running Jinja), or
        None: an override directory is set, or a skeleton does not fit (then
        :meth:`render` each)."""
        if self._skeletons is None or self.override_dir is not None:
            return None
        return self._skeletons.fill(names, context)


def _render(env: ImmutableSandboxedEnvironment, name: str, context: Mapping[str, object]) -> str:
    """Template ``name`` of ``env`` over ``context``, through Jinja."""
    template = env.get_template(name)
    # What Template.render() does, less one cost: it copies the globals into a new
    # context through the template's ChainMap (range, dict, ...: a key at a time),
    # about 8 µs of an email's two parts.  Merged here in one C pass instead, the
    # context's values over the globals as there; shared=True takes the dict as is.
    values = template.new_context({**env.globals, **context}, shared=True)
    try:
        return env.concat(template.root_render_func(values))
    except Exception:
        env.handle_exception()  # re-raises, its traceback pointing into the template
        raise  # not reached
