"""OAuth2 set-ups that the sign-in, page and command-line tests share."""

from __future__ import annotations

from typing import Any

from tocsin.settings import AuthMethod, EmailSettings, Encryption
from tocsin.testing import OAuthTestServer


def oauth_settings(
    oauth: OAuthTestServer,
    *,
    client_id: str,
    mailbox: str,
    port: int,
    host: str = "localhost",
    encryption: Encryption = Encryption.SSL,
    **changes: Any,
) -> EmailSettings:
    """Email settings that sign in with OAuth2 at ``oauth``'s tenant as ``client_id`` for
    ``mailbox``, and reach the SMTP server at ``host``:``port``, trusting the CA of
    ``oauth`` (the test SMTP servers built with ``ca=oauth.ca`` present its certificate).

    ``changes`` set the other fields: the flow, a client secret, ``enabled``…
    """
    values: dict[str, Any] = {
        "sender_address": mailbox,
        "host": host,
        "port": port,
        "encryption": encryption,
        "username": mailbox,
        "auth_method": AuthMethod.OAUTH2,
        "oauth_client_id": client_id,
        "oauth_tenant": oauth.tenant,
        "oauth_authority": oauth.base_url,
        "ca_file": str(oauth.ca.ca_path),
    }
    return EmailSettings(**(values | changes))
