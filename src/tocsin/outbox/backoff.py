"""When to try again: exponential back-off with jitter, up to a maximum age."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Delays between attempts after temporary failures.

    The n-th retry waits ``first * factor**(n-1)`` seconds, at most ``cap``, scaled by a
    random factor in ``[1 - jitter, 1]`` so that many emails failing together do not
    come back together (the thundering herd after a server outage).  A delivery older
    than ``max_age`` seconds when it fails again is given up (status dead).
    """

    first: float = 5.0
    factor: float = 2.0
    cap: float = 900.0
    jitter: float = 0.3
    max_age: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if self.first <= 0 or self.cap < self.first or self.factor < 1:
            raise ValueError("need 0 < first <= cap and factor >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.max_age <= 0:
            raise ValueError("max_age must be positive")

    def spread(self, rng: random.Random | None = None) -> float:
        """A random factor in ``[1 - jitter, 1]``; draw one per send, so the recipients
        of one email stay together and are retried in one transaction."""
        return (rng or random).uniform(1.0 - self.jitter, 1.0)

    def delay(self, attempts: int, spread: float = 1.0) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1 for the first)."""
        exponent = max(0, attempts - 1)
        # Past the cap anyway, and factor**exponent would overflow a float eventually.
        base = self.cap
        if exponent < 64:
            base = min(self.cap, self.first * self.factor**exponent)
        return base * spread

    def next_attempt(
        self, *, attempts: int, queued_at: float, now: float, spread: float = 1.0
    ) -> float | None:
        """When to try again after the ``attempts``-th failure, or None to give up.

        The last attempt is placed at the maximum age itself, so a delivery gets one
        try at the very end of its allowed time rather than dying early.
        """
        deadline = queued_at + self.max_age
        if now >= deadline:
            return None
        return min(now + self.delay(attempts, spread), deadline)
