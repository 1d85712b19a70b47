"""The failover section's form → changes: links kept, changed, removed (the ones behind
move up with their secrets), an online link kept as it is."""

from __future__ import annotations

from tocsin.failover import FailoverSettings, apply_failover_update
from tocsin.secret import Secret
from tocsin.settings import EmailSettings, TransportKind
from tocsin.web.failover_form import changes_from_form, failover_view

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
        for name in ("host", "port", "encryption", "username", "sender_address"):
            form[f"fo_link{i}_{name}"] = str(link[name])
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
