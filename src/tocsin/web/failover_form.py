"""The failover section of the email settings page: what it shows, and how its posted
form becomes changes for :func:`tocsin.failover.apply_failover_update` (which alone
decides what is valid).

Each link is either another SMTP server or the online service (``fo_link<n>_kind``);
the page shows both groups of fields and the chosen kind decides which are sent, so
the section works without JavaScript.  Secrets (the SMTP password, the online
service's device token) are write-only: left empty, the stored one is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tocsin.failover import MAX_LINKS, FailoverSettings
from tocsin.settings import (
    DEFAULT_PORTS,
    SECRET_FIELDS,
    EmailSettings,
    Encryption,
    TransportKind,
)
from tocsin.validation import Report

__all__ = ["LINK_FIELDS", "ONLINE_FIELDS", "SMTP_FIELDS", "changes_from_form", "failover_view"]

POLICY_NUMBERS: Final = ("after_failures", "after_seconds", "probe_interval")
POLICY_CHECKS: Final = ("enabled", "warnings_follow", "system_follow")
SMTP_FIELDS: Final = ("host", "port", "encryption", "username")
"""An SMTP link's text fields (its password is write-only, TLS a box)."""
ONLINE_FIELDS: Final = ("relay_url", "ca_file")
"""An online-service link's text fields (its device token is write-only)."""
LINK_FIELDS: Final = (*SMTP_FIELDS, *ONLINE_FIELDS, "sender_address")
"""Every text field of a backup link on the page."""
_SECRET_OF: Final = {TransportKind.SMTP: "password", TransportKind.ONLINE: "device_credential"}
"""The write-only box of each kind, and the setting it fills."""


def _link_values(link: EmailSettings) -> dict[str, Any]:
    return {
        "kind": link.transport.value,
        "host": link.host,
        "port": str(link.port),
        "encryption": link.encryption.value,
        "username": link.username,
        "sender_address": link.sender_address,
        "tls_verify": link.tls_verify,
        "password_set": link.password is not None,
        "token_set": link.device_credential is not None,
        "relay_url": link.relay_url,
        "ca_file": link.ca_file,
        "device_id": link.device_id,
        "new": False,
    }


def _blank_link() -> dict[str, Any]:
    return _link_values(EmailSettings()) | {"host": "", "new": True}


def failover_view(
    chain: FailoverSettings,
    form: Mapping[str, str] | None = None,
    report: Report | None = None,
    language: str = "en",
) -> dict[str, Any]:
    """The section's values (the saved chain, or the form as typed) and its errors by
    the page's field name (``fo_link0_host``), in ``language``."""
    policy = chain.policy
    values: dict[str, Any] = {
        "enabled": chain.enabled,
        "after_failures": str(policy.after_failures),
        "after_seconds": f"{policy.after_seconds:g}",
        "probe_interval": f"{policy.probe_interval:g}",
        "warnings_follow": policy.warnings_follow,
        "system_follow": policy.system_follow,
    }
    links = [_link_values(link) for link in chain.links]
    if len(links) < MAX_LINKS:
        links.append(_blank_link())
    if form is not None:
        for name in POLICY_NUMBERS:
            values[name] = form.get(f"fo_{name}", "")
        for name in POLICY_CHECKS:
            values[name] = f"fo_{name}" in form
        for index, link in enumerate(links):
            prefix = f"fo_link{index}_"
            for name in LINK_FIELDS:
                link[name] = form.get(prefix + name, link[name])
            link["tls_verify"] = prefix + "tls_verify" in form
            link["kind"] = _kind(form, prefix, link["kind"]).value
    errors: dict[str, list[str]] = {}
    for issue in (report or Report()).errors:
        errors.setdefault(_form_name(issue.field), []).append(issue.text(language))
    encryptions = [(e.value, DEFAULT_PORTS[e]) for e in Encryption]
    return {"v": values, "links": links, "err": errors, "encryptions": encryptions}


