# Only constants are put into SQL text here; every value is a bound parameter.
# ruff: noqa: S608
"""Admin accounts, login sessions and API tokens in SQL, shared by both backends.

A store holds a :class:`SQLAccounts` over its :class:`~tocsin.store.runner.Database`
(write and read transactions, each yielding a runner).  Secrets are never
stored: passwords as Argon2id hashes, session ids and API tokens as SHA-256.
"""

from __future__ import annotations

import contextlib

from tocsin.errors import StorageFull
from tocsin.model import Admin, ApiToken, Session
from tocsin.store.runner import Database, Row

__all__ = ["SQLAccounts"]


_ADMIN_COLUMNS = "a.id, a.username, a.language, a.created_at, a.last_login_at"
_GRANT_COLUMNS = "id, name, scopes, created_at, last_used_at, revoked_at"


def _admin(row: Row) -> Admin:
    return Admin(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        float(row[3]),
        None if row[4] is None else float(row[4]),
    )


def _token(row: Row) -> ApiToken:
    return ApiToken(
        int(row[0]),
        str(row[1]),
        tuple(str(row[2]).split()),
        float(row[3]),
        None if row[4] is None else float(row[4]),
        None if row[5] is None else float(row[5]),
    )


class SQLAccounts:
    """The accounts repository: admins, sessions and API tokens, over a backend's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------ admins
    def admin_count(self) -> int:
        """How many admin accounts exist (0 means first run)."""
        with self._db.reading() as runner:
            return int(runner.rows("SELECT COUNT(*) FROM admin")[0][0])

    def add_admin(self, username: str, password_hash: str, language: str, now: float) -> Admin:
        """Create an admin; ``ValueError`` if the name is taken."""
        with self._db.writing() as runner:
            if runner.rows("SELECT 1 FROM admin WHERE username = ?", (username,)):
                raise ValueError(f"an admin named {username!r} exists already")
            runner.run(
                "INSERT INTO admin (username, password_hash, language, created_at) "
                "VALUES (?, ?, ?, ?)",
                (username, password_hash, language, now),
            )
            row = runner.rows(
                f"SELECT {_ADMIN_COLUMNS} FROM admin a WHERE a.username = ?", (username,)
            )[0]
        return _admin(row)

    def admin_credentials(self, username: str) -> tuple[Admin, str] | None:
        """The admin and its password hash, for verifying a login."""
        with self._db.reading() as runner:
            rows = runner.rows(
                f"SELECT {_ADMIN_COLUMNS}, a.password_hash FROM admin a WHERE a.username = ?",
                (username,),
            )
        return (_admin(rows[0]), str(rows[0][5])) if rows else None

    def set_admin_password(self, admin_id: int, password_hash: str) -> None:
        """Replace the hash and end every session of that admin."""
        with self._db.writing() as runner:
            runner.run("UPDATE admin SET password_hash = ? WHERE id = ?", (password_hash, admin_id))
            runner.run("DELETE FROM login_session WHERE admin_id = ?", (admin_id,))

    def set_admin_language(self, admin_id: int, language: str) -> None:
        """Remember the admin's language for the pages."""
        with self._db.writing() as runner:
            runner.run("UPDATE admin SET language = ? WHERE id = ?", (language, admin_id))

    # ------------------------------------------------------------ sessions
    def add_session(
        self, id_hash: str, admin_id: int, csrf_token: str, now: float, expires_at: float
    ) -> None:
        """Store a new session (and note the login time)."""
        with self._db.writing() as runner:
            runner.run("DELETE FROM login_session WHERE expires_at < ?", (now,))
            runner.run(
                "INSERT INTO login_session (id_hash, admin_id, csrf_token, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (id_hash, admin_id, csrf_token, now, expires_at),
            )
            runner.run("UPDATE admin SET last_login_at = ? WHERE id = ?", (now, admin_id))

    def get_session(self, id_hash: str, now: float) -> Session | None:
        """The live session with that id hash, or None (expired or unknown)."""
        with self._db.reading() as runner:
            rows = runner.rows(
                f"SELECT {_ADMIN_COLUMNS}, s.csrf_token, s.expires_at FROM login_session s "
                "JOIN admin a ON a.id = s.admin_id WHERE s.id_hash = ? AND s.expires_at > ?",
                (id_hash, now),
            )
        if not rows:
            return None
        return Session(_admin(rows[0]), str(rows[0][5]), float(rows[0][6]))

    def delete_session(self, id_hash: str) -> None:
        """End a session (logout)."""
        with self._db.writing() as runner:
            runner.run("DELETE FROM login_session WHERE id_hash = ?", (id_hash,))

    # ------------------------------------------------------------ API tokens
    def add_token(
        self, name: str, token_hash: str, scopes: tuple[str, ...], now: float
    ) -> ApiToken:
        """Store a new token's hash."""
        with self._db.writing() as runner:
            runner.run(
                "INSERT INTO api_token (name, token_hash, scopes, created_at) VALUES (?, ?, ?, ?)",
                (name, token_hash, " ".join(scopes), now),
            )
            row = runner.rows(
                f"SELECT {_GRANT_COLUMNS} FROM api_token WHERE token_hash = ?", (token_hash,)
            )[0]
        return _token(row)

    def use_token(self, token_hash: str, now: float) -> ApiToken | None:
        """The active token with that hash (noting its use at most once a minute), or None.

        Reads first: an authenticated request takes the write lock only when the
        token's last use is over a minute old, so it never queues behind the intake.
        The note waits when the disk is full: an admin reading ``/metrics`` or the
        queue then is not refused for want of the room to write it down.
        """
        with self._db.reading() as runner:
            rows = runner.rows(
                f"SELECT {_GRANT_COLUMNS} FROM api_token "
                "WHERE token_hash = ? AND revoked_at IS NULL",
                (token_hash,),
            )
        if not rows:
            return None
        token = _token(rows[0])
        if token.last_used_at is None or now - token.last_used_at > 60:
            with contextlib.suppress(StorageFull), self._db.writing() as runner:
                runner.run("UPDATE api_token SET last_used_at = ? WHERE id = ?", (now, token.id))
        return token

    def list_tokens(self) -> list[ApiToken]:
        """Every token, newest first, revoked ones included."""
        with self._db.reading() as runner:
            rows = runner.rows(f"SELECT {_GRANT_COLUMNS} FROM api_token ORDER BY id DESC")
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: int, now: float) -> bool:
        """Revoke a token at once; False if there is no such active token."""
        with self._db.writing() as runner:
            return (
                runner.run(
                    "UPDATE api_token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                    (now, token_id),
                )
                > 0
            )
