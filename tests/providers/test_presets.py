"""The presets table (data, validated) and the autoconfig parser (pure)."""

from __future__ import annotations

import pytest

from tocsin.i18n import translate
from tocsin.providers.autoconfig import AutoconfigError, parse_autoconfig
from tocsin.providers.presets import (
    AuthMethod,
    by_address_domain,
    by_host,
    by_mx_host,
    is_host_name,
    load_table,
    preset,
    presets,
)
from tocsin.settings import Encryption

REQUIRED = [
    "microsoft365",
    "outlook",
    "google",
    "icloud",
    "yahoo",
    "gmx",
    "webde",
    "tonline",
    "ionos",
    "strato",
    "mailboxorg",
    "other",
]


def test_the_table_has_every_provider_the_issue_names_other_last() -> None:
    assert [p.id for p in presets()] == REQUIRED


def test_every_preset_says_where_it_came_from_and_what_else_is_needed_in_both_languages() -> None:
    for item in presets():
        assert item.needs, item.id
        for need in item.needs:
            en = translate(f"preset_needs_{need.value}", "en")
            de = translate(f"preset_needs_{need.value}", "de")
            assert en != f"preset_needs_{need.value}"
            assert de != en
        assert item.label("en")
        assert item.label("de")
        assert len(item.source) > 20
    assert preset("other") is not None
    assert preset("other").label("de") == "Anderer Anbieter"


def test_oauth_presets_name_their_provider() -> None:
    m365, google = preset("microsoft365"), preset("google")
    assert m365 is not None
    assert google is not None
    assert (m365.auth, m365.oauth_provider and m365.oauth_provider.value) == (
        AuthMethod.OAUTH2,
        "microsoft",
    )
    assert google.as_dict("en")["oauth_provider"] == "google"
    icloud = preset("icloud")
    assert icloud is not None
    assert icloud.as_dict("en") == {
        "id": "icloud",
        "label": "iCloud Mail",
        "host": "smtp.mail.me.com",
        "port": 587,
        "encryption": "starttls",
        "auth": "password",
        "oauth_provider": None,
        "oauth_flow": None,
        "oauth_tenant": None,
        "needs": [translate("preset_needs_app_password", "en")],
        "source": icloud.source,
    }


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("contoso-com.mail.protection.outlook.com", "microsoft365"),
        ("hotmail-com.olc.protection.outlook.com", "outlook"),
        ("ALT2.ASPMX.L.GOOGLE.COM.", "google"),
        ("smtp.google.com", "google"),
        ("mx01.mail.icloud.com", "icloud"),
        ("smtpin.rzone.de", "strato"),
        ("mail.protection.outlook.com.evil.example", None),
        ("notgmx.net", None),
    ],
)
def test_mx_hosts_match_on_label_boundaries(host: str, expected: str | None) -> None:
    found = by_mx_host(host)
    assert (found.id if found else None) == expected


def test_address_domains_and_hosts() -> None:
    assert by_address_domain("GMX.de") is preset("gmx")
    assert by_address_domain("example.org") is None
    assert by_host("smtp.office365.com") is preset("microsoft365")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"port": 0}, "port"),
        ({"encryption": "tls"}, "encryption"),
        ({"surprise": 1}, "surprise"),
        ({"auth": "oauth2"}, "oauth_provider goes with auth oauth2"),
        ({"host": "smtp example"}, "is not a host name"),
        ({"needs": ["a_pony"]}, "needs"),
    ],
)
def test_a_bad_table_is_refused(change: dict[str, object], why: str) -> None:
    row = {
        "id": "x1",
        "name": "X",
        "host": "smtp.x.example",
        "port": 587,
        "encryption": "starttls",
        "auth": "password",
        "source": "a test, not a provider",
    }
    other = {**row, "id": "other", "host": ""}
    import yaml

    text = yaml.safe_dump({"presets": [{**row, **change}, other]})
    with pytest.raises(ValueError, match=why):
        load_table(text)
    assert len(load_table(yaml.safe_dump({"presets": [row, other]}))) == 2


def test_the_parser_reads_smtp_servers_only_encrypted_first() -> None:
    document = b"""<clientConfig><emailProvider id="x">
      <outgoingServer type="smtp"><hostname>plain.%EMAILDOMAIN%</hostname><port>25</port>
        <socketType>plain</socketType><authentication>none</authentication></outgoingServer>
      <outgoingServer type="smtp"><hostname>bad host</hostname><port>587</port>
        <socketType>STARTTLS</socketType></outgoingServer>
      <outgoingServer type="smtp"><hostname>smtp.x.example</hostname><port>99999</port>
        <socketType>SSL</socketType></outgoingServer>
      <outgoingServer type="smtp"><hostname>SMTP.X.example</hostname><port>465</port>
        <socketType>SSL</socketType><authentication>password-encrypted</authentication>
      </outgoingServer>
    </emailProvider></clientConfig>"""
    servers = parse_autoconfig(document, "a@x.example")
    assert [(s.host, s.port, s.encryption, s.auth) for s in servers] == [
        ("smtp.x.example", 465, Encryption.SSL, AuthMethod.PASSWORD),
        ("plain.x.example", 25, Encryption.NONE, AuthMethod.NONE),
    ]


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (b"<html><body>hello</body></html>", "not an autoconfig document"),
        (b"<clientConfig>", "not XML"),
        (b'<!DOCTYPE x SYSTEM "http://evil.example/x.dtd"><clientConfig/>', "DTD"),
        (b"<clientConfig>" + b" " * 70_000 + b"</clientConfig>", "larger than 64 KiB"),
    ],
)
def test_the_parser_refuses_what_is_not_a_small_plain_document(document: bytes, why: str) -> None:
    with pytest.raises(AutoconfigError, match=why):
        parse_autoconfig(document, "a@x.example")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("smtp.example.com", True),
        ("mail.xn--80akhbyknj4f.xn--p1ai", True),  # an IDN under an IDN top-level domain
        ("smtp.example.com.", False),
        ("localhost", False),
        ("smtp..example.com", False),
        ("-smtp.example.com", False),
        ("smtp.example.123", False),
        ("SMTP.example.com", False),  # callers lower-case first
    ],
)
def test_host_names(name: str, ok: bool) -> None:
    assert is_host_name(name) is ok


def test_outlook_com_signs_in_a_person_under_the_consumers_tenant() -> None:
    outlook, m365 = preset("outlook"), preset("microsoft365")
    assert outlook is not None
    assert m365 is not None
    data = outlook.as_dict("en")
    assert (data["oauth_flow"], data["oauth_tenant"]) == ("device_code", "consumers")
    # A Microsoft 365 tenant is the organisation's own; app-only stays possible there.
    assert (m365.oauth_flow, m365.oauth_tenant) == (None, None)


def test_aol_mail_is_not_taken_for_yahoo() -> None:
    assert by_mx_host("mta5.am0.yahoodns.net") == preset("yahoo")
    assert by_mx_host("mx-aol.mail.gm0.yahoodns.net") is None
