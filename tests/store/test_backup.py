"""Backup and restore with the real CLI: a backup taken while ``tocsin serve`` takes a burst
of events restores to an instance that sends every email that waited at backup time,
with the SMTP password still decrypting; a wrong passphrase writes nothing."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from store_support import make_v1_sqlite, with_extra_migration

from helpers import tocsin_cli, tocsin_serve
from tocsin.ack.token import AckSigner, TokenInvalid
from tocsin.errors import SchemaTooNew
from tocsin.outbox import ListFilter, Status
from tocsin.services.backup import make_backup, restore_backup
from tocsin.services.context import Services
from tocsin.store import ACK_KEY_FILE, load_ack_key, open_store
from tocsin.store.backup import BackupError, WrongPassphrase, open_key, seal_key
from tocsin.store.migrations import APPLIANCE, upgrade
from tocsin.testing import TestCA, ThreadedSMTPTestServer

NEWEST = max(m.version for m in APPLIANCE.migrations("sqlite"))
"""The newest schema version this Tocsin ships (a backup records the one it was taken at)."""

USER, PASSWORD = "alarms@example.com", "app-specific pw 7"
PASSPHRASE = "correct horse battery staple"


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    return {**env, "TOCSIN_DATA": str(data)}


def _tocsin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _set_up(data: Path, server: ThreadedSMTPTestServer, ca: TestCA) -> str:
    """Email through ``server`` (STARTTLS + AUTH), two users, a token; the token.

    Done through the services, in this process: the CLI's start-up costs seconds a call
    on a busy machine, and what is tested here is backup, restore and serve.
    """
    services = Services.open(data)
    try:
        _, report, saved = services.settings.update(
            {"host": "127.0.0.1", "port": str(server.port), "encryption": "starttls",
             "ca_file": str(ca.ca_path), "sender_address": "alarm@example.com",
             "username": USER, "password": PASSWORD, "enabled": "true"}
        )  # fmt: skip
        assert saved, report
        users = [{"id": n, "name": n, "email": f"{n}@example.net", "groups": ["site"],
                  "categories": ["fire"]} for n in ("ops", "boss")]  # fmt: skip
        assert services.sites.import_site(
            {"groups": [{"id": "site", "name": "Site"}], "users": users}
        ).applied
        token, _ = services.accounts.create_token("burst", ("events",))
        return token
    finally:
        services.close()


class Burst:
    """A device posting fire alarms to the HTTP API, one request after another."""

    def __init__(self, base: str, token: str) -> None:
        self.posted = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        while not self._stop.is_set() and time.monotonic() < deadline and self.posted < 2000:
            event = {"group": "site", "device": f"Detector {self.posted}", "sensor": "smoke",
                     "category": "fire", "severity": "alarm"}  # fmt: skip
            answer = self._client.post("/api/v1/events", json=event)
            if answer.status_code != 202:
                self.errors.append(answer.text)
                return
            self.posted += 1
            time.sleep(0.005)

    def __enter__(self) -> Burst:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(20)
        self._client.close()

    def wait_for(self, count: int) -> None:
        """Until ``count`` events are accepted (10 s at most)."""
        deadline = time.monotonic() + 10
        while self.posted < count:
            assert not self.errors, self.errors
            assert time.monotonic() < deadline, f"only {self.posted} events in 10 s"
            time.sleep(0.01)


def _waiting(data: Path) -> set[tuple[str, str]]:
    """(Message-ID, recipient) of every delivery waiting in the data directory's outbox."""
    store = open_store(data / "tocsin.db")
    try:
        found = set()
        wanted = ListFilter(statuses=(Status.QUEUED, Status.SENDING), limit=100_000)
        for d in store.list_deliveries(wanted):
            if d.status is Status.SENDING:  # leased at backup time: the lease is let go
                assert d.next_attempt_at is not None
                assert d.next_attempt_at <= time.time()
            view = store.get_email(d.email_id)
            assert view is not None
            found.add((view.message_id.strip("<>"), d.recipient))
        return found
    finally:
        store.close()


