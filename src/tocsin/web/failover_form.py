"""The failover section of the email settings page: what it shows, and how its posted
form becomes changes for :func:`tocsin.failover.apply_failover_update` (which alone
decides what is valid)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tocsin.failover import MAX_LINKS, FailoverSettings
from tocsin.settings import DEFAULT_PORTS, EmailSettings, Encryption, TransportKind
from tocsin.validation import Report

__all__ = ["LINK_FIELDS", "changes_from_form", "failover_view"]

POLICY_NUMBERS: Final = ("after_failures", "after_seconds", "probe_interval")
POLICY_CHECKS: Final = ("enabled", "warnings_follow", "system_follow")
LINK_FIELDS: Final = ("host", "port", "encryption", "username", "sender_address")
"""A backup link's text fields on the page (the password is write-only, TLS a box)."""


def _link_values(link: EmailSettings) -> dict[str, Any]:
    return {
        "host": link.host,
        "port": str(link.port),
        "encryption": link.encryption.value,
        "username": link.username,
        "sender_address": link.sender_address,
        "tls_verify": link.tls_verify,
        "password_set": link.password is not None,
        "online": link.transport is TransportKind.ONLINE,
        "relay_url": link.relay_url,
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
    errors: dict[str, list[str]] = {}
    for issue in (report or Report()).errors:
        errors.setdefault(_form_name(issue.field), []).append(issue.text(language))
    encryptions = [(e.value, DEFAULT_PORTS[e]) for e in Encryption]
    return {"v": values, "links": links, "err": errors, "encryptions": encryptions}


def _form_name(field: str) -> str:
    """``links.0.host`` → ``fo_link0_host``; ``after_seconds`` → ``fo_after_seconds``."""
    parts = field.split(".")
    if len(parts) >= 3 and parts[0] == "links":
        return f"fo_link{parts[1]}_{parts[2]}"
    if field == "links":
        return "fo_enabled"
    return f"fo_{field}"


def changes_from_form(form: Mapping[str, str], chain: FailoverSettings) -> dict[str, object]:
    """What the user did: the policy as typed, and each link kept, changed or removed.

    A password left empty keeps the stored one; a link marked for removal and an
    empty new slot are dropped; an online link (set up with the CLI) is kept as it is.
    """
    changes: dict[str, object] = {name: form.get(f"fo_{name}", "") for name in POLICY_NUMBERS}
    for name in POLICY_CHECKS:
        changes[name] = f"fo_{name}" in form
    entries: list[dict[str, object]] = []
    kept_from: list[EmailSettings] = []
    for index in range(MAX_LINKS):
        prefix = f"fo_link{index}_"
        existing = chain.links[index] if index < len(chain.links) else None
        if prefix + "remove" in form or (existing is None and not form.get(prefix + "host")):
            continue
        if existing is not None and existing.transport is TransportKind.ONLINE:
            entries.append({})
            kept_from.append(existing)
            continue
        entry: dict[str, object] = {name: form.get(prefix + name, "") for name in LINK_FIELDS}
        entry["tls_verify"] = prefix + "tls_verify" in form
        if form.get(prefix + "password"):
            entry["password"] = form[prefix + "password"]
        entries.append(entry)
        kept_from.append(existing or EmailSettings())
    changes["links"] = _rebase(entries, kept_from, chain)
    return changes


def _rebase(
    entries: list[dict[str, object]], kept_from: list[EmailSettings], chain: FailoverSettings
) -> list[dict[str, object]]:
    """Entry ``n`` changes link ``n``; after a removal a link moves up, so its entry
    carries its whole stored self (secrets too) where it lands on another's place."""
    rebased: list[dict[str, object]] = []
    for index, (entry, source) in enumerate(zip(entries, kept_from, strict=True)):
        same = index < len(chain.links) and chain.links[index] is source
        if same:
            rebased.append(entry)
            continue
        whole: dict[str, object] = {
            k: v for k, v in source.public().items() if not k.endswith("_set")
        }
        for secret in ("password", "device_credential"):
            whole[secret] = getattr(source, secret)
        rebased.append(whole | entry)
    return rebased
