"""The provider presets (data, not code) and the types of a discovery answer.

The table is ``presets.yaml`` beside this module, validated once with pydantic when it
is first used.  A preset fills host, port, encryption and the authentication method; its
``needs`` are codes whose texts (en, de) are ``preset_needs_<code>`` in the catalogs.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tocsin.i18n import translate
from tocsin.settings import Encryption

__all__ = [
    "AuthMethod",
    "Discovered",
    "Need",
    "OAuthProvider",
    "Preset",
    "Proposal",
    "Source",
    "SourceReport",
    "SourceStatus",
    "by_address_domain",
    "by_host",
    "by_mx_host",
    "is_host_name",
    "load_table",
    "preset",
    "presets",
]

_HOST: Final = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)


class AuthMethod(StrEnum):
    """How the server wants Tocsin to sign in (data here; the sign-in itself is elsewhere)."""

    NONE = "none"
    PASSWORD = "password"  # noqa: S105 - a name, not a secret
    OAUTH2 = "oauth2"


class OAuthProvider(StrEnum):
    """Whose OAuth2 sign-in an ``oauth2`` preset uses."""

    MICROSOFT = "microsoft"
    GOOGLE = "google"


class OAuthFlow(StrEnum):
    """The sign-in an ``oauth2`` preset chooses when the provider allows only one kind
    (mirrors ``tocsin.settings.OAuthFlow``)."""

    APP_ONLY = "app_only"
    DEVICE_CODE = "device_code"
    LOOPBACK = "loopback"
    SERVICE_ACCOUNT = "service_account"


class Need(StrEnum):
    """What else the admin needs besides the preset (text: ``preset_needs_<value>``)."""

    APP_PASSWORD = "app_password"  # noqa: S105 - a name, not a secret
    SIGN_IN_MICROSOFT = "sign_in_microsoft"
    SIGN_IN_GOOGLE = "sign_in_google"
    SMTP_AUTH_ENABLED = "smtp_auth_enabled"
    ENABLE_IMAP_GMX = "enable_imap_gmx"
    ENABLE_IMAP_WEBDE = "enable_imap_webde"
    EMAIL_PASSWORD_TONLINE = "email_password_tonline"  # noqa: S105 - a name, not a secret
    MAILBOX_PASSWORD = "mailbox_password"  # noqa: S105 - a name, not a secret
    ASK_ADMIN = "ask_admin"


def is_host_name(text: str) -> bool:
    """True for a DNS host name in ASCII (IDNA) form with at least two labels."""
    return bool(_HOST.match(text))


class Preset(BaseModel):
    """One provider: what to fill in, what else is needed, how to recognise it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9]{2,20}$")
    name: str | None = Field(default=None, max_length=60)
    host: str = Field(max_length=253)
    port: int = Field(ge=1, le=65535)
    encryption: Encryption
    auth: AuthMethod
    oauth_provider: OAuthProvider | None = None
    oauth_flow: OAuthFlow | None = None
    oauth_tenant: str | None = Field(default=None, pattern=r"^[a-z0-9.-]{2,64}$")
    needs: tuple[Need, ...] = ()
    address_domains: tuple[str, ...] = ()
    mx_suffixes: tuple[str, ...] = ()
    source: str = Field(min_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> Preset:
        if (self.auth is AuthMethod.OAUTH2) != (self.oauth_provider is not None):
            raise ValueError(f"{self.id}: oauth_provider goes with auth oauth2, and only there")
        if self.oauth_provider is None and (self.oauth_flow or self.oauth_tenant):
            raise ValueError(f"{self.id}: oauth_flow and oauth_tenant go with oauth_provider")
        if self.host and not is_host_name(self.host):
            raise ValueError(f"{self.id}: host {self.host!r} is not a host name")
        for name in (*self.address_domains, *self.mx_suffixes):
            if not is_host_name(name):
                raise ValueError(f"{self.id}: {name!r} is not a domain name")
        if not self.host and self.id != "other":
            raise ValueError(f"{self.id}: only 'other' has no host")
        return self

    def label(self, language: str) -> str:
        """The name shown: the provider's own, or the translated "Other provider"."""
        return self.name or translate(f"preset_label_{self.id}", language)

    def as_dict(self, language: str) -> dict[str, Any]:
        """JSON-ready, with the needs as texts in ``language``."""
        return {
            "id": self.id,
            "label": self.label(language),
            "host": self.host,
            "port": self.port,
            "encryption": self.encryption.value,
            "auth": self.auth.value,
            "oauth_provider": self.oauth_provider.value if self.oauth_provider else None,
            "oauth_flow": self.oauth_flow.value if self.oauth_flow else None,
            "oauth_tenant": self.oauth_tenant,
            "needs": [translate(f"preset_needs_{n.value}", language) for n in self.needs],
            "source": self.source,
        }


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    presets: tuple[Preset, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> _Table:
        ids = [p.id for p in self.presets]
        if len(set(ids)) != len(ids):
            raise ValueError("preset ids repeat")
        if ids[-1] != "other":
            raise ValueError("the last preset is 'other'")
        return self


def load_table(text: str) -> tuple[Preset, ...]:
    """Parse and validate a presets document (raises ``ValueError`` on any fault)."""
    data = yaml.safe_load(text)
    return _Table.model_validate(data).presets


@functools.cache
def presets() -> tuple[Preset, ...]:
    """The shipped presets, in the order the page offers them ("other" last)."""
    text = resources.files(__package__).joinpath("presets.yaml").read_text("utf-8")
    return load_table(text)


def preset(preset_id: str) -> Preset | None:
    """The preset with ``preset_id``, or ``None``."""
    return next((p for p in presets() if p.id == preset_id), None)


def _under(host: str, suffix: str) -> bool:
    host = host.lower().rstrip(".")
    return host == suffix or host.endswith("." + suffix)


def by_address_domain(domain: str) -> Preset | None:
    """The preset whose own addresses end in ``domain`` (gmail.com → Google)."""
    domain = domain.lower().rstrip(".")
    return next((p for p in presets() if domain in p.address_domains), None)


def by_mx_host(host: str) -> Preset | None:
    """The preset whose MX servers ``host`` is one of (longest suffix wins)."""
    found = [(len(s), p) for p in presets() for s in p.mx_suffixes if _under(host, s)]
    return max(found, key=lambda pair: pair[0])[1] if found else None


def by_host(host: str) -> Preset | None:
    """The preset whose SMTP server is ``host`` (to name the provider of a proposal)."""
    host = host.lower().rstrip(".")
    return next((p for p in presets() if p.host and p.host == host), None)


# ---------------------------------------------------------------- a discovery answer


class Source(StrEnum):
    """Where a proposal came from, in the order they are asked and ranked."""

    AUTOCONFIG = "autoconfig"
    SRV = "srv"
    MX = "mx"
    DOMAIN = "domain"  # the presets table knows the address's domain


class SourceStatus(StrEnum):
    """What one source gave."""

    FOUND = "found"
    NOTHING = "nothing"  # it answered: nothing there
    FAILED = "failed"  # it could not be read (certificate, bad document, DNS error)
    TIMEOUT = "timeout"  # no answer within its time


@dataclass(frozen=True, slots=True)
class Proposal:
    """Settings one source proposes; ``origin`` says exactly where (a URL, a record)."""

    source: Source
    origin: str
    host: str
    port: int
    encryption: Encryption
    auth: AuthMethod | None = None
    preset: Preset | None = None

    def as_dict(self, language: str) -> dict[str, Any]:
        """JSON-ready; the preset (when one is recognised) with its needs in ``language``."""
        auth = self.auth or (self.preset.auth if self.preset else None)
        provider = self.preset.oauth_provider if self.preset else None
        return {
            "source": self.source.value,
            "source_label": translate(f"discover_source_{self.source.value}", language),
            "origin": self.origin,
            "host": self.host,
            "port": self.port,
            "encryption": self.encryption.value,
            "auth": auth.value if auth else None,
            "oauth_provider": provider.value if provider and auth is AuthMethod.OAUTH2 else None,
            **self._oauth_choice(auth),
            "preset": self.preset.id if self.preset else None,
            "provider": self.preset.label(language) if self.preset else None,
            "needs": (
                [translate(f"preset_needs_{n.value}", language) for n in self.preset.needs]
                if self.preset
                else []
            ),
        }

    def _oauth_choice(self, auth: AuthMethod | None) -> dict[str, str | None]:
        preset = self.preset if auth is AuthMethod.OAUTH2 else None
        return {
            "oauth_flow": preset.oauth_flow.value if preset and preset.oauth_flow else None,
            "oauth_tenant": preset.oauth_tenant if preset else None,
        }


@dataclass(frozen=True, slots=True)
class SourceReport:
    """What one source gave: status, a technical detail, and how long it took."""

    source: Source
    status: SourceStatus
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self, language: str) -> dict[str, Any]:
        """JSON-ready, with a one-sentence text in ``language``."""
        text = translate(
            f"discover_{self.status.value}",
            language,
            detail=self.detail,
            seconds=f"{self.seconds:.1f}",
        )
        return {
            "source": self.source.value,
            "source_label": translate(f"discover_source_{self.source.value}", language),
            "status": self.status.value,
            "detail": self.detail,
            "text": text,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class Discovered:
    """The whole answer for one address: proposals best first, and every source's report."""

    address: str
    domain: str
    proposals: tuple[Proposal, ...] = ()
    sources: tuple[SourceReport, ...] = field(default=())
    seconds: float = 0.0

    @property
    def found(self) -> bool:
        """True when at least one source proposed settings."""
        return bool(self.proposals)

    def as_dict(self, language: str) -> dict[str, Any]:
        """JSON-ready; ``message`` says in ``language`` what was (or was not) found."""
        code = "discover_summary_found" if self.found else "discover_summary_none"
        return {
            "address": self.address,
            "domain": self.domain,
            "found": self.found,
            "message": translate(code, language, domain=self.domain),
            "proposals": [p.as_dict(language) for p in self.proposals],
            "sources": [s.as_dict(language) for s in self.sources],
            "seconds": round(self.seconds, 3),
            "saved": False,
        }
