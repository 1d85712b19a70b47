"""Room on the disk: the data directory's free space, when to warn, when to refuse intake.

A full disk is a condition, not a crash.  Like Postfix's ``queue_minfree``, Tocsin
refuses *new* events while the data directory has less than ``min_free`` left
(:class:`~tocsin.errors.StorageFull`, which the API answers with ``503`` and
``Retry-After``), so that the room that is left serves what was already accepted:
the outbox keeps recording deliveries, and the notice about the disk can still be
written.  Below ``warn`` the admins get one ``system`` notice (:data:`DISK_SPACE`),
cleared once there is room again; nothing needs a restart.

The floor applies where the database is a file (SQLite).  With PostgreSQL the
database's disk is the server's: the store's own "disk full" (SQLSTATE 53100) is
what refuses intake, and :class:`DiskGuard` remembers it (``note_full``) until a small
probe write succeeds.

::

    guard = DiskGuard(path, limits=DiskLimits.from_mb(warn_mb=100, min_free_mb=20))
    with guard.intake():     # around storing events: raises StorageFull below the floor
        ...
    guard.state()            # for /healthz and /metrics
    await DiskWatch(services, guard).run(stop)   # the notice, every few seconds
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tocsin.errors import ConfigError, FailureLog, StorageFull
from tocsin.model import Severity
from tocsin.store.errors import DATA_DIRECTORY, DATABASE_SERVER

if TYPE_CHECKING:
    from tocsin.services.context import Services

__all__ = [
    "DEFAULT_MIN_FREE_MB",
    "DEFAULT_WARN_MB",
    "DISK_SPACE",
    "ENV_MIN_FREE_MB",
    "ENV_WARN_MB",
    "DiskCollector",
    "DiskGuard",
    "DiskLimits",
    "DiskState",
    "DiskWatch",
    "probe_writer",
]

log = logging.getLogger("tocsin.disk")

ENV_WARN_MB = "TOCSIN_DISK_WARN_MB"
ENV_MIN_FREE_MB = "TOCSIN_DISK_MIN_FREE_MB"
DEFAULT_WARN_MB = 100.0
DEFAULT_MIN_FREE_MB = 20.0
DISK_SPACE = "disk_space"
"""The code of the system notice about the data directory's space."""
MB = 1024 * 1024
_CLEAR_MARGIN = 1.1  # cleared only with 10 % more than the warning level: no flapping
_PROBE_KEY = "disk_probe"


def _mb(value: int) -> str:
    return f"{value / MB:.1f} MB"


@dataclass(frozen=True, slots=True)
class DiskLimits:
    """``warn_bytes``: notice below this; ``min_free_bytes``: refuse new events below this."""

    warn_bytes: int = int(DEFAULT_WARN_MB * MB)
    min_free_bytes: int = int(DEFAULT_MIN_FREE_MB * MB)

    def __post_init__(self) -> None:
        if not 0 <= self.min_free_bytes <= self.warn_bytes:
            raise ConfigError(
                "the disk warning level must be at least the space kept free "
                f"({_mb(self.warn_bytes)} < {_mb(self.min_free_bytes)})"
            )

    @classmethod
    def from_mb(cls, *, warn_mb: float, min_free_mb: float) -> DiskLimits:
        """Limits in MB (2**20 bytes); raises ConfigError for negative or crossed ones."""
        if warn_mb < 0 or min_free_mb < 0:
            raise ConfigError("disk space limits cannot be negative")
        return cls(int(warn_mb * MB), int(min_free_mb * MB))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DiskLimits:
        """From ``$TOCSIN_DISK_WARN_MB`` and ``$TOCSIN_DISK_MIN_FREE_MB`` (defaults 100, 20)."""
        values: dict[str, float] = {}
        defaults = {ENV_WARN_MB: DEFAULT_WARN_MB, ENV_MIN_FREE_MB: DEFAULT_MIN_FREE_MB}
        for name, default in defaults.items():
            text = env.get(name, "").strip()
            try:
                values[name] = float(text) if text else default
            except ValueError:
                raise ConfigError(f"{name} is not a number of MB: {text!r}") from None
        return cls.from_mb(warn_mb=values[ENV_WARN_MB], min_free_mb=values[ENV_MIN_FREE_MB])


