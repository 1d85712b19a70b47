"""The one SMTP reply table, tested directly."""

from __future__ import annotations

import pytest

from tocsin.errors import (
    AuthFailed,
    ConfigurationProblem,
    MessageRejected,
    PermanentFailure,
    Reason,
    SenderRejected,
    ServerBusy,
    ServerRejected,
    Step,
    TemporaryFailure,
)
from tocsin.transports.base import Outcome
from tocsin.transports.smtp.replies import error_for_reply, recipient_verdict, session_must_close


@pytest.mark.parametrize(
    ("step", "code", "cls", "reason"),
    [
        (Step.CONNECT, 421, ServerBusy, Reason.SERVER_BUSY),
        (Step.CONNECT, 554, ServerRejected, Reason.SERVER_REJECTED),
        (Step.EHLO, 550, ServerRejected, Reason.SERVER_REJECTED),
        (Step.AUTH, 535, AuthFailed, Reason.AUTH_FAILED),
        (Step.AUTH, 534, AuthFailed, Reason.AUTH_FAILED),
        (Step.AUTH, 454, ServerBusy, Reason.SERVER_BUSY),
        (Step.MAIL_FROM, 530, AuthFailed, Reason.AUTH_REQUIRED),
        (Step.MAIL_FROM, 553, SenderRejected, Reason.SENDER_REJECTED),
        (Step.MAIL_FROM, 552, MessageRejected, Reason.MESSAGE_REJECTED),
        (Step.MAIL_FROM, 451, ServerBusy, Reason.SENDER_DEFERRED),
        (Step.DATA, 452, ServerBusy, Reason.MESSAGE_DEFERRED),
        (Step.DATA, 554, MessageRejected, Reason.MESSAGE_REJECTED),
    ],
)
def test_reply_table(step, code, cls, reason):
    error = error_for_reply(step, code, "text")
    assert type(error) is cls
    assert error.reason is reason
    assert error.step is step
    assert error.code == code
    assert isinstance(error, TemporaryFailure) == (code // 100 == 4)
    assert isinstance(error, PermanentFailure) == (code // 100 == 5)


def test_configuration_problems_are_the_ones_that_pause():
    assert isinstance(error_for_reply(Step.AUTH, 535, ""), ConfigurationProblem)
    assert isinstance(error_for_reply(Step.MAIL_FROM, 550, ""), ConfigurationProblem)
    assert not isinstance(error_for_reply(Step.DATA, 554, ""), ConfigurationProblem)


@pytest.mark.parametrize(
    ("code", "outcome", "reason"),
    [
        (450, Outcome.TEMPORARY, Reason.RECIPIENT_DEFERRED),
        (451, Outcome.TEMPORARY, Reason.RECIPIENT_DEFERRED),
        (550, Outcome.PERMANENT, Reason.RECIPIENT_REJECTED),
        (553, Outcome.PERMANENT, Reason.RECIPIENT_REJECTED),
        (530, Outcome.PERMANENT, Reason.AUTH_REQUIRED),
    ],
)
def test_recipient_verdicts(code, outcome, reason):
    assert recipient_verdict(code) == (outcome, reason)


def test_421_closes_the_session():
    assert session_must_close(421)
    assert not session_must_close(450)


def test_error_text_names_step_and_reply_without_secrets():
    text = str(error_for_reply(Step.AUTH, 535, "5.7.8 Error: authentication failed"))
    assert text.startswith("auth: ")
    assert "535 5.7.8" in text
