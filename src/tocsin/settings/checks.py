"""Checking settings as a whole: errors refuse a save, warnings and tips are advice."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Final

from tocsin.address import InvalidAddress, parse_address
from tocsin.providers.credentials import (
    CertificateProblem,
    expiry_state,
    parse_client_certificate,
    service_account_problem,
)
from tocsin.secret import Secret
from tocsin.settings.model import (
    DEFAULT_PORTS,
    AuthMethod,
    EmailSettings,
    Encryption,
    OAuthFlow,
    OAuthProvider,
    TransportKind,
)
from tocsin.validation import Issue, Level, Report, address_issue, internal_address_issue

__all__ = ["host_problem", "relay_url_problem", "validate"]


def validate(settings: EmailSettings) -> Report:
    """Check settings as a whole: errors refuse a save, warnings and tips are advice."""
    issues: list[Issue] = []
    smtp = settings.transport is TransportKind.SMTP
    if settings.enabled and smtp:
        issues += [
            Issue(f, "required", Level.ERROR)
            for f in ("sender_address", "host")
            if not getattr(settings, f)
        ]
    if settings.enabled and not smtp:
        issues += _check_enrolled(settings)
    if not settings.enabled:
        issues.append(Issue("enabled", "disabled", Level.TIP))
    issues += _check_address(settings)
    issues += _check_relay_url(settings.relay_url)
    issues += _check_host("host", settings.host)
    issues += _check_host("ehlo_name", settings.ehlo_name)
    issues += _check_auth(settings)
    if settings.encryption is Encryption.NONE and smtp:
        issues.append(Issue("encryption", "encryption_none", Level.WARNING))
    if not settings.tls_verify and settings.encryption is not Encryption.NONE:
        issues.append(Issue("tls_verify", "insecure_tls", Level.WARNING))
    if settings.deadline < settings.timeout:
        issues.append(
            Issue(
                "deadline",
                "deadline_below_timeout",
                Level.ERROR,
                {"timeout": f"{settings.timeout:g}"},
            )
        )
    issues += _check_port(settings)
    return Report.of(issues)


def _check_enrolled(settings: EmailSettings) -> list[Issue]:
    """Transport online needs the relay's URL and this device's credential."""
    if not settings.relay_url and not settings.device_credential:
        return [Issue("transport", "online_not_enrolled", Level.ERROR)]
    return [
        Issue(f, "required", Level.ERROR)
        for f in ("relay_url", "device_credential", "sender_address")
        if not getattr(settings, f)
    ]


_LOOPBACK_NAMES = ("localhost", "localhost.")


def relay_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the relay's address, or None.

    HTTPS only (the relay's certificate is verified); plain ``http://`` only to a
    loopback address, where a reverse proxy on the same machine may terminate TLS.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a URL: {exc}"
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        return "enter the relay's address as https://relay.example.com"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "the URL must not contain a login, a query or a fragment"
    if port == 0:
        return "the port must not be 0"
    if parts.scheme == "http" and not _is_loopback(host):
        return "plain http:// is refused except to this machine (loopback); use https://"
    problem = host_problem(host)
    return f"the host name is not valid: {problem}" if problem else None


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_relay_url(url: str) -> list[Issue]:
    if not url:
        return []
    problem = relay_url_problem(url)
    if problem is None:
        return []
    return [Issue("relay_url", "invalid_value", Level.ERROR, {"detail": problem})]


def _check_address(settings: EmailSettings) -> list[Issue]:
    if not settings.sender_address:
        return []
    try:
        address = parse_address(settings.sender_address)
    except InvalidAddress as exc:
        return [address_issue("sender_address", exc)]
    if address.internal:
        return [internal_address_issue("sender_address", address)]
    return []


# RFC 1123 §2.1 host names: labels of letters, digits and hyphens, 1-63 octets.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def host_problem(host: str) -> str | None:
    """Why ``host`` is not a usable server name or IP address, or None if it is."""
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        pass
    else:
        return None
    fault = _host_fault(host)
    return _HOST_FAULTS[fault] if fault else None


_HOST_FAULTS: Final = {
    "host_idna": "the name cannot be encoded (IDNA)",
    "host_chars": "use letters, digits, hyphens and dots only, like smtp.example.com",
}


def _host_fault(host: str) -> str | None:
    """The text code of what is wrong with a name that is not an IP address, or None."""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return "host_idna"
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        return "host_chars"
    return None


def _check_host(field: str, host: str) -> list[Issue]:
    if not host:
        return []
    problem = host_problem(host)
    if problem is None:
        return []
    fault = _host_fault(host) or "host_chars"
    return [Issue(field, "invalid_host", Level.ERROR, {"detail": problem}, fault)]


def _check_auth(settings: EmailSettings) -> list[Issue]:
    # A stored certificate is checked whatever the method: it may be the next one in use.
    issues = _check_certificate(settings.oauth_client_certificate)
    issues += _check_account_key(settings.oauth_service_account_key)
    if settings.auth_method is AuthMethod.OAUTH2:
        issues += _check_oauth(settings)
    elif settings.auth_method is AuthMethod.PASSWORD:
        issues += _check_password(settings)
    mismatch = _sender_mismatch(settings)
    if mismatch is not None:
        issues.append(
            Issue(
                "sender_address",
                "sender_mismatch",
                Level.WARNING,
                {"sender": settings.sender_address, "account": mismatch},
            )
        )
    return issues


def _check_password(settings: EmailSettings) -> list[Issue]:
    issues: list[Issue] = []
    if settings.password and not settings.username:
        issues.append(Issue("username", "password_without_username", Level.ERROR))
    if settings.username and not settings.password:
        issues.append(Issue("password", "password_missing", Level.WARNING))
    if settings.username:
        issues.append(Issue("password", "app_password", Level.TIP))
    if settings.password and settings.encryption is Encryption.NONE:
        if settings.allow_plaintext_auth:
            issues.append(Issue("allow_plaintext_auth", "plaintext_auth_allowed", Level.WARNING))
        else:
            issues.append(Issue("encryption", "plaintext_auth", Level.ERROR))
    return issues


def _check_oauth(settings: EmailSettings) -> list[Issue]:
    """OAuth2: what each provider and flow needs; a token never crosses in clear."""
    issues: list[Issue] = []
    for field in ("oauth_authority", "oauth_token_url", "oauth_device_url", "oauth_authorize_url"):
        url = getattr(settings, field)
        problem = _https_problem(url) if url else None
        if problem:
            issues.append(Issue(field, "invalid_value", Level.ERROR, {"detail": problem}))
    provider, flow = settings.oauth_provider, settings.oauth_flow
    google = provider is OAuthProvider.GOOGLE
    if (flow is OAuthFlow.SERVICE_ACCOUNT and not google) or (
        google and flow in (OAuthFlow.APP_ONLY, OAuthFlow.DEVICE_CODE)
    ):
        # Service accounts are Google's; Google's device flow refuses the mail scope (its
        # people sign in with the loopback flow).
        issues.append(
            Issue(
                "oauth_flow",
                "oauth_flow_unavailable",
                Level.ERROR,
                {"provider": provider.value, "flow": flow.value},
            )
        )
    if settings.encryption is Encryption.NONE:
        if settings.allow_plaintext_auth:
            issues.append(Issue("allow_plaintext_auth", "plaintext_auth_allowed", Level.WARNING))
        else:
            issues.append(Issue("encryption", "oauth_plaintext", Level.ERROR))
    if flow in (OAuthFlow.DEVICE_CODE, OAuthFlow.LOOPBACK) and not settings.oauth_refresh_token:
        issues.append(Issue("oauth_refresh_token", "oauth_sign_in_needed", Level.WARNING))
    key = settings.oauth_service_account_key
    if not settings.enabled or settings.transport is not TransportKind.SMTP:
        return issues
    needed = ["username"]
    if flow is not OAuthFlow.SERVICE_ACCOUNT:
        needed.append("oauth_client_id")
    if provider is OAuthProvider.MICROSOFT:
        needed.append("oauth_tenant")
    if provider is OAuthProvider.GENERIC:
        needed.append("oauth_token_url")
    issues += [Issue(f, "required", Level.ERROR) for f in needed if not getattr(settings, f)]
    if flow is OAuthFlow.APP_ONLY and not (
        settings.oauth_client_secret or settings.oauth_client_certificate
    ):
        # Advice, like a missing password: the secret is set by its own command.
        issues.append(Issue("oauth_client_secret", "oauth_secret_missing", Level.WARNING))
    if flow is OAuthFlow.SERVICE_ACCOUNT and not key:
        issues.append(Issue("oauth_service_account_key", "oauth_key_missing", Level.WARNING))
    return issues


def _check_certificate(pem: Secret | None) -> list[Issue]:
    """The client certificate: readable, the key's own, not expired (expiry is advice:
    the admin may be about to upload the next one)."""
    if pem is None:
        return []
    field = "oauth_client_certificate"
    try:
        cert = parse_client_certificate(pem.reveal())
    except CertificateProblem as exc:
        return [
            Issue(field, "oauth_certificate_invalid", Level.ERROR, {}, f"oauth_cert_{exc.code}")
        ]
    state = expiry_state(cert)
    if state is None:
        return []
    ends = cert.not_after.strftime("%Y-%m-%d")
    return [Issue(field, f"oauth_certificate_{state}", Level.WARNING, {"date": ends})]


def _check_account_key(key: Secret | None) -> list[Issue]:
    """A Google service account's JSON key: its shape and a readable private key."""
    problem = service_account_problem(key.reveal()) if key else None
    if problem is None:
        return []
    code, params = problem
    field = "oauth_service_account_key"
    return [Issue(field, "oauth_key_invalid", Level.ERROR, params, f"oauth_sakey_{code}")]


