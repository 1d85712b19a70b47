"""The email settings form: what it shows, and how a submitted form becomes changes.

Only parsing and presentation live here.  Whether a value is valid, and the port
preset that follows the encryption, are decided by :func:`tocsin.settings.apply_update`
through the settings service; this module just hands it what the user did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tocsin.settings import DEFAULT_PORTS, EmailSettings, Encryption
from tocsin.validation import Issue, Level, Report
from tocsin.web.texts import translator

__all__ = [
    "CHECKBOXES",
    "ENCRYPTIONS",
    "FIELD_LABELS",
    "SettingsView",
    "changes_from_form",
    "default_ports_json",
    "values_from_form",
    "values_from_settings",
    "view_of",
]

TEXT_FIELDS: Final = (
    "transport",
    "sender_address",
    "sender_name",
    "host",
    "port",
    "encryption",
    "username",
    "ca_file",
    "ehlo_name",
    "timeout",
    "deadline",
    # added for issue 10: the OAuth2 block (templates/web/_oauth.html)
    "auth_method",
    "oauth_provider",
    "oauth_flow",
    "oauth_tenant",
    "oauth_client_id",
)
CHECKBOXES: Final = ("enabled", "allow_plaintext_auth", "tls_verify")

ENCRYPTIONS: Final = (Encryption.STARTTLS, Encryption.SSL, Encryption.NONE)
"""Order on the page: the recommended mode first."""

FIELD_LABELS: Final[Mapping[str, str]] = {
    "enabled": "enabled_label",
    "transport": "transport_legend",
    "sender_address": "sender_address",
    "sender_name": "sender_name",
    "host": "host",
    "port": "port",
    "encryption": "encryption_legend",
    "username": "auth_username",
    "password": "auth_password",
    "allow_plaintext_auth": "allow_plaintext_auth",
    "tls_verify": "tls_verify",
    "ca_file": "ca_file",
    "ehlo_name": "ehlo_name",
    "timeout": "timeout",
    "deadline": "deadline",
    "auth_method": "oauth_auth_method",
    "oauth_provider": "oauth_provider_label",
    "oauth_flow": "oauth_flow_label",
    "oauth_tenant": "oauth_tenant_label",
    "oauth_client_id": "oauth_client_id_label",
    "oauth_client_secret": "oauth_client_secret_label",
    "oauth_client_certificate": "oauth_client_certificate_label",
    "oauth_service_account_key": "oauth_service_account_key_label",
}
"""Every field of the form, in page order, with the text key of its label."""

_ANCHORS: Final = {
    "transport": "f-transport-smtp",
    "encryption": f"f-encryption-{ENCRYPTIONS[0].value}",
    "auth_method": "f-auth_method-password",
}


def anchor(name: str) -> str:
    """The id of the control a message about ``name`` links to."""
    return _ANCHORS.get(name, f"f-{name}")


def default_ports_json() -> str:
    """The one table of default ports, for the page's ``data-default-ports``."""
    return json.dumps({mode.value: port for mode, port in DEFAULT_PORTS.items()})


def _number_text(value: float) -> str:
    return f"{value:g}"


def values_from_settings(settings: EmailSettings) -> dict[str, Any]:
    """The form's values for saved settings (never the password)."""
    public = settings.public()
    values: dict[str, Any] = {name: str(public[name]) for name in TEXT_FIELDS}
    values.update({name: bool(public[name]) for name in CHECKBOXES})
    values["timeout"] = _number_text(settings.timeout)
    values["deadline"] = _number_text(settings.deadline)
    values["password_clear"] = False
    values["password_typed"] = False
    return values


def values_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The form's values as submitted (shown again when a save is refused)."""
    values: dict[str, Any] = {name: form.get(name, "") for name in TEXT_FIELDS}
    values.update({name: name in form for name in CHECKBOXES})
    values["password_clear"] = "password_clear" in form
    values["password_typed"] = bool(form.get("password"))  # never shown again, only noted
    return values


def changes_from_form(form: Mapping[str, str]) -> dict[str, object]:
    """The changes a submitted form asks for, as :func:`apply_update` takes them.

    Every field is passed on as typed, except: the port when the user left it as it
    was shown (``port_was``), so the service's port preset applies exactly as in
    the REST API; and the password, which an empty field keeps and the clear
    checkbox removes.
    """
    changes: dict[str, object] = {name: form.get(name, "") for name in TEXT_FIELDS}
    changes.update({name: name in form for name in CHECKBOXES})
    if form.get("port", "").strip() == form.get("port_was", "").strip():
        del changes["port"]
    if "password_clear" in form:
        changes["password"] = None
    elif form.get("password"):
        changes["password"] = form["password"]
    if form.get("oauth_client_secret"):  # write-only: an empty field keeps the stored one
        changes["oauth_client_secret"] = form["oauth_client_secret"]
    for name in ("oauth_client_certificate", "oauth_service_account_key"):
        if f"{name}_clear" in form:
            changes[name] = None
        elif form.get(name, "").strip():  # write-only, like the secret
            changes[name] = form[name].replace("\r\n", "\n").strip()  # a form posts CRLF
    for name in ("auth_method", "oauth_provider", "oauth_flow"):
        if not form.get(name):
            del changes[name]  # a form from before the OAuth2 block: keep what is stored
    for name in ("oauth_tenant", "oauth_client_id"):
        if name not in form:
            del changes[name]
    return changes


@dataclass(frozen=True, slots=True)
class Message:
    """One issue as the page shows it."""

    field: str
    anchor: str
    label: str
    level: str
    text: str


@dataclass(slots=True)
class SettingsView:
    """Everything the settings template needs besides the texts."""

    values: dict[str, Any]
    password_set: bool
    errors: dict[str, list[str]] = field(default_factory=dict)
    summary: list[Message] = field(default_factory=list)
    advice: list[Message] = field(default_factory=list)
    other: list[Message] = field(default_factory=list)


# Validator texts that name a command-line way out get the page's own words.
_PAGE_WORDING: Final = {
    "password_missing": "advice_password_missing",
    "plaintext_auth": "advice_plaintext_auth",
}


# Advice the page always shows in place (the app-password tip under Authentication):
# not repeated in the advice list.
_SHOWN_IN_PLACE: Final = frozenset({"app_password"})


def _message(issue: Issue, language: str) -> Message:
    label = FIELD_LABELS.get(issue.field, "")
    own = _PAGE_WORDING.get(issue.code)
    text = translator(language)(own, **issue.params) if own else issue.text(language)
    # The page shows the level as a badge; some advice texts name it too ("Tip: ...").
    badge = translator(language)(f"{issue.level.value}_prefix")
    text = text.removeprefix(badge).lstrip()
    return Message(issue.field, anchor(issue.field), label, issue.level.value, text)


def _order(issue: Issue) -> int:
    names = list(FIELD_LABELS)
    return names.index(issue.field) if issue.field in FIELD_LABELS else len(names)


def view_of(
    values: dict[str, Any], password_set: bool, report: Report, language: str
) -> SettingsView:
    """Sort a report's issues onto the form: errors by field, advice in page order."""
    view = SettingsView(values, password_set)
    for issue in sorted(report.issues, key=_order):
        if issue.code in _SHOWN_IN_PLACE:
            continue
        message = _message(issue, language)
        if issue.level is not Level.ERROR:
            view.advice.append(message)
        elif issue.field in FIELD_LABELS:
            view.errors.setdefault(issue.field, []).append(message.text)
            view.summary.append(message)
        else:
            view.other.append(message)
    return view
