"""The failover section's form → changes: links kept, changed, removed (the ones behind
move up with their secrets), online-service links added, changed and kept."""

from __future__ import annotations

from tocsin.failover import FailoverSettings, apply_failover_update
from tocsin.secret import Secret
from tocsin.settings import AuthMethod, EmailSettings, TransportKind
from tocsin.web.failover_form import LINK_FIELDS, changes_from_form, failover_view

PRIMARY = EmailSettings(enabled=True, host="mail.example.com", sender_address="a@example.com")
B = EmailSettings(enabled=True, host="b.example.net", username="u", password=Secret("pb"))
ONLINE = EmailSettings(
    enabled=True,
    transport=TransportKind.ONLINE,
    relay_url="https://relay.example.com",
    device_credential=Secret("cred"),
)
C = EmailSettings(enabled=True, host="c.example.net", username="w", password=Secret("pc"))


def _form(chain: FailoverSettings, **typed: str) -> dict[str, str]:
    """The form as the page shows it (every field as saved), then ``typed``."""
    view = failover_view(chain)
    form = {f"fo_{k}": str(v) for k, v in view["v"].items() if not isinstance(v, bool)}
    form |= {f"fo_{k}": "on" for k, v in view["v"].items() if v is True}
    for i, link in enumerate(view["links"]):
        for name in LINK_FIELDS:
            form[f"fo_link{i}_{name}"] = str(link[name])
        form[f"fo_link{i}_kind"] = link["kind"]
        if link["tls_verify"]:
            form[f"fo_link{i}_tls_verify"] = "on"
    return form | typed


def test_removing_the_first_link_moves_the_others_up_with_their_secrets() -> None:
    chain = FailoverSettings(enabled=True, links=(B, ONLINE, C))
    changes = changes_from_form(_form(chain, fo_link0_remove="on"), chain)
    updated, report = apply_failover_update(chain, changes, primary=PRIMARY)
    assert report.ok, report.errors
    online, c = updated.links
    assert (online.transport, online.device_credential) == (TransportKind.ONLINE, Secret("cred"))
    assert (c.host, c.username, c.password) == ("c.example.net", "w", Secret("pc"))


def test_an_empty_password_keeps_the_stored_one_and_a_new_slot_adds_a_link() -> None:
    chain = FailoverSettings(enabled=True, links=(B,))
    form = _form(chain, fo_link0_port="2525", fo_link1_host="d.example.net")
    updated, report = apply_failover_update(chain, changes_from_form(form, chain), primary=PRIMARY)
    assert report.ok, report.errors
    b, d = updated.links
    assert (b.port, b.password) == (2525, Secret("pb"))
    assert (d.host, d.password) == ("d.example.net", None)


def _errors(chain: FailoverSettings, form: dict[str, str], language: str = "en") -> dict[str, str]:
    """The section's errors by the page's field name, as the page would show them."""
    changes = changes_from_form(form, chain)
    _, report = apply_failover_update(chain, changes, primary=PRIMARY)
    view = failover_view(chain, form, report, language)
    return {name: " ".join(texts) for name, texts in view["err"].items()}


def test_an_online_link_is_added_with_its_token_and_the_token_is_kept_after() -> None:
    chain = FailoverSettings(enabled=True, links=(B,))
    form = _form(
        chain,
        fo_link1_kind="online",
        fo_link1_relay_url="https://relay.example.com",
        fo_link1_token="tcd_token-1",
        fo_link1_host="ignored.example.net",  # the SMTP box of an online link is not sent
    )
    updated, report = apply_failover_update(chain, changes_from_form(form, chain), primary=PRIMARY)
    assert report.ok, report.errors
    b, online = updated.links
    assert b.password == Secret("pb")
    assert (online.transport, online.relay_url, online.device_credential, online.host) == (
        TransportKind.ONLINE,
        "https://relay.example.com",
        Secret("tcd_token-1"),
        "",
    )
    shown = failover_view(updated)["links"][1]
    assert (shown["kind"], shown["token_set"], shown["relay_url"]) == (
        "online",
        True,
        "https://relay.example.com",
    )
    assert "tcd_token-1" not in repr(failover_view(updated))
    # Saved again with the token box empty and a new address: the token stays.
    again = _form(updated, fo_link1_relay_url="https://relay2.example.com")
    changed, report = apply_failover_update(
        updated, changes_from_form(again, updated), primary=PRIMARY
    )
    assert report.ok, report.errors
    assert changed.links[1].relay_url == "https://relay2.example.com"
    assert changed.links[1].device_credential == Secret("tcd_token-1")


