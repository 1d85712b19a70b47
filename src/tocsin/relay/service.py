"""The relay's use cases: authenticate a device, accept a message, report its status,
and the operator's device management.  Every face (HTTP API, SMTP submission, CLI)
calls these, so the policy is the same whichever way a message comes in.

Store calls are blocking; async faces run them in a thread.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tocsin.address import InvalidAddress, parse_address
from tocsin.message import Mail, compose
from tocsin.outbox.model import NewEmail, Priority
from tocsin.relay.config import RelayConfig
from tocsin.relay.errors import (
    InvalidSubmission,
    MessageTooLarge,
    NotAuthenticated,
    QuotaExceeded,
    SenderNotAllowed,
)
from tocsin.relay.policy import DevicePolicy, normalise_sender_rule, sender_allowed
from tocsin.relay.relay_sql import Accepted, Device, SubmissionStatus
from tocsin.relay.rewrite import from_address, prepare, split_header_block
from tocsin.relay.store import RelayStore
from tocsin.security import LoginThrottle, hash_token, new_token

__all__ = ["CREDENTIAL_PREFIX", "Envelope", "RelayService"]

CREDENTIAL_PREFIX = "tcr"
_DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope of a submission (RFC 5321 §2.3.1)."""

    mail_from: str
    rcpt_to: tuple[str, ...]


class RelayService:
    """The relay's use cases over its store and configuration.

    ``on_enqueue`` (set by ``relay serve`` to a worker's ``wake``) is called after each
    committed submission.
    """

    def __init__(
        self,
        store: RelayStore,
        config: RelayConfig,
        *,
        clock: Callable[[], float] = time.time,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self._signing = config.signing()
        self._clock = clock
        self._throttle = throttle or LoginThrottle(limit=20, window=60.0)
        self.on_enqueue: Callable[[], None] | None = None

    # ------------------------------------------------------------ devices (operator)
    def add_device(
        self,
        name: str,
        senders: Sequence[str],
        *,
        max_size: int = 1024 * 1024,
        quota_per_hour: int = 600,
        burst: int = 60,
    ) -> tuple[str, Device]:
        """Create a device; return its credential (shown once, stored hashed) and record.

        Raises ``ValueError`` for a bad name, sender rule or limit, or a name in use.
        """
        if not _DEVICE_NAME.match(name):
            raise ValueError("a device name is letters, digits, '.', '_' or '-' (max. 63)")
        if not senders:
            raise ValueError("allow at least one sender address or domain (--sender)")
        rules = tuple(dict.fromkeys(normalise_sender_rule(s) for s in senders))
        policy = DevicePolicy(rules, max_size, quota_per_hour, burst)
        credential = new_token(CREDENTIAL_PREFIX)
        device = self.store.add_device(name, hash_token(credential), policy, self._clock())
        return credential, device

    def list_devices(self) -> list[Device]:
        """Every device, by name."""
        return self.store.list_devices()

    def revoke_device(self, name: str) -> bool:
        """Revoke a device's credential at once; False if there is no such active device."""
        return self.store.revoke_device(name, self._clock())

    # ------------------------------------------------------------ devices (on the wire)
    def authenticate(self, credential: str, *, client: str = "") -> Device:
        """The device holding ``credential``.

        Raises :class:`NotAuthenticated`, or :class:`QuotaExceeded` when ``client`` has
        failed too often lately (a guessing attack gets slowed down, not answered).
        """
        key = f"client:{client}"
        wait = self._throttle.retry_after(key)
        if wait > 0:
            raise QuotaExceeded("too many failed logins; wait", retry_after=wait)
        device = self.store.device_by_token(hash_token(credential)) if credential else None
        if device is None:
            self._throttle.failed(key)
            raise NotAuthenticated("the device credential is unknown or revoked")
        return device

    def submit(
        self,
        device: Device,
        envelope: Envelope,
        content: bytes,
        *,
        idempotency_key: str | None = None,
        via: str = "HTTPS",
        priority: int = Priority.ALARM,
    ) -> Accepted:
        """Check the policy, prepare (rewrite, sign) and store one message.

        Returns only once the message is committed.  Raises a
        :class:`~tocsin.relay.errors.RelayRefused` subclass when the policy refuses it.
        """
        policy = device.policy
        if len(content) > policy.max_size:
            raise MessageTooLarge(
                f"the message has {len(content)} bytes; this device may send {policy.max_size}"
            )
        recipients = _recipients(envelope.rcpt_to, policy.burst)
        self._check_sender(device, envelope.mail_from, "envelope sender")
        fields, _ = split_header_block(content)
        self._check_sender(device, from_address(fields)[1], "From address")
        public_id = f"msg_{secrets.token_urlsafe(12)}"
        prepared = prepare(
            content, policy=self._signing, received_from=device.name, via=via, queue_id=public_id
        )
        needs_utf8 = any(parse_address(a).needs_smtputf8 for a in recipients)
        mail = Mail(
            sender=self.config.bounce_address,
            recipients=recipients,
            content=prepared.content,
            message_id=prepared.message_id,
            smtputf8=needs_utf8,
        )
        accepted = self.store.accept(
            device_id=device.id,
            cost=len(recipients),
            now=self._clock(),
            idempotency_key=idempotency_key,
            public_id=public_id,
            build=lambda: NewEmail.of(mail, priority),
        )
        if not accepted.duplicate and self.on_enqueue is not None:
            self.on_enqueue()
        return accepted

    def submit_structured(
        self,
        device: Device,
        *,
        sender: str,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None = None,
        sender_name: str = "",
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Compose a message from its parts (validated like every Tocsin email), then
        :meth:`submit` it."""
        try:
            mail = compose(
                sender=sender,
                to=list(to),
                subject=subject,
                text=text,
                html=html,
                sender_name=sender_name,
                headers=headers,
            )
        except ValueError as exc:
            raise InvalidSubmission(str(exc)) from None
        return self.submit(
            device, Envelope(sender, tuple(to)), mail.content, idempotency_key=idempotency_key
        )

    def status(self, device: Device, public_id: str) -> SubmissionStatus | None:
        """Where each recipient of one of this device's submissions stands."""
        return self.store.submission_status(device.id, public_id)

    def _check_sender(self, device: Device, sender: str, what: str) -> None:
        if not sender_allowed(sender, device.policy.senders):
            raise SenderNotAllowed(f"device {device.name} may not send as {what} {sender}")


def _recipients(rcpt_to: Sequence[str], limit: int) -> tuple[str, ...]:
    if not rcpt_to:
        raise InvalidSubmission("the message needs at least one recipient")
    unique = tuple(dict.fromkeys(r.strip() for r in rcpt_to))
    if len(unique) > limit:
        raise InvalidSubmission(f"at most {limit} recipients per message for this device")
    for recipient in unique:
        try:
            parse_address(recipient)
        except InvalidAddress as exc:
            raise InvalidSubmission(f"recipient {recipient}: {exc}") from None
    return unique
