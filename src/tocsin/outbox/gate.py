"""Whether the engine may send now: the settings, and pauses for configuration problems.

A configuration problem (password refused, TLS refused, sender refused, ...) would
fail every email alike, so instead of spending attempts the engine pauses.  It
resumes by itself when the settings change, and also tries again every
``probe_interval`` seconds in case the server side was fixed.  Email disabled, or
enabled but not configured, is a pause too (without a notice: the admin chose it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tocsin.errors import ConfigurationProblem, Reason
from tocsin.settings import EmailSettings, TransportKind

__all__ = ["Gate", "PauseState"]

log = logging.getLogger("tocsin.outbox")


@dataclass(frozen=True, slots=True)
class PauseState:
    """Why delivery is paused, since when, and the error that paused it (if one did)."""

    reason: str
    message: str
    since: float
    error: ConfigurationProblem | None = None


def _not_ready(settings: EmailSettings) -> tuple[str, str] | None:
    if not settings.enabled:
        return Reason.DISABLED.value, "email is disabled in the settings"
    if settings.transport is TransportKind.ONLINE:
        if not (settings.relay_url and settings.device_credential and settings.sender_address):
            return Reason.NOT_CONFIGURED.value, "not enrolled with the online service"
        return None
    if not settings.host or not settings.sender_address:
        return Reason.NOT_CONFIGURED.value, "the SMTP server or the sender address is missing"
    return None


class Gate:
    """Tracks the current settings and the pause; calls ``on_pause`` once per pause."""

    def __init__(
        self,
        *,
        on_pause: Callable[[ConfigurationProblem], None] | None = None,
        probe_interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._on_pause = on_pause
        self._probe_interval = probe_interval
        self._clock = clock
        self.settings: EmailSettings | None = None
        self._problem: PauseState | None = None

    def update(self, settings: EmailSettings) -> bool:
        """Take the current settings; return True when they differ from the last ones.

        Changed settings lift a pause caused by a configuration problem.
        """
        changed = settings != self.settings
        self.settings = settings
        if changed:
            self._problem = None
        elif self._problem and self._clock() - self._problem.since >= self._probe_interval:
            self._problem = None  # try once more: the server side may have been fixed
        return changed

    def pause(self, error: ConfigurationProblem) -> bool:
        """Pause for ``error``; return True (and notify) only if not paused already."""
        if self._problem is not None:
            return False
        self._problem = PauseState(error.reason.value, str(error), self._clock(), error)
        log.warning("delivery paused: %s", error)
        if self._on_pause is not None:
            try:
                self._on_pause(error)
            except Exception:  # a broken notice must not stop delivery
                log.exception("the on_pause callback failed")
        return True

    @property
    def paused(self) -> PauseState | None:
        """The current pause, or None when delivery may run."""
        if self._problem is not None:
            return self._problem
        if self.settings is None:
            return PauseState(Reason.NOT_CONFIGURED.value, "settings not loaded yet", 0.0)
        blocked = _not_ready(self.settings)
        if blocked is not None:
            return PauseState(blocked[0], blocked[1], 0.0)
        return None
