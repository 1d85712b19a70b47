# Only constants and "?, ?" placeholder lists are put into SQL text here; every value
# is a bound parameter.  Hence:
# ruff: noqa: S608
"""Escalation policies and timers in SQL, shared by both backends (migration 0007).

The claim of due timers takes the backend's lock clause (PostgreSQL: ``FOR UPDATE
SKIP LOCKED``, as the outbox's claim; SQLite: none, its write transaction is the one
writer).  The caller fires the claimed timers and marks them in the same transaction,
so with several workers each timer fires exactly once, and a crash before the commit
leaves it pending for the next round.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tocsin.escalation import (
    EscalationPolicy,
    Timer,
    TimerKind,
    TimerState,
    policy_from_dict,
    policy_to_dict,
)
from tocsin.store.inserts import send_rows
from tocsin.store.lists import marks
from tocsin.store.runner import Row, Runner
from tocsin.store.sites_sql import SiteSQL

__all__ = ["EscalationSQL"]

_TIMER = "event_id, seq, kind, number, due_at, minutes, user_ids, state, fired_at"
_TIMER_ROW = "?, ?, ?, ?, ?, ?, ?, ?, ?"


def _timer(row: Row) -> Timer:
    users = json.loads(str(row[6]))
    return Timer(
        event_id=str(row[0]),
        seq=int(row[1]),
        kind=TimerKind(str(row[2])),
        number=int(row[3]),
        due_at=float(row[4]),
        minutes=int(row[5]),
        user_ids=tuple(str(u) for u in users),
        state=TimerState(str(row[7])),
        fired_at=None if row[8] is None else float(row[8]),
    )


class EscalationSQL:
    """Every escalation query, on one runner (a transaction's or a reader's)."""

    def __init__(self, runner: Runner, *, claim_lock: str = "") -> None:
        self.runner = runner
        self.claim_lock = claim_lock

    # ------------------------------------------------------------------ policies
    def policies(self) -> dict[str, EscalationPolicy]:
        """Every group's own policy, by group id (a stored one that no longer reads is
        skipped: it cannot have been written by this code)."""
        found: dict[str, EscalationPolicy] = {}
        for group_id, text in self.runner.rows("SELECT group_id, policy FROM escalation_policy"):
            try:
                found[str(group_id)] = policy_from_dict(json.loads(str(text)))
            except ValueError:
                continue
        return found

    def set_policy(self, group_id: str, policy: EscalationPolicy | None, *, now: float) -> None:
        """Give ``group_id`` its own ``policy`` (``None``: inherit again).

        Counted as a change of the site (its version), whose cached view holds the
        policies (:class:`tocsin.services.site_view.SiteView`)."""
        self._write(group_id, policy, now)
        SiteSQL(self.runner).bump()

    def replace_policies(self, policies: dict[str, EscalationPolicy], *, now: float) -> None:
        """Replace every group's policy (the site import); a change of the site, as above."""
        self.runner.run("DELETE FROM escalation_policy")
        for group_id, policy in policies.items():
            self._write(group_id, policy, now)
        SiteSQL(self.runner).bump()

    def _write(self, group_id: str, policy: EscalationPolicy | None, now: float) -> None:
        self.runner.run("DELETE FROM escalation_policy WHERE group_id = ?", (group_id,))
        if policy is not None:
            self.runner.run(
                "INSERT INTO escalation_policy (group_id, policy, updated_at) VALUES (?, ?, ?)",
                (group_id, json.dumps(policy_to_dict(policy), sort_keys=True), now),
            )

    # ------------------------------------------------------------------ timers
    def schedule(self, timers: Sequence[Timer]) -> None:
        """Store new pending timers (an event's timers exist once: a repeat adds nothing).

        Sent, many to a statement (:mod:`tocsin.store.inserts`): the intake writes a
        request's timers together, and waits for none of them on PostgreSQL."""
        rows = [
            (
                t.event_id,
                t.seq,
                t.kind.value,
                t.number,
                t.due_at,
                t.minutes,
                json.dumps(list(t.user_ids)),
                t.state.value,
                t.fired_at,
            )
            for t in timers
        ]
        send_rows(
            self.runner, "escalation_timer", _TIMER, _TIMER_ROW, rows,
            then=" ON CONFLICT (event_id, seq) DO NOTHING",
        )  # fmt: skip

    def claim_due(self, *, now: float, limit: int) -> list[Timer]:
        """Lock and return up to ``limit`` pending timers due by ``now``, oldest first.

        Another worker's claimed rows are skipped (PostgreSQL) until its transaction ends.
        """
        rows = self.runner.rows(
            f"SELECT {_TIMER} FROM escalation_timer WHERE state = 'pending' AND due_at <= ? "
            f"ORDER BY due_at, event_id, seq LIMIT ?{self.claim_lock}",
            (now, limit),
        )
        return [_timer(r) for r in rows]

    def mark(self, timer: Timer, state: TimerState, *, now: float) -> None:
        """Settle a claimed timer as fired or cancelled."""
        self.runner.run(
            "UPDATE escalation_timer SET state = ?, fired_at = ? "
            "WHERE event_id = ? AND seq = ? AND state = 'pending'",
            (state.value, now, timer.event_id, timer.seq),
        )

    def cancel(self, event_ids: Sequence[str], *, now: float) -> int:
        """Cancel the pending timers of these events (acknowledged or cleared)."""
        if not event_ids:
            return 0
        listed = marks(len(event_ids))
        return self.runner.run(
            "UPDATE escalation_timer SET state = 'cancelled', fired_at = ? "
            f"WHERE state = 'pending' AND event_id IN ({listed})",
            (now, *event_ids),
        )

    def bring_forward(self, event_id: str, *, after_seq: int, now: float) -> bool:
        """Make the next pending step of ``event_id`` after ``after_seq`` due at ``now``
        (its users are not waited for: everyone before it is in quiet hours).

        False when there is no later pending step.
        """
        rows = self.runner.rows(
            "SELECT seq FROM escalation_timer WHERE event_id = ? AND seq > ? "
            "AND kind = 'step' AND state = 'pending' AND due_at > ? ORDER BY seq LIMIT 1",
            (event_id, after_seq, now),
        )
        if not rows:
            return False
        self.runner.run(
            "UPDATE escalation_timer SET due_at = ? WHERE event_id = ? AND seq = ?",
            (now, event_id, int(rows[0][0])),
        )
        return True

    def timers_of(self, event_ids: Sequence[str]) -> dict[str, list[Timer]]:
        """Every timer of these events, by event id, in order."""
        if not event_ids:
            return {}
        listed = marks(len(event_ids))
        found: dict[str, list[Timer]] = {}
        for row in self.runner.rows(
            f"SELECT {_TIMER} FROM escalation_timer WHERE event_id IN ({listed}) "
            "ORDER BY event_id, seq",
            tuple(event_ids),
        ):
            timer = _timer(row)
            found.setdefault(timer.event_id, []).append(timer)
        return found

    def next_due(self) -> float | None:
        """When the next pending timer falls due (``None``: none pending)."""
        rows = self.runner.rows("SELECT MIN(due_at) FROM escalation_timer WHERE state = 'pending'")
        return None if not rows or rows[0][0] is None else float(rows[0][0])