_PAGE_FIELDS: Final = {"device_credential": "token", "transport": "relay_url"}
"""Settings shown under another box's name: the token box; "not set up" by the URL."""


def _form_name(field: str) -> str:
    """``links.0.host`` → ``fo_link0_host``; ``after_seconds`` → ``fo_after_seconds``."""
    parts = field.split(".")
    if len(parts) >= 3 and parts[0] == "links":
        return f"fo_link{parts[1]}_{_PAGE_FIELDS.get(parts[2], parts[2])}"
    if field == "links":
        return "fo_enabled"
    return f"fo_{field}"


def _kind(form: Mapping[str, str], prefix: str, default: str) -> TransportKind:
    """The kind the form chose for a link; anything else keeps ``default``."""
    chosen = form.get(prefix + "kind", default)
    return TransportKind.ONLINE if chosen == TransportKind.ONLINE.value else TransportKind.SMTP


def _blank(form: Mapping[str, str], prefix: str, kind: TransportKind) -> bool:
    """True for the new-link slot left as it was: nothing that would make a link typed."""
    if kind is TransportKind.ONLINE:
        return not (form.get(prefix + "relay_url", "").strip() or form.get(prefix + "token"))
    return not form.get(prefix + "host", "").strip()


def _entry(form: Mapping[str, str], prefix: str, kind: TransportKind) -> dict[str, object]:
    """One link's changes as typed: the chosen kind's fields, the sender, the secret
    only when one was typed (empty keeps the stored one)."""
    names = ONLINE_FIELDS if kind is TransportKind.ONLINE else SMTP_FIELDS
    entry: dict[str, object] = {"transport": kind.value}
    entry |= {name: form.get(prefix + name, "") for name in (*names, "sender_address")}
    if kind is TransportKind.SMTP:
        entry["tls_verify"] = prefix + "tls_verify" in form
    box = "token" if kind is TransportKind.ONLINE else "password"
    if form.get(prefix + box):
        entry[_SECRET_OF[kind]] = form[prefix + box]
    return entry


def changes_from_form(form: Mapping[str, str], chain: FailoverSettings) -> dict[str, object]:
    """What the user did: the policy as typed, and each link kept, changed or removed.

    A secret left empty keeps the stored one; a link marked for removal and an empty
    new slot are dropped.
    """
    changes: dict[str, object] = {name: form.get(f"fo_{name}", "") for name in POLICY_NUMBERS}
    for name in POLICY_CHECKS:
        changes[name] = f"fo_{name}" in form
    entries: list[dict[str, object]] = []
    kept_from: list[EmailSettings | None] = []
    for index in range(MAX_LINKS):
        prefix = f"fo_link{index}_"
        existing = chain.links[index] if index < len(chain.links) else None
        stored_kind = existing.transport.value if existing else TransportKind.SMTP.value
        kind = _kind(form, prefix, stored_kind)
        if prefix + "remove" in form or (existing is None and _blank(form, prefix, kind)):
            continue
        entries.append(_entry(form, prefix, kind))
        kept_from.append(existing)
    changes["links"] = _rebase(entries, kept_from, chain)
    return changes


def _rebase(
    entries: list[dict[str, object]],
    kept_from: list[EmailSettings | None],
    chain: FailoverSettings,
) -> list[dict[str, object]]:
    """Entry ``n`` changes link ``n``; after a removal a link moves up, so its entry
    carries its whole stored self (every secret too) where it lands on another's place.
    A new link starts from the defaults, on: validated as a link that sends."""
    rebased: list[dict[str, object]] = []
    for index, (entry, kept) in enumerate(zip(entries, kept_from, strict=True)):
        same = index < len(chain.links) and chain.links[index] is kept
        source = kept or EmailSettings(enabled=True)
        if same:
            rebased.append(entry)
            continue
        whole: dict[str, object] = {
            k: v for k, v in source.public().items() if not k.endswith("_set")
        }
        for secret in SECRET_FIELDS:
            whole[secret] = getattr(source, secret)
        rebased.append(whole | entry)
    return rebased
