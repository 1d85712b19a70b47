"""The local OAuth2 server's HTTP over TLS: a threading HTTP server whose handshakes run
on the request threads, and a handler that turns requests into `Endpoints` calls."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any

from tocsin.testing.oauth.grants import Endpoints
from tocsin.testing.oauth.records import WAIT, OAuthError

__all__ = ["TLSServer"]


class TLSServer(ThreadingHTTPServer):
    """HTTPS on ``address`` with ``context``, answering through ``endpoints``."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], endpoints: Endpoints, context: ssl.SSLContext
    ) -> None:
        super().__init__(address, _Handler)
        self.endpoints = endpoints
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs on the request's own thread, so a silent client blocks nobody.
        sock: socket = request
        sock.settimeout(WAIT)
        try:
            tls = self.context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError):
            sock.close()
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    server: TLSServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test server prints nothing (and never a token)."""

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        if parts.path != "/authorize":
            self.send_error(404)
            return
        try:
            location = self.server.endpoints.authorize(query)
        except OAuthError as exc:
            data = exc.description.encode()
            self.send_response(exc.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
        basic = _basic(self.headers.get("Authorization", ""))
        path = urllib.parse.urlsplit(self.path).path
        try:
            answer, status = self.server.endpoints.handle(path, form, basic), 200
        except OAuthError as exc:
            answer, status = {"error": exc.error, "error_description": exc.description}, exc.status
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None
    # RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)
