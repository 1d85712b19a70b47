"""Each link's health and the routing decision: pure state, driven by outcomes and a clock.

A link is *up* until it fails.  A configuration problem (password or TLS refused)
puts it *down* at once; temporary failures put it down after ``after_failures`` in a
row or ``after_seconds`` of failing.  A link that is down is tried again (a *probe*)
every ``probe_interval`` seconds by the next email routed to it; one success brings
it back up.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from tocsin.failover import FailoverPolicy
from tocsin.outbox.model import Priority

__all__ = ["ChainHealth", "LinkState", "Route"]


@dataclass(slots=True)
class LinkState:
    """One link's health as this engine has seen it."""

    failures: int = 0  # temporary failures in a row
    failing_since: float | None = None
    down_since: float | None = None
    next_probe: float = 0.0
    why: str = ""  # the last failure, for the notice (never a secret: the error text)

    @property
    def up(self) -> bool:
        """True while the link is not down."""
        return self.down_since is None


@dataclass(frozen=True, slots=True)
class Route:
    """Where an email goes: link ``index``, or (``index`` None) wait until ``retry_at``."""

    index: int | None
    retry_at: float = 0.0


class ChainHealth:
    """The links' states and the policy; ``on_change(index, up, why)`` hears each
    link going down or coming back, once per change."""

    def __init__(
        self,
        count: int,
        policy: FailoverPolicy,
        *,
        clock: Callable[[], float],
        on_change: Callable[[int, bool, str], None] | None = None,
    ) -> None:
        self.policy = policy
        self.links = [LinkState() for _ in range(count)]
        self._clock = clock
        self._on_change = on_change

    def candidates(self, priority: int) -> range:
        """The links an email of ``priority`` may take, in order."""
        p = self.policy
        follows = (
            priority <= Priority.ALARM
            or (priority <= Priority.WARNING and p.warnings_follow)
            or (priority > Priority.WARNING and p.system_follow)
        )
        return range(len(self.links)) if follows else range(1)

    def route(self, priority: int, tried: Collection[int] = ()) -> Route:
        """The link for an email of ``priority`` that has not yet tried ``tried``.

        A link that is down but due for a probe is taken (and its next probe pushed
        back, so one email probes at a time).  Index None: every link it may take is
        down; it waits until the earliest probe.
        """
        now = self._clock()
        waits: list[float] = []
        for index in self.candidates(priority):
            if index in tried:
                continue
            state = self.links[index]
            if state.up:
                return Route(index)
            if now >= state.next_probe:
                state.next_probe = now + self.policy.probe_interval
                return Route(index)
            waits.append(state.next_probe)
        if not waits:
            return Route(None, now)  # tried every link: nothing left to move to
        return Route(None, max(min(waits), now + 0.05))

    def succeeded(self, index: int) -> None:
        """Link ``index`` delivered: it is up."""
        state = self.links[index]
        was_down = not state.up
        state.failures, state.failing_since, state.down_since, state.why = 0, None, None, ""
        if was_down:
            self._changed(index, True, "")

    def failed(self, index: int, why: str, *, configuration: bool) -> bool:
        """Link ``index`` failed (a configuration problem, or a temporary failure);
        return True when it is down now (the email may move on)."""
        now = self._clock()
        state = self.links[index]
        state.failures += 1
        state.why = why
        if state.failing_since is None:
            state.failing_since = now
        p = self.policy
        past = state.failures >= p.after_failures or now - state.failing_since >= p.after_seconds
        if not (configuration or past):
            return False
        state.next_probe = now + p.probe_interval
        if state.up:
            state.down_since = now
            self._changed(index, False, why)
        return True

    @property
    def fallen_back(self) -> bool:
        """True while the primary is down."""
        return bool(self.links) and not self.links[0].up

    def _changed(self, index: int, up: bool, why: str) -> None:
        if self._on_change is not None:
            self._on_change(index, up, why)
