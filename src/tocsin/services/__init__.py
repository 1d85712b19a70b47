"""Use cases the faces call: thin functions over the core and the machinery.

``Services`` and ``SettingsService`` load their modules on first use (PEP 562), so a
face that needs one service module (``tocsin.services.disk``, say) does not import
every service, the store and the outbox with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import _lazy_exports

if TYPE_CHECKING:
    from tocsin.services.context import Services
    from tocsin.services.settings import SettingsService

_MODULE_OF = {"Services": "tocsin.services.context", "SettingsService": "tocsin.services.settings"}
"""Each public name's module (the same imports as under ``TYPE_CHECKING`` above)."""

__all__ = ["Services", "SettingsService"]

# Type checkers see the imports above, and no catch-all.
if not TYPE_CHECKING:
    __getattr__, __dir__ = _lazy_exports(__name__, _MODULE_OF, __all__)
