"""Tocsin: email notifications for alarms and warnings.

The public names are re-exported here; ``import tocsin`` loads neither the CLI nor
the web stack.
"""

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
