"""The acknowledgement loop in a real browser, through the real Postfix (issue 13).

An alarm goes out through the outbox engine to Postfix; the link is taken from the
email in the Maildir; Chromium opens it (which must NOT acknowledge: mail scanners
open every link), clicks confirm (which does), and the other recipient finds the
threaded note in the Maildir.  Then the refusals: used, expired, forged, no CSRF token;
the events page's button and the public URL box.  Screenshots at 375 and 1280 px go to
``test-artifacts/screenshots`` (or ``$TOCSIN_SHOTS``).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from email.message import EmailMessage

import httpx
import pytest
from playwright.sync_api import Page, expect
from web_helpers import SCREENSHOTS, next_page

from helpers import LiveServer, RealSMTP, wait_for_delivery
from tocsin.ack import AckSigner
from tocsin.outbox import DeliveryEngine, EngineOptions, Status
from tocsin.services.context import Services
from tocsin.store import ACK_KEY_FILE, load_ack_key

FAST = EngineOptions(poll_interval=0.05, settings_interval=0.05, lease=10.0, shutdown_grace=5.0)
WIDTHS = {"phone": {"width": 375, "height": 800}, "desktop": {"width": 1280, "height": 900}}


def _shoot(page: Page, name: str) -> None:
    """The page at 375 and 1280 px wide, into the test artefacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for suffix, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        fits = page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        assert fits, f"{name} scrolls sideways at {viewport['width']} px"
        page.screenshot(path=str(SCREENSHOTS / f"ack-{name}-{suffix}.png"), full_page=True)
    if size:
        page.set_viewport_size(size)


def _deliver(services: Services, timeout: float = 20.0) -> None:
    """Run the real outbox engine (in a thread of its own) until the outbox is empty."""

    async def drain() -> None:
        engine = DeliveryEngine(services.store, services.settings.load, options=FAST)
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        deadline = time.monotonic() + timeout
        try:
            while True:
                counts = await asyncio.to_thread(services.store.counts)
                if counts[Status.QUEUED] == counts[Status.SENDING] == 0:
                    break
                assert time.monotonic() < deadline, f"outbox not drained: {counts}"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(drain())
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout + 30)
    assert not worker.is_alive(), "the outbox engine did not stop"
    if failure:
        raise failure[0]
    counts = services.store.counts()
    assert counts[Status.FAILED] == counts[Status.DEAD] == 0, counts


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.fixture
def loop_site(services: Services, server: LiveServer, real_smtp: RealSMTP) -> dict[str, str]:
    """Email to the real Postfix, two users in two languages, the public URL set."""
    _, report, saved = services.settings.update(
        {
            "enabled": True,
            "transport": "smtp",
            "host": real_smtp.host,
            "port": real_smtp.plain_port,
            "encryption": "none",
            "sender_address": "alarm@example.com",
            "timeout": 5,
        }
    )
    assert saved, report
    tag = f"{time.time_ns()}"
    people = {"anna": f"anna-{tag}@example.net", "ben": f"ben-{tag}@example.net"}
    site = {
        "groups": [{"id": "dc", "name": "Data centre"}],
        "users": [
            {"id": "anna", "name": "Anna", "email": people["anna"], "groups": ["dc"],
             "categories": ["fire"], "time_zone": "Europe/Berlin"},
            {"id": "ben", "name": "Ben", "email": people["ben"], "groups": ["dc"],
             "categories": ["fire"], "language": "de", "time_zone": "Europe/Berlin"},
        ],
    }  # fmt: skip
    assert services.sites.import_site(site).applied
    assert services.public_url.save(server.url) is None  # loopback http: no warning
    return people


def _alarm(services: Services, device: str = "Smoke detector 2") -> str:
    body = {"group": "dc", "device": device, "sensor": "smoke", "category": "fire",
            "severity": "alarm", "text": "Smoke in aisle 3."}  # fmt: skip
    (accepted,) = services.events.submit(body)
    return accepted.id


def _mail_to(real_smtp: RealSMTP, address: str, subject_start: str) -> EmailMessage:
    def match(message: EmailMessage) -> bool:
        return address in str(message["To"]) and str(message["Subject"]).startswith(subject_start)

    return wait_for_delivery(real_smtp, match, timeout=20)


def _link(message: EmailMessage, server: LiveServer) -> str:
    found = re.search(
        re.escape(server.url) + r"/ack/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", _text(message)
    )
    assert found, _text(message)
    return found[0]


