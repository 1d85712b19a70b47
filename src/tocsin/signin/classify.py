"""What a token endpoint's refusal means: one table, tested directly.

RFC 6749 §5.2 gives the error codes; Entra ID adds an ``AADSTS`` number to the description
that tells a wrong tenant from a wrong client id, an invalid secret from an expired one.
A refusal that will not pass by itself is a :class:`~tocsin.errors.SignInRefused` (a
configuration problem: the outbox pauses instead of spending attempts); a busy or
unreachable endpoint is temporary.  The texts carry the error code and the AADSTS number
only: a provider's description may quote what it was sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from tocsin.errors import DeliveryError, Reason, ServerBusy, SignInRefused, Step

__all__ = ["HINTS", "classify", "hint_for"]

_AADSTS: Final = re.compile(r"\bAADSTS(\d+)\b")

# Entra ID's numbers that name the fix more exactly than the RFC 6749 error code.
_BY_AADSTS: Final[Mapping[str, str]] = {
    "90002": "wrong_tenant",  # tenant not found
    "900023": "wrong_tenant",  # not a valid tenant identifier
    "700016": "wrong_client",  # application not found in the directory
    "7000215": "secret_invalid",  # invalid client secret
    "7000222": "secret_expired",  # the client secret has expired
    "7000112": "client_disabled",  # application is disabled
    "65001": "consent_missing",  # the user or admin has not consented
    "500011": "consent_missing",  # resource principal not found (Exchange not consented)
    "50173": "grant_revoked",  # the grant was revoked
    "70008": "grant_revoked",  # the refresh token has expired
    "700082": "grant_revoked",  # expired due to inactivity
    "50076": "grant_revoked",  # multi-factor authentication now required: sign in again
    "700027": "certificate_invalid",  # assertion signature: certificate not registered
    "700024": "clock_skew",  # assertion not within its valid time range
    "700021": "wrong_client",  # assertion's iss/sub is not the client id
    "700023": "wrong_tenant",  # assertion's audience is not this tenant's token endpoint
}

# RFC 6749 §5.2 codes (and Google's), when no AADSTS number decides.
_BY_ERROR: Final[Mapping[str, str]] = {
    "invalid_grant": "grant_revoked",
    "invalid_client": "secret_invalid",
    "unauthorized_client": "wrong_client",
    "disabled_client": "client_disabled",
    "invalid_scope": "scope_invalid",
    "consent_required": "consent_missing",
    "access_denied": "consent_missing",
    "invalid_request": "refused",
    "unsupported_grant_type": "refused",
}

HINTS: Final = (
    "grant_revoked",
    "wrong_tenant",
    "wrong_client",
    "secret_invalid",
    "secret_expired",
    "client_disabled",
    "consent_missing",
    "scope_invalid",
    "key_invalid",
    "certificate_invalid",
    "certificate_expired",
    "clock_skew",
    "refused",
)
"""Every hint code; each has a text ``oauth_hint_<code>`` in the catalogs."""

_TEMPORARY: Final = frozenset({"temporarily_unavailable", "server_error"})


def hint_for(error: str, description: str = "") -> str:
    """The hint code for a refusal: by AADSTS number first, then by the error code."""
    found = _AADSTS.search(description or "")
    if found and found.group(1) == "700027" and "key used is expired" in description:
        return "certificate_expired"  # Entra: the registered certificate has ended
    if found and found.group(1) in _BY_AADSTS:
        return _BY_AADSTS[found.group(1)]
    if error == "unauthorized_client" and "scopes requested" in (description or ""):
        return "consent_missing"  # Google: no domain-wide delegation for the mail scope
    return _BY_ERROR.get(error, "refused")


def classify(error: str, description: str = "", *, status: int | None = None) -> DeliveryError:
    """The delivery error for a token endpoint's answer ``error`` (RFC 6749 §5.2).

    ``temporarily_unavailable`` / ``server_error``, HTTP 429 and 5xx are temporary
    (:class:`ServerBusy`); everything else is :class:`SignInRefused` with a hint.
    """
    if error in _TEMPORARY or (status is not None and (status == 429 or status >= 500)):
        reason = Reason.RATE_LIMITED if status == 429 else Reason.SERVER_BUSY
        return ServerBusy(
            f"the sign-in service is busy ({error or status})", step=Step.OAUTH, reason=reason
        )
    hint = hint_for(error, description)
    found = _AADSTS.search(description or "")
    code = f"{error}, AADSTS{found.group(1)}" if found else error or "refused"
    return SignInRefused(
        f"the sign-in was refused ({code}): {_TEXTS[hint]}", hint=hint, server_message=code
    )


# English for logs and the pause notice; the faces show oauth_hint_<code> in any language.
_TEXTS: Final[Mapping[str, str]] = {
    "grant_revoked": "the sign-in was revoked or has expired; sign in again",
    "wrong_tenant": "the tenant (directory) ID is wrong",
    "wrong_client": "the client (application) ID is wrong or not allowed in this tenant",
    "secret_invalid": "the client secret is wrong",
    "secret_expired": "the client secret has expired; create a new one",
    "client_disabled": "the application is disabled",
    "consent_missing": "an administrator must grant the app the mail permission",
    "scope_invalid": "the scope is not valid for this provider",
    "key_invalid": "the service account key is not usable; upload the JSON key again",
    "certificate_invalid": (
        "the certificate is not the one registered for the app; upload it to the app "
        "registration or store the matching key and certificate"
    ),
    "certificate_expired": "the client certificate has expired; create a new one",
    "clock_skew": "the client assertion was outside its valid time; check this machine's clock",
    "refused": "check the sign-in settings",
}