@dataclass(frozen=True, slots=True)
class DiskState:
    """The data directory's space now, and whether intake is refused (``full``: why)."""

    path: Path
    free_bytes: int | None
    total_bytes: int | None
    limits: DiskLimits
    full: str = ""
    where: str = DATA_DIRECTORY
    """Whose disk is full: the data directory's, or (PostgreSQL) the database server's."""

    @property
    def low(self) -> bool:
        """Less free than the warning level."""
        return self.free_bytes is not None and self.free_bytes < self.limits.warn_bytes

    @property
    def roomy(self) -> bool:
        """Room again: not full, and clearly above the warning level."""
        free = self.free_bytes
        return not self.full and free is not None and free >= self.limits.warn_bytes * _CLEAR_MARGIN

    def problems(self) -> list[dict[str, str]]:
        """``disk_full`` / ``disk_low`` with what to do, for /healthz (empty when fine)."""
        if self.full:
            return [{"code": "disk_full", "message": self.full}]
        if self.low and self.free_bytes is not None:
            return [{"code": "disk_low", "message": self._low_text()}]
        return []

    def as_dict(self) -> dict[str, object]:
        """The numbers, for /healthz."""
        return {
            "free_bytes": self.free_bytes,
            "total_bytes": self.total_bytes,
            "warn_bytes": self.limits.warn_bytes,
            "min_free_bytes": self.limits.min_free_bytes,
            "intake": "refused" if self.full else "open",
        }

    def _low_text(self) -> str:
        assert self.free_bytes is not None
        return (
            f"{DATA_DIRECTORY} is running out of space: {_mb(self.free_bytes)} free "
            f"(warning below {_mb(self.limits.warn_bytes)}; new events are refused below "
            f"{_mb(self.limits.min_free_bytes)})"
        )

    def notice(self) -> str:
        """The system notice's text: the first line is the subject."""
        where = f"Free space in {self.path} (or give it a bigger disk)"
        if self.where == DATABASE_SERVER:
            where = "Free space on the database server (or give it a bigger disk)"
        if self.full:
            return (
                f"{self.full[0].upper()}{self.full[1:]}: Tocsin refuses new events.\n"
                "Devices are told to try again later (503); emails already accepted are "
                f"still delivered.\n{where}; Tocsin takes events again by itself, "
                "without a restart."
            )
        return (
            f"The data directory is running out of space: {_mb(self.free_bytes or 0)} free.\n"
            f"Below {_mb(self.limits.min_free_bytes)} Tocsin refuses new events until there "
            f"is room again; emails already accepted are still delivered.\n{where}."
        )