@pytest.mark.postfix
def test_the_link_from_the_email_shows_the_alarm_and_only_the_click_acknowledges(
    page: Page,
    services: Services,
    server: LiveServer,
    real_smtp: RealSMTP,
    loop_site: dict[str, str],
) -> None:
    event_id = _alarm(services)
    _deliver(services)
    anna_mail = _mail_to(real_smtp, loop_site["anna"], "[ALARM]")
    ben_mail = _mail_to(real_smtp, loop_site["ben"], "[ALARM]")
    link = _link(anna_mail, server)
    html = anna_mail.get_body(("html",))
    assert html is not None
    assert link in str(html.get_content())  # the button of the HTML part too

    # A mail scanner's GETs (and the browser's) change nothing.
    for _ in range(3):
        assert httpx.get(link, timeout=10).status_code == 200
    answer = page.goto(link)
    assert answer is not None
    assert answer.status == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    expect(page.locator("#ack-event")).to_contain_text("Smoke detector 2")
    expect(page.get_by_role("button", name="Acknowledge now")).to_be_visible()
    _shoot(page, "confirm-en")
    assert services.acks.acks_of([event_id]) == {}
    record = services.events.get(event_id)
    assert record is not None
    assert record.ack is None

    with next_page(page):  # the answer page with its style sheet, before it is measured
        page.get_by_role("button", name="Acknowledge now").click()
    expect(page.locator("#ack-done")).to_contain_text("Acknowledged by Anna at")
    _shoot(page, "done-en")
    ack = services.acks.acks_of([event_id])[event_id]
    assert (ack.by, ack.via.value, ack.user_id) == ("Anna", "link", "anna")

    _deliver(services)
    note = _mail_to(real_smtp, loop_site["ben"], "[Bestätigt]")
    assert note["In-Reply-To"] == ben_mail["Message-ID"]
    assert note["References"] == ben_mail["Message-ID"]
    assert re.search(r"Bestätigt von Anna um \d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d CES?T", _text(note))
    # Anna acknowledged: she gets no note about it.
    with pytest.raises(AssertionError):
        wait_for_delivery(
            real_smtp,
            lambda m: (
                loop_site["anna"] in str(m["To"]) and str(m["Subject"]).startswith("[Acknowledged]")
            ),
            timeout=1,
        )

    # The same link again: used, in English and in German, on a phone and a desktop.
    for language, words in (("en", "has been used already"), ("de", "bereits verwendet")):
        answer = page.goto(f"{link}?lang={language}")
        assert answer is not None
        assert answer.status == 410
        expect(page.locator("#ack-refused")).to_contain_text(words)
        assert "Smoke" not in page.content()  # a refusal says nothing of the alarm
        _shoot(page, f"used-{language}")


@pytest.mark.postfix
def test_expired_and_forged_links_get_a_clear_page_and_change_nothing(
    page: Page, services: Services, server: LiveServer, loop_site: dict[str, str]
) -> None:
    event_id = _alarm(services)
    key = load_ack_key(services.data / ACK_KEY_FILE)
    past = AckSigner(key, lifetime=60, clock=lambda: time.time() - 3600)
    expired = f"{server.url}/ack/{past.sign(event_id, 'ben')}"
    # The browser speaks English; Ben reads German: a genuine link's page is in his.
    answer = page.goto(expired)
    assert answer is not None
    assert answer.status == 410
    expect(page.locator("#ack-refused")).to_contain_text("ist abgelaufen")
    for language, words in (("en", "has expired"), ("de", "ist abgelaufen")):
        answer = page.goto(f"{expired}?lang={language}")
        assert answer is not None
        assert answer.status == 410
        expect(page.locator("#ack-refused")).to_contain_text(words)
        _shoot(page, f"expired-{language}")
    genuine = services.acks.signer.sign(event_id, "ben")
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    for language, words in (("en", "is not valid"), ("de", "ist ungültig")):
        answer = page.goto(f"{server.url}/ack/{forged}?lang={language}")
        assert answer is not None
        assert answer.status == 404
        expect(page.locator("#ack-refused")).to_contain_text(words)
        _shoot(page, f"forged-{language}")
    # A POST without the page's CSRF token (another site's form) is refused.
    answer_post = httpx.post(
        f"{server.url}/ack/{genuine}", data={"csrf_token": "x" * 40}, timeout=10
    )
    assert answer_post.status_code == 403
    assert services.acks.acks_of([event_id]) == {}
    # The genuine link is untouched by all this: it still works.
    page.goto(f"{server.url}/ack/{genuine}?lang=de")
    expect(page.locator("#ack-form")).to_be_visible()
    _shoot(page, "confirm-de")
    page.get_by_role("button", name="Jetzt bestätigen").click()
    expect(page.locator("#ack-done")).to_contain_text("Bestätigt von Ben")


