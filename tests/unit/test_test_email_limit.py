"""The test-email limit: delivered tests count per recipient, failures only in a burst."""

from __future__ import annotations

import pytest

from tocsin.services.test_email_limit import TestEmailLimit, wait_in_words


def test_failures_do_not_count_against_the_recipient_only_a_short_burst() -> None:
    limit = TestEmailLimit()
    for n in range(10):
        assert limit.begin("ops@example.net", now=float(n)) == 0
        limit.end("ops@example.net", sent=False, now=float(n))
    wait = limit.begin("ops@example.net", now=10.0)
    assert 100 < wait <= 120  # the burst ends two minutes after the first failure
    assert limit.begin("ops@example.net", now=121.0) == 0  # and then diagnosis goes on


def test_delivered_tests_count_per_recipient_for_an_hour() -> None:
    limit = TestEmailLimit()
    for n in range(5):
        assert limit.begin("Ops@Example.net", now=float(n)) == 0
        limit.end("Ops@Example.net", sent=True, now=float(n))
    assert limit.begin("ops@example.net", now=10.0) == pytest.approx(3590.0)
    assert limit.begin("other@example.net", now=10.0) == 0  # another recipient may still


def test_delivered_tests_in_all_are_capped() -> None:
    limit = TestEmailLimit(per_recipient=5, in_all=6)
    for n in range(6):
        assert limit.begin(f"r{n}@example.net", now=float(n)) == 0
        limit.end(f"r{n}@example.net", sent=True, now=float(n))
    assert limit.begin("r9@example.net", now=6.0) == pytest.approx(3594.0)


def test_tests_at_once_are_capped() -> None:
    limit = TestEmailLimit(at_once=2)
    assert limit.begin("a@example.net", now=0) == 0
    assert limit.begin("b@example.net", now=0) == 0
    assert limit.begin("c@example.net", now=0) > 0
    limit.end("a@example.net", sent=False, now=1)
    assert limit.begin("c@example.net", now=1) == 0


@pytest.mark.parametrize(
    ("seconds", "language", "words"),
    [
        (335, "en", "6 minutes"),
        (300, "en", "5 minutes"),
        (61, "en", "2 minutes"),
        (59.2, "en", "60 seconds"),
        (0.3, "en", "1 second"),
        (300, "de", "5 Minuten"),
        (45, "de", "45 Sekunden"),
        (1, "de", "1 Sekunde"),
        (3590, "de", "60 Minuten"),
    ],
)
def test_the_wait_is_said_in_words(seconds: float, language: str, words: str) -> None:
    assert wait_in_words(seconds, language) == words