def _consistent(data: Path) -> None:
    """Every email belongs to a notification and every notification's email is there: the
    copy holds whole intake transactions only."""
    store = open_store(data / "tocsin.db", migrate=False)
    try:
        with store.site_reading() as sql:
            orphans = sql.runner.rows(
                "SELECT COUNT(*) FROM outbox_email e WHERE NOT EXISTS "
                "(SELECT 1 FROM notification n WHERE n.outbox_id = e.id)"
            )[0][0]
            missing = sql.runner.rows(
                "SELECT COUNT(*) FROM notification n WHERE n.outbox_id IS NOT NULL AND NOT "
                "EXISTS (SELECT 1 FROM outbox_email e WHERE e.id = n.outbox_id)"
            )[0][0]
    finally:
        store.close()
    assert (orphans, missing) == (0, 0)


def _wait_for_messages(server: ThreadedSMTPTestServer, wanted: set[tuple[str, str]]) -> None:
    deadline = time.monotonic() + 60
    while True:
        got = {(str(m.message()["Message-ID"]).strip("<>"), to)
               for m in server.messages for to in m.rcpt_tos}  # fmt: skip
        if wanted <= got:
            return
        assert time.monotonic() < deadline, f"{len(wanted - got)} of {len(wanted)} not sent"
        time.sleep(0.1)


@pytest.mark.slow
def test_backup_during_a_burst_restores_to_an_instance_that_sends_the_queue(
    tmp_path: Path,
) -> None:
    ca = TestCA()
    first, second = tmp_path / "first", tmp_path / "second"
    backup_file, phrase, wrong = tmp_path / "site.tocsin", tmp_path / "pp", tmp_path / "wrong"
    phrase.write_text(PASSPHRASE + "\n")
    phrase.chmod(0o600)
    wrong.write_text("not the passphrase\n")
    wrong.chmod(0o600)
    auth = {"tls": "starttls", "ca": ca, "username": USER, "password": PASSWORD,
            "auth_required": True}  # fmt: skip
    with ThreadedSMTPTestServer(**auth) as slow:  # type: ignore[arg-type]
        slow.faults.delay("data_end", 0.2)  # the first instance lags: mail waits
        token = _set_up(first, slow, ca)
        with tocsin_serve(_env(first)) as base, Burst(base, token) as burst:
            burst.wait_for(30)
            made = _tocsin(
                _env(first), "backup", str(backup_file), "--passphrase-file", str(phrase)
            )
            assert made.returncode == 0, made.stdout + made.stderr
            burst.wait_for(burst.posted + 10)  # the burst went on through the backup
            busy = _tocsin(_env(first), "restore", str(backup_file), "--force",
                           "--passphrase-file", str(phrase))  # fmt: skip
            assert busy.returncode == 2
            assert "Tocsin is running on" in busy.stderr
    assert not burst.errors

    refused = _tocsin(_env(second), "restore", str(backup_file), "--passphrase-file", str(wrong))
    assert refused.returncode == 1
    assert "wrong passphrase" in refused.stderr
    assert "nothing was written" in refused.stderr
    assert not second.exists()

    restored = _tocsin(_env(second), "restore", str(backup_file), "--passphrase-file", str(phrase))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    _consistent(second)
    waiting = _waiting(second)
    assert len(waiting) > 0, "the backup caught no waiting mail: the test proves nothing"
    assert f"{len(waiting)} emails wait to be sent" in restored.stdout

    services = Services.open(second)
    try:
        password = services.settings.load().password
        assert password is not None
        assert password.reveal() == PASSWORD
    finally:
        services.close()

    with ThreadedSMTPTestServer(**auth) as fresh:  # type: ignore[arg-type]
        services = Services.open(second)
        try:
            assert services.settings.update({"port": str(fresh.port)})[2]
        finally:
            services.close()
        with tocsin_serve(_env(second)):
            _wait_for_messages(fresh, waiting)
            time.sleep(0.5)  # anything more would come now
        sent = [(str(m.message()["Message-ID"]).strip("<>"), to)
                for m in fresh.messages for to in m.rcpt_tos]  # fmt: skip
    assert sorted(sent) == sorted(waiting), "sent again or left out"


