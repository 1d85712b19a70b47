"""A fast SMTP sink with STARTTLS and AUTH, for the benchmark (Postfix's smtp-sink has no TLS).

It accepts every command, any credentials, and throws messages away.  Run as its own
process so it has a core of its own::

    python bench/tls_sink.py --cert server.pem --key server.key   # prints the port
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys

_EHLO_PLAIN = b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 52428800\r\n250-STARTTLS\r\n"
_EHLO_TLS = b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 52428800\r\n"
_EHLO_TLS += b"250-AUTH PLAIN LOGIN\r\n"
# LOGIN's challenges as Postfix sends them (Go's net/smtp clients accept only these).
_USERNAME = b"334 VXNlcm5hbWU6\r\n"  # "Username:"
_PASSWORD = b"334 UGFzc3dvcmQ6\r\n"  # "Password:"


class SinkProtocol(asyncio.Protocol):
    """One SMTP session: a line parser and a tiny state machine."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.in_data = False
        self.tls = False
        self.auth_steps = 0  # AUTH continuation lines still expected
        self.count = 0
        self.upgrading: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.upgrading is not None and not self.tls:
            return  # decrypted bytes before start_tls() handed us the TLS transport
        while self.buffer:
            if self.in_data:
                if self.buffer.startswith(b".\r\n"):
                    end = 0
                else:
                    end = self.buffer.find(b"\r\n.\r\n")
                    if end < 0:
                        return
                    end += 2
                del self.buffer[: end + 3]
                self.in_data = False
                self.count += 1
                self.write(b"250 2.0.0 Ok: queued as S%d\r\n" % self.count)
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            if self.command(line):
                return

    def command(self, line: bytes) -> bool:
        """Answer one line; True when reading must stop (TLS upgrade, quit)."""
        if self.auth_steps:
            self.auth_steps -= 1
            # Only LOGIN has a second step: its "Password:" challenge.
            self.write(_PASSWORD if self.auth_steps else b"235 2.7.0 Authenticated\r\n")
            return False
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self.write((_EHLO_TLS if self.tls else _EHLO_PLAIN) + b"250 SMTPUTF8\r\n")
        elif verb == b"STAR":
            assert self.transport is not None
            # Read nothing more in clear: the client's TLS hello belongs to start_tls().
            self.transport.pause_reading()
            self.write(b"220 2.0.0 Ready to start TLS\r\n")
            self.buffer.clear()  # RFC 3207 §4.2: nothing sent before the handshake counts
            self.upgrading = asyncio.ensure_future(self.upgrade())
            return True
        elif verb == b"AUTH":
            parts = line.split()
            if parts[1].upper() == b"LOGIN" and len(parts) == 2:
                self.auth_steps = 2
                self.write(_USERNAME)
            elif parts[1].upper() == b"LOGIN":  # the user name came as initial response
                self.auth_steps = 1
                self.write(_PASSWORD)
            elif len(parts) == 2:
                self.auth_steps = 1
                self.write(b"334 \r\n")
            else:
                self.write(b"235 2.7.0 Authenticated\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            self.write(b"221 2.0.0 Bye\r\n")
            assert self.transport is not None
            self.transport.close()
            return True
        else:  # MAIL, RCPT, RSET, NOOP
            self.write(b"250 2.0.0 Ok\r\n")
        return False

    async def upgrade(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.transport is not None
        tls = await loop.start_tls(self.transport, self, self.context, server_side=True)
        assert tls is not None
        self.transport = tls
        self.tls = True
        self.data_received(b"")  # answer what arrived during the handshake


async def serve(cert: str, key: str, port: int) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(context), "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.cert, args.key, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
