"""A faithful local OAuth2 authorization server for tests: `OAuthTestServer`.

Real HTTP over TLS (a `TestCA` certificate for ``localhost``) on its own thread, so sync
code, async code and subprocesses (the CLI) all reach it alike.  It speaks what Microsoft
Entra ID and Google speak to a mail client, with Microsoft's paths and error texts:

- ``POST /{tenant}/oauth2/v2.0/token``: ``client_credentials``, ``refresh_token`` and the
  device code grant (RFC 8628 §3.4), client authentication by HTTP Basic or in the form;
  errors as RFC 6749 §5.2 JSON (``invalid_client``, ``invalid_grant``, ...) with AADSTS
  codes in ``error_description`` as Entra ID writes them.
- client authentication with a certificate: a ``client_assertion`` (RFC 7523 §2.2) whose
  signature, thumbprint (``x5t#S256`` / ``x5t``), ``iss``/``sub``, ``aud`` and time range
  are checked against the certificates registered with `add_certificate`, refused with
  Entra's ``AADSTS7000xx`` texts (see ``tocsin.testing.client_certs``).
- ``POST /token`` (Google's form): the JWT bearer grant (RFC 7523) of a service account
  with domain-wide delegation (`add_service_account`), the signature checked against
  its public key; without delegation Google's ``unauthorized_client``.
- ``GET /authorize`` and the ``authorization_code`` grant with PKCE (RFC 7636) to a
  loopback redirect (RFC 8252 §7.3), as Google's desktop sign-in; the test's "browser"
  adds ``user=`` and ``decision=approve|deny`` and follows the redirect.
- ``POST /{tenant}/oauth2/v2.0/devicecode`` (RFC 8628 §3.1/3.2), and the polling answers
  ``authorization_pending``, ``slow_down`` (a poll sooner than the interval; the interval
  then grows by `slow_down_step`), ``expired_token`` and ``access_denied`` (§3.5).
- ``POST /device``: the page the user opens (the verification URI); a test plays the user
  with ``user_code``, ``user`` and ``decision=approve|deny`` (or `approve` / `deny`).
- ``POST /revoke`` (RFC 7009) revokes a refresh token and its whole grant.
- ``POST /introspect`` (RFC 7662) and `check` (in process): is an access token active,
  and for which mailbox.  The test SMTP server calls `check`.

Access tokens expire after `token_lifetime` seconds.  Every token request is recorded in
`token_requests` (grant type and outcome, never a token).

Where it lives: ``server`` (`OAuthTestServer`: set-up, addresses, life cycle),
``grants`` (the endpoints' answers), ``clients`` (client authentication), ``records``
(what the server knows, `TokenRequest`), ``wire`` (HTTP over TLS).
"""

from tocsin.testing.oauth.records import TokenRequest
from tocsin.testing.oauth.server import OAuthTestServer

__all__ = ["OAuthTestServer", "TokenRequest"]
