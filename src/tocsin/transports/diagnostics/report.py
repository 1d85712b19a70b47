"""The test email's report: one `CheckStep` per step as it stands, and the whole
`TestEmailReport` (JSON-ready both, for the API's stream and the page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tocsin.errors import Step
from tocsin.transports.smtp import StepStatus

__all__ = ["WAITING_FOR", "CheckStep", "Progress", "TestEmailReport"]

WAITING_FOR: dict[str, str] = {
    step.value: f"waiting_{step.value}"
    for step in (
        Step.RESOLVE,
        Step.CONNECT,
        Step.TLS,
        Step.EHLO,
        Step.STARTTLS,
        Step.OAUTH,
        Step.AUTH,
        Step.MAIL_FROM,
        Step.RCPT_TO,
        Step.DATA,
    )
}
"""Per step (and the greeting), the code of what a running step waits for."""
WAITING_FOR["greeting"] = "waiting_greeting"


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One line of the transcript: a step, where it stands, what happened, what to change."""

    step: Step
    status: StepStatus
    summary: str
    hint: str = ""
    waiting: str = ""
    """While a step runs: what it waits for, in words ("the server's greeting")."""
    phase: str = ""
    """A named part of a step: ``greeting`` is the part of ``connect`` after TCP."""

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {
            "step": self.step.value,
            "status": self.status.value,
            "summary": self.summary,
            "hint": self.hint,
            "waiting": self.waiting,
            "phase": self.phase,
        }


@dataclass(slots=True)
class TestEmailReport:
    """The whole test: success, every step, and the server's answer."""

    ok: bool = False
    steps: list[CheckStep] = field(default_factory=list)
    message_id: str = ""
    server_reply: str = ""

    @property
    def failure(self) -> CheckStep | None:
        """The first failed step, if any."""
        return next((s for s in self.steps if s.status is StepStatus.FAIL), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "message_id": self.message_id,
            "server_reply": self.server_reply,
            "steps": [s.as_dict() for s in self.steps],
        }


Progress = Callable[[CheckStep], None]