def test_an_online_link_without_token_or_with_a_bad_address_is_refused_by_field() -> None:
    chain = FailoverSettings()
    no_token = _form(chain, fo_link0_kind="online", fo_link0_relay_url="https://relay.example.com")
    assert _errors(chain, no_token) == {
        "fo_link0_token": "Enter the online service's device token for backup link 1, on the "
        "settings page or with 'tocsin settings failover link 1 --device-credential'."
    }
    plain = _form(
        chain,
        fo_link0_kind="online",
        fo_link0_relay_url="http://relay.example.com",
        fo_link0_token="t",
    )
    (text,) = _errors(chain, plain, "de").values()
    assert text.startswith("Geben Sie die Adresse des Online-Dienstes als https://")
    assert list(_errors(chain, plain)) == ["fo_link0_relay_url"]
    only_token = _form(chain, fo_link0_kind="online", fo_link0_token="t")
    assert _errors(chain, only_token) == {
        "fo_link0_relay_url": "Enter the online service's address for backup link 1, "
        "e.g. https://relay.example.com."
    }


def test_an_untouched_new_slot_of_either_kind_adds_nothing() -> None:
    chain = FailoverSettings(enabled=True, links=(B,))
    for kind in ("smtp", "online"):
        form = _form(chain, fo_link1_kind=kind)
        changes = changes_from_form(form, chain)
        assert changes["links"] == [changes["links"][0]]  # type: ignore[index]


def test_a_removal_moves_an_oauth_link_up_with_every_secret() -> None:
    oauth = EmailSettings(
        enabled=True,
        host="smtp.office365.com",
        username="alarm@example.com",
        auth_method=AuthMethod.OAUTH2,
        oauth_client_id="app",
        oauth_tenant="contoso.example",
        oauth_client_secret=Secret("client-secret"),
        oauth_refresh_token=Secret("refresh-1"),
    )
    chain = FailoverSettings(enabled=True, links=(B, oauth))
    changes = changes_from_form(_form(chain, fo_link0_remove="on"), chain)
    updated, report = apply_failover_update(chain, changes, primary=PRIMARY)
    assert report.ok, report.errors
    (moved,) = updated.links
    assert (moved.oauth_client_secret, moved.oauth_refresh_token) == (
        Secret("client-secret"),
        Secret("refresh-1"),
    )


def test_a_new_link_in_a_removed_links_place_takes_nothing_of_it() -> None:
    chain = FailoverSettings(enabled=True, links=(B,))
    form = _form(
        chain,
        fo_link0_remove="on",
        fo_link1_kind="online",
        fo_link1_relay_url="https://relay.example.com",
    )
    _, report = apply_failover_update(chain, changes_from_form(form, chain), primary=PRIMARY)
    # No token of its own: refused, not B's password or username taken over.
    assert [i.field for i in report.errors] == ["links.0.device_credential"]


def test_an_smtp_link_switched_to_online_with_nothing_typed_says_what_it_needs() -> None:
    chain = FailoverSettings(enabled=True, links=(B,))
    form = _form(chain, fo_link0_kind="online")
    assert _errors(chain, form) == {
        "fo_link0_relay_url": "Enter the online service's address and device token for "
        "backup link 1, or choose another SMTP server for it."
    }
    (text,) = _errors(chain, form, "de").values()
    assert text.startswith("Geben Sie Adresse und Geräte-Token des Online-Dienstes")
