"""Use cases the faces call: thin functions over the core and the machinery.

``Services`` and ``SettingsService`` load their modules on first use (PEP 562), so a
face that needs one service module (``tocsin.services.disk``, say) does not import
every service, the store and the outbox with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tocsin.services.context import Services
    from tocsin.services.settings import SettingsService

_MODULE_OF = {"Services": "tocsin.services.context", "SettingsService": "tocsin.services.settings"}
"""Each public name's module (the same imports as under ``TYPE_CHECKING`` above)."""

__all__ = ["Services", "SettingsService"]

if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all

    def __getattr__(name: str) -> Any:
        """A public name, imported from its module on first use (then a plain attribute)."""
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    """The module's names with the public ones not loaded yet."""
    return sorted({*globals(), *__all__})
