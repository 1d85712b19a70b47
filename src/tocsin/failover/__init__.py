"""The failover chain: backup links behind the primary email settings, and the policy
that says when alarms move on (see :mod:`tocsin.failover.model`)."""

from tocsin.failover.model import (
    LINK_PRIMARY,
    MAX_LINKS,
    FailoverPolicy,
    FailoverSettings,
    apply_failover_update,
    effective_link,
    link_name,
    links_of,
)

__all__ = [
    "LINK_PRIMARY",
    "MAX_LINKS",
    "FailoverPolicy",
    "FailoverSettings",
    "apply_failover_update",
    "effective_link",
    "link_name",
    "links_of",
]
