"""The emails Tocsin sends about events: alarm / warning / cleared, the cap summary, system notices.

Each email has a first-class plain-text part and a single-column HTML part (tables
and inline styles, as Outlook needs), rendered by Jinja2 in a sandbox with HTML
autoescaping.  Shipped templates live in ``tocsin/templates/email``; an admin may
override any of them from a directory searched first.  A broken override never
stops an alarm: that part falls back to the shipped template and the problem is
reported in :attr:`RenderedEmail.template_problems`.

Device, sensor, group names and texts are untrusted.  They reach the subject only
through :func:`tocsin.headers.clean_header_text`, and :func:`tocsin.message.compose`
proves the rendered message carries exactly the headers set here.

Message-IDs are derived from the event id, the user id and the sender's domain, so
a retry or a re-render has the same one, and a "cleared" email names the raise's
Message-ID for the same user in In-Reply-To / References (RFC 5322 §3.6.4).

Apart from reading templates (package data, and the override directory) this
module does no I/O; sending is the outbox's job.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Final
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tocsin.ack.model import Acknowledgement, can_acknowledge
from tocsin.ack.token import AckSigner
from tocsin.address import Address, parse_address
from tocsin.headers import check_header_text, clean_header_text, unsafe_character
from tocsin.i18n import Language, catalog, lookup
from tocsin.message import Mail, compose
from tocsin.model import Category, Event, Severity, User, email_id
from tocsin.routing import GroupTree, HeldSummary, UnknownGroup, acknowledges_warnings

__all__ = ["EmailRenderer", "EmailTemplates", "RenderedEmail", "message_id_for"]

# The labels' codes; their texts are the catalogs' entries with msgctxt "email"
# (tocsin/locale).  The templates receive them as one mapping (``t``) that an
# overriding admin can use freely, so the codes are part of the template API.
_EMAIL: Final = "email"
_WORD_CODES: Final = (
    "prefix_alarm",
    "prefix_warning",
    "prefix_cleared",
    "prefix_summary",
    "prefix_system",
    "prefix_resolved",
    "severity_alarm",
    "severity_warning",
    "state_raised",  # the web pages' words (a test keeps them equal)
    "state_cleared",
    "category_armed",
    "category_always",
    "category_fire",
    "category_sabotage",
    "category_system",
    "headline_cleared",
    "headline_system",
    "headline_resolved",
    "headline_summary",
    "severity",
    "category",
    "state",
    "group_path",
    "device",
    "sensor",
    "value",
    "threshold",
    "time",
    "id",
    "count",
    "worst",
    "categories",
    "first",
    "last",
    "open_link",
    "summary_intro",
    "text_from_device",
    "text_from_tocsin",
    "footer_alarm",
    "footer_other",
    # added for issue 13 (acknowledge)
    "prefix_acked",
    "headline_acked",
    "ack_button",
    "ack_hint",
    # added for issue 13 (escalation)
    "prefix_escalated",
    "prefix_reminder",
    "headline_escalated",
    "headline_reminder",
)

_COLORS: Final = {
    "alarm": "#b91c1c",
    "warning": "#b45309",
    "cleared": "#15803d",
    "info": "#334155",
    "acked": "#1d4ed8",
}
# Bidirectional overrides could make a device name display as something else.
_BIDI: Final = dict.fromkeys(
    map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
_TEXT_LIMIT: Final = 2000
_TEMPLATE_PACKAGE: Final = ("tocsin", "templates/email")


def _words(language: str) -> Mapping[str, str]:
    """The email's words in ``language``, looked up once per loaded catalog."""
    return _words_of(language, catalog(language))


@functools.lru_cache(maxsize=32)
def _words_of(language: str, translations: object) -> Mapping[str, str]:
    # Keyed by the catalog object too: a reloaded catalog is looked up afresh.
    return MappingProxyType({code: lookup(code, language, _EMAIL, {}) for code in _WORD_CODES})


def _line(value: str, limit: int = 80) -> str:
    """One line of untrusted text, safe in a header and in the body."""
    return clean_header_text(value.translate(_BIDI), limit=limit)


def _paragraph(value: str) -> list[str]:
    """Untrusted free text as clean lines: no controls, no runs of blank lines."""
    lines: list[str] = []
    for raw in value[:_TEXT_LIMIT].splitlines():
        line = _line(raw, limit=_TEXT_LIMIT)
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _number(value: float, unit: str) -> str:
    text = f"{value:.15g}"
    return f"{text} {_line(unit, 20)}" if unit.strip() else text


