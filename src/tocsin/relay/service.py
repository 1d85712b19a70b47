"""The relay's use cases: authenticate a device, accept a message, report its status,
and the operator's device management.  Every face (HTTP API, SMTP submission, CLI)
calls these, so the policy is the same whichever way a message comes in.

Store calls are blocking; async faces run them in a thread.  Concurrent submissions
share one durable commit (:class:`~tocsin.services.group_commit.GroupCommit`), each in
a savepoint of its own, so a refused one does not fail the others.
"""

from __future__ import annotations

import functools
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

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
from tocsin.relay.records import Accepted, Device, SubmissionStatus
from tocsin.relay.rewrite import from_address, prepare, split_header_block
from tocsin.relay.store import RelayStore, relay_transaction
from tocsin.security import LoginThrottle, hash_token, new_token
from tocsin.services.group_commit import GroupCommit
from tocsin.store import SQLTransaction

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
    committed submission.  ``max_group``: at most this many submissions share a commit.
    ``recent_auth``: how long (seconds) a device read from the store may authenticate its
    next submissions without another read (see :meth:`recent_submitter`).
    """

    def __init__(
        self,
        store: RelayStore,
        config: RelayConfig,
        *,
        clock: Callable[[], float] = time.time,
        throttle: LoginThrottle | None = None,
        max_group: int = 64,
        recent_auth: float = 5.0,
    ) -> None:
        self.store = store
        self.config = config
        self._signing = config.signing()
        self._clock = clock
        self._throttle = throttle or LoginThrottle(limit=20, window=60.0)
        self._commits = GroupCommit(store, max_group=max_group)
        self._recent = _RecentDevices(ttl=recent_auth)
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
        revoked = self.store.revoke_device(name, self._clock())
        self._recent.clear()
        return revoked

    # ------------------------------------------------------------ devices (on the wire)
    def authenticate(self, credential: str, *, client: str = "") -> Device:
        """The device holding ``credential``, read from the store.

        Raises :class:`NotAuthenticated`, or :class:`QuotaExceeded` when ``client`` has
        failed too often lately (a guessing attack gets slowed down, not answered).
        """
        self._check_throttle(client)
        token_hash = hash_token(credential)
        device = self.store.device_by_token(token_hash) if credential else None
        if device is None:
            self._throttle.failed(f"client:{client}")
            raise NotAuthenticated("the device credential is unknown or revoked")
        self._recent.put(token_hash, device)
        return device

    def recent_submitter(self, credential: str, *, client: str = "") -> Device | None:
        """The device holding ``credential`` if it was authenticated in the last few
        seconds, without a store read; else None (call :meth:`authenticate`).

        Only for a submission: its transaction checks again that the device is not
        revoked, so a revocation still refuses the very next message.  Raises
        :class:`QuotaExceeded` like :meth:`authenticate`.
        """
        self._check_throttle(client)
        return self._recent.get(hash_token(credential)) if credential else None

    def _check_throttle(self, client: str) -> None:
        wait = self._throttle.retry_after(f"client:{client}")
        if wait > 0:
            raise QuotaExceeded("too many failed logins; wait", retry_after=wait)

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

        Returns only once the message is committed (in a transaction maybe shared with
        concurrent submissions).  Raises a :class:`~tocsin.relay.errors.RelayRefused`
        subclass when the policy refuses it.
        """
        public_id = f"msg_{secrets.token_urlsafe(12)}"
        email = self._prepared(device, envelope, content, via, public_id, priority)

        def work(tx: SQLTransaction) -> Accepted:
            return relay_transaction(tx).accept(
                device_id=device.id,
                cost=len(email.mail.recipients),
                now=self._clock(),  # read in the transaction: buckets refill up to now
                idempotency_key=idempotency_key,
                public_id=public_id,
                email=email,
            )

        with self.store.in_flight.holding(device.id):
            accepted = self._commits.run(work)
        if not accepted.duplicate and self.on_enqueue is not None:
            self.on_enqueue()
        return accepted

    def _prepared(
        self,
        device: Device,
        envelope: Envelope,
        content: bytes,
        via: str,
        public_id: str,
        priority: int,
    ) -> NewEmail:
        """The policy checks and the CPU work (rewrite, DKIM signature), all before and
        outside the store's write lock: the shared transaction only writes."""
        policy = device.policy
        if len(content) > policy.max_size:
            raise MessageTooLarge(
                f"the message has {len(content)} bytes; this device may send {policy.max_size}"
            )
        recipients, needs_utf8 = _recipients(envelope.rcpt_to, policy.burst)
        self._check_sender(device, envelope.mail_from, "envelope sender")
        fields, _ = split_header_block(content)
        self._check_sender(device, _from_of(fields), "From address")
        prepared = prepare(
            content, policy=self._signing, received_from=device.name, via=via, queue_id=public_id
        )
        mail = Mail(
            sender=self.config.bounce_address,
            recipients=recipients,
            content=prepared.content,
            message_id=prepared.message_id,
            smtputf8=needs_utf8,
        )
        return NewEmail(mail, int(priority), _subject(fields))

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


