"""The template chain of the emails: an admin's override directory first, then the shipped ones.

Rendering runs in Jinja2's immutable sandbox with HTML autoescaping; a template
typo fails loudly (``StrictUndefined``) so the renderer can fall back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

_TEMPLATE_PACKAGE: Final = ("tocsin", "templates/email")


def _sandbox(loader: BaseLoader) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=select_autoescape(("html", "htm"), default_for_string=False, default=False),
        undefined=StrictUndefined,  # a typo in an admin's template fails loudly, then falls back
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


class EmailTemplates:
    """The template chain: ``override_dir`` first (if given), then the shipped templates.

    Templates named ``*.html`` are autoescaped, ``*.txt`` are not.  Rendering is
    sandboxed: templates cannot reach Python internals (``__class__``, ...) nor
    change the values they get.  Templates are compiled once and not reloaded:
    build a new instance when the override directory changes.
    """

    def __init__(self, override_dir: str | os.PathLike[str] | None = None) -> None:
        shipped = PackageLoader(*_TEMPLATE_PACKAGE)
        self.override_dir = Path(override_dir) if override_dir is not None else None
        self._shipped = _sandbox(shipped)
        self._chain = (
            _sandbox(ChoiceLoader([FileSystemLoader(self.override_dir), shipped]))
            if self.override_dir is not None
            else self._shipped
        )

    def render(self, name: str, context: Mapping[str, object], *, shipped: bool = False) -> str:
        """Render template ``name``; ``shipped`` skips the override directory.

        Raises ``jinja2.TemplateError`` (``SecurityError``, ``UndefinedError``,
        ``TemplateNotFound``, ...) and whatever an admin's template raises.
        """
        env = self._shipped if shipped else self._chain
        return env.get_template(name).render(context)
