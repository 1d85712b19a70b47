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
package does no I/O; sending is the outbox's job.

The renderer is here; its parts are beside it: ``words`` (the label codes and
colours), ``formatting`` (untrusted text cleaned, numbers, local times),
``templates`` (the sandboxed template chain) and ``content`` (what each kind of
email says: subject, headline, rows).  The renderer stays in this module because
it is the one that calls :func:`tocsin.message.compose`: the byte-for-byte test
swaps ``tocsin.alarm_email.compose`` for a reference and must reach it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from tocsin.ack.model import Acknowledgement, can_acknowledge
from tocsin.ack.token import AckSigner
from tocsin.address import Address, parse_address
from tocsin.alarm_email.content import (
    RenderedEmail,
    _Content,
    _event_fields,
    _event_headline,
    _event_line,
    _event_rows,
    _event_subject,
)
from tocsin.alarm_email.formatting import _line, _local_time, _paragraph, _what
from tocsin.alarm_email.templates import EmailTemplates
from tocsin.alarm_email.words import _COLORS, _EMAIL, _words
from tocsin.alarm_email.words import _WORD_CODES as _WORD_CODES  # the catalogs' test reads them
from tocsin.headers import check_header_text, unsafe_character
from tocsin.i18n import Language, lookup
from tocsin.message import compose
from tocsin.model import Category, Event, Severity, User, email_id
from tocsin.routing import GroupTree, HeldSummary, acknowledges_warnings

__all__ = ["EmailRenderer", "EmailTemplates", "RenderedEmail", "message_id_for"]


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
        named: dict[str, str] = _event_fields(event, user, tree, w)
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
        named = _event_fields(event, user, tree, w)
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
            " – ".join(_event_line(e, user, tree, w)) for e in (summary.first, summary.last)
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

    def _event_email(
        self, kind: str, event: Event, user: User, tree: GroupTree | None, date: datetime | None
    ) -> RenderedEmail:
        w = _words(user.language)
        named = _event_fields(event, user, tree, w)
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
            "t": w,  # the language's FrozenTexts, shared: no template can change it
        }
        context["summary" if content.kind == "summary" else "event"] = dict(content.named)
        names = (f"{content.kind}.txt", f"{content.kind}.html")
        filled = self._templates.filled(names, context)
        problems: tuple[str, ...] = ()
        if filled is not None:
            text, html = filled
        else:
            text, text_problems = self._render(names[0], context)
            html, html_problems = self._render(names[1], context)
            problems = text_problems + html_problems
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
        return RenderedEmail(this_id, user.id, mail, content.subject, text, html, problems)

    def _render(self, name: str, context: Mapping[str, object]) -> tuple[str, tuple[str, ...]]:
        try:
            return self._templates.render(name, context), ()
        except Exception as exc:
            # An admin's template must never stop an alarm: use the shipped one instead.
            if self._templates.override_dir is None:
                raise
            problem = f"{name}: {type(exc).__name__}: {exc}"
            return self._templates.render(name, context, shipped=True), (problem,)