class _RecentDevices:
    """Devices by credential hash, as read from the store in the last ``ttl`` seconds.

    A submission's own transaction checks the revocation, so it may skip the store read
    that authenticating costs (one round trip, queued behind the shared commit).
    """

    def __init__(self, *, ttl: float, limit: int = 10_000) -> None:
        self._ttl = ttl
        self._limit = limit
        self._lock = threading.Lock()
        self._found: dict[str, tuple[float, Device]] = {}

    def get(self, token_hash: str) -> Device | None:
        with self._lock:
            found = self._found.get(token_hash)
        if found is None or time.monotonic() - found[0] > self._ttl:
            return None
        return found[1]

    def put(self, token_hash: str, device: Device) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._found) >= self._limit:  # bounded: forget the stale ones, or all
                fresh = {k: v for k, v in self._found.items() if now - v[0] <= self._ttl}
                self._found = fresh if len(fresh) < self._limit else {}
            self._found[token_hash] = (now, device)

    def clear(self) -> None:
        with self._lock:
            self._found.clear()


def _recipients(rcpt_to: Sequence[str], limit: int) -> tuple[tuple[str, ...], bool]:
    """The distinct recipients, and whether one of them needs SMTPUTF8 (RFC 6531)."""
    if not rcpt_to:
        raise InvalidSubmission("the message needs at least one recipient")
    unique = tuple(dict.fromkeys(r.strip() for r in rcpt_to))
    if len(unique) > limit:
        raise InvalidSubmission(f"at most {limit} recipients per message for this device")
    needs_utf8 = False
    for recipient in unique:
        try:
            needs_utf8 |= parse_address(recipient).needs_smtputf8
        except InvalidAddress as exc:
            raise InvalidSubmission(f"recipient {recipient}: {exc}") from None
    return unique, needs_utf8


def _from_of(fields: Sequence[bytes]) -> str:
    """The From address (see :func:`~tocsin.relay.rewrite.from_address`), remembered by
    the field's bytes: a device sends from the same few, and parsing one costs about as
    much as the rest of the checks (``prepare`` parses it once more)."""
    froms = [f for f in fields if f.partition(b":")[0].lower() == b"from"]
    if len(froms) != 1:
        return from_address(fields)[1]  # raises InvalidSubmission
    return _parsed_from(froms[0])


@functools.lru_cache(maxsize=1024)
def _parsed_from(field: bytes) -> str:
    return from_address((field,))[1]


def _subject(fields: Sequence[bytes]) -> str:
    """The decoded Subject for the admin view (what ``NewEmail.of`` reads), parsed from
    its own field instead of the whole header block, DKIM signature included."""
    for field in fields:
        if field.partition(b":")[0].lower() == b"subject":
            parsed = BytesHeaderParser(policy=default_policy).parsebytes(field + b"\r\n")
            return str(parsed.get("Subject", ""))
    return ""
