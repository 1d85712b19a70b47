"""``tocsin serve``: the service in one process (its unit: :mod:`tocsin.cli.systemd_unit`).

Registered by :mod:`tocsin.cli.commands`; the running itself is :mod:`tocsin.cli.runtime`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tocsin.cli.support import (
    DataOption,
    LogFormatOption,
    LogLevelOption,
    err,
    open_services,
    start_logging,
)
from tocsin.cli.systemd_unit import HostOption, PortOption
from tocsin.deploy.logs import LogFormat
from tocsin.deploy.workers import MAX_PROCESSES, DeliveryProcesses
from tocsin.errors import ConfigError
from tocsin.services.disk import (
    DEFAULT_MIN_FREE_MB,
    DEFAULT_WARN_MB,
    ENV_MIN_FREE_MB,
    ENV_WARN_MB,
    DiskLimits,
)

__all__ = ["serve"]


def serve(
    data: DataOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8025,
    disk_warn_mb: Annotated[
        float,
        typer.Option(
            envvar=ENV_WARN_MB,
            help="Send a system notice when the data directory has less free (MB).",
        ),
    ] = DEFAULT_WARN_MB,
    disk_min_free_mb: Annotated[
        float,
        typer.Option(
            envvar=ENV_MIN_FREE_MB,
            help="Refuse new events (503) below this much free space (MB); the rest "
            "serves delivering what was accepted. 0: only when the disk is full.",
        ),
    ] = DEFAULT_MIN_FREE_MB,
    delivery_processes: Annotated[
        int,
        typer.Option(
            envvar="TOCSIN_DELIVERY_PROCESSES",
            min=0,
            max=MAX_PROCESSES,
            help="Also run this many delivery processes ('tocsin worker', restarted if "
            "they exit): serve then sends only the alarms it can send at once and leaves "
            "the queue to them (while none runs, serve sends it itself). 1 on a machine "
            "with 2 or more cores delivers a storm of alarms faster. 0: serve delivers "
            "everything itself.",
        ),
    ] = 0,
    log_format: LogFormatOption = LogFormat.TEXT,
    log_level: LogLevelOption = "info",
) -> None:
    """Run the service: web interface, REST API and the delivery engine, in one process.

    With --delivery-processes, delivery workers run beside it, started and stopped with
    it.  Logs go to stderr, one line per event.  Under systemd (Type=notify) it reports
    when it is ready and when it stops; see 'tocsin systemd-unit'.
    """
    from tocsin.cli.runtime import serve_forever
    from tocsin.deploy.event_loop import run_service

    start_logging(log_format, log_level)
    try:
        limits = DiskLimits.from_mb(warn_mb=disk_warn_mb, min_free_mb=disk_min_free_mb)
    except ConfigError as exc:
        err.print(f"[red]✗[/] --disk-warn-mb / --disk-min-free-mb: {exc}")
        raise typer.Exit(2) from None
    services = open_services(data)
    services.disk.limits = limits
    try:
        workers = None
        if delivery_processes:
            workers = DeliveryProcesses.of(
                services.data, delivery_processes, log_format=log_format.value, log_level=log_level
            )
        run_service(serve_forever(services, host=host, port=port, workers=workers))
    except KeyboardInterrupt:
        pass
    finally:
        services.close()
