"""Every page is valid HTML: html5lib's strict parser (the WHATWG parsing algorithm,
stopping at the first parse error) reads each page as the server sends it.

A parse error is what a browser silently repairs: attributes run together
(``autocomplete="username"spellcheck="false"``), a stray end tag, a duplicate
attribute, an unquoted ``<``.  Each page is read in English and German, empty and
with data, with and without form errors.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import html5lib
import httpx
import pytest
from web_data import dead_email, site

from helpers import LiveServer
from tocsin.http import SESSION_COOKIE
from tocsin.security import hash_token, new_token
from tocsin.services.context import Services

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "tocsin" / "templates" / "web"

SIGNED_IN = [
    "/settings/email",
    "/users",
    "/users/new",
    "/users/anna/edit",
    "/groups",
    "/groups/new",
    "/groups/new?parent=b1",
    "/groups/b1/edit",
    "/events",
    "/deliveries",
    "/deliveries?status=dead",
    "/deliveries/1",  # the dead email's detail
    "/events?zone=refused",
    "/users/ops/edit",  # subgroups covered by a ticked group
    "/ways-in",
    "/ways-in?saved=1",
    "/users/nobody/edit",  # the error page (404)
    "/ways-in/mqtt",
]
# Forms sent back with errors: (path, form without the CSRF token).
REFUSED = [
    ("/settings/email", {"host": "bad host", "port": "x", "sender_address": "nope"}),
    ("/users/new", {"id": "", "name": "", "email": "not an address"}),
    ("/groups/new", {"id": "", "name": ""}),
    ("/events", {"group": "", "device": "", "sensor": "", "category": "fire"}),
    ("/ways-in", {"group": "bad label", "warning_values": "critical", "default_severity": "x"}),
    ("/ways-in/mqtt", {"enabled": "on", "host": "bad host", "port": "x", "topics": "a/#/b"}),
]


def strict_parse_errors(text: str) -> list[str]:
    """The parse errors html5lib reports for the document ``text`` (empty when valid)."""
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    parser.parse(text)
    lines = text.splitlines()
    found = []
    for (line, col), code, data in parser.errors:
        context = lines[line - 1][max(col - 60, 0) : col + 20] if 0 < line <= len(lines) else ""
        found.append(f"{line}:{col} {code} {data}: {context.strip()}")
    return found


def assert_valid(text: str, where: str) -> None:
    errors = strict_parse_errors(text)
    assert errors == [], f"{where}: not valid HTML:\n" + "\n".join(errors)
    # The strict mode proper, which raises at the first error.
    html5lib.HTMLParser(strict=True).parse(text)


def test_the_checker_catches_run_together_attributes() -> None:
    good = '<!DOCTYPE html><html lang="en"><head><title>x</title></head><body>'
    assert strict_parse_errors(good + '<input a="1" b="2"></body></html>') == []
    assert strict_parse_errors(good + '<input a="1"b="2"></body></html>') != []
    assert strict_parse_errors(good + "<p>x</div></body></html>") != []
    with pytest.raises(html5lib.html5parser.ParseError):
        html5lib.HTMLParser(strict=True).parse(good + '<input a="1"b="2"></body></html>')


def _signed_in(services: Services, language: str) -> tuple[str, str]:
    admin = services.accounts.create_admin("admin", "a long admin passphrase", language)
    session_id, csrf, now = new_token("tss"), secrets.token_urlsafe(32), time.time()
    services.store.add_session(hash_token(session_id), admin.id, csrf, now, now + 600)
    return session_id, csrf


@pytest.fixture(params=["en", "de"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(server: LiveServer, services: Services, language: str) -> Iterator[httpx.Client]:
    site(services)
    dead_email(services)
    session_id, csrf = _signed_in(services, language)
    with httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: session_id}) as c:
        c.headers["x-test-csrf"] = csrf
        yield c


def test_pages_before_login_are_valid(server: LiveServer, services: Services) -> None:
    for lang in ("en", "de"):
        answer = httpx.get(f"{server.url}/setup?lang={lang}")
        assert answer.status_code == 200
        assert_valid(answer.text, f"/setup ({lang})")
        token = re.search(r'name="csrf_token" value="([^"]+)"', answer.text)
        assert token is not None
        refused = httpx.post(
            f"{server.url}/setup",
            data={"csrf_token": token[1], "username": "", "password": "short", "language": lang},
            cookies=answer.cookies,
        )
        assert refused.status_code in (400, 422), refused.status_code
        assert_valid(refused.text, f"/setup refused ({lang})")
    services.accounts.create_admin("admin", "a long admin passphrase", "en")
    for lang in ("en", "de"):
        for path in ("/login", "/login?expired=1"):
            sep = "&" if "?" in path else "?"
            answer = httpx.get(f"{server.url}{path}{sep}lang={lang}")
            assert answer.status_code == 200
            assert_valid(answer.text, f"{path} ({lang})")


@pytest.mark.parametrize("path", SIGNED_IN)
def test_signed_in_pages_are_valid(client: httpx.Client, path: str, language: str) -> None:
    answer = client.get(path)
    assert answer.status_code in (200, 404), answer.status_code
    assert answer.text.lower().startswith("<!doctype html>")
    assert_valid(answer.text, f"{path} ({language})")


def test_empty_pages_are_valid(server: LiveServer, services: Services) -> None:
    session_id, _ = _signed_in(services, "en")
    with httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: session_id}) as c:
        for path in ("/users", "/groups", "/events", "/deliveries", "/settings/email", "/ways-in"):
            answer = c.get(path)
            assert answer.status_code == 200, path
            assert_valid(answer.text, f"{path} (empty)")


@pytest.mark.parametrize(("path", "form"), REFUSED)
def test_forms_with_errors_are_valid(
    client: httpx.Client, path: str, form: dict[str, str], language: str
) -> None:
    answer = client.post(path, data={**form, "csrf_token": client.headers["x-test-csrf"]})
    assert answer.status_code == 422, (path, answer.status_code)
    assert_valid(answer.text, f"{path} refused ({language})")


def test_every_page_template_is_covered() -> None:
    """A new page template gets a place in the lists above."""
    pages = {p.stem for p in TEMPLATES.glob("*.html") if not p.name.startswith("_")}
    covered = {
        "base",  # every page extends it
        "setup",
        "login",
        "settings",
        "users",
        "user_form",
        "groups",
        "group_form",
        "events",
        "deliveries",
        "delivery",
        "error",
        "ack",  # test_the_acknowledgement_pages_are_valid
        "ways_in",
        "mqtt",
    }
    assert pages - covered == set()


def test_the_acknowledgement_pages_are_valid(server: LiveServer, services: Services) -> None:
    """The link's confirm page, the page after confirming, and each refusal (issue 13)."""
    _, report, saved = services.settings.update({"sender_address": "alarm@example.com"})
    assert saved, report
    assert services.sites.import_site(
        {
            "groups": [{"id": "dc", "name": "Data centre"}],
            "users": [
                {
                    "id": "ann",
                    "name": "Ann",
                    "email": "ann@example.com",
                    "groups": ["dc"],
                    "categories": ["fire"],
                }
            ],
        }
    ).applied
    for lang in ("en", "de"):
        (accepted,) = services.events.submit(
            {"group": "dc", "device": lang, "sensor": "s", "category": "fire", "severity": "alarm"}
        )
        url = f"{server.url}/ack/{services.acks.signer.sign(accepted.id, 'ann')}?lang={lang}"
        with httpx.Client() as browser:
            page = browser.get(url)
            assert page.status_code == 200
            assert_valid(page.text, f"/ack confirm ({lang})")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            done = browser.post(url, data={"csrf_token": token[1]})
            assert done.status_code == 200
            assert_valid(done.text, f"/ack done ({lang})")
            used = browser.get(url)
            assert used.status_code == 410
            assert_valid(used.text, f"/ack used ({lang})")
            forged = browser.get(f"{server.url}/ack/x.y?lang={lang}")
            assert forged.status_code == 404
            assert_valid(forged.text, f"/ack forged ({lang})")
