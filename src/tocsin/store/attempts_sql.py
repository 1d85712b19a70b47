# Only constants and "?, ?, ?" placeholder lists are put into SQL text here; every value
# is a bound parameter.  Hence:
# ruff: noqa: S608
"""Each delivery attempt in the delivery log (``outbox_attempt``), shared by both backends.

The outbox row keeps the count and the last attempt; this table keeps the attempts
themselves, newest :data:`KEEP` per delivery.  Writing costs one ``INSERT … SELECT``
per recorded batch, in the outcome's own transaction: it copies what the outcome's
``UPDATE`` just wrote (the rows of ``ids`` whose ``updated_at`` is this commit's time,
so a row whose update did not apply, its lease lost, is not copied).  Its list of ids
is :func:`~tocsin.store.lists.padded`, so the statement has few texts, and PostgreSQL
plans it at each call (a storm grows the table: see ``Runner.rows``).  Only failures
trim (a sent delivery makes no more attempts); the rows go with their delivery
(``ON DELETE CASCADE``), so the outbox retention prunes them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from tocsin.outbox.model import ATTEMPTS_KEPT, DeliveryAttempt, Status
from tocsin.store.lists import marks, padded_chunks
from tocsin.store.runner import Runner

__all__ = ["KEEP", "history_of", "keep_attempts", "trim_attempts"]

KEEP: Final = ATTEMPTS_KEPT
"""Attempts kept per delivery: the newest."""
_CHUNK: Final = 500
_COPY_SQL = """INSERT INTO outbox_attempt
    (delivery_id, attempt, at, status, step, reason, code, answer, link)
    SELECT id, attempts, updated_at, status, last_step, last_reason, last_code,
    CASE WHEN server_reply <> '' THEN server_reply ELSE last_error END, link
    FROM outbox_delivery WHERE updated_at = ? AND id IN ({marks})"""
_TRIM_SQL = f"""DELETE FROM outbox_attempt WHERE delivery_id = ? AND id < (
    SELECT MIN(id) FROM (SELECT id FROM outbox_attempt WHERE delivery_id = ?
    ORDER BY id DESC LIMIT {KEEP}) AS newest)"""


def keep_attempts(runner: Runner, ids: Sequence[int], *, now: float) -> None:
    """Copy the outcome just written (at ``now``) of each delivery in ``ids``."""
    for chunk in padded_chunks(ids, _CHUNK):
        runner.send(_COPY_SQL.format(marks=marks(len(chunk))), (now, *chunk), fresh_plan=True)


def trim_attempts(runner: Runner, ids: Sequence[int]) -> None:
    """Keep the newest :data:`KEEP` attempts of each delivery in ``ids``."""
    if ids:
        runner.many(_TRIM_SQL, [(i, i) for i in ids])


def history_of(runner: Runner, email_id: int) -> dict[int, tuple[DeliveryAttempt, ...]]:
    """The attempts of each delivery of ``email_id``, oldest first, by delivery id."""
    rows = runner.rows(
        "SELECT a.delivery_id, a.attempt, a.at, a.status, a.step, a.reason, a.code, "
        "a.answer, a.link FROM outbox_attempt a JOIN outbox_delivery d "
        "ON d.id = a.delivery_id WHERE d.email_id = ? ORDER BY a.delivery_id, a.id",
        (email_id,),
    )
    found: dict[int, list[DeliveryAttempt]] = {}
    for r in rows:
        found.setdefault(int(r[0]), []).append(
            DeliveryAttempt(
                attempt=int(r[1]),
                at=float(r[2]),
                status=Status(r[3]),
                step=str(r[4]),
                reason=str(r[5]),
                code=None if r[6] is None else int(r[6]),
                answer=str(r[7]),
                link=str(r[8]),
            )
        )
    return {k: tuple(v) for k, v in found.items()}
