"""Logs of the service: one line per event (text or JSON), priorities for the journal,
and no secret in any line."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from service_support import alarm, service_env, set_up_site, wait_until

from helpers import serving
from tocsin.deploy import logs as logs_module
from tocsin.deploy.logs import LogFormat, configure_logging, scrub
from tocsin.testing import ThreadedSMTPTestServer

_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def logs() -> Iterator[None]:
    """Put the logging set-up (pytest's own handlers included) back after the test."""
    saved = [
        (logging.getLogger(n), list(logging.getLogger(n).handlers), logging.getLogger(n).level)
        for n in _LOGGERS
    ]
    propagate = {n: logging.getLogger(n).propagate for n in _LOGGERS}
    yield
    for logger, handlers, level in saved:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate[logger.name if logger.name != "root" else ""]


def _log_a_failure() -> None:
    log = logging.getLogger("tocsin.test")
    log.warning("token tcn_%s in a\nmessage", "A" * 40)
    try:
        raise RuntimeError("connect to postgresql://tocsin:hunter22@db.example/tocsin failed")
    except RuntimeError:
        log.exception("the database is away")


@pytest.mark.usefixtures("logs")
def test_text_lines_are_one_per_event_and_hold_no_secret() -> None:
    out = io.StringIO()
    configure_logging(LogFormat.TEXT, level="info", stream=out)
    _log_a_failure()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("WARNING tocsin.test: token tcn_<secret> in a\\nmessage")
    assert (
        " ERROR tocsin.test: the database is away\\nTraceback (most recent call last):"
        in (lines[1])
    )
    assert "postgresql://tocsin:<secret>@db.example" in lines[1]
    assert "hunter22" not in out.getvalue()
    assert "A" * 40 not in out.getvalue()


@pytest.mark.usefixtures("logs")
def test_json_lines_parse_and_carry_the_traceback_in_one_field() -> None:
    out = io.StringIO()
    configure_logging("json", level="warning", stream=out)
    logging.getLogger("tocsin.test").info("below the level")
    _log_a_failure()
    entries = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["level"], e["logger"]) for e in entries] == [
        ("warning", "tocsin.test"),
        ("error", "tocsin.test"),
    ]
    assert entries[0]["message"] == "token tcn_<secret> in a\nmessage"
    assert entries[1]["exception"].startswith("Traceback (most recent call last):")
    assert entries[1]["time"].endswith("Z")
    assert "hunter22" not in out.getvalue()


@pytest.mark.usefixtures("logs")
def test_lines_to_the_journal_start_with_their_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "journal").open("w+") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        configure_logging(LogFormat.TEXT, stream=stream)
        logging.getLogger("tocsin.test").warning("disk low")
        logging.getLogger("tocsin.test").info("listening")
        stream.seek(0)
        lines = stream.read().splitlines()
    assert lines == ["<4>tocsin.test: disk low", "<6>tocsin.test: listening"]


def test_scrub_leaves_ordinary_text_alone() -> None:
    text = 'POST /api/v1/events HTTP/1.1" 202 from 127.0.0.1 (tcn is a prefix)'
    assert scrub(text) == text
    assert scrub("Authorization: Bearer abcdefgh12345678") == "Authorization: Bearer <secret>"


def test_serve_logs_json_lines_without_the_token_or_password(tmp_path: Path) -> None:
    password = "correct horse battery staple"
    with ThreadedSMTPTestServer(tls="none", username="alarms", password="another one") as smtp:
        env = service_env(tmp_path / "data", TOCSIN_LOG_FORMAT="json")
        token, _ = set_up_site(
            env, smtp.port, username="alarms", password=password, allow_plaintext_auth=True
        )
        with serving(env) as running, httpx.Client(base_url=running.url, timeout=30) as client:
            answer = client.post(
                "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, json=alarm("Rack")
            )
            assert answer.status_code == 202, answer.text
            # The server refuses the password: delivery pauses, and the log says why.
            wait_until(lambda: "delivery paused" in running.output(), "the pause in the log")
    lines = running.output().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    access = [e["message"] for e in entries if e["logger"] == "uvicorn.access"]
    assert any("POST /api/v1/events" in line for line in access)
    assert token not in running.output()
    assert password not in running.output()
    # The sample email is rendered before the port opens: the first alarm renders warm.
    messages = [e["message"] for e in entries]
    warm = [i for i, m in enumerate(messages) if m.startswith("email templates ready (1 sample")]
    assert warm, messages
    assert warm[0] < min(i for i, m in enumerate(messages) if m.startswith("listening on"))


def _scrub_every_pattern(text: str) -> str:
    for pattern, replacement in logs_module._SECRETS:
        text = pattern.sub(replacement, text)
    return text


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                # whole secrets of each kind, and their pieces
                "tcn_abcdEFGH1234",
                "tss_12345678-_ab",
                "Bearer abcdefgh.1/",
                "https://ops:pw@host/",
                "PASSWD=hunter2",
                "/ack/abc_D.ef-1",
                "tcn_",
                "tss_",
                "TCR_",
                "tcr_",
                "abcdEFGH1234",
                "Bearer ",
                "bEaReR  ",
                "https://",
                "ops:",
                "pw@",
                "@host",
                "/",
                "password=",
                "PassWd=",
                "secret=",
                "/ack/",
                ".",
                "x-y_z",
                " ",
                "&",
                "\n",
                "ä",
                "=",
            ]
        )
        | st.text(max_size=12),
        max_size=12,
    ).map("".join)
)
def test_scrub_skips_only_texts_no_pattern_would_change(text: str) -> None:
    # The fast path (a text without any pattern's trigger is returned as is) must give
    # what running every pattern gives, for any text.
    assert scrub(text) == _scrub_every_pattern(text)


def _timestamp_by_datetime(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@settings(max_examples=3000, deadline=None)
@given(st.floats(min_value=1e9, max_value=4e9, allow_nan=False) | st.integers(10**9, 4 * 10**9))
def test_line_times_are_those_of_the_records_to_the_millisecond(created: float) -> None:
    record = logging.LogRecord("tocsin", logging.INFO, __file__, 1, "x", None, None)
    record.created = float(created)
    assert logs_module._timestamp(record) == _timestamp_by_datetime(record.created)
