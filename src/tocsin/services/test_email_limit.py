"""How often a test email may be sent: enough to diagnose, too few to spam.

A test that delivered a message is what could be abused (the button as a spam
cannon), so successful sends are what is counted: a few per recipient per hour and
some more in all.  A failed test sends nothing to anyone; failures only have a
short burst limit, so someone debugging a server tries again and again without
waiting ten minutes, while a script hammering a server is still slowed down.  Tests
running at once are capped too, so a burst cannot slip past the counts.

Kept in memory per process, like the login throttle: a restart forgets.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from tocsin.i18n import translate

__all__ = ["TestEmailLimit", "wait_in_words"]


@dataclass
class TestEmailLimit:
    """Counts successful test emails per recipient and in all, failures in a short burst."""

    __test__ = False  # not a pytest test class, despite the name

    per_recipient: int = 5
    in_all: int = 20
    success_window: float = 3600.0
    failures: int = 10
    failure_window: float = 120.0
    at_once: int = 2
    _sent: dict[str, deque[float]] = field(default_factory=dict, init=False, repr=False)
    _failed: deque[float] = field(default_factory=deque, init=False, repr=False)
    _running: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _prune(self, now: float) -> None:
        for times in self._sent.values():
            while times and times[0] <= now - self.success_window:
                times.popleft()
        self._sent = {k: v for k, v in self._sent.items() if v}
        while self._failed and self._failed[0] <= now - self.failure_window:
            self._failed.popleft()

    def begin(self, recipient: str, now: float | None = None) -> float:
        """Seconds to wait before a test to ``recipient`` is allowed; 0 starts it now.

        A started test must be ended with :meth:`end`.
        """
        now = time.monotonic() if now is None else now
        key = recipient.casefold()
        with self._lock:
            self._prune(now)
            waits = [0.0]
            mine = self._sent.get(key, deque())
            if len(mine) >= self.per_recipient:
                waits.append(mine[0] + self.success_window - now)
            every = sorted(t for times in self._sent.values() for t in times)
            if len(every) >= self.in_all:
                waits.append(every[-self.in_all] + self.success_window - now)
            if len(self._failed) >= self.failures:
                waits.append(self._failed[0] + self.failure_window - now)
            if self._running >= self.at_once:
                waits.append(5.0)
            wait = max(waits)
            if wait <= 0:
                self._running += 1
            return wait

    def end(self, recipient: str, *, sent: bool, now: float | None = None) -> None:
        """Record the outcome of a test started with :meth:`begin`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._running = max(0, self._running - 1)
            if sent:
                self._sent.setdefault(recipient.casefold(), deque()).append(now)
            else:
                self._failed.append(now)


def wait_in_words(seconds: float, language: str) -> str:
    """``seconds`` as the page says it: "5 minutes", "40 seconds" (rounded up)."""
    if seconds <= 60:
        count = max(1, math.ceil(seconds))
        return translate("wait_seconds", language, count=count)
    return translate("wait_minutes", language, count=math.ceil(seconds / 60))
