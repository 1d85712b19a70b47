"""App-only sign-in with a certificate: authlib's ``private_key_jwt`` client authentication.

Instead of a client secret the app sends a client assertion (RFC 7523 §2.2, OpenID
Connect's ``private_key_jwt``): a JWT with ``iss`` and ``sub`` the client id, ``aud``
the token endpoint, a ``jti`` and a short life, signed with the certificate's private
key.  Microsoft Entra ID finds the certificate by the thumbprint in the JWT header:
``x5t#S256`` (SHA-256, signed with PS256) as Microsoft documents for new apps, with
the older ``x5t`` (SHA-1) beside it for registrations that still look that one up.
authlib's :class:`~authlib.oauth2.rfc7523.PrivateKeyJWT` builds and signs the JWT
(joserfc); this module only gives it the key and the header.
"""

from __future__ import annotations

from typing import Any, Final

from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import RSAKey

from tocsin.errors import SignInRefused
from tocsin.providers.credentials import CertificateProblem, parse_client_certificate
from tocsin.secret import Secret

__all__ = ["ALGORITHM", "certificate_auth"]

ALGORITHM: Final = "PS256"
"""RSASSA-PSS with SHA-256: what Microsoft asks for with an ``x5t#S256`` header."""


def certificate_auth(pem: Secret, token_endpoint: str) -> tuple[Any, Any]:
    """The signing key and authlib's client authentication for ``pem`` (key and
    certificate), to pass as ``client_secret`` and ``token_endpoint_auth_method``.

    Raises:
        SignInRefused: the stored text is no usable key and certificate (``hint``
            ``certificate_invalid``): a configuration problem, named without the text.
    """
    try:
        cert = parse_client_certificate(pem.reveal())
    except CertificateProblem as exc:
        raise SignInRefused(
            f"the client certificate is not usable ({exc.code})", hint="certificate_invalid"
        ) from None
    key = RSAKey.import_key(cert.private_key_pem.reveal())
    headers = {
        "typ": "JWT",
        "x5t#S256": cert.thumbprint_sha256,
        "x5t": cert.thumbprint_sha1,
    }
    return key, _Assertion(token_endpoint, headers=headers, alg=ALGORITHM)


class _Assertion:
    """authlib's ``private_key_jwt`` with a fresh header dict for every assertion
    (authlib writes ``alg`` into the dict it is given, and ``jti`` must be new)."""

    name = "private_key_jwt"

    def __init__(self, token_endpoint: str, *, headers: dict[str, str], alg: str) -> None:
        self._endpoint = token_endpoint
        self._headers = headers
        self._alg = alg

    def __call__(self, auth: Any, method: str, uri: str, headers: Any, body: str) -> Any:
        """Add ``client_assertion_type`` and a newly signed ``client_assertion`` to the body."""
        signer = PrivateKeyJWT(self._endpoint, headers=dict(self._headers), alg=self._alg)
        return signer(auth, method, uri, headers, body)