def _zone(name: str) -> tuple[tzinfo, str]:
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC, "UTC"  # validated at the edge; an email must still go out


def _local_time(moment: datetime, zone_name: str, language: str) -> str:
    """``moment`` in the user's zone, e.g. ``2026-05-01 14:03:07 CEST (Europe/Berlin)``."""
    zone, name = _zone(zone_name)
    local = moment.astimezone(zone)
    pattern = lookup("date_format", language, _EMAIL, {})
    abbreviation = local.tzname() or name
    suffix = "" if abbreviation == name else f" ({name})"
    return f"{local.strftime(pattern)} {abbreviation}{suffix}"


def _group_path(tree: GroupTree | None, group_id: str) -> str:
    try:
        names = tree.path(group_id) if tree is not None else (group_id,)
    except UnknownGroup:
        names = (group_id,)  # the group was deleted since: still say where
    return " / ".join(_line(n, 60) for n in names)


def _what(event: Event) -> str:
    """``Device: sensor``, cleaned, for subjects and headlines."""
    device, sensor = _line(event.device), _line(event.sensor, 60)
    return f"{device}: {sensor}" if device and sensor else device or sensor


def message_id_for(email_id: str, domain: str) -> str:
    """The Message-ID of the email with ``email_id``, sent from ``domain``."""
    return f"<{email_id}@{domain}>"


def _id_domain(address: Address) -> str:
    if address.ascii is not None:
        return address.ascii.rpartition("@")[2]
    try:
        return address.domain.encode("idna").decode("ascii")
    except UnicodeError:
        return address.domain  # SMTPUTF8 message: RFC 6532 §3.2 allows UTF-8 here


