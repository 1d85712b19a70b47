"""What to change, when a test email's step fails: the hint for a failed session (with
a probe of the port where the symptom is ambiguous), for a refused recipient, and for
a refusal whose text names the cause more exactly than its code (Microsoft 365, Google).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin.errors import DeliveryError, Reason, SignInRefused, Step
from tocsin.i18n import translate
from tocsin.settings import Encryption
from tocsin.transports.base import Outcome, RecipientResult
from tocsin.transports.diagnostics.probes import fetch_certificate, plain_greeting, verify_error

if TYPE_CHECKING:
    from tocsin.transports.diagnostics.transcript import Transcript

__all__ = ["hint_for", "recipient_hint", "reply_hint", "send_as_denied"]


async def hint_for(error: DeliveryError, t: Transcript) -> str:
    """Choose the hint for a failed session, probing the port where the symptom is ambiguous."""
    s = t.settings
    where = {"host": s.host, "port": s.port}
    reason, step = error.reason, error.step
    if isinstance(error, SignInRefused):
        return t.hint(f"oauth_hint_{error.hint}")
    provider = provider_hint(error, t)
    if provider:
        return provider
    if reason is Reason.DNS_FAILED:
        return t.hint("hint_dns", **where)
    if reason is Reason.CONNECT_REFUSED:
        return t.hint("hint_refused", **where)
    if reason is Reason.TIMEOUT and step is Step.CONNECT and not t.tcp_connected:
        return t.hint("hint_connect_timeout", **where)
    if reason is Reason.TIMEOUT and step is Step.CONNECT and s.encryption is not Encryption.SSL:
        if await t.probed_tls():
            return t.hint("hint_plain_on_tls_port", **where)
        return t.hint("hint_no_greeting", **where)
    ssl_mismatch = reason is Reason.TLS_FAILED and s.encryption is Encryption.SSL
    if ssl_mismatch and step is Step.TLS and await plain_greeting(s.host, s.port):
        return t.hint("hint_ssl_on_plain_port", **where)
    if reason is Reason.CERT_INVALID:
        return await certificate_hint(error, t)
    if reason is Reason.TLS_REQUIRED:
        code = "hint_starttls_missing" if step is Step.STARTTLS else "hint_plaintext_refused"
        return t.hint(code, **where)
    simple = {
        Reason.TLS_FAILED: ("hint_tls_failed", {"detail": error.args[0]}),
        Reason.AUTH_UNAVAILABLE: ("hint_auth_unavailable", {}),
        Reason.AUTH_FAILED: ("hint_auth_failed", {}),
        Reason.AUTH_REQUIRED: ("hint_auth_required", {}),
        Reason.SENDER_REJECTED: ("hint_sender_rejected", {"sender": s.sender_address}),
        Reason.MESSAGE_REJECTED: ("hint_message_rejected", {"server": error.server_message}),
        Reason.SERVER_REJECTED: ("hint_server_rejected", {"server": error.server_message}),
        Reason.DISCONNECTED: ("hint_disconnected", {"step": step.value}),
        Reason.TIMEOUT: ("hint_timeout", {"step": step.value}),
    }
    code, params = simple.get(reason, ("hint_busy", {}))
    return t.hint(code, **params)


def send_as_denied(text: str) -> bool:
    """Exchange Online's refusal of a sender that is not the signed-in mailbox (5.7.60,
    SendAsDenied), at MAIL FROM or after the message."""
    return "5.7.60" in text or "sendasdenied" in text.lower()


def provider_hint(error: DeliveryError, t: Transcript) -> str:
    """The hint for a refusal whose text names the cause more exactly than its code:
    Microsoft 365 and Google's answers to a login or a sender."""
    text = error.server_message or ""
    lowered = text.lower()
    if error.step is Step.AUTH and error.reason is Reason.AUTH_FAILED:
        if "smtpclientauthentication is disabled" in lowered:
            return t.hint("hint_smtp_auth_disabled", user=t.settings.username)
        if "5.7.139" in text and "basic authentication is disabled" in lowered:
            return t.hint("hint_basic_auth_disabled")
        if "username and password not accepted" in lowered:
            return t.hint("hint_google_password_refused")
    if send_as_denied(text):
        return t.hint("hint_send_as_denied", sender=t.settings.sender_address)
    return ""


async def certificate_hint(error: DeliveryError, t: Transcript) -> str:
    s = t.settings
    verify = verify_error(error)
    detail = verify.verify_message if verify is not None else error.args[0]
    code = verify.verify_code if verify is not None else 0
    # OpenSSL X509_V_ERR_*: 62 hostname mismatch, 10 expired.
    facts = await fetch_certificate(s)
    if code == 62:
        names = ", ".join(facts.names) if facts and facts.names else "another name"
        return t.hint("hint_cert_hostname", names=names, host=s.host)
    if code == 10:
        return t.hint("hint_cert_expired")
    if facts is not None:
        detail = f"{detail}; {facts.describe()}"
    return t.hint("hint_cert_untrusted", detail=detail)


def reply_hint(t: Transcript, step: Step, code: int | None, recipient: str, text: str) -> str:
    """The hint for a refusing reply that ended no session (a recipient, the message)."""
    if send_as_denied(text):
        return t.hint("hint_send_as_denied", sender=t.settings.sender_address)
    if code is not None and code // 100 == 4:
        return t.hint("hint_busy")
    if step is Step.RCPT_TO:
        return t.hint("hint_recipient_rejected", recipient=recipient)
    return t.hint("hint_message_rejected", server=text)  # a 5xx answer to DATA


def recipient_hint(result: RecipientResult, language: str = "en") -> str:
    """The hint for a refused recipient (used by the delivery log too)."""
    if result.outcome is Outcome.TEMPORARY:
        return translate("hint_busy", language)
    if result.reason is Reason.SMTPUTF8_UNSUPPORTED:
        return translate("hint_smtputf8", language, recipient=result.recipient)
    return translate("hint_recipient_rejected", language, recipient=result.recipient)
