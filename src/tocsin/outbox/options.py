"""How the delivery engine works: its options, with defaults for one site's appliance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tocsin.outbox.backoff import RetryPolicy

__all__ = ["EngineOptions"]


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """How the engine works; the defaults suit one site's appliance."""

    max_connections: int = 2
    batch_size: int = 200  # deliveries leased per claim
    lease: float = 60.0  # seconds; renewed every lease/3 while the engine runs
    poll_interval: float = 0.5  # longest sleep when nothing is due
    settings_interval: float = 1.0  # how often the settings are read again
    probe_interval: float = 300.0  # retry a configuration pause this often
    idle_close: float = 30.0  # close connections after this long without work
    shutdown_grace: float = 10.0  # wait for sends in flight on stop, then abandon them
    # Verdicts wait this long to share a commit.  A crash in this window (after the
    # server's 250, before the commit) is what can make an email go out twice.
    record_linger: float = 0.02
    # Emails one connection sends back to back when they wait together; with PIPELINING
    # each then costs one round trip.  Small, so a settings change is seen soon.
    chain: int = 8
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Where the engine keeps its lease lock (the data directory): then a restart takes
    # back the leases of a worker that died at once.  None: they expire after ``lease``.
    state_dir: Path | None = None
    owner: str = ""  # the lease owner; "" lets the engine name itself (see .owner)
    # False: send only what the intake hands over while a connection is free, and leave
    # the queue to other engines on the database (``tocsin serve --delivery-processes``).
    claims: bool = True
    # With claims False: claim after all once a delivery has been due this long (seconds),
    # because the engines that should have claimed it have not (hung, or far behind).
    overdue_after: float = 30.0

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.batch_size < 1 or self.chain < 1:
            raise ValueError("max_connections, batch_size and chain must be at least 1")
        if self.owner and self.state_dir is not None:
            raise ValueError("give owner or state_dir, not both")
        if self.lease <= 0 or self.poll_interval <= 0 or self.overdue_after <= 0:
            raise ValueError("lease, poll_interval and overdue_after must be positive")