def _https_problem(url: str) -> str | None:
    """Why ``url`` cannot be a token endpoint: tokens and secrets go over HTTPS only."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme != "https" or not parts.hostname:
        return "enter an https:// address"
    if parts.username or parts.password or parts.fragment:
        return "the URL must not contain a login or a fragment"
    problem = host_problem(parts.hostname)
    return f"the host name is not valid: {problem}" if problem else None


def _sender_mismatch(settings: EmailSettings) -> str | None:
    """The account the sender does not match, or None.

    When the username is an address the two must be equal (case-insensitively);
    otherwise the sender's domain should be the server's domain or a parent of it.
    """
    try:
        sender = parse_address(settings.sender_address)
    except InvalidAddress:
        return None
    if "@" in settings.username:
        try:
            account = parse_address(settings.username)
        except InvalidAddress:
            return None
        return None if account.text.lower() == sender.text.lower() else account.text
    host = settings.host.lower().rstrip(".")
    if not host or host_problem(host) is not None or "." not in host:
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return None  # an IP address names no domain to compare with
    domain = sender.domain.lower()
    if host == domain or host.endswith("." + domain) or _registered(host) == _registered(domain):
        return None
    return f"the server {settings.host}"


def _registered(name: str) -> str:
    """The last two labels: a cheap stand-in for the registered domain."""
    return ".".join(name.split(".")[-2:])


def _check_port(settings: EmailSettings) -> list[Issue]:
    default = DEFAULT_PORTS[settings.encryption]
    # 465 under STARTTLS, or 587/25 under SSL, is the classic mix-up worth a word.
    mixed = {Encryption.STARTTLS: {465}, Encryption.SSL: {25, 587}, Encryption.NONE: {465}}
    if settings.port in mixed[settings.encryption]:
        return [
            Issue(
                "port",
                "port_unusual",
                Level.WARNING,
                {
                    "port": str(settings.port),
                    "encryption": settings.encryption.value,
                    "default": str(default),
                },
            )
        ]
    return []
