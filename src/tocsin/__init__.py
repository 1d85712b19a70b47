"""Tocsin: email notifications for alarms and warnings.

The public names are re-exported here and loaded on first use (PEP 562): ``import
tocsin`` loads neither the CLI nor the web stack, nor the transports, until a name is
asked for; ``tocsin.SMTPTransport`` (or ``from tocsin import SMTPTransport``) imports
its module then.  Type checkers see the imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tocsin.address import Address, InvalidAddress, parse_address
    from tocsin.errors import (
        AuthFailed,
        ConfigError,
        ConfigurationProblem,
        ConnectFailed,
        DeliveryError,
        DeliveryTimeout,
        MessageRejected,
        PermanentFailure,
        Reason,
        SenderRejected,
        ServerBusy,
        ServerRejected,
        SignInFailed,
        SignInRefused,
        Step,
        StorageFull,
        TemporaryFailure,
        TLSFailed,
        TLSRequired,
        TocsinError,
    )
    from tocsin.message import Mail, compose
    from tocsin.model import (
        AlarmGroup,
        Category,
        CategoryPolicy,
        Event,
        GroupSettings,
        Severity,
        State,
        User,
        email_id,
        new_id,
    )
    from tocsin.routing import (
        Decision,
        GroupTree,
        GroupTreeError,
        RoutingReason,
        Snapshot,
        build_tree,
        effective_policy,
        route,
        summarize,
    )
    from tocsin.secret import UNSET, Secret
    from tocsin.settings import DEFAULT_PORTS, EmailSettings, Encryption, TransportKind
    from tocsin.transports import (
        DeliveryResult,
        MockTransport,
        Outcome,
        RecipientResult,
        SMTPTransport,
        Transport,
    )
    from tocsin.validation import Issue, Level, Report

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "tocsin.address": ("Address", "InvalidAddress", "parse_address"),
    "tocsin.errors": (
        "AuthFailed",
        "ConfigError",
        "ConfigurationProblem",
        "ConnectFailed",
        "DeliveryError",
        "DeliveryTimeout",
        "MessageRejected",
        "PermanentFailure",
        "Reason",
        "SenderRejected",
        "ServerBusy",
        "ServerRejected",
        "SignInFailed",
        "SignInRefused",
        "Step",
        "StorageFull",
        "TemporaryFailure",
        "TLSFailed",
        "TLSRequired",
        "TocsinError",
    ),
    "tocsin.message": ("Mail", "compose"),
    "tocsin.model": (
        "AlarmGroup",
        "Category",
        "CategoryPolicy",
        "Event",
        "GroupSettings",
        "Severity",
        "State",
        "User",
        "email_id",
        "new_id",
    ),
    "tocsin.routing": (
        "Decision",
        "GroupTree",
        "GroupTreeError",
        "RoutingReason",
        "Snapshot",
        "build_tree",
        "effective_policy",
        "route",
        "summarize",
    ),
    "tocsin.secret": ("UNSET", "Secret"),
    "tocsin.settings": ("DEFAULT_PORTS", "EmailSettings", "Encryption", "TransportKind"),
    "tocsin.transports": (
        "DeliveryResult",
        "MockTransport",
        "Outcome",
        "RecipientResult",
        "SMTPTransport",
        "Transport",
    ),
    "tocsin.validation": ("Issue", "Level", "Report"),
}
"""Each public name's module (the same imports as under ``TYPE_CHECKING`` above)."""
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


__all__ = [
    "DEFAULT_PORTS",
    "UNSET",
    "Address",
    "AlarmGroup",
    "AuthFailed",
    "Category",
    "CategoryPolicy",
    "ConfigError",
    "ConfigurationProblem",
    "ConnectFailed",
    "Decision",
    "DeliveryError",
    "DeliveryResult",
    "DeliveryTimeout",
    "EmailSettings",
    "Encryption",
    "Event",
    "GroupSettings",
    "GroupTree",
    "GroupTreeError",
    "InvalidAddress",
    "Issue",
    "Level",
    "Mail",
    "MessageRejected",
    "MockTransport",
    "Outcome",
    "PermanentFailure",
    "Reason",
    "RecipientResult",
    "Report",
    "RoutingReason",
    "SMTPTransport",
    "Secret",
    "SenderRejected",
    "ServerBusy",
    "ServerRejected",
    "Severity",
    "SignInFailed",
    "SignInRefused",
    "Snapshot",
    "State",
    "Step",
    "StorageFull",
    "TLSFailed",
    "TLSRequired",
    "TemporaryFailure",
    "TocsinError",
    "Transport",
    "TransportKind",
    "User",
    "build_tree",
    "compose",
    "effective_policy",
    "email_id",
    "new_id",
    "parse_address",
    "route",
    "summarize",
]


def _lazy_exports(
    package: str, module_of: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """PEP 562 ``__getattr__`` and ``__dir__`` for ``package`` (being imported): each
    public name is imported from its module (``module_of``) on first use, then kept as
    a plain attribute.  For this package and the subpackages that re-export the same way.
    """
    namespace = sys.modules[package].__dict__

    def attribute(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted({*namespace, *public})

    return attribute, names


# Type checkers see the imports above, and no catch-all.
if not TYPE_CHECKING:
    __getattr__, __dir__ = _lazy_exports(__name__, _MODULE_OF, __all__)