def test_restore_refuses_data_in_place_and_says_what_a_keyless_backup_lacks(
    tmp_path: Path,
) -> None:
    data, other = tmp_path / "data", tmp_path / "other"
    env = _env(data)
    tocsin_cli(env, "settings", "set", "host=smtp.example.com", f"username={USER}")
    tocsin_cli(env, "settings", "password", "--stdin", stdin=PASSWORD + "\n")
    out = tocsin_cli(env, "backup", str(tmp_path / "b"), "--without-key")
    assert "secret key is NOT in this backup" in " ".join(out.split())
    with tarfile.open(tmp_path / "b") as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "tocsin.db"]
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert (manifest["key"], manifest["schema"]) == ("not included", {"tocsin": NEWEST})

    in_place = _tocsin(env, "restore", str(tmp_path / "b"), "--without-key")
    assert in_place.returncode == 2
    assert "restore with --force" in in_place.stderr

    keyless = _tocsin(_env(other), "restore", str(tmp_path / "b"), "--without-key")
    assert keyless.returncode == 0, keyless.stderr
    assert "cannot be decrypted" in " ".join(keyless.stderr.split())


def test_a_damaged_backup_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    tocsin_cli(env, "settings", "set", "host=smtp.example.com")  # makes the key too
    (tmp_path / "pp").write_text(PASSPHRASE)
    (tmp_path / "pp").chmod(0o600)
    tocsin_cli(env, "backup", str(tmp_path / "b"), "--passphrase-file", str(tmp_path / "pp"))
    raw = bytearray((tmp_path / "b").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "b").write_bytes(bytes(raw))
    done = _tocsin(_env(tmp_path / "new"), "restore", str(tmp_path / "b"),
                   "--passphrase-file", str(tmp_path / "pp"))  # fmt: skip
    assert done.returncode == 1
    assert "nothing was written" in done.stderr
    assert not (tmp_path / "new").exists()


def test_postgres_is_backed_up_with_pg_dump_and_the_key(tmp_path: Path) -> None:
    env = {**_env(tmp_path / "data"), "TOCSIN_DATABASE_URL": "postgresql://u:pw@db.example/t"}
    done = _tocsin(env, "backup", str(tmp_path / "b"), "--without-key")
    words = " ".join(done.stderr.split())
    assert done.returncode == 2
    assert "pg_dump" in words
    assert "secret.key" in words
    assert "pw" not in words.replace("pwd", "")  # the URL is shown without its password
    assert not (tmp_path / "b").exists()


def test_the_sealed_key_opens_only_with_its_passphrase() -> None:
    sealed = seal_key(b"k" * 44, PASSPHRASE)
    assert open_key(sealed, PASSPHRASE) == b"k" * 44
    with pytest.raises(WrongPassphrase):
        open_key(sealed, PASSPHRASE + "!")
    assert b"k" * 44 not in sealed


def _v1_data_dir(data: Path) -> None:
    """A data directory as a release before schema versions left it, with a key."""
    data.mkdir()
    make_v1_sqlite(data / "tocsin.db")
    (data / "secret.key").write_bytes(Fernet.generate_key())
    (data / "secret.key").chmod(0o600)


def test_a_backup_from_before_schema_versions_restores_upgraded(tmp_path: Path) -> None:
    _v1_data_dir(tmp_path / "old")
    manifest = make_backup(tmp_path / "b", data=tmp_path / "old", passphrase=PASSPHRASE)
    assert manifest["schema"] == {}  # nothing recorded in that database yet
    report = restore_backup(tmp_path / "b", data=tmp_path / "new", passphrase=PASSPHRASE)
    assert (report.key_restored, report.queued, report.secrets_readable) == (True, 7, True)
    assert (tmp_path / "new" / "secret.key").read_bytes() == (
        tmp_path / "old" / "secret.key"
    ).read_bytes()
    store = open_store(tmp_path / "new" / "tocsin.db", migrate=False)
    try:
        (state,) = store.schema_states()
    finally:
        store.close()
    assert (state.current, state.pending) == (NEWEST, ())
    assert "baseline" in state.history[0][3]


def test_a_backup_of_a_newer_schema_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    _v1_data_dir(tmp_path / "old")
    later = with_extra_migration(APPLIANCE, tmp_path / "m", "sqlite", "SELECT 1;\n")
    store = open_store(tmp_path / "old" / "tocsin.db", migrate=False)
    try:
        upgrade(store, later)  # what a newer Tocsin would leave
    finally:
        store.close()
    make_backup(tmp_path / "b", data=tmp_path / "old", passphrase=PASSPHRASE)
    with pytest.raises(SchemaTooNew, match=f"in the backup is at schema version {NEWEST + 1}"):
        restore_backup(tmp_path / "b", data=tmp_path / "new", passphrase=PASSPHRASE)
    assert not (tmp_path / "new").exists()


