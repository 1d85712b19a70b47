"""One connection to the broker (paho-mqtt 2, run by a thread of its own).

paho's ``manual_ack`` is the point: a PUBLISH of QoS 1 is acknowledged (PUBACK) only when
:meth:`Connection.ack` is called, after the event is committed (aiomqtt 2.5 has no manual
acknowledgement, hence paho directly).  The session is persistent (MQTT 3.1.1
``clean_session=False``, §3.1.2.4): the broker keeps the subscriptions and every
unacknowledged or new QoS 1 message for the client id while Tocsin is away, and sends
them again on the next connection (§4.4, with the DUP flag set on a resend).

The network work runs in one thread calling ``loop()``; messages are handed to the
asyncio loop by ``call_soon_threadsafe``.  :meth:`Connection.close` sends DISCONNECT,
ends the thread and closes the sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from tocsin.intake.mqtt.config import QOS, MqttSettings

__all__ = ["CONNECT_TIMEOUT", "BrokerError", "Connection", "Message"]

CONNECT_TIMEOUT: Final = 10.0
KEEPALIVE: Final = 30
_LOOP_TIMEOUT: Final = 0.2
# MQTT 5 reason codes, as paho maps the 3.1.1 CONNACK return codes (§3.2.2.3) onto them.
_CONNACK: Final = {
    133: "client_id_refused",
    134: "auth_failed",
    135: "auth_failed",
    136: "unavailable",
}


class BrokerError(Exception):
    """The broker could not be used: ``code`` (stable, for status and metrics), ``detail``
    (one line, never a credential)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Message:
    """One received PUBLISH: acknowledge ``mid`` (if ``qos`` > 0) after the commit."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    dup: bool


def _classify(exc: BaseException) -> BrokerError:
    """The broker error for a failure to connect (the TCP, TLS or MQTT step)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return BrokerError("tls_failed", exc.verify_message or "certificate not trusted")
    if isinstance(exc, ssl.SSLError):
        return BrokerError("tls_failed", exc.reason or "TLS handshake failed")
    if isinstance(exc, ConnectionRefusedError):
        return BrokerError("refused", "connection refused")
    if isinstance(exc, socket.gaierror):
        return BrokerError("unknown_host", "the host name does not resolve")
    if isinstance(exc, TimeoutError):
        return BrokerError("timeout", "no answer in time")
    if isinstance(exc, OSError):
        return BrokerError("connect_failed", exc.strerror or type(exc).__name__)
    return BrokerError("connect_failed", type(exc).__name__)


class _Client(mqtt.Client):
    """paho's client, closing the TLS socket when the handshake fails.

    paho 2.2's ``_ssl_wrap_socket`` leaves the wrapped socket open when
    ``do_handshake`` raises (an untrusted certificate, a port without TLS): one file
    descriptor per retry.  The context checks the host name itself (``check_hostname``),
    so paho's own name check is not needed here.
    """

    def _ssl_wrap_socket(self, tcp_sock: socket.socket) -> ssl.SSLSocket:
        context = self._ssl_context
        assert context is not None
        assert context.check_hostname
        ssl_sock = context.wrap_socket(
            tcp_sock, server_hostname=self._host, do_handshake_on_connect=False
        )
        try:
            ssl_sock.settimeout(self._connect_timeout)
            ssl_sock.do_handshake()
        except BaseException:
            ssl_sock.close()
            raise
        return ssl_sock


class Connection:
    """A connected, subscribed client; messages go to ``inbox`` (see the module)."""

    def __init__(self, settings: MqttSettings, loop: asyncio.AbstractEventLoop) -> None:
        self._settings = settings
        self._loop = loop
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.lost = asyncio.Event()
        self._closing = threading.Event()
        self._connack = threading.Event()
        self._refusal: str | None = None
        self._thread: threading.Thread | None = None
        self._client = self._make_client(settings)

    def _make_client(self, settings: MqttSettings) -> mqtt.Client:
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        if settings.username:
            password = settings.password.reveal() if settings.password else None
            client.username_pw_set(settings.username, password)
        if settings.tls:
            context = ssl.create_default_context(cafile=settings.ca_file or None)
            client.tls_set_context(context)  # hostname checked, certificate verified
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    # ------------------------------------------------------------------ paho's callbacks
    def _on_connect(self, _c: Any, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
        if code.is_failure:
            self._refusal = _CONNACK.get(code.value, "refused_by_broker")
        self._connack.set()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        item = Message(
            message.topic, bytes(message.payload), message.qos, message.mid, bool(message.dup)
        )
        self._loop.call_soon_threadsafe(self.inbox.put_nowait, item)

    def _on_disconnect(self, *_args: Any) -> None:
        self._loop.call_soon_threadsafe(self.lost.set)

    # ------------------------------------------------------------------ blocking steps
    def open(self) -> None:
        """Connect, wait for CONNACK, subscribe every topic at QoS 1 (blocking; run it in
        a thread).  Raises :class:`BrokerError`; the sockets are closed then."""
        settings = self._settings
        try:
            self._client.connect(settings.host, settings.port, keepalive=KEEPALIVE)
            deadline = time.monotonic() + CONNECT_TIMEOUT
            while not self._connack.is_set():
                result = self._client.loop(_LOOP_TIMEOUT)
                if result is not MQTTErrorCode.MQTT_ERR_SUCCESS and not self._connack.is_set():
                    raise BrokerError("refused_by_broker", "the broker closed the connection")
                if time.monotonic() > deadline:
                    raise BrokerError("timeout", "no CONNACK in time")
            if self._refusal:
                raise BrokerError(self._refusal, "the broker refused the connection")
            result, _mid = self._client.subscribe([(t, QOS) for t in settings.topics])
            if result is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise BrokerError("subscribe_failed", mqtt.error_string(result))
        except BaseException as exc:
            self._shut()
            if isinstance(exc, BrokerError):
                raise
            if not isinstance(exc, Exception):
                raise
            raise _classify(exc) from exc
        self._thread = threading.Thread(target=self._run, name="mqtt-network", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closing.is_set():
            if self._client.loop(_LOOP_TIMEOUT) is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        self._loop.call_soon_threadsafe(self.lost.set)

    def ack(self, message: Message) -> None:
        """PUBACK ``message`` (after its event was committed).  A lost connection drops
        it silently: the broker sends the message again, with DUP set."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def close(self) -> None:
        """DISCONNECT, end the network thread, close the sockets (blocking, bounded)."""
        with contextlib.suppress(Exception):
            self._client.disconnect()
        # Let the thread write the DISCONNECT, then stop it.
        deadline = time.monotonic() + 2.0
        while self._client.is_connected() and time.monotonic() < deadline and self._alive():
            time.sleep(0.02)
        self._closing.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._shut()

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _shut(self) -> None:
        # paho keeps a socket pair to wake its loop; close it with the connection.
        self._client._reset_sockets()  # paho has no public close
