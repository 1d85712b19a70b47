"""Postfix as an SMTP *client*: a second private instance that relays all its mail through
one smarthost with SASL, the way a site's own Postfix would use Tocsin's relay.

Loopback only: it takes mail on 127.0.0.1:`port` (no TLS, no AUTH, loopback clients
only) and hands every message to ``relayhost`` with STARTTLS required and the
certificate verified, logging in with the one account it is given.  Same conventions as
scripts/real-smtp/start.sh (nothing chrooted, a log file instead of syslog); stopped by
scripts/real-smtp/stop.sh, by the master's PID.  Needs root, as Postfix's master does.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from helpers import REAL_SMTP_SCRIPTS
from tocsin.testing import unused_port

_STARTS = 3  # free ports are picked without a lock; retry if one got taken

# Its one listener; Postfix's internal services come from the file start.sh uses too.
_LISTENER = """\
# service      type  private unpriv chroot wakeup maxproc command + args
127.0.0.1:{port} inet n     -      n      -      -       smtpd
"""


def _main_cf(state: Path, relayhost: str, mechanism: str | None) -> str:
    conf = state / "etc"
    return f"""\
# A private Postfix that relays everything through {relayhost} (tests only).
compatibility_level = 3.6
queue_directory = {state}/spool
data_directory = {state}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-client.test
mydomain = test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
append_dot_mydomain = no
readme_directory = no
maillog_file = {state}/maillog
maillog_file_prefixes = {state}
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject
mydestination =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =

# Every message to the one relay host; no DNS (localhost comes from /etc/hosts, IPv4).
smtp_dns_support_level = disabled
smtp_host_lookup = native
default_transport = smtp
relayhost = {relayhost}

# STARTTLS required and the certificate verified against localhost.
smtp_tls_security_level = verify
smtp_tls_CAfile = {conf}/ca.pem
smtp_tls_loglevel = 1
smtp_tls_session_cache_database =

# SASL (Cyrus), the one account for the relay host; a refusal defers (the default).
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:{conf}/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_sasl_mechanism_filter = {(mechanism or "").lower()}
"""


class PostfixClient:
    """A started private Postfix relaying through ``relay_port`` on localhost.

    ``mechanism`` pins the SASL mechanism (``PLAIN`` or ``LOGIN``); None lets Cyrus SASL
    choose among those the server offers.
    """

    def __init__(
        self,
        *,
        relay_port: int,
        username: str,
        password: str,
        ca_file: Path,
        mechanism: str | None = None,
    ) -> None:
        if os.geteuid() != 0:
            pytest.fail("Postfix as a client needs root (its master runs as root)")
        self.relayhost = f"[localhost]:{relay_port}"
        self._account = f"{self.relayhost} {username}:{password}\n"
        self._ca_file = ca_file
        self._mechanism = mechanism
        self.state = Path(tempfile.mkdtemp(prefix="tocsin-postfix-client-"))
        self.log = self.state / "maillog"
        self.port = 0

    def start(self) -> Self:
        """Write the configuration and start Postfix; fails the test if it cannot."""
        errors = ""
        for _ in range(_STARTS):
            self.port = unused_port()
            self._configure()
            done = subprocess.run(
                ["postfix", "-c", str(self.state / "etc"), "start"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode == 0 and self._answers(timeout=10.0):
                return self
            errors = done.stdout + done.stderr + self.log_text()
            self._stop_master()
        self._remove()
        pytest.fail(f"the Postfix client did not start {_STARTS} times:\n{errors}")

    def _configure(self) -> None:
        conf = self.state / "etc"
        self.state.chmod(0o755)  # Postfix's daemons (user postfix) work in here
        for sub in ("spool", "data", "etc"):
            shutil.rmtree(self.state / sub, ignore_errors=True)
        conf.mkdir(mode=0o755)
        (self.state / "spool").mkdir(mode=0o755)
        (self.state / "data").mkdir(mode=0o700)
        shutil.chown(self.state / "data", "postfix", "postfix")
        self.log.unlink(missing_ok=True)
        (conf / "main.cf").write_text(_main_cf(self.state, self.relayhost, self._mechanism))
        (conf / "master.cf").write_text(
            _LISTENER.format(port=self.port)
            + (REAL_SMTP_SCRIPTS / "internal-services.cf").read_text()
        )
        shutil.copyfile(self._ca_file, conf / "ca.pem")
        (conf / "ca.pem").chmod(0o644)
        passwords = conf / "sasl_passwd"
        passwords.write_text(self._account)
        passwords.chmod(0o640)
        shutil.chown(passwords, "root", "postfix")

    def _answers(self, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def log_text(self) -> str:
        """What this instance logged so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, *, timeout: float = 20.0) -> str:
        """Poll the log until ``text`` shows up; the log.  AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            logged = self.log_text()
            if text in logged:
                return logged
            assert time.monotonic() < deadline, f"{text!r} not logged in {timeout} s:\n{logged}"
            time.sleep(0.1)

    def wait_until_relayed(self, message_id: str, *, timeout: float = 20.0) -> str:
        """Poll the log until the message ``message_id`` (without ``<>``) is relayed:
        its queue id's ``status=sent`` line, the log.  Its ``message-id=`` line comes
        at receipt, before the relay: stopped then, this Postfix keeps the message
        queued and sends it again when started (a second copy, not Tocsin's)."""
        deadline = time.monotonic() + timeout
        received = re.compile(rf"([0-9A-Za-z]+): message-id=<{re.escape(message_id)}>")
        while True:
            logged = self.log_text()
            found = received.search(logged)
            if found and re.search(rf"{found.group(1)}: to=<[^\n]*status=sent", logged):
                return logged
            assert time.monotonic() < deadline, (
                f"{message_id!r} not relayed in {timeout} s:\n{logged}"
            )
            time.sleep(0.1)

    def _stop_master(self) -> None:
        subprocess.run(
            ["bash", str(REAL_SMTP_SCRIPTS / "stop.sh")],
            env={**os.environ, "REAL_SMTP_DIR": str(self.state)},
            capture_output=True,
            timeout=60,
            check=False,
        )

    def _remove(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)

    def stop(self) -> None:
        """Stop Postfix (by the master's PID) and delete its files."""
        self._stop_master()
        self._remove()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
