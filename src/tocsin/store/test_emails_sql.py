"""Test emails in SQL: every run of the settings page's, the API's or the CLI's test.

A test email goes straight to the server and never enters the outbox, so the delivery
log lists it from this small table of its own.  A row holds when, to whom, which
settings (the saved ones or the form as typed), the outcome, the failing step and the
server's answer or error text: never a password or token.  Only the newest
:data:`KEEP` rows are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tocsin.store.runner import Database

__all__ = ["KEEP", "SQLTestEmails", "TestEmailRun"]

KEEP: Final = 200
"""How many test email runs are kept (the newest)."""


@dataclass(frozen=True, slots=True)
class TestEmailRun:
    """One test email run, as the delivery log shows it."""

    __test__ = False  # not a pytest test class, despite its name

    sent_at: float
    recipient: str
    typed: bool
    """True: the form as typed (unsaved); False: the saved settings."""
    ok: bool
    step: str = ""
    """The failing step (``auth``, ``connect``...); empty when it worked."""
    detail: str = ""
    """The server's answer, or the error text of the failing step."""


_COLUMNS = "sent_at, recipient, settings, ok, step, detail"


class SQLTestEmails:
    """The test email log of a backend: record a run, list the newest."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_test_email(self, run: TestEmailRun, *, keep: int = KEEP) -> None:
        """Add ``run`` and drop all but the newest ``keep`` runs."""
        with self._db.writing() as runner:
            runner.run(
                f"INSERT INTO test_email ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    run.sent_at,
                    run.recipient,
                    "typed" if run.typed else "saved",
                    int(run.ok),
                    run.step,
                    run.detail,
                ),
            )
            runner.run(
                "DELETE FROM test_email WHERE id NOT IN "
                "(SELECT id FROM test_email ORDER BY id DESC LIMIT ?)",
                (max(0, keep),),
            )

    def list_test_emails(self, *, limit: int = KEEP) -> list[TestEmailRun]:
        """The newest runs first, at most ``limit``."""
        with self._db.reading() as runner:
            rows = runner.rows(
                f"SELECT {_COLUMNS} FROM test_email ORDER BY id DESC LIMIT ?",  # noqa: S608
                (max(0, limit),),
            )
        return [
            TestEmailRun(
                sent_at=float(r[0]),
                recipient=str(r[1]),
                typed=r[2] == "typed",
                ok=bool(r[3]),
                step=str(r[4]),
                detail=str(r[5]),
            )
            for r in rows
        ]
