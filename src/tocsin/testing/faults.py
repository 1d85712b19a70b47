"""Fault injection for the test servers: `Faults`, by `Stage`."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal, get_args

Stage = Literal[
    "connect", "helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "data_end", "rset",
    "noop", "quit",
]  # fmt: skip
"""Where a fault strikes: ``connect`` is the greeting, ``data`` the reply to the DATA command
itself (normally 354), ``data_end`` the reply after the final dot; the others are commands."""

_STAGES = frozenset(get_args(Stage))
_REPLY = re.compile(r"[2-5][0-9]{2}(?:[ -][^\r\n]*)?")


@dataclass
class _Rule:
    stage: str
    action: Literal["reply", "drop", "hang", "delay", "drop_in_data"]
    reply: str = ""
    seconds: float = 0.0
    recipient: str | None = None
    after_lines: int = 1
    remaining: int | None = None  # None: for ever


class Faults:
    """The faults one server injects; change them at any time, also from another thread.

    Each rule applies at one `Stage`, for ever or for the next ``times`` hits (then it is
    gone, so ``times=2`` means "fail twice, then succeed").  At a stage the first matching
    delay rule and the first matching reply / drop / hang rule apply, in the order added.
    """

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def reply_at(
        self, stage: Stage, reply: str, *, recipient: str | None = None, times: int | None = None
    ) -> None:
        """Answer ``reply`` (e.g. ``"451 4.2.0 try later"``) instead of the normal reply.

        A 421 reply, and any reply at ``connect``, is followed by closing the connection
        (RFC 5321 §3.8).  ``recipient`` limits a ``rcpt`` rule to that address.

        Raises:
            ValueError: bad stage, reply, times, or ``recipient`` outside ``rcpt``.
        """
        if not _REPLY.fullmatch(reply):
            raise ValueError(f"not a one-line SMTP reply: {reply!r}")
        self._add(_Rule(stage, "reply", reply=reply), recipient, times)

    def drop_at(
        self, stage: Stage, *, recipient: str | None = None, times: int | None = None
    ) -> None:
        """Close the connection at ``stage`` without replying."""
        self._add(_Rule(stage, "drop"), recipient, times)

    def hang_at(
        self, stage: Stage, *, recipient: str | None = None, times: int | None = None
    ) -> None:
        """Never reply at ``stage``; the connection stays open until the client gives up."""
        self._add(_Rule(stage, "hang"), recipient, times)

    def black_hole(self, *, times: int | None = None) -> None:
        """Accept the TCP connection but never send the greeting (``hang_at("connect")``)."""
        self.hang_at("connect", times=times)

    def delay(
        self,
        stage: Stage,
        seconds: float,
        *,
        recipient: str | None = None,
        times: int | None = None,
    ) -> None:
        """Wait ``seconds`` before answering at ``stage`` (a slow server)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self._add(_Rule(stage, "delay", seconds=seconds), recipient, times)

    def drop_during_data(self, *, after_lines: int = 1, times: int | None = None) -> None:
        """Close the connection, without a reply, after reading ``after_lines`` lines of
        message content (at the final dot at the latest); the message is not recorded."""
        if after_lines < 1:
            raise ValueError("after_lines must be >= 1")
        self._add(_Rule("data", "drop_in_data", after_lines=after_lines), None, times)

    def clear(self) -> None:
        """Remove every rule: the server behaves normally again."""
        with self._lock:
            self._rules.clear()

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._rules)

    def _add(self, rule: _Rule, recipient: str | None, times: int | None) -> None:
        if rule.stage not in _STAGES:
            raise ValueError(f"unknown stage {rule.stage!r}; one of {sorted(_STAGES)}")
        if recipient is not None and rule.stage != "rcpt":
            raise ValueError("recipient= only applies to the 'rcpt' stage")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for ever)")
        rule.recipient, rule.remaining = recipient, times
        with self._lock:
            self._rules.append(rule)

    def _take(self, stage: str, recipient: str | None = None) -> tuple[float, _Rule | None]:
        """Consume the rules hit at ``stage``: (delay in seconds, reply/drop/hang rule)."""
        delay: _Rule | None = None
        action: _Rule | None = None
        with self._lock:
            for rule in self._rules:
                if rule.stage != stage or rule.action == "drop_in_data":
                    continue
                if rule.recipient is not None and rule.recipient != recipient:
                    continue
                if rule.action == "delay" and delay is None:
                    delay = rule
                elif rule.action != "delay" and action is None:
                    action = rule
            for hit in (delay, action):
                if hit is not None:
                    self._consume(hit)
        return (delay.seconds if delay else 0.0), action

    def _take_data_drop(self) -> int | None:
        """Consume a `drop_during_data` rule: after how many lines to drop, or None."""
        with self._lock:
            for rule in self._rules:
                if rule.action == "drop_in_data":
                    self._consume(rule)
                    return rule.after_lines
        return None

    def _consume(self, rule: _Rule) -> None:
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining == 0:
                self._rules.remove(rule)
