"""The pages over plain HTTP: headers, no inline script or style, sane markup, cookies, forms.

No browser here: these read what the server sends.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import httpx
import pytest
from web_data import dead_email, site

from helpers import LiveServer
from tocsin.app import create_app
from tocsin.http import SESSION_COOKIE
from tocsin.security import hash_token, new_token
from tocsin.services.context import Services
from tocsin.web.settings_form import changes_from_form

PAGES = ["/settings/email", "/users", "/groups", "/events", "/deliveries"]
FORMS = ["/users/new", "/users/anna/edit", "/groups/new", "/groups/b1/edit"]
SECRET = "Zq9-never-in-a-page"
_ATTRIBUTES = {
    "id",
    "name",
    "type",
    "value",
    "class",
    "href",
    "rel",
    "src",
    "content",
    "charset",
    "lang",
    "for",
    "role",
    "hidden",
    "checked",
    "selected",
    "disabled",
    "action",
    "method",
    "novalidate",
    "tabindex",
    "title",
    "alt",
    "width",
    "height",
    "autocomplete",
    "placeholder",
    "maxlength",
    "inputmode",
    "spellcheck",
    "autocapitalize",
    "defer",
    "scope",
    "hreflang",
    "readonly",
    "list",
    "min",
    "step",
    "form",  # a field of a form elsewhere on the page (forms do not nest)
    "rows",
    "target",  # a link opened beside the page (with rel="noopener noreferrer")
}


def _session(services: Services) -> tuple[str, str]:
    admin = services.accounts.create_admin("admin", "a long admin passphrase", "en")
    session_id, csrf, now = new_token("tss"), secrets.token_urlsafe(32), time.time()
    services.store.add_session(hash_token(session_id), admin.id, csrf, now, now + 600)
    return session_id, csrf


@pytest.fixture
def client(server: LiveServer, services: Services) -> Iterator[httpx.Client]:
    site(services)
    dead_email(services)
    services.settings.update({"username": "u@example.com", "password": SECRET})
    session_id, _ = _session(services)
    with httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: session_id}) as c:
        yield c


class _Markup(HTMLParser):
    """Collects what the CSP would refuse and attribute names that are not HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.style_attributes = 0
        self.style_elements = 0
        self.unknown: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.inline_scripts += 1
        if tag == "style":
            self.style_elements += 1
        self.style_attributes += "style" in names
        self.unknown |= {
            n for n in names if n not in _ATTRIBUTES and not n.startswith(("aria-", "data-"))
        }
        self.unknown |= {n for n in names if n.startswith("on")}  # no inline handlers


