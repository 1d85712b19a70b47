"""The token endpoint's refusals: one table, read directly."""

from __future__ import annotations

import pytest

from tocsin.errors import ConfigurationProblem, Reason, ServerBusy, SignInRefused, Step
from tocsin.i18n import has_text, translate
from tocsin.signin.classify import HINTS, classify, hint_for


@pytest.mark.parametrize(
    ("error", "description", "hint"),
    [
        ("invalid_request", "AADSTS90002: Tenant 'x' not found.", "wrong_tenant"),
        ("unauthorized_client", "AADSTS700016: Application with identifier", "wrong_client"),
        ("invalid_client", "AADSTS7000215: Invalid client secret provided.", "secret_invalid"),
        (
            "invalid_client",
            "AADSTS7000222: The provided client secret keys are expired.",
            "secret_expired",
        ),
        ("unauthorized_client", "AADSTS7000112: Application is disabled.", "client_disabled"),
        (
            "invalid_grant",
            "AADSTS65001: The user or administrator has not consented",
            "consent_missing",
        ),
        ("invalid_grant", "AADSTS50173: The provided grant has expired", "grant_revoked"),
        ("invalid_grant", "Token has been expired or revoked.", "grant_revoked"),  # Google
        ("disabled_client", "The OAuth client was disabled.", "client_disabled"),  # Google
        ("invalid_scope", "", "scope_invalid"),
        ("something_new", "", "refused"),
    ],
)
def test_refusals_name_the_fix(error: str, description: str, hint: str) -> None:
    assert hint_for(error, description) == hint
    problem = classify(error, description)
    assert isinstance(problem, SignInRefused)
    assert isinstance(problem, ConfigurationProblem)
    assert (problem.hint, problem.step, problem.reason) == (hint, Step.OAUTH, Reason.OAUTH_REFUSED)


def test_the_description_itself_is_not_repeated() -> None:
    problem = classify("invalid_grant", "AADSTS50173: grant for user secret@x revoked")
    assert "secret@x" not in str(problem)
    assert "AADSTS50173" in str(problem)


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        ("temporarily_unavailable", 400, Reason.SERVER_BUSY),
        ("server_error", 500, Reason.SERVER_BUSY),
        ("", 503, Reason.SERVER_BUSY),
        ("", 429, Reason.RATE_LIMITED),
    ],
)
def test_busy_endpoints_are_temporary(error: str, status: int, reason: Reason) -> None:
    problem = classify(error, status=status)
    assert isinstance(problem, ServerBusy)
    assert problem.temporary
    assert problem.reason is reason


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_hint_has_a_text(language: str) -> None:
    for hint in HINTS:
        text = translate(f"oauth_hint_{hint}", language)
        assert text
        assert text != f"oauth_hint_{hint}"


def test_every_step_and_reason_has_a_page_text() -> None:
    assert [r.value for r in Reason if not has_text(f"reason_{r.value}", "web")] == []
    assert [s.value for s in Step if not has_text(f"step_{s.value}", "web")] == []
