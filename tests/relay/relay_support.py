"""Helpers of the relay tests: an in-process relay on its own loop thread, a relay
subprocess, DKIM verification with a DNS lookup that never leaves the test."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim

from helpers import RealSMTP, wait_for_delivery
from tocsin.outbox import EngineOptions, RetryPolicy
from tocsin.relay.config import DeliveryOptions, RelayConfig
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.mx import Destination, Resolver, StaticResolver
from tocsin.relay.server import Listen, ServeOptions, serve_relay
from tocsin.relay.service import RelayService
from tocsin.relay.store import RelayStore
from tocsin.secret import Secret
from tocsin.settings import EmailSettings, TransportKind
from tocsin.testing import finish_loop

PG_URL = os.environ.get("TOCSIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
RELAY_DOMAIN = "relay.example.com"
SITE_SENDER = "alarm@site.example.org"
RECIPIENT_DOMAIN = "example.net"
FAST = EngineOptions(
    max_connections=4,
    poll_interval=0.05,
    record_linger=0.005,
    retry=RetryPolicy(first=0.2, cap=1.0, max_age=120.0),
)


def unique_schema() -> str:
    """A PostgreSQL schema name no other test uses."""
    return f"tocsin_relay_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def dkim_verifies(content: bytes, key: DKIMKey) -> bool:
    """dkim.verify with the public key served by a lookup that answers only for ``key``."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        wanted = key.record_name.encode("ascii")
        return key.dns_record().encode("ascii") if name.rstrip(b".") == wanted else None

    return bool(dkim.verify(content, dnsfunc=lookup))


@dataclass
class InProcessRelay:
    """``serve_relay`` on a loop thread of its own; stop() ends it cleanly."""

    service: RelayService
    options: ServeOptions
    worker_store: Callable[[], RelayStore] | None = None

    def start(self) -> InProcessRelay:
        ready = threading.Event()
        self.ports: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._error: BaseException | None = None

        def on_ready(ports: dict[str, int]) -> None:
            self.ports = ports
            ready.set()

        async def main() -> None:
            await serve_relay(
                self.service,
                self.options,
                worker_store=self.worker_store,
                stop=self._stop,
                on_ready=on_ready,
            )

        def run() -> None:
            try:
                self._loop.run_until_complete(main())
            except BaseException as exc:  # surfaced by stop()
                self._error = exc
                ready.set()
            finally:
                # Like asyncio.run, which runs the real relay, cancel what serve_relay left
                # running (SMTP sessions: on Python 3.11 an asyncio.Server cannot close
                # the connections it accepted); then wait, bounded, until every connection
                # has closed (TLS goodbyes take a round trip), where a fixed pause lost
                # the race on a loaded machine and leaked a socket into a later test.
                finish_loop(self._loop)

        self._thread = threading.Thread(target=run, name="relay", daemon=True)
        self._thread.start()
        assert ready.wait(15), "the relay did not start"
        if self._error:
            raise self._error
        return self

    @property
    def api_url(self) -> str:
        scheme = "https" if self.options.tls_certfile else "http"
        return f"{scheme}://localhost:{self.ports['api_port']}"

    async def astop(self) -> None:
        """stop() without blocking the caller's loop (its test servers must answer QUIT)."""
        await asyncio.to_thread(self.stop)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the relay did not stop"
        if self._error:
            raise self._error


def serve_options(
    certfile: Path,
    *,
    api: bool = True,
    smtp: bool = False,
    worker: bool = True,
    resolver: Resolver | None = None,
) -> ServeOptions:
    """Options for an in-process relay on free loopback ports."""
    return ServeOptions(
        api=Listen(port=0) if api else None,
        smtp=Listen(port=0) if smtp else None,
        tls_certfile=str(certfile),
        tls_keyfile=str(certfile),
        worker=worker,
        engine=FAST,
        resolver=resolver,
    )


