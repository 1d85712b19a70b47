"""REST settings API: the OAuth2 fields are taken, the secrets never come back."""

from __future__ import annotations

import json


def test_oauth_secrets_are_write_only(api):
    answer = api.patch(
        "/api/v1/settings",
        json={
            "host": "smtp.office365.com",
            "sender_address": "alarm@example.com",
            "username": "alarm@example.com",
            "auth_method": "oauth2",
            "oauth_provider": "microsoft",
            "oauth_tenant": "contoso.onmicrosoft.com",
            "oauth_client_id": "0f1e2d3c",
            "oauth_client_secret": "Xy8Q~client-secret-value",
            "oauth_refresh_token": "0.AXkA-refresh-token-value",
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["settings"]["oauth_client_secret"] is None
    assert body["settings"]["oauth_client_secret_set"] is True
    assert body["settings"]["oauth_refresh_token_set"] is True
    again = api.get("/api/v1/settings").json()
    assert again["settings"]["auth_method"] == "oauth2"
    for text in (json.dumps(body), json.dumps(again)):
        assert "client-secret-value" not in text
        assert "refresh-token-value" not in text


def test_a_bad_oauth_choice_is_refused_by_field(api):
    answer = api.patch(
        "/api/v1/settings?lang=de",
        json={"auth_method": "oauth2", "oauth_flow": "service_account"},
    )
    assert answer.status_code == 422
    (issue,) = [i for i in answer.json()["issues"] if i["field"] == "oauth_flow"]
    assert issue["code"] == "oauth_flow_unavailable"
    assert "nicht verfügbar" in issue["message"]


def _lines(answer):
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def test_the_sign_in_says_what_is_missing_before_it_starts(api):
    answer = api.post("/api/v1/settings/oauth/sign-in?lang=de")
    assert answer.status_code == 200, answer.text
    (line,) = _lines(answer)
    assert line["type"] == "not_ready"
    assert line["message"]
    assert [issue["field"] for issue in line["issues"]] == ["oauth_flow"]


def test_the_sign_in_streams_the_code_then_stores_the_token(api, services):
    import threading

    from tocsin.settings import AuthMethod, EmailSettings, OAuthFlow
    from tocsin.testing import OAuthTestServer

    with OAuthTestServer(interval=0.05) as oauth:
        oauth.add_client("public-app")
        services.settings.save(
            EmailSettings(
                sender_address="alarm@example.com",
                host="smtp.example.com",
                username="alarm@example.com",
                auth_method=AuthMethod.OAUTH2,
                oauth_flow=OAuthFlow.DEVICE_CODE,
                oauth_client_id="public-app",
                oauth_tenant=oauth.tenant,
                oauth_authority=oauth.base_url,
                ca_file=str(oauth.ca.ca_path),
            )
        )
        lines = []
        with api.stream("POST", "/api/v1/settings/oauth/sign-in") as answer:
            assert answer.status_code == 200
            for text in answer.iter_lines():
                if not text.strip():
                    continue
                line = json.loads(text)
                lines.append(line)
                if line["type"] == "code":  # the person signs in at the provider
                    threading.Timer(
                        0.1, oauth.approve, (line["user_code"], "alarm@example.com")
                    ).start()
        stored = services.settings.load().oauth_refresh_token
        issued = oauth.issued_secrets
        verification = oauth.verification_url
    assert [line["type"] for line in lines] == ["code", "signed_in"]
    assert lines[0]["verification_uri"] == verification
    assert lines[1]["mailbox"] == "alarm@example.com"
    assert stored is not None
    assert stored.reveal() in issued
    assert not [s for s in issued if s in json.dumps(lines)]


def test_the_client_certificate_is_write_only_and_a_mismatch_is_refused(api):
    from tocsin.testing import make_client_certificate

    pair, other = make_client_certificate(), make_client_certificate()
    key_line = pair.pem.splitlines()[3]
    answer = api.patch("/api/v1/settings", json={"oauth_client_certificate": pair.pem})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["settings"]["oauth_client_certificate"] is None
    assert body["settings"]["oauth_client_certificate_set"] is True
    again = api.get("/api/v1/settings")
    for text in (answer.text, again.text):
        assert key_line not in text
    mixed = pair.pem.replace(pair.certificate_pem.decode(), other.certificate_pem.decode())
    refused = api.patch("/api/v1/settings?lang=de", json={"oauth_client_certificate": mixed})
    assert refused.status_code == 422
    (issue,) = [i for i in refused.json()["issues"] if i["field"] == "oauth_client_certificate"]
    assert issue["code"] == "oauth_certificate_invalid"
    assert issue["message"] == "Der private Schlüssel und das Zertifikat passen nicht zusammen."
    assert key_line not in refused.text
