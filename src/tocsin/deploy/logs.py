"""Logs of a running service: one line per event, as text or JSON, without secrets.

``tocsin serve`` and ``tocsin worker`` call :func:`configure_logging` once; every
logger (Tocsin's, uvicorn's access and error logs) then writes through one handler on
stderr:

- ``text``: ``2026-05-03T03:00:01.234Z INFO tocsin.outbox: message``.  Under systemd
  (stderr connected to the journal, ``$JOURNAL_STREAM``) the time is left to the
  journal and the line starts with the syslog priority (``<4>`` for a warning), which
  journald reads as the entry's priority.
- ``json``: one object per line: ``time``, ``level``, ``logger``, ``message`` and, for
  an exception, ``exception`` (the traceback as one string).

A line break inside a message or a traceback is written as ``\\n``, so one event is
always one line.  API tokens, session ids, relay credentials (``tcn_…``, ``tss_…``,
``tcr_…``) and passwords in URLs are replaced by ``<secret>`` in every line, whatever
code logged them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import TextIO

__all__ = ["LogFormat", "configure_logging", "scrub"]

_SECRETS = (
    (re.compile(r"\b(tcn|tss|tcr)_[A-Za-z0-9_-]{8,}"), r"\1_<secret>"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1<secret>"),
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), r"\1<secret>@"),
    (re.compile(r"(?i)\b(password|passwd|secret)=[^\s&]+"), r"\1=<secret>"),
    # The acknowledgement link's token (issue 13), e.g. in uvicorn's access log line.
    (re.compile(r"(/ack/)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), r"\1<secret>"),
)
# syslog priorities (RFC 5424 §6.2.1), read by journald from the start of a line.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class LogFormat(StrEnum):
    """How log lines look."""

    TEXT = "text"
    JSON = "json"


# Every text a pattern above changes holds one of these; most log lines (an access
# line, a delivery) hold none, and skip the five substitutions (half a line's cost).
_MAY_HOLD_SECRET = re.compile(r"(?i)tcn_|tss_|tcr_|bearer|://|passw|secret|/ack/")


def scrub(text: str) -> str:
    """``text`` with tokens, credentials and passwords replaced by ``<secret>``."""
    if _MAY_HOLD_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", "\\n")


_second: tuple[int, str] = (-1, "")
"""The last whole second a line was stamped with, and its text up to the seconds."""


def _timestamp(record: logging.LogRecord) -> str:
    global _second
    # To the microsecond, rounded as datetime.fromtimestamp rounds, then cut to the ms.
    fraction, seconds = math.modf(record.created)
    whole, micros = int(seconds), round(fraction * 1_000_000)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    second, text = _second  # one tuple: a thread that replaces it meanwhile is harmless
    if whole != second:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _second = (whole, text)
    return f"{text}{micros // 1000:03d}Z"


class _TextFormatter(logging.Formatter):
    def __init__(self, *, journal: bool) -> None:
        super().__init__()
        self._journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        elif record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        if self._journal:
            head = f"<{_PRIORITY.get(record.levelno, 6)}>"
        else:
            head = f"{_timestamp(record)} {record.levelname} "
        return head + _one_line(scrub(text))


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        # json.dumps escapes line breaks: the entry is one line whatever it holds.
        return json.dumps(entry, ensure_ascii=False)


def _to_journal(stream: TextIO) -> bool:
    """True when ``stream`` is the journal's stream systemd gave us ($JOURNAL_STREAM)."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not device or not inode:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return f"{st.st_dev}:{st.st_ino}" == f"{device}:{inode}"


def configure_logging(
    fmt: LogFormat | str = LogFormat.TEXT, *, level: str = "info", stream: TextIO | None = None
) -> None:
    """Send every log record of this process to ``stream`` (stderr), one line each.

    Raises ``ValueError`` for an unknown format or level.
    """
    fmt = LogFormat(fmt)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r} (debug, info, warning, error)")
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    if fmt is LogFormat.JSON:
        handler.setFormatter(_JSONFormatter())
    else:
        handler.setFormatter(_TextFormatter(journal=_to_journal(out)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # uvicorn's loggers write through the root handler, at the same level.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(numeric)