def _usage(path: Path) -> tuple[int, int]:
    """(free, total) bytes of the file system holding ``path``, as an unprivileged user
    sees it (root's reserved blocks do not count as free)."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


class DiskGuard:
    """Watches the space of ``path`` (the directory holding the database).

    ``floor``: refuse intake below ``limits.min_free_bytes`` (True for SQLite).
    ``probe``: a tiny write, tried while a full disk is remembered, to see it is over.
    ``reclaim``: gives space back while it is low (SQLite's write-ahead log), returning
    the bytes freed.

    A full disk the store reported (:meth:`note_full`) is remembered until events are
    stored again (:meth:`intake`), or, when nobody sends any, until ``hold`` seconds
    passed without another such failure and the probe write succeeds.  (A small write
    may fit where an event does not: the probe alone would say "room" too soon.)
    """

    def __init__(
        self,
        path: Path,
        *,
        limits: DiskLimits | None = None,
        floor: bool = True,
        probe: Callable[[], None] | None = None,
        reclaim: Callable[[], int] | None = None,
        hold: float = 60.0,
        usage: Callable[[Path], tuple[int, int]] = _usage,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.limits = limits or DiskLimits()
        self._floor = floor
        self._probe = probe
        self._reclaim = reclaim
        self._hold = hold
        self._usage = usage
        self._clock = clock
        self._noted: StorageFull | None = None
        self._noted_at = 0.0

    def usage(self) -> tuple[int, int] | None:
        """(free, total) bytes, or None when the file system cannot be asked."""
        try:
            return self._usage(self.path)
        except OSError:
            return None

    def _below_floor(self, free: int | None) -> str:
        if not self._floor or free is None or free >= self.limits.min_free_bytes:
            return ""
        return (
            f"{DATA_DIRECTORY} is full: {_mb(free)} free, less than the "
            f"{_mb(self.limits.min_free_bytes)} kept for delivering accepted emails"
        )

    def admit(self) -> None:
        """Raise :class:`StorageFull` if new events must be refused for lack of space."""
        space = self.usage()
        reason = self._below_floor(space[0] if space else None)
        if reason:
            raise StorageFull(reason, where=DATA_DIRECTORY)

    @contextmanager
    def intake(self) -> Iterator[None]:
        """Around storing events: :meth:`admit` first; then a full disk is remembered,
        and events stored prove there is room again."""
        self.admit()
        try:
            yield
        except StorageFull as exc:
            self.note_full(exc)
            raise
        self._noted = None

    def note_full(self, exc: StorageFull) -> None:
        """Remember that the store found its disk full (until a probe write succeeds).

        A refusal of :meth:`admit` is not remembered: the space it measured is
        measured again on every call.  (The store's own keeps the backend's error as
        its ``__cause__``.)
        """
        if exc.__cause__ is None:
            return
        self._noted = exc
        self._noted_at = self._clock()

    def state(self) -> DiskState:
        """The space now (no writing)."""
        space = self.usage()
        free, total = space if space else (None, None)
        noted = self._noted
        floor = self._below_floor(free)
        if floor or noted is None:
            return DiskState(self.path, free, total, self.limits, floor)
        return DiskState(self.path, free, total, self.limits, str(noted), noted.where)

    def check(self) -> DiskState:
        """:meth:`state`, after giving space back while it is low, and trying the probe
        write while a full disk is remembered.  Blocking (a checkpoint, a small write).
        """
        state = self.state()
        if (state.low or state.full) and self._reclaim is not None:
            with contextlib.suppress(StorageFull):  # no room even for that: later
                self._reclaim()
        held = self._clock() - self._noted_at >= self._hold
        if self._noted is not None and self._probe is not None and held:
            try:
                self._probe()
            except StorageFull:
                pass
            else:
                self._noted = None
        return self.state()


def probe_writer(services: Services) -> Callable[[], None]:
    """A probe for :class:`DiskGuard`: one small value written to the store."""

    def probe() -> None:
        services.store.put_value(_PROBE_KEY, f"{time.time():.0f}")

    return probe


class DiskWatch:
    """Raises the :data:`DISK_SPACE` notice while space is low or gone, clears it after.

    One notice per episode.  When the notice itself could not be written (the disk
    under the database was full), it is written as soon as there is room, then cleared.
    """

    def __init__(self, services: Services, guard: DiskGuard) -> None:
        self._services = services
        self._guard = guard
        self._missed = ""  # a notice that could not be written yet
        self._was_full = False  # what the last round saw: log only the changes
        self._failures = FailureLog(log)

    def round(self) -> str:
        """One check: ``"raised"``, ``"cleared"`` or ``""``.  Blocking."""
        events = self._services.events
        state = self._guard.check()
        if bool(state.full) != self._was_full:
            if state.full:
                log.warning("%s; new events are refused until there is room", state.full)
            else:
                log.info("the disk has room again; events are accepted")
            self._was_full = bool(state.full)
        is_open = DISK_SPACE in events.open_system_problems()
        text = state.notice() if state.full or state.low else self._missed
        try:
            if text and not is_open:
                severity = Severity.ALARM if state.full or self._missed else Severity.WARNING
                events.report_system(DISK_SPACE, text, severity=severity)
                self._missed = ""
                return "raised"
            self._missed = ""
            if is_open and state.roomy:
                events.report_system(DISK_SPACE, self._cleared_text(state), cleared=True)
                return "cleared"
        except StorageFull:
            if not self._missed and text:
                self._missed = text + "\n(Written once there was room for it.)"
                log.warning("the notice about the full disk waits for room to be written")
        return ""

    @staticmethod
    def _cleared_text(state: DiskState) -> str:
        return (
            f"There is room in {DATA_DIRECTORY} again ({_mb(state.free_bytes or 0)} free); "
            "Tocsin accepts events as usual."
        )

    async def run(self, stop: asyncio.Event, *, interval: float = 5.0) -> None:
        """A :meth:`round` every ``interval`` seconds (in a thread) until ``stop`` is set."""
        while not stop.is_set():
            try:
                done = await asyncio.to_thread(self.round)
                if done:
                    log.info("the %s notice: %s", DISK_SPACE, done)
            except Exception:
                self._failures.failed("checking the disk space failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


class DiskCollector(Collector):
    """Prometheus gauges of the data directory's space, read when scraped."""

    def __init__(self, guard: DiskGuard) -> None:
        self._guard = guard

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Free and total bytes, and whether intake is refused for lack of space."""
        state = self._guard.state()
        if state.free_bytes is not None and state.total_bytes is not None:
            yield GaugeMetricFamily(
                "tocsin_data_free_bytes",
                "Free space of the data directory's file system (for an unprivileged user)",
                value=state.free_bytes,
            )
            yield GaugeMetricFamily(
                "tocsin_data_size_bytes",
                "Size of the data directory's file system",
                value=state.total_bytes,
            )
        yield GaugeMetricFamily(
            "tocsin_storage_full",
            "1 while new events are refused because the disk is full",
            value=1 if state.full else 0,
        )