def _check_public_url(url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    parts = urlsplit(url)
    bad_char = unsafe_character(url) or any(c.isspace() for c in url)
    if parts.scheme not in ("http", "https") or not parts.netloc or bad_char:
        raise ValueError(f"the public URL must be an http(s) URL without spaces, not {url!r}")
    return url.rstrip("/")


def _sandbox(loader: BaseLoader) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=select_autoescape(("html", "htm"), default_for_string=False, default=False),
        undefined=StrictUndefined,  # a typo in an admin's template fails loudly, then falls back
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


class EmailTemplates:
    """The template chain: ``override_dir`` first (if given), then the shipped templates.

    Templates named ``*.html`` are autoescaped, ``*.txt`` are not.  Rendering is
    sandboxed: templates cannot reach Python internals (``__class__``, ...) nor
    change the values they get.  Templates are compiled once and not reloaded:
    build a new instance when the override directory changes.
    """

    def __init__(self, override_dir: str | os.PathLike[str] | None = None) -> None:
        shipped = PackageLoader(*_TEMPLATE_PACKAGE)
        self.override_dir = Path(override_dir) if override_dir is not None else None
        self._shipped = _sandbox(shipped)
        self._chain = (
            _sandbox(ChoiceLoader([FileSystemLoader(self.override_dir), shipped]))
            if self.override_dir is not None
            else self._shipped
        )

    def render(self, name: str, context: Mapping[str, object], *, shipped: bool = False) -> str:
        """Render template ``name``; ``shipped`` skips the override directory.

        Raises ``jinja2.TemplateError`` (``SecurityError``, ``UndefinedError``,
        ``TemplateNotFound``, ...) and whatever an admin's template raises.
        """
        env = self._shipped if shipped else self._chain
        return env.get_template(name).render(context)


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """One email, ready for the outbox: the rendered :class:`~tocsin.message.Mail` and its parts.

    ``email_id`` is stable (see :func:`tocsin.model.email_id`); ``template_problems``
    lists overridden templates that failed and were replaced by the shipped ones.
    """

    email_id: str
    user_id: str
    mail: Mail
    subject: str
    text: str
    html: str
    template_problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Content:
    """Everything that differs between the kinds of email; the rest is shared."""

    kind: str
    subject: str
    headline: str
    subheadline: str
    color: str
    rows: Sequence[tuple[str, str]]
    text_lines: Sequence[str]
    link: str | None
    footer: str
    named: Mapping[str, object]
    ack_link: str | None = None
    text_label: str = ""  # what ``text_lines`` are ("Message from the device"); "" unlabelled


class EmailRenderer:
    """Renders Tocsin's emails for one installation.

    ``sender`` is the From address (its domain names the Message-IDs),
    ``public_url`` the web interface's address for links (``None``: no links),
    ``templates`` the template chain (default: the shipped templates only),
    ``ack_signer`` signs the "Acknowledge" links of alarm emails (with ``public_url``;
    without either, alarm emails carry no such link).
    Raises ``InvalidAddress``, ``UnsafeHeaderText`` or ``ValueError`` for bad settings.
    """

    def __init__(
        self,
        *,
        sender: str,
        sender_name: str = "Tocsin",
        public_url: str | None = None,
        templates: EmailTemplates | None = None,
        ack_signer: AckSigner | None = None,
    ) -> None:
        self._sender = sender
        self._ack_signer = ack_signer
        self._sender_name = check_header_text(sender_name, what="The sender name")
        self._domain = _id_domain(parse_address(sender))
        self._public_url = _check_public_url(public_url)
        self._templates = templates or EmailTemplates()

    def alarm(
        self, event: Event, user: User, *, tree: GroupTree, date: datetime | None = None
    ) -> RenderedEmail:
        """The alarm, warning or "cleared" email about ``event`` for ``user``.

        Raises ``ValueError`` (``InvalidAddress``) if the user's address is unusable.
        """
        return self._event_email("alarm", event, user, tree, date)

    def links_ack(self, event: Event, tree: GroupTree | None = None) -> bool:
        """True when the alarm email about ``event`` carries an "Acknowledge" link.

        A warning does where its group (or the nearest ancestor that says) asks for
        it (``ack_warnings`` in ``tree``).  Such an email differs per recipient (the
        link names them), so it cannot be rendered once and re-addressed.
        """
        warnings = tree is not None and acknowledges_warnings(tree, event.group_id)
        return bool(
            self._public_url and self._ack_signer and can_acknowledge(event, warnings=warnings)
        )

    def ack_notice(
        self,
        event: Event,
        user: User,
        ack: Acknowledgement,
        *,
        tree: GroupTree | None = None,
        date: datetime | None = None,
    ) -> RenderedEmail:
        """The short note to ``user`` that ``event`` was acknowledged, threaded under the alarm.

        Raises ``ValueError`` (``InvalidAddress``) if the user's address is unusable.
        """
        w = _words(user.language)
        named: dict[str, str] = self._event_fields(event, user, tree, w)
        acked_at = datetime.fromtimestamp(ack.at, UTC)
        params = {
            "by": _line(ack.by, 80),
            "time": _local_time(acked_at, user.time_zone, user.language),
        }
        headline = w["headline_acked"].format(**params)
        named |= {"acked_by": params["by"], "acked_at": params["time"]}
        what = [named["category"], named["group_path"], _what(event)]
        content = _Content(
            kind="ack",
            subject=f"[{w['prefix_acked']}] " + " – ".join(p for p in what if p),
            headline=headline,
            subheadline=" – ".join(p for p in (named["group_path"], _what(event)) if p),
            color=_COLORS["acked"],
            rows=_event_rows(
                "alarm", {k: v for k, v in named.items() if not k.startswith("acked")}, w
            ),
            text_lines=[],
            link=f"{self._public_url}/events?event={quote(event.id)}" if self._public_url else None,
            footer=w["footer_other"],
            named=named,
        )
        this = f"{email_id(event.id, user.id)}.ack"
        return self._finish(content, user, w, this, email_id(event.id, user.id), date)

    def escalation(
        self,
        event: Event,
        user: User,
        *,
        minutes: int,
        reminder: bool = False,
        number: int = 1,
        tree: GroupTree | None = None,
        date: datetime | None = None,
    ) -> RenderedEmail:
        """The alarm email again, headed "escalated: nobody acknowledged within N minutes"
        (or, with ``reminder``, "reminder: not acknowledged for N minutes").

        Threaded under ``user``'s alarm email (the same root Message-ID as the clear and
        the acknowledgement note); it carries the "Acknowledge" link as the alarm does.
        ``number`` (the step or reminder) makes its own Message-ID.  Raises ``ValueError``
        (``InvalidAddress``) if the address is unusable.
        """
        w = _words(user.language)
        named = self._event_fields(event, user, tree, w)
        code = "headline_reminder" if reminder else "headline_escalated"
        count = {"count": minutes}
        headline = lookup(code, user.language, _EMAIL, count).format(**count)
        prefix = w["prefix_reminder" if reminder else "prefix_escalated"]
        content = _Content(
            kind="alarm",
            subject=f"[{prefix}] " + _event_subject("alarm", event, named, w),
            headline=headline,
            subheadline=" – ".join(
                p for p in (_event_headline("alarm", event, named, w), named["group_path"]) if p
            ),
            color=_COLORS[event.severity.value],
            rows=_event_rows("alarm", named, w),
            text_lines=_paragraph(event.text),
            text_label=w["text_from_device"],
            link=f"{self._public_url}/events/{quote(event.id)}" if self._public_url else None,
            footer=w["footer_alarm"].format(category=named["category"]),
            named=named,
            ack_link=self._ack_link(event, user, tree),
        )
        root = email_id(event.id, user.id)
        this = f"{root}.{'remind' if reminder else 'esc'}{number}"
        return self._finish(content, user, w, this, root, date)

    def system_notice(
        self,
        event: Event,
        user: User,
        *,
        tree: GroupTree | None = None,
        date: datetime | None = None,
    ) -> RenderedEmail:
        """A notice of Tocsin's own trouble (a ``system`` event) or of its end.

        The event's text says what is wrong and what to do.  Raises ``ValueError``
        for an event of another category or an unusable address.
        """
        if event.category is not Category.SYSTEM:
            raise ValueError(f"a system notice needs a system event, not {event.category}")
        return self._event_email("system", event, user, tree, date)

    def summary(
        self, summary: HeldSummary, user: User, *, tree: GroupTree, date: datetime | None = None
    ) -> RenderedEmail:
        """The summary of what the hourly cap held back for ``user``.

        Raises ``ValueError`` if the summary is for another user or the address is unusable.
        """
        if summary.user_id != user.id:
            raise ValueError(f"summary for user {summary.user_id!r} rendered for {user.id!r}")
        w = _words(user.language)
        worst = w[f"severity_{summary.worst.value}"]
        first, last = (
            " – ".join(self._event_line(e, user, tree, w)) for e in (summary.first, summary.last)
        )
        categories = ", ".join(f"{w[f'category_{c.value}']}: {n}" for c, n in summary.by_category)
        count = {"count": summary.count}
        headline = lookup("headline_summary", user.language, _EMAIL, count).format(**count)
        named = {"count": summary.count, "worst": worst, "categories": categories}
        named |= {"first": first, "last": last}
        content = _Content(
            kind="summary",
            subject=f"[{w['prefix_summary']}] {headline} – {w['worst']}: {worst}",
            headline=headline,
            subheadline="",
            color=_COLORS["alarm" if summary.worst is Severity.ALARM else "warning"],
            rows=[(w[k], str(v)) for k, v in named.items()],
            text_lines=[w["summary_intro"]],
            link=f"{self._public_url}/events" if self._public_url else None,
            footer=w["footer_other"],
            named=named,
        )
        return self._finish(content, user, w, f"summary.{summary.id}", None, date)

    def _event_line(
        self, event: Event, user: User, tree: GroupTree, w: Mapping[str, str]
    ) -> list[str]:
        return [
            _local_time(event.occurred_at, user.time_zone, user.language),
            w[f"severity_{event.severity.value}"],
            w[f"category_{event.category.value}"],
            _group_path(tree, event.group_id),
            _what(event),
        ]

    def _event_email(
        self, kind: str, event: Event, user: User, tree: GroupTree | None, date: datetime | None
    ) -> RenderedEmail:
        w = _words(user.language)
        named = self._event_fields(event, user, tree, w)
        content = _Content(
            kind=kind,
            subject=_event_subject(kind, event, named, w),
            headline=_event_headline(kind, event, named, w),
            subheadline=" – ".join(
                p for p in ((named["group_path"] if kind == "alarm" else ""), _what(event)) if p
            ),
            color=_COLORS["cleared" if event.cleared else event.severity.value],
            rows=_event_rows(kind, named, w),
            text_lines=_paragraph(event.text),
            # The event's own words, labelled so they do not read as Tocsin's.
            text_label=w["text_from_device" if kind == "alarm" else "text_from_tocsin"],
            link=f"{self._public_url}/events/{quote(event.id)}" if self._public_url else None,
            footer=(
                w["footer_alarm"].format(category=named["category"])
                if kind == "alarm"
                else w["footer_other"]
            ),
            named=named,
            ack_link=self._ack_link(event, user, tree),
        )
        raised = email_id(event.clears, user.id) if event.clears else None
        return self._finish(content, user, w, email_id(event.id, user.id), raised, date)

    def _ack_link(self, event: Event, user: User, tree: GroupTree | None) -> str | None:
        if not self.links_ack(event, tree):
            return None
        assert self._ack_signer is not None
        return f"{self._public_url}/ack/{self._ack_signer.sign(event.id, user.id)}"

    def _event_fields(
        self, event: Event, user: User, tree: GroupTree | None, w: Mapping[str, str]
    ) -> dict[str, str]:
        # In display order: the rows of the email follow this.
        return {
            "severity": w[f"severity_{event.severity.value}"],
            "category": w[f"category_{event.category.value}"],
            "state": w[f"state_{event.state.value}"],
            "group_path": _group_path(tree, event.group_id),
            "device": _line(event.device, 200),
            "sensor": _line(event.sensor, 200),
            "value": "" if event.value is None else _number(event.value, event.unit),
            "threshold": "" if event.threshold is None else _number(event.threshold, event.unit),
            "time": _local_time(event.occurred_at, user.time_zone, user.language),
            "id": event.id,
            "unit": _line(event.unit, 20),
        }

    def _finish(
        self,
        content: _Content,
        user: User,
        w: Mapping[str, str],
        this_id: str,
        parent_id: str | None,
        date: datetime | None,
    ) -> RenderedEmail:
        """Render both parts and compose the message with its threading headers."""
        context: dict[str, object] = {
            "lang": Language(user.language).value,
            "subject": content.subject,
            "headline": content.headline,
            "subheadline": content.subheadline,
            "color": content.color,
            "rows": [tuple(r) for r in content.rows],
            "text_lines": list(content.text_lines),
            "text_label": content.text_label,
            "link": content.link,
            "footer": content.footer,
            "ack_link": content.ack_link,
            "t": dict(w),
        }
        context["summary" if content.kind == "summary" else "event"] = dict(content.named)
        text, problems = self._render(f"{content.kind}.txt", context)
        html, html_problems = self._render(f"{content.kind}.html", context)
        headers: dict[str, str] = {}
        if parent_id is not None:  # RFC 5322 §3.6.4: the clear answers the raise
            parent = message_id_for(parent_id, self._domain)
            headers = {"In-Reply-To": parent, "References": parent}
        mail = compose(
            sender=self._sender,
            to=[user.email],
            subject=content.subject,
            text=text,
            html=html,
            sender_name=self._sender_name,
            message_id=message_id_for(this_id, self._domain),
            date=date,
            headers=headers,
        )
        return RenderedEmail(
            this_id, user.id, mail, content.subject, text, html, problems + html_problems
        )

    def _render(self, name: str, context: Mapping[str, object]) -> tuple[str, tuple[str, ...]]:
        try:
            return self._templates.render(name, context), ()
        except Exception as exc:
            # An admin's template must never stop an alarm: use the shipped one instead.
            if self._templates.override_dir is None:
                raise
            problem = f"{name}: {type(exc).__name__}: {exc}"
            return self._templates.render(name, context, shipped=True), (problem,)


def _event_subject(kind: str, event: Event, named: Mapping[str, str], w: Mapping[str, str]) -> str:
    """``[ALARM] Fire – Building A / Server room – Smoke detector 2``."""
    if kind == "system":
        prefix = w["prefix_resolved" if event.cleared else "prefix_system"]
        first_line = next(iter(_paragraph(event.text)), "")
        parts = [_what(event), _line(first_line, 120)]
    else:
        prefix = w["prefix_cleared" if event.cleared else f"prefix_{event.severity.value}"]
        parts = [named["category"], named["group_path"], _what(event)]
    return f"[{prefix}] " + " – ".join(p for p in parts if p)


def _event_headline(kind: str, event: Event, named: Mapping[str, str], w: Mapping[str, str]) -> str:
    if kind == "system":
        return w["headline_resolved" if event.cleared else "headline_system"]
    state = w["headline_cleared"] if event.cleared else named["severity"]
    return f"{state}: {named['category']}"


def _event_rows(kind: str, named: Mapping[str, str], w: Mapping[str, str]) -> list[tuple[str, str]]:
    """The labelled values in display order, leaving out empty ones (and the unit)."""
    hidden = {"unit", "category", "group_path"} if kind == "system" else {"unit"}
    return [(w[key], value) for key, value in named.items() if value and key not in hidden]