@pytest.mark.parametrize("path", [*PAGES, *FORMS])
def test_pages_are_strict_about_script_style_and_framing(client: httpx.Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert answer.headers["x-frame-options"] == "DENY"
    markup = _Markup()
    markup.feed(answer.text)
    assert markup.inline_scripts == markup.style_elements == markup.style_attributes == 0
    assert markup.unknown == set(), f"not HTML attributes (a template glitch?): {markup.unknown}"
    # A link opened beside the page never gets a handle on it (window.opener).
    for tag in re.findall(r"<a\b[^>]*\btarget=[^>]*>", answer.text):
        assert re.search(r'rel="[^"]*noopener[^"]*"', tag), tag
    assert SECRET not in answer.text


@pytest.mark.parametrize("path", [*PAGES, *FORMS, "/"])
def test_pages_need_a_login(server: LiveServer, services: Services, path: str) -> None:
    services.accounts.create_admin("admin", "a long admin passphrase", "en")
    answer = httpx.get(server.url + path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


def test_first_run_and_login_pages_are_strict_too(server: LiveServer, services: Services) -> None:
    for path in ("/setup", "/login"):
        if path == "/login":
            services.accounts.create_admin("admin", "a long admin passphrase", "en")
        answer = httpx.get(server.url + path)
        assert answer.status_code == 200, path
        markup = _Markup()
        markup.feed(answer.text)
        assert markup.inline_scripts == markup.style_attributes == 0
        assert markup.unknown == set()
        cookie = answer.headers["set-cookie"]
        assert "tocsin_login_csrf=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie


@pytest.mark.parametrize("path", ["/setup", "/login"])
def test_forms_before_login_are_bounded(server: LiveServer, services: Services, path: str) -> None:
    if path == "/login":
        services.accounts.create_admin("admin", "a long admin passphrase", "en")
    fields = {"username": "admin", "password": "a long admin passphrase"}
    many = {**fields, **{f"x{i}": "" for i in range(30)}}
    answer = httpx.post(server.url + path, data=many)
    assert answer.status_code == 400  # refused whole, before anything is looked at
    big = {**fields, "padding": "x" * 20_000}
    assert httpx.post(server.url + path, data=big).status_code == 400
    assert services.accounts.first_run() is (path == "/setup")  # no admin was made


def test_posts_without_the_csrf_token_change_nothing(
    client: httpx.Client, services: Services
) -> None:
    for path, form in (
        ("/settings/email", {"host": "evil.example"}),
        ("/events", {"group": "sr", "device": "x", "sensor": "y", "category": "fire"}),
        ("/deliveries/1/retry", {"back": ""}),
        ("/language", {"lang": "de"}),
        ("/users/new", {"id": "eve", "name": "Eve", "email": "eve@example.com"}),
        ("/users/anna/edit", {"name": "Eve", "email": "eve@example.com"}),
        ("/users/anna/enabled", {"enabled": "off"}),
        ("/users/ops/remove", {"x": ""}),
        ("/groups/new", {"id": "evil", "name": "Evil"}),
        ("/groups/sr/edit", {"name": "Evil"}),
        ("/groups/sr/remove", {"x": ""}),
        ("/logout", {"x": ""}),
    ):
        answer = client.post(path, data=form)
        assert answer.status_code == 403, path
    assert services.settings.load().host == ""
    assert services.events.recent() == []
    assert [u.id for u in services.sites.users()] == ["anna", "ops"]
    assert services.sites.user("anna").name == "Anna Berg"
    assert services.sites.user("anna").enabled
    assert [g.name for g in services.sites.groups()] == [
        "Headquarters",
        "Building 1",
        "Server room",
    ]
    assert client.get("/settings/email").status_code == 200  # still logged in


@pytest.mark.parametrize("path", ["/users/nobody/edit", "/groups/nowhere/edit"])
def test_an_unknown_id_is_not_found(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_a_cross_site_json_post_is_not_a_form(client: httpx.Client) -> None:
    answer = client.post("/settings/email", json={"host": "evil.example"})
    assert answer.status_code == 400


def test_the_session_cookie_is_secure_over_https(services: Services) -> None:
    services.accounts.create_admin("admin", "a long admin passphrase", "en")
    app = create_app(services)

    async def log_in() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://tocsin.test"
        ) as c:
            page = await c.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            form = {
                "csrf_token": token[1],
                "username": "admin",
                "password": "a long admin passphrase",
            }
            return await c.post("/login", data=form)

    # Its own thread and loop: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(asyncio.run, log_in()).result(timeout=30)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_the_static_files_are_served(server: LiveServer) -> None:
    for name, kind in (("tocsin.css", "text/css"), ("settings.js", "javascript")):
        answer = httpx.get(f"{server.url}/static/{name}")
        assert answer.status_code == 200
        assert kind in answer.headers["content-type"]


# ---------------------------------------------------------------- the form, parsed


def test_a_port_left_as_shown_lets_the_service_preset_it() -> None:
    form = {"port": "587", "port_was": "587", "encryption": "ssl"}
    assert "port" not in changes_from_form(form)
    assert changes_from_form({**form, "port": "2525"})["port"] == "2525"


def test_the_password_field_keeps_sets_or_clears() -> None:
    assert "password" not in changes_from_form({"password": ""})
    assert changes_from_form({"password": "new"})["password"] == "new"
    assert changes_from_form({"password": "new", "password_clear": "on"})["password"] is None


def test_unchecked_boxes_are_false() -> None:
    changes = changes_from_form({"tls_verify": "on"})
    assert changes["tls_verify"] is True
    assert changes["enabled"] is False
    assert changes["allow_plaintext_auth"] is False


def test_the_oauth_fields_keep_what_is_stored_unless_the_form_has_them() -> None:
    old_form = changes_from_form({"host": "smtp.example.com"})  # a page without the block
    for name in ("auth_method", "oauth_provider", "oauth_flow", "oauth_tenant"):
        assert name not in old_form
    assert "oauth_client_secret" not in changes_from_form({"oauth_client_secret": ""})
    typed = changes_from_form(
        {"auth_method": "oauth2", "oauth_tenant": "", "oauth_client_secret": "s3cret"}
    )
    assert typed["auth_method"] == "oauth2"
    assert typed["oauth_tenant"] == ""  # a field emptied on purpose is emptied
    assert typed["oauth_client_secret"] == "s3cret"
