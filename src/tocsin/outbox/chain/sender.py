"""Send a claimed batch through the failover chain.

Each email is routed (:class:`~.health.ChainHealth`), the emails for one link go
to it back to back, and each outcome is judged twice: once for the link's health,
once for the email.  An email moves to the next link only when the send raised
(nothing of it was delivered: a refused login, a refused TLS, a dropped or refused
connection) *and* the link is now down; otherwise its outcome is recorded as
without a chain.  The email stays claimed (leased) by this engine throughout, so
no other worker sends it meanwhile: it goes out once, through one link.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from tocsin.errors import ConfigurationProblem, DeliveryError, Reason
from tocsin.failover import FailoverPolicy, FailoverSettings, link_name, links_of
from tocsin.message import Mail
from tocsin.outbox.chain.health import ChainHealth
from tocsin.outbox.lanes import TransportFactory, TransportHolder
from tocsin.outbox.model import ClaimedEmail
from tocsin.settings import EmailSettings
from tocsin.transports.base import DeliveryResult, Outcome, send_each

__all__ = ["ChainSender", "FailoverHook"]

log = logging.getLogger("tocsin.outbox")

FailoverHook = Callable[[bool, str], None]
"""Hears ``(fallen_back, why)``: True once when the primary goes down and alarms take
a backup link, False once when the primary is back."""
Finish = Callable[[ClaimedEmail, DeliveryResult | Exception, str], None]
Prepare = Callable[[ClaimedEmail, EmailSettings], Mail]


def _health_verdict(outcome: DeliveryResult | Exception) -> tuple[str, bool] | None:
    """What an outcome says about the link: None (it works), or (why, configuration)
    for a failure that counts against it."""
    if isinstance(outcome, ConfigurationProblem):
        return str(outcome), True
    if isinstance(outcome, DeliveryError):
        return (str(outcome), False) if outcome.temporary else None
    if isinstance(outcome, Exception):
        return None  # a bug below, not the link's fault
    results = outcome.recipients
    if any(r.outcome is Outcome.ACCEPTED for r in results):
        return None
    if any(r.reason is Reason.AUTH_REQUIRED for r in results):
        return "the server requires authentication", True
    if results and all(r.outcome is Outcome.TEMPORARY for r in results):
        return "every recipient was refused for now", False
    return None


def _same_but_rotated(new: Sequence[EmailSettings], old: Sequence[EmailSettings]) -> bool:
    """True when ``new`` differs from ``old`` in stored refresh tokens alone."""
    if len(new) != len(old):
        return False
    return all(
        a == dataclasses.replace(b, oauth_refresh_token=a.oauth_refresh_token)
        for a, b in zip(new, old, strict=True)
    )


class ChainSender:
    """The links' transports and health; :meth:`send` sends one batch."""

    def __init__(
        self,
        factory: TransportFactory,
        *,
        clock: Callable[[], float],
        on_failover: FailoverHook | None = None,
        on_move: Callable[[str], None] | None = None,
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._on_failover = on_failover
        self._on_move = on_move  # hears the link an email's failed attempt moves on from
        self.links: tuple[EmailSettings, ...] = ()
        self._policy: FailoverPolicy | None = None
        self._holders: list[TransportHolder] = []
        self.health = ChainHealth(0, FailoverPolicy(), clock=clock)

    @property
    def active(self) -> bool:
        """True when there is a backup link to move to."""
        return len(self.links) > 1

    def link_states(self) -> list[tuple[str, bool]]:
        """Each link of the chain by name, and whether it is up; none without a backup link.

        Safe from another thread (a scrape): ``update`` replaces the health whole."""
        health = self.health
        if len(health.links) < 2:
            return []  # the primary alone: no chain whose health is kept
        return [(link_name(i), state.up) for i, state in enumerate(health.links)]

    def follow(self, primary: EmailSettings, failover: FailoverSettings) -> bool:
        """Take the current email settings and chain (see :meth:`update`)."""
        policy = failover.policy if failover.active else FailoverPolicy()
        return self.update(links_of(primary, failover), policy)

    def update(self, links: tuple[EmailSettings, ...], policy: FailoverPolicy) -> bool:
        """Take the current links (the primary first); True when they changed.  Changed
        links get new transports and fresh health (every link up again).

        When only stored refresh tokens changed (the OAuth2 provider rotated one while
        a link sent, or an admin signed a link in again) the links get new transports
        but keep their health: a backup link that rotates its token while the primary
        is down must not bring the chain "back" and send alarms to the dead primary."""
        if links == self.links and policy == self._policy:
            return False
        if policy == self._policy and _same_but_rotated(links, self.links):
            self.retire()
            self.links = links
            self._holders = [TransportHolder(self._factory) for _ in links]
            return True
        self.retire()
        if self.health.fallen_back and self._on_failover is not None:
            self._on_failover(False, "the failover settings changed")
        self.links, self._policy = links, policy
        self._holders = [TransportHolder(self._factory) for _ in links]
        self.health = ChainHealth(len(links), policy, clock=self._clock, on_change=self._changed)
        return True

    def retire(self) -> None:
        """Close the links' connections once idle (settings changed, engine idle)."""
        for holder in self._holders:
            holder.retire()

    async def aclose(self) -> None:
        """Close every link's transport."""
        for holder in self._holders:
            await holder.aclose()

    @property
    def busy(self) -> bool:
        """True while a send uses a link."""
        return any(h.busy for h in self._holders)

    async def send(
        self,
        batch: Sequence[ClaimedEmail],
        *,
        prepare: Prepare,
        finish: Finish,
        release: Callable[[ClaimedEmail, float], None],
    ) -> None:
        """Send ``batch``: ``finish(email, outcome, link)`` records each outcome,
        ``release(email, at)`` gives back an email that must wait for its link.  A bug
        here gives back what is left, no attempt spent, instead of losing it."""
        done: set[int] = set()

        def finished(email: ClaimedEmail, outcome: DeliveryResult | Exception, link: str) -> None:
            done.add(email.email_id)
            finish(email, outcome, link)

        def released(email: ClaimedEmail, at: float) -> None:
            done.add(email.email_id)
            release(email, at)

        try:
            await self._send(batch, prepare, finished, released)
        except Exception:
            log.exception("the failover chain failed; its emails go back to the queue")
            for email in batch:
                if email.email_id not in done:
                    release(email, self._clock() + 1.0)

    async def _send(
        self,
        batch: Sequence[ClaimedEmail],
        prepare: Prepare,
        finish: Finish,
        release: Callable[[ClaimedEmail, float], None],
    ) -> None:
        tried: dict[int, set[int]] = {e.email_id: set() for e in batch}
        pending = list(batch)
        while pending:
            groups: dict[int, list[ClaimedEmail]] = {}
            for email in pending:
                route = self.health.route(email.priority, tried[email.email_id])
                if route.index is None:
                    release(email, route.retry_at)
                else:
                    groups.setdefault(route.index, []).append(email)
            pending = []
            for index, emails in groups.items():
                moved = await self._send_link(index, emails, prepare, finish)
                for email in moved:
                    tried[email.email_id].add(index)
                pending += moved

    async def _send_link(
        self, index: int, emails: list[ClaimedEmail], prepare: Prepare, finish: Finish
    ) -> list[ClaimedEmail]:
        """Send ``emails`` through link ``index``; return those that move on."""
        settings, name = self.links[index], link_name(index)
        holder = self._holders[index]  # the one to give back to, even if replaced meanwhile
        transport, token = holder.acquire(settings)
        moved: list[ClaimedEmail] = []
        judged: set[int] = set()

        def outcome(i: int, result: DeliveryResult | Exception) -> None:
            judged.add(i)
            email = emails[i]
            verdict = _health_verdict(result)
            if verdict is None:
                if not isinstance(result, Exception):
                    self.health.succeeded(index)
                finish(email, result, name)
                return
            down = self.health.failed(index, verdict[0], configuration=verdict[1])
            nothing_sent = isinstance(result, Exception) or verdict[1]
            if down and nothing_sent and self._has_next(email, index):
                log.warning("email %s moves on from %s: %s", email.message_id, name, verdict[0])
                moved.append(email)
                if self._on_move is not None:
                    self._on_move(name)
            else:
                finish(email, result, name)

        try:
            await send_each(transport, [prepare(e, settings) for e in emails], outcome)
        except Exception as exc:  # a bug below: judge what is left, as a single send would
            for i in range(len(emails)):
                if i not in judged:
                    outcome(i, exc)
        finally:
            holder.release(token)
        return moved

    def _has_next(self, email: ClaimedEmail, index: int) -> bool:
        return index + 1 < len(self.health.candidates(email.priority))

    def _changed(self, index: int, up: bool, why: str) -> None:
        name = link_name(index)
        if up:
            log.warning("link %s is back", name)
        else:
            log.warning("link %s is down: %s", name, why)
        if index == 0 and self._on_failover is not None:
            try:
                self._on_failover(not up, why)
            except Exception:  # a broken notice must not stop delivery
                log.exception("the on_failover callback failed")