class RelayProcess:
    """``python -m tocsin.relay serve …`` as a child process; ports read from its stdout."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "tocsin.relay", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"the relay did not start: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.ports: dict[str, Any] = json.loads(line)

    def url(self) -> str:
        return f"https://localhost:{self.ports['api_port']}"

    def kill(self) -> None:
        """SIGKILL: nothing is flushed, nothing is finished."""
        self.proc.kill()
        self.proc.wait(10)
        self._close_pipes()

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def wait_until(check: Callable[[], Any], *, timeout: float = 20.0, what: str = "it") -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def online_settings(
    relay: InProcessRelay, credential: str, ca_file: str | Path, **changes: Any
) -> EmailSettings:
    """An appliance enrolled at ``relay`` as device site-1, trusting ``ca_file``."""
    fields: dict[str, Any] = {
        "enabled": True,
        "transport": TransportKind.ONLINE,
        "sender_address": SITE_SENDER,
        "relay_url": relay.api_url,
        "device_id": "site-1",
        "device_credential": Secret(credential),
        "ca_file": str(ca_file),
        "timeout": 5,
        "deadline": 10,
    }
    return EmailSettings(**(fields | changes))


def relay_to_mx(
    store: RelayStore,
    dkim_key: DKIMKey,
    relay_cert: Path,
    *,
    mx_port: int,
    mx_ca_file: str | Path,
    smtp: bool = False,
) -> tuple[RelayService, str, InProcessRelay]:
    """A started relay that signs for relay.example.com and delivers example.net to the
    MX on ``mx_port`` (trusting ``mx_ca_file``); its service, site-1's credential, and it.
    ``smtp``: the SMTP submission front too (``relay.ports["smtp_port"]``)."""
    config = RelayConfig(
        hostname=RELAY_DOMAIN,
        domain=RELAY_DOMAIN,
        dkim=(dkim_key,),
        delivery=DeliveryOptions(ca_file=str(mx_ca_file), timeout=10, deadline=20),
    )
    service = RelayService(store, config)
    credential, _ = service.add_device("site-1", ["@site.example.org"])
    resolver = StaticResolver({RECIPIENT_DOMAIN: [Destination("localhost", mx_port)]})
    options = serve_options(relay_cert, smtp=smtp, resolver=resolver)
    relay = InProcessRelay(service, options).start()
    return service, credential, relay


def raw_from_maildir(real_smtp: RealSMTP, message_id: str, timeout: float = 15.0) -> bytes:
    """The delivered bytes of the message with ``message_id`` (polled with a deadline).

    The Maildir may be shared and hold thousands of messages: each file is read once and
    searched for the id before anything is parsed.
    """
    wanted = message_id.strip("<>").encode()
    seen: set[Path] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for sub in ("new", "cur"):
            for path in (real_smtp.maildir / sub).iterdir():
                if path in seen:
                    continue
                seen.add(path)
                try:
                    raw = path.read_bytes()
                except FileNotFoundError:  # moved meanwhile: look again next round
                    seen.discard(path)
                    continue
                if wanted in raw:
                    parsed = email.message_from_bytes(raw, policy=email.policy.default)
                    if str(parsed.get("Message-ID", "")).strip("<> ").encode() == wanted:
                        return raw
        time.sleep(0.05)
    raise AssertionError(f"{message_id} not delivered to {real_smtp.maildir}")


def signed_delivery(
    real_smtp: RealSMTP, subject: str, dkim_key: DKIMKey, *, timeout: float = 30.0
) -> email.message.EmailMessage:
    """The message with ``subject`` once it is in the real Postfix's Maildir (bounded
    wait), asserting its DKIM signature verifies on the bytes as delivered."""
    found = wait_for_delivery(real_smtp, lambda m: m["Subject"] == subject, timeout)
    raw = raw_from_maildir(real_smtp, str(found["Message-ID"]))
    assert dkim_verifies(raw, dkim_key), raw[:2000]
    return email.message_from_bytes(raw, policy=email.policy.default)
