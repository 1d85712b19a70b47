"""The failover chain's model and its one validator (core: no I/O).

The primary link is the site's :class:`~tocsin.settings.EmailSettings`, unchanged.
Behind it stand up to :data:`MAX_LINKS` backup links, each a full ``EmailSettings``
(its own SMTP server, or the online service), validated by the very same
:func:`tocsin.settings.apply_update` as the primary, so a value refused there is
refused here with the same field-named advice (fields are prefixed ``links.<n>.``).

The policy says when alarms move to the next link:

- at once, when a link has a configuration problem (password or TLS refused);
- after ``after_failures`` temporary failures in a row, or once a link has been
  failing for ``after_seconds``, whichever comes first;
- warnings and Tocsin's own system mail wait for the primary unless
  ``warnings_follow`` / ``system_follow`` is on;
- a link that is down is tried again every ``probe_interval`` seconds, and when the
  primary answers again traffic returns to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tocsin.settings import EmailSettings, apply_update
from tocsin.validation import Issue, Level, Report

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

LINK_PRIMARY: Final = "primary"
"""The name the delivery log gives the primary link; backups are ``backup-1``, ..."""
MAX_LINKS: Final = 3
"""At most this many backup links."""

_POLICY_LIMITS: Final[Mapping[str, tuple[type[int] | type[float], float, float]]] = {
    "after_failures": (int, 1, 100),
    "after_seconds": (float, 0, 86400),
    "probe_interval": (float, 5, 86400),
}
_POLICY_FLAGS: Final = ("enabled", "warnings_follow", "system_follow")
_TRUE: Final = {"true", "yes", "on", "1"}
_FALSE: Final = {"false", "no", "off", "0"}


@dataclass(frozen=True, kw_only=True, slots=True)
class FailoverPolicy:
    """When alarms move on, which mail follows them, how often a down link is retried."""

    after_failures: int = 2  # temporary failures in a row on a link
    after_seconds: float = 60.0  # ... or failing for this long
    warnings_follow: bool = False  # warnings wait for the primary unless on
    system_follow: bool = False  # Tocsin's own notices likewise
    probe_interval: float = 60.0  # a link that is down is tried again this often


@dataclass(frozen=True, kw_only=True, slots=True)
class FailoverSettings:
    """The backup links behind the primary, and the policy; off by default."""

    enabled: bool = False
    links: tuple[EmailSettings, ...] = ()
    policy: FailoverPolicy = field(default_factory=FailoverPolicy)

    @property
    def active(self) -> bool:
        """True when the chain has at least one backup link to move to."""
        return self.enabled and bool(self.links)

    def public(self) -> dict[str, Any]:
        """A JSON-ready view; secrets show only as ``<name>_set``."""
        return {
            "enabled": self.enabled,
            **dataclasses.asdict(self.policy),
            "links": [
                {"name": link_name(i + 1), **link.public()} for i, link in enumerate(self.links)
            ],
        }


def link_name(index: int) -> str:
    """The delivery log's name of link ``index`` (0 is the primary)."""
    return LINK_PRIMARY if index == 0 else f"backup-{index}"


def effective_link(primary: EmailSettings, link: EmailSettings) -> EmailSettings:
    """A backup link as it sends: on, and with the primary's sender unless it has its own."""
    return dataclasses.replace(
        link,
        enabled=True,
        sender_address=link.sender_address or primary.sender_address,
        sender_name=link.sender_name or primary.sender_name,
    )


def links_of(primary: EmailSettings, failover: FailoverSettings) -> tuple[EmailSettings, ...]:
    """Every link in order, the primary first; the backups only while the chain is on."""
    if not failover.active:
        return (primary,)
    return (primary, *(effective_link(primary, link) for link in failover.links))


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("invalid_bool")