def _signed_link(data: Path) -> str:
    """A token signed with the data directory's acknowledgement key (made if none)."""
    return AckSigner(load_ack_key(data / ACK_KEY_FILE)).sign("event-1", "user-1")


def test_an_acknowledge_link_sent_before_the_backup_works_after_a_restore_elsewhere(
    tmp_path: Path,
) -> None:
    _v1_data_dir(tmp_path / "old")
    token = _signed_link(tmp_path / "old")
    manifest = make_backup(tmp_path / "b", data=tmp_path / "old", passphrase=PASSPHRASE)
    assert manifest["ack_key"] == "sealed"
    with tarfile.open(tmp_path / "b") as tar:
        sealed = tar.extractfile("ack.key.enc").read()  # type: ignore[union-attr]
    assert (tmp_path / "old" / ACK_KEY_FILE).read_bytes().strip() not in sealed

    report = restore_backup(tmp_path / "b", data=tmp_path / "new", passphrase=PASSPHRASE)
    assert report.ack_key == "restored"
    restored = tmp_path / "new" / ACK_KEY_FILE
    assert stat.S_IMODE(restored.stat().st_mode) == 0o600
    claim = AckSigner(load_ack_key(restored)).verify(token)
    assert (claim.event_id, claim.user_id) == ("event-1", "user-1")


def test_the_sealed_acknowledgement_key_cannot_pass_for_the_secret_key() -> None:
    sealed = seal_key(b"a" * 44, PASSPHRASE, member="ack.key.enc")
    assert open_key(sealed, PASSPHRASE, member="ack.key.enc") == b"a" * 44
    with pytest.raises(WrongPassphrase):
        open_key(sealed, PASSPHRASE)  # as secret.key.enc: another associated data


def _without_ack_key(backup: Path, old_format: Path) -> None:
    """``backup`` rewritten as a Tocsin before this change wrote it: no ack key at all."""
    with tarfile.open(backup) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    manifest = json.loads(members.pop("manifest.json"))
    del manifest["ack_key"], manifest["files"]["ack.key.enc"]
    members.pop("ack.key.enc")
    with tarfile.open(old_format, "w:gz") as tar:
        for name, data in {"manifest.json": json.dumps(manifest).encode(), **members}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_backup_without_the_acknowledgement_key_restores_and_says_links_stop_working(
    tmp_path: Path,
) -> None:
    _v1_data_dir(tmp_path / "old")
    token = _signed_link(tmp_path / "old")
    make_backup(tmp_path / "b", data=tmp_path / "old", passphrase=PASSPHRASE)
    _without_ack_key(tmp_path / "b", tmp_path / "old-format")
    (tmp_path / "pp").write_text(PASSPHRASE)
    (tmp_path / "pp").chmod(0o600)

    done = _tocsin(_env(tmp_path / "new"), "restore", str(tmp_path / "old-format"),
                   "--passphrase-file", str(tmp_path / "pp"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    words = " ".join(done.stdout.split())
    assert "a new key was made, so the Acknowledge links in emails sent before no longer" in words
    made = tmp_path / "new" / ACK_KEY_FILE
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    with pytest.raises(TokenInvalid):
        AckSigner(load_ack_key(made)).verify(token)
    assert (tmp_path / "new" / "secret.key").read_bytes() == (
        tmp_path / "old" / "secret.key"
    ).read_bytes()

    again = restore_backup(
        tmp_path / "old-format", data=tmp_path / "new", passphrase=PASSPHRASE, force=True
    )
    assert again.ack_key == "kept"  # the key in place signed what was sent since
    assert made.exists()


def test_a_backup_with_a_member_the_manifest_does_not_list_is_refused(tmp_path: Path) -> None:
    _v1_data_dir(tmp_path / "old")
    _signed_link(tmp_path / "old")
    make_backup(tmp_path / "b", data=tmp_path / "old", passphrase=PASSPHRASE)
    with tarfile.open(tmp_path / "b") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    del manifest["ack_key"], manifest["files"]["ack.key.enc"]  # an ack key smuggled in
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(tmp_path / "c", "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError, match="does not list the members"):
        restore_backup(tmp_path / "c", data=tmp_path / "new", passphrase=PASSPHRASE)
    assert not (tmp_path / "new").exists()