@pytest.mark.postfix
def test_the_events_page_acknowledges_and_shows_who_and_when(
    signed_in: Page, services: Services, server: LiveServer, loop_site: dict[str, str]
) -> None:
    page = signed_in
    event_id = _alarm(services)
    warning = services.events.submit(
        {"group": "dc", "device": "Thermo", "sensor": "t", "category": "fire",
         "severity": "warning"}
    )[0].id  # fmt: skip
    page.goto(f"{server.url}/events")
    row = page.locator(f"#event-{event_id}")
    expect(row.locator(".ack-form button")).to_have_text("Acknowledge")
    expect(page.locator(f"#event-{warning} .ack-form")).to_have_count(0)
    with next_page(page):  # the events page again, styled, before its width is measured
        row.locator(".ack-form button").click()
    expect(page.locator(f"#event-{event_id} .ack-state")).to_contain_text(
        f"Acknowledged by {'admin'}"
    )
    assert services.acks.acks_of([event_id])[event_id].via.value == "web"
    _shoot(page, "events-page")


@pytest.mark.postfix
def test_the_public_url_box_checks_warns_and_says_why_without_it(
    signed_in: Page, services: Services, server: LiveServer, loop_site: dict[str, str]
) -> None:
    page = signed_in
    services.public_url.save("")
    page.goto(f"{server.url}/settings/email")
    expect(page.locator("#public-url-missing")).to_contain_text("emails carry no links")
    box = page.locator("#public-url")
    box.get_by_label("Public address (URL)").fill("https://user:pw@tocsin.example.com")
    with next_page(page):
        box.get_by_role("button", name="Save address").click()
    expect(page.locator("#public-url")).to_contain_text("Leave the user name and password out")
    assert services.public_url.get() is None
    _shoot(page.locator("#public-url").page, "public-url-error")
    box = page.locator("#public-url")
    box.get_by_label("Public address (URL)").fill("http://tocsin.lan:8080/")
    box.get_by_role("button", name="Save address").click()
    expect(page.locator("#public-url-warning")).to_contain_text("unencrypted")
    assert services.public_url.get() == "http://tocsin.lan:8080"


def test_forged_links_are_throttled_per_client_and_the_genuine_page_waits_too(
    services: Services, server: LiveServer
) -> None:
    from tocsin.security import client_key
    from tocsin.web.routes_ack import THROTTLE

    key = client_key("127.0.0.1")
    THROTTLE.succeeded(key)  # per process: forged links of earlier tests count too
    try:
        for n in range(THROTTLE.limit):
            assert httpx.get(f"{server.url}/ack/forged{n}.x", timeout=10).status_code == 404
        answer = httpx.get(f"{server.url}/ack/forged.x", timeout=10)
        assert answer.status_code == 429
        assert "Too many invalid links" in answer.text
        genuine = services.acks.signer.sign("01J0000000000000000000000X", "ann")
        assert httpx.get(f"{server.url}/ack/{genuine}", timeout=10).status_code == 429
    finally:
        THROTTLE.succeeded(key)  # the throttle lives per process: leave it clean
    assert httpx.get(f"{server.url}/ack/forged.x", timeout=10).status_code == 404
    THROTTLE.succeeded(key)


def test_the_alarm_email_with_its_button_fits_a_phone(page: Page, services: Services) -> None:
    """The HTML part with the Acknowledge button (a long link) in Chromium at 320-1280 px."""
    from datetime import UTC, datetime

    from tocsin.alarm_email import EmailRenderer
    from tocsin.model import AlarmGroup, Category, Event, Language, Severity, State, User, new_id
    from tocsin.routing import build_tree

    renderer = EmailRenderer(
        sender="alarm@example.com",
        public_url="https://tocsin.example.com",
        ack_signer=services.acks.signer,
    )
    tree = build_tree([AlarmGroup(id="dc", name="Data centre")])
    moment = datetime(2026, 12, 6, 2, 12, tzinfo=UTC)
    alarm = Event(id=new_id(moment), group_id="dc", device="Smoke detector 2", sensor="smoke",
                  category=Category.FIRE, severity=Severity.ALARM, state=State.RAISED,
                  occurred_at=moment, text="Smoke in aisle 3.")  # fmt: skip
    for language in (Language.EN, Language.DE):
        user = User(id="ann", name="Ann", email="ann@example.com", language=language,
                    time_zone="Europe/Berlin", group_ids=frozenset({"dc"}),
                    email_categories=frozenset(Category))  # fmt: skip
        rendered = renderer.alarm(alarm, user, tree=tree)
        assert "/ack/" in rendered.text
        page.set_content(rendered.html)
        button = "Acknowledge" if language is Language.EN else "Bestätigen"
        expect(page.get_by_role("link", name=button, exact=True)).to_be_visible()
        for width in (320, 375, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            fits = page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
            assert fits, f"the email scrolls sideways at {width} px ({language})"
        _shoot(page, f"email-{language.value}")
