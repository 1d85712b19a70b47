"""REST settings API over a real HTTP server: auth, validation, write-only password."""

from __future__ import annotations

import json

import httpx
import pytest

from tocsin.testing import SMTPTestServer

USER, PASSWORD = "alarm@example.com", "correct horse battery staple"


def test_health_needs_no_auth(server):
    answer = httpx.get(f"{server.url}/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize("auth", [None, "Bearer tcn_not-a-real-token", "Basic YWRtaW46YWRtaW4="])
def test_settings_need_authentication(server, auth):
    headers = {"Authorization": auth} if auth else {}
    answer = httpx.get(f"{server.url}/api/v1/settings", headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_events_token_may_not_touch_settings(server, services):
    token, _ = services.accounts.create_token("gateway", ("events",))
    answer = httpx.get(
        f"{server.url}/api/v1/settings", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 403
    assert "admin" in answer.json()["detail"]


def test_revoked_token_is_refused_at_once(server, services, api, admin_token):
    assert api.get("/api/v1/settings").status_code == 200
    (record,) = [t for t in services.accounts.list_tokens() if t.name == "tests"]
    services.accounts.revoke_token(record.id)
    assert api.get("/api/v1/settings").status_code == 401


def test_change_and_read_back_with_advice(api):
    answer = api.patch(
        "/api/v1/settings",
        json={
            "host": "smtp.example.com",
            "sender_address": "alarm@example.com",
            "encryption": "ssl",
            "username": "alarm@example.com",
            "password": "s3cret-app-pass",
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["saved"] is True
    assert body["settings"]["port"] == 465
    assert body["settings"]["password"] is None
    assert body["settings"]["password_set"] is True
    assert "app_password" in {i["code"] for i in body["issues"]}
    again = api.get("/api/v1/settings").json()
    assert again["settings"]["host"] == "smtp.example.com"
    assert "s3cret-app-pass" not in json.dumps(again)


def test_refused_change_names_fields_and_saves_nothing(api):
    answer = api.patch(
        "/api/v1/settings?lang=de",
        json={"port": 99999, "sender_name": "x\r\nBcc: spy@evil.test", "colour": "red"},
    )
    assert answer.status_code == 422
    errors = {i["field"]: i for i in answer.json()["issues"] if i["level"] == "error"}
    assert set(errors) == {"port", "sender_name", "colour"}
    assert "Zahl" in errors["port"]["message"]
    assert api.get("/api/v1/settings").json()["settings"]["port"] == 587


def test_internal_sender_is_saved_with_a_german_warning(api):
    answer = api.patch("/api/v1/settings?lang=de", json={"sender_address": "alarm@company.local"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["saved"] is True
    (warning,) = [i for i in answer.json()["issues"] if i["code"] == "address_internal"]
    assert warning["level"] == "warning"
    assert warning["message"].startswith("alarm@company.local liegt in einer internen Domain")
    assert api.get("/api/v1/settings").json()["settings"]["sender_address"] == "alarm@company.local"


def test_bad_sender_is_one_german_sentence(api):
    answer = api.patch("/api/v1/settings?lang=de", json={"sender_address": "@company.local"})
    assert answer.status_code == 422
    (error,) = [i for i in answer.json()["issues"] if i["level"] == "error"]
    assert error["message"] == "Keine gültige E-Mail-Adresse: Vor dem @-Zeichen steht nichts."


def test_password_omitted_is_kept_and_null_clears(api):
    api.patch("/api/v1/settings", json={"username": "u@example.com", "password": "first-pass"})
    api.patch("/api/v1/settings", json={"host": "smtp.example.com"})
    assert api.get("/api/v1/settings").json()["settings"]["password_set"] is True
    api.patch("/api/v1/settings", json={"password": None})
    assert api.get("/api/v1/settings").json()["settings"]["password_set"] is False


async def test_test_email_streams_steps(api):
    async with SMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        api.patch(
            "/api/v1/settings",
            json={
                "host": "localhost",
                "port": srv.port,
                "encryption": "starttls",
                "sender_address": USER,
                "username": USER,
                "password": PASSWORD,
                "ca_file": str(srv.ca.ca_path),
                "ehlo_name": "tocsin.test",
            },
        )
        lines = []
        async with (
            httpx.AsyncClient(
                base_url=str(api.base_url), headers=api.headers, timeout=30
            ) as client,
            client.stream(
                "POST", "/api/v1/settings/test-email", json={"to": "ops@example.net"}
            ) as reply,
        ):
            assert reply.status_code == 200
            async for line in reply.aiter_lines():
                lines.append(json.loads(line))
    steps = [(x["step"], x["status"]) for x in lines if x["type"] == "step"]
    assert ("auth", "ok") in steps
    assert ("data", "ok") in steps
    assert lines[-1]["type"] == "report"
    assert lines[-1]["ok"] is True
    assert PASSWORD not in json.dumps(lines)
    assert len(srv.messages) == 1


def test_test_email_refused_with_incomplete_settings(api):
    with api.stream("POST", "/api/v1/settings/test-email", json={"to": "ops@example.net"}) as r:
        last = json.loads(list(r.iter_lines())[-1])
    assert last["type"] == "refused"
    assert {i["field"] for i in last["issues"]} >= {"host", "sender_address"}


def test_test_email_rejects_a_bad_recipient(api):
    answer = api.post("/api/v1/settings/test-email", json={"to": "x\r\nRCPT TO:<a@b.c>"})
    assert answer.status_code == 422


def test_test_email_failures_have_a_burst_and_the_refusal_is_in_words(api):
    # Failed tests (here: incomplete settings, nothing sent) only have a burst limit:
    # ten in two minutes, more than the old five per ten minutes that blocked diagnosis.
    codes = [
        api.post("/api/v1/settings/test-email", json={"to": "ops@example.net"}).status_code
        for _ in range(10)
    ]
    assert codes == [200] * 10
    refused = api.post("/api/v1/settings/test-email", json={"to": "ops@example.net"})
    assert refused.status_code == 429
    assert refused.json()["detail"] == "Too many test emails. Try again in 2 minutes."
    assert int(refused.headers["Retry-After"]) in range(100, 121)
    german = api.post("/api/v1/settings/test-email?lang=de", json={"to": "ops@example.net"})
    assert german.json()["detail"] == (
        "Zu viele Test-E-Mails. Versuchen Sie es in 2 Minuten erneut."
    )


def test_a_key_twice_is_refused_naming_it(api):
    answer = api.patch(
        "/api/v1/settings",
        content=b'{"host": "smtp.example.com", "host": "evil.example.net"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    (issue,) = answer.json()["issues"]
    assert issue["code"] == "json_duplicate_key"
    assert "'host' appears twice" in issue["message"]
    assert api.get("/api/v1/settings").json()["settings"]["host"] != "evil.example.net"


def test_a_5000_digit_number_is_too_long_not_python_advice(api):
    answer = api.patch(
        "/api/v1/settings",
        content=b'{"port": ' + b"9" * 5000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert "too long" in answer.text
    assert "sys.set_int_max_str_digits" not in answer.text


def test_loaded_settings_follow_a_change_made_by_another_process(services, tmp_path):
    """The settings are kept between loads only while their stored row is unchanged: a
    change through another connection (the CLI's, here a second Services) shows at once."""
    from tocsin.services.context import Services

    change = {"host": "smtp.example.com", "username": "tocsin"}
    _, report, saved = services.settings.update(
        {**change, "sender_address": "a@example.com", "password": "first secret"}
    )
    assert saved, report
    first = services.settings.load()
    assert services.settings.load() is first  # not rebuilt (nor decrypted) again
    other = Services.open(tmp_path / "data")
    try:
        changed = {**change, "sender_address": "b@example.com", "password": "second secret"}
        assert other.settings.update(changed)[2]
    finally:
        other.close()
    changed = services.settings.load()
    assert changed.sender_address == "b@example.com"
    assert changed.password is not None
    assert changed.password.reveal() == "second secret"


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/settings", "/no/such/page"])
def test_security_headers_once_on_every_answer(server, path):
    from tocsin.api.app import SECURITY_HEADERS

    answer = httpx.get(f"{server.url}{path}", timeout=10)
    assert answer.status_code in (200, 401, 404)
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get_list(name) == [value]