def _number(name: str, value: object) -> int | float:
    kind, low, high = _POLICY_LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("invalid_number")
    try:
        number = kind(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise ValueError("invalid_number") from None
    if not low <= number <= high:  # NaN fails this too
        raise ValueError("invalid_number")
    return number


def _policy_values(changes: Mapping[str, object]) -> tuple[dict[str, Any], list[Issue]]:
    values: dict[str, Any] = {}
    issues: list[Issue] = []
    for key, raw in changes.items():
        if key == "links":
            continue
        try:
            if key in _POLICY_FLAGS:
                values[key] = _flag(raw)
            elif key in _POLICY_LIMITS:
                values[key] = _number(key, raw)
            else:
                known = ", ".join((*_POLICY_FLAGS, *_POLICY_LIMITS, "links"))
                issues.append(
                    Issue(key, "unknown_field", Level.ERROR, {"field": key, "known": known})
                )
        except ValueError as exc:
            _, low, high = _POLICY_LIMITS.get(key, (int, 0, 0))
            params = {"low": f"{low:g}", "high": f"{high:g}"} if key in _POLICY_LIMITS else {}
            issues.append(Issue(key, str(exc), Level.ERROR, params))
    return values, issues


_LINK_TEXTS: Final[Mapping[tuple[str, str], str]] = {
    ("password", "password_missing"): "failover_password_missing",
    ("relay_url", "invalid_value"): "failover_relay_url_invalid",
    ("relay_url", "required"): "failover_relay_url_required",
    ("device_credential", "required"): "failover_token_required",
    ("transport", "online_not_enrolled"): "failover_online_incomplete",
}
"""Advice whose primary's wording names another command or the enrolment, by
(field, code): a backup link's online service is set up in the link itself."""


def _link_text(issue: Issue) -> str:
    return _LINK_TEXTS.get((issue.field, issue.code), issue.text_code)


def _prefixed(index: int, report: Report) -> list[Issue]:
    return [
        dataclasses.replace(
            i,
            field=f"links.{index}.{i.field}",
            params={**i.params, "link": str(index + 1)},
            text_code=_link_text(i),
        )
        for i in report.issues
        if i.code != "disabled"  # a backup link is on whenever the chain is
    ]


def _links(
    current: FailoverSettings, raw: object, primary: EmailSettings
) -> tuple[tuple[EmailSettings, ...], list[Issue]]:
    """The backup links after the change: entry ``n`` is applied to link ``n`` as it was
    (so a password left out is kept); a shorter list removes the links past its end."""
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        return current.links, [Issue("links", "invalid_value", Level.ERROR, {"detail": "a list"})]
    if len(raw) > MAX_LINKS:
        return current.links, [Issue("links", "too_many_links", Level.ERROR, {"limit": "3"})]
    links: list[EmailSettings] = []
    issues: list[Issue] = []
    for index, changes in enumerate(raw):
        if not isinstance(changes, Mapping):
            issues.append(Issue(f"links.{index}", "invalid_value", Level.ERROR, {"detail": "{}"}))
            continue
        base = current.links[index] if index < len(current.links) else EmailSettings()
        given = {k: v for k, v in changes.items() if k != "name"}
        if "sender_address" in given and not given["sender_address"]:
            del given["sender_address"]  # cleared: the primary's again
            base = dataclasses.replace(base, sender_address="")
        if "sender_name" in given and not given["sender_name"]:
            del given["sender_name"]
            base = dataclasses.replace(base, sender_name="")
        updated, report = apply_update(effective_link(primary, base), given)
        issues += _prefixed(index, report)
        # The sender stays empty when it is the primary's: it follows the primary then.
        own = "sender_address" in given or base.sender_address
        own_name = "sender_name" in given or base.sender_name
        links.append(
            dataclasses.replace(
                updated,
                enabled=True,
                sender_address=updated.sender_address if own else "",
                sender_name=updated.sender_name if own_name else "",
            )
        )
    return tuple(links), issues


def apply_failover_update(
    current: FailoverSettings, changes: Mapping[str, object], *, primary: EmailSettings
) -> tuple[FailoverSettings, Report]:
    """Apply ``changes`` (policy keys, and ``links``: a list of per-link changes) to
    ``current``; return the new settings and the report.  Save only if ``report.ok``.

    Each link is validated as a save of the email settings would validate it, with
    the ``primary``'s sender when it has none of its own.
    """
    values, issues = _policy_values(changes)
    links = current.links
    if "links" in changes:
        links, link_issues = _links(current, changes["links"], primary)
        issues += link_issues
    enabled = values.pop("enabled", current.enabled)
    policy = dataclasses.replace(current.policy, **values)
    updated = FailoverSettings(enabled=enabled, links=links, policy=policy)
    if updated.enabled and not updated.links:
        issues.append(Issue("links", "failover_no_links", Level.ERROR))
    if updated.enabled and not primary.enabled:
        issues.append(Issue("enabled", "failover_primary_off", Level.WARNING))
    return updated, Report.of(issues)
