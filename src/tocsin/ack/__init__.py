"""Acknowledging alarms: the signed email link, the acknowledgement record, the public URL.

Core floor (no I/O): :mod:`tocsin.ack.token` signs and checks the links' tokens,
:mod:`tocsin.ack.model` holds the acknowledgement as data, :mod:`tocsin.ack.public_url`
checks the address recipients' browsers reach Tocsin at.  The store keeps the state
(migration 0006), :mod:`tocsin.services.acknowledge` is the use case.
"""

from __future__ import annotations

from tocsin.ack.model import Acknowledgement, AckVia, can_acknowledge
from tocsin.ack.public_url import PublicUrlProblem, check_public_url
from tocsin.ack.token import (
    AckClaim,
    AckSigner,
    TokenExpired,
    TokenInvalid,
    TokenRefused,
    token_digest,
)

__all__ = [
    "AckClaim",
    "AckSigner",
    "AckVia",
    "Acknowledgement",
    "PublicUrlProblem",
    "TokenExpired",
    "TokenInvalid",
    "TokenRefused",
    "can_acknowledge",
    "check_public_url",
    "token_digest",
]
