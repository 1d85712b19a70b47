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
