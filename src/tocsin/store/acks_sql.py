# Only constants and "?, ?, ?" placeholder lists are put into SQL text here; every value
# is a bound parameter.  Hence:
# ruff: noqa: S608
"""Acknowledgements and used acknowledgement links in SQL, shared by both backends.

Tables from migration 0006.  Both writes are "insert unless there": the primary keys
decide, under concurrency too (two workers, two clicks), which acknowledgement is the
first and whether a link was used before — no read-then-write race.
"""

from __future__ import annotations

from collections.abc import Sequence

from tocsin.ack.model import Acknowledgement, AckVia
from tocsin.store.lists import marks
from tocsin.store.runner import Row, Runner

__all__ = ["AckSQL"]

_COLUMNS = "event_id, acked_by, acked_at, via, user_id"


def _ack(row: Row) -> Acknowledgement:
    return Acknowledgement(
        event_id=str(row[0]),
        by=str(row[1]),
        at=float(row[2]),
        via=AckVia(str(row[3])),
        user_id=None if row[4] is None else str(row[4]),
    )


class AckSQL:
    """Every acknowledgement query, on one runner (a transaction's or a reader's)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def record(self, ack: Acknowledgement) -> bool:
        """Store ``ack`` unless the event has one; True when this one is the first."""
        changed = self.runner.run(
            f"INSERT INTO event_ack ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (event_id) DO NOTHING",
            (ack.event_id, ack.by, ack.at, ack.via.value, ack.user_id),
        )
        return changed == 1

    def of(self, event_ids: Sequence[str]) -> dict[str, Acknowledgement]:
        """The acknowledgements of these events, by event id (unacknowledged: absent)."""
        if not event_ids:
            return {}
        listed = marks(len(event_ids))
        rows = self.runner.rows(
            f"SELECT {_COLUMNS} FROM event_ack WHERE event_id IN ({listed})", tuple(event_ids)
        )
        return {str(r[0]): _ack(r) for r in rows}

    def use_token(self, digest: str, *, event_id: str, now: float, expires_at: float) -> bool:
        """Mark a link's token used; False when it was used before (single use).

        Tokens past their expiry are forgotten on the way (they fail their own check).
        """
        self.runner.run("DELETE FROM ack_token_used WHERE expires_at < ?", (now,))
        changed = self.runner.run(
            "INSERT INTO ack_token_used (digest, event_id, used_at, expires_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
            (digest, event_id, now, expires_at),
        )
        return changed == 1

    def token_used(self, digest: str) -> bool:
        """True when the token with this digest was used."""
        return bool(self.runner.rows("SELECT 1 FROM ack_token_used WHERE digest = ?", (digest,)))
