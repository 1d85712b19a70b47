"""The alarm email: subject, parts, threading, header safety, templates and the sandbox."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.sandbox import SecurityError
from routing_support import T0, clear_of, make_event, make_user, two_level_tree

from tocsin.alarm_email import _WORD_CODES, EmailRenderer, EmailTemplates, RenderedEmail, _paragraph
from tocsin.i18n import lookup
from tocsin.model import AlarmGroup, Category, Language, Severity, State, email_id
from tocsin.routing import build_tree, summarize
from tocsin.web.texts import translator

TREE = two_level_tree()
ANNA = make_user("anna", "building-a")
JONAS = make_user("jonas", "building-a", language=Language.DE, time_zone="Europe/Berlin")
RENDERER = EmailRenderer(sender="alarms@example.org", public_url="https://tocsin.example.org/")
SENT_AT = datetime(2026, 5, 1, 12, 0, 5, tzinfo=UTC)
BASE_HEADERS = {"from", "to", "subject", "date", "message-id", "auto-submitted", "mime-version"}
BASE_HEADERS |= {"content-type"}
WHERE = " – Building A / Server room – Smoke detector 2"


def parse(rendered: RenderedEmail) -> EmailMessage:
    message = email.message_from_bytes(rendered.mail.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(rendered: RenderedEmail) -> tuple[str, str]:
    """Both parts as a reader gets them; the HTML's characters outside ASCII, which its
    7bit part carries as character references (``&#228;``), as the characters."""
    message = parse(rendered)
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert html["Content-Transfer-Encoding"] == "7bit"
    source = html.get_content()
    assert source.isascii()
    sent = "".join(f"{line}\r\n" for line in rendered.html.splitlines())
    assert _characters(source) == sent  # each reference stands for a character of its own
    return plain.get_content().replace("\r\n", "\n"), _characters(source).replace("\r\n", "\n")


def _characters(html: str) -> str:
    """``html`` with its references of characters outside ASCII made the characters."""
    return re.sub(r"&#([0-9]+);", lambda m: chr(int(m[1])) if int(m[1]) > 127 else m[0], html)


def header_names(rendered: RenderedEmail) -> set[str]:
    return {name.lower() for name in parse(rendered).keys()}  # noqa: SIM118


# ------------------------------------------------------------------ subject


@pytest.mark.parametrize(
    ("user", "severity", "state", "subject"),
    [
        (ANNA, Severity.ALARM, State.RAISED, "[ALARM] Fire" + WHERE),
        (ANNA, Severity.WARNING, State.RAISED, "[WARNING] Fire" + WHERE),
        (ANNA, Severity.ALARM, State.CLEARED, "[CLEARED] Fire" + WHERE),
        (JONAS, Severity.ALARM, State.RAISED, "[ALARM] Brand" + WHERE),
        (JONAS, Severity.WARNING, State.RAISED, "[WARNUNG] Brand" + WHERE),
        (JONAS, Severity.WARNING, State.CLEARED, "[ENTWARNUNG] Brand" + WHERE),
    ],
)  # fmt: skip
def test_subject_in_the_users_language(user, severity, state, subject):
    event = make_event(severity=severity)
    if state is State.CLEARED:
        event = clear_of(event)
    rendered = RENDERER.alarm(event, user, tree=TREE, date=SENT_AT)
    assert rendered.subject == subject
    assert parse(rendered)["Subject"] == subject


def test_subject_names_the_sensor_when_there_is_one():
    event = make_event(device="Rack 3", sensor="Temperature", category=Category.ALWAYS)
    rendered = RENDERER.alarm(event, ANNA, tree=TREE)
    assert (
        rendered.subject == "[ALARM] Always active – Building A / Server room – Rack 3: Temperature"
    )


# ------------------------------------------------------------------ body


def test_both_parts_carry_everything_the_text_part_first():
    event = make_event(
        device="Rack 3", sensor="Temperature", category=Category.ALWAYS, value=31.5,
        threshold=30.0, unit="°C", text="Check the air conditioning.",
    )  # fmt: skip
    text, html = parts(RENDERER.alarm(event, ANNA, tree=TREE, date=SENT_AT))
    for body in (text, html):
        for expected in (
            "Alarm", "Always active", "Building A / Server room", "Rack 3", "Temperature",
            "31.5 °C", "30 °C", "2026-05-01 12:00:00 UTC", event.id,
            "Check the air conditioning.", f"https://tocsin.example.org/events/{event.id}",
        ):  # fmt: skip
            assert expected in body, (expected, body)
    assert "Severity: Alarm" in text
    assert "Value: 31.5 °C" in text
    assert "<table" in html
    assert 'style="' in html
    assert "<style" not in html


def test_german_body():
    text, _ = parts(RENDERER.alarm(make_event(), JONAS, tree=TREE))
    assert "Schweregrad: Alarm" in text
    assert "Kategorie: Brand" in text
    assert "In Tocsin öffnen" in text


@pytest.mark.parametrize(
    ("user", "label"),
    [(ANNA, "Message from the device"), (JONAS, "Meldung des Geräts")],
)
def test_the_events_own_text_is_labelled_in_both_parts(user, label):
    event = make_event(text="Door <b>forced</b>.\nCheck the camera.")
    text, html = parts(RENDERER.alarm(event, user, tree=TREE, date=SENT_AT))
    assert f"\n{label}:\nDoor <b>forced</b>.\nCheck the camera.\n" in text
    label_at = html.index(f">{label}</div>")
    assert label_at < html.index("Door &lt;b&gt;forced&lt;/b&gt;.<br>Check the camera.")
    assert "<b>forced" not in html


def test_no_label_without_a_text():
    text, html = parts(RENDERER.alarm(make_event(text=""), ANNA, tree=TREE))
    assert "Message from the device" not in text
    assert "Message from the device" not in html


def test_a_system_notice_labels_tocsins_own_words():
    event = make_event(category=Category.SYSTEM, text="The mail server refused the password.")
    text, html = parts(RENDERER.system_notice(event, JONAS, tree=TREE))
    assert "Meldung von Tocsin:\nThe mail server refused the password." in text
    assert ">Meldung von Tocsin</div>" in html
    assert "Meldung des Geräts" not in text


def test_no_link_without_a_public_url():
    renderer = EmailRenderer(sender="alarms@example.org")
    text, html = parts(renderer.alarm(make_event(), ANNA, tree=TREE))
    assert "http" not in text
    assert "<a " not in html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x", "https://a b", "https://\r\nx"])
def test_a_public_url_must_be_http(url):
    with pytest.raises(ValueError, match="public URL"):
        EmailRenderer(sender="alarms@example.org", public_url=url)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Berlin", "01.05.2026 14:00:00 CEST (Europe/Berlin)"),
        ("America/New_York", "2026-05-01 08:00:00 EDT (America/New_York)"),
        ("Asia/Kolkata", "2026-05-01 17:30:00 IST (Asia/Kolkata)"),
        ("Not/AZone", "2026-05-01 12:00:00 UTC"),
    ],
)
def test_time_is_rendered_in_the_users_zone(zone, expected):
    language = Language.DE if zone == "Europe/Berlin" else Language.EN
    user = make_user("u", "building-a", time_zone=zone, language=language)
    text, html = parts(RENDERER.alarm(make_event(occurred_at=T0), user, tree=TREE))
    assert expected in text
    assert expected in html


def test_one_instant_reads_in_each_users_zone_and_language_however_it_was_given():
    same_instant = T0.astimezone(ZoneInfo("Asia/Tokyo"))
    assert same_instant == T0
    cases = [
        (T0, "Europe/Berlin", Language.DE, "01.05.2026 14:00:00 CEST (Europe/Berlin)"),
        (T0, "Europe/Berlin", Language.EN, "2026-05-01 14:00:00 CEST (Europe/Berlin)"),
        (same_instant, "Asia/Kolkata", Language.EN, "2026-05-01 17:30:00 IST (Asia/Kolkata)"),
        (same_instant, "Europe/Berlin", Language.DE, "01.05.2026 14:00:00 CEST (Europe/Berlin)"),
        (T0 + timedelta(seconds=1), "Europe/Berlin", Language.DE, "01.05.2026 14:00:01 CEST"),
    ]
    for moment, zone, language, expected in cases * 2:  # the second round: as kept
        user = make_user("u", "building-a", time_zone=zone, language=language)
        text, html = parts(RENDERER.alarm(make_event(occurred_at=moment), user, tree=TREE))
        assert expected in text
        assert expected in html


def test_html_escapes_markup_from_device_names_and_text():
    event = make_event(device="<script>alert(1)</script>", text='<img src=x onerror="boom">')
    text, html = parts(RENDERER.alarm(event, ANNA, tree=TREE))
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text is not HTML: shown as typed


def test_free_text_keeps_its_lines_but_loses_control_characters():
    event = make_event(text="first\r\n\r\n\r\n\rsecond\x1b[31m\u202eevil\n\n")
    text, _ = parts(RENDERER.alarm(event, ANNA, tree=TREE))
    assert "first\n\nsecond [31mevil\n" in text


# ------------------------------------------------------------------ headers and threading


def test_headers_message_id_stable_and_unique_per_recipient():
    event = make_event()
    first = RENDERER.alarm(event, ANNA, tree=TREE, date=SENT_AT)
    again = RENDERER.alarm(event, ANNA, tree=TREE, date=SENT_AT + timedelta(minutes=5))
    other = RENDERER.alarm(event, JONAS, tree=TREE, date=SENT_AT)
    assert first.mail.message_id == again.mail.message_id
    assert first.mail.message_id == f"<{email_id(event.id, 'anna')}@example.org>"
    assert first.mail.message_id != other.mail.message_id
    assert first.email_id == email_id(event.id, "anna")
    message = parse(first)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime == SENT_AT
    assert message["To"] == "anna@example.com"
    assert header_names(first) == BASE_HEADERS
    assert first.mail.recipients == ("anna@example.com",)


def test_raise_and_clear_thread_together_per_user():
    raised = make_event()
    cleared = clear_of(raised)
    for user in (ANNA, JONAS):
        raise_mail = RENDERER.alarm(raised, user, tree=TREE)
        clear_mail = parse(RENDERER.alarm(cleared, user, tree=TREE))
        assert clear_mail["In-Reply-To"] == raise_mail.mail.message_id
        assert clear_mail["References"] == raise_mail.mail.message_id
        assert clear_mail["Message-ID"] != raise_mail.mail.message_id
    assert "in-reply-to" not in header_names(RENDERER.alarm(raised, ANNA, tree=TREE))


INJECTIONS = [
    "Smoke\r\nBcc: evil@example.com",
    "Smoke\nX-Injected: yes",
    "Smoke\rX-Injected: yes",
    "Smoke\u2028X-Injected: yes",
    "Smoke\u0085X-Injected: yes",
    "=?utf-8?q?Smoke=0D=0ABcc:_evil@example.com?=",
    "=?utf-8?b?U21va2UNCkJjYzogZXZpbEBleGFtcGxlLmNvbQ==?=",
    "Smoke\r\n\r\n<html>fake body</html>",
]


@pytest.mark.parametrize("name", INJECTIONS)
def test_device_and_sensor_names_never_become_headers(name):
    event = make_event(device=name, sensor=name)
    rendered = RENDERER.alarm(event, ANNA, tree=TREE)
    assert header_names(rendered) == BASE_HEADERS
    subject = parse(rendered)["Subject"]
    for bad in ("\n", "\r", "\u2028", "\x85"):
        assert bad not in subject
    assert "=?" not in subject  # shown literally, never decoded as an encoded word


def test_group_names_with_encoded_words_stay_text():
    tree = build_tree([AlarmGroup(id="building-a", name="=?utf-8?q?A=0D=0AX-Evil:_1?=")])
    rendered = RENDERER.alarm(make_event(group_id="building-a"), ANNA, tree=tree)
    assert header_names(rendered) == BASE_HEADERS
    assert "= ?utf-8?q?A=0D=0AX-Evil:_1?=" in parse(rendered)["Subject"]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_any_device_and_sensor_name_gives_exactly_our_headers(device, sensor):
    rendered = RENDERER.alarm(make_event(device=device, sensor=sensor), ANNA, tree=TREE)
    assert header_names(rendered) == BASE_HEADERS
    assert parse(rendered)["Subject"].startswith("[ALARM] Fire – Building A / Server room")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_any_event_text_sits_under_its_label_after_the_rows(words):
    rendered = RENDERER.alarm(make_event(text=words), ANNA, tree=TREE)
    text, html = parts(rendered)
    labelled = "Message from the device:" in text
    assert labelled == (">Message from the device</div>" in html)
    shown = _paragraph(words)  # the text as the email carries it, cleaned
    assert labelled == bool(shown)
    if labelled:
        after = text.split("Message from the device:\n", 1)[1]
        assert after.startswith("\n".join(shown))
        assert text.index("Message from the device:") > text.index("Event ID: ")
        assert header_names(rendered) == BASE_HEADERS


# ------------------------------------------------------------------ templates and sandbox


def test_an_override_directory_wins_over_the_shipped_templates(tmp_path: Path):
    (tmp_path / "alarm.txt").write_text("CUSTOM {{ event.device }} / {{ t.severity }}\n")
    renderer = EmailRenderer(sender="alarms@example.org", templates=EmailTemplates(tmp_path))
    rendered = renderer.alarm(make_event(), ANNA, tree=TREE)
    text, html = parts(rendered)
    assert text.strip() == "CUSTOM Smoke detector 2 / Severity"
    assert "Smoke detector 2" in html  # not overridden: shipped
    assert "<table" in html
    assert rendered.template_problems == ()


def test_an_override_has_jinjas_globals_and_leaves_the_context_as_it_was(tmp_path: Path):
    (tmp_path / "alarm.txt").write_text(
        "{% for i in range(3) %}{{ i }}{% endfor %} {{ dict(n=t.severity).n }} "
        "{% set ns = namespace(d=event.device) %}{{ ns.d }}\n"
    )
    templates = EmailTemplates(tmp_path)
    context = {"t": {"severity": "Severity"}, "event": {"device": "Smoke detector 2"}}
    assert templates.render("alarm.txt", context) == "012 Severity Smoke detector 2"
    assert context == {"t": {"severity": "Severity"}, "event": {"device": "Smoke detector 2"}}
    renderer = EmailRenderer(sender="alarms@example.org", templates=templates)
    rendered = renderer.alarm(make_event(), ANNA, tree=TREE)
    assert rendered.text.strip() == "012 Severity Smoke detector 2"
    assert rendered.template_problems == ()


def test_an_overridden_layout_is_used_by_every_shipped_template(tmp_path: Path):
    (tmp_path / "_layout.html").write_text("<p>{{ headline }}</p>")
    renderer = EmailRenderer(sender="alarms@example.org", templates=EmailTemplates(tmp_path))
    _, html = parts(renderer.alarm(make_event(), ANNA, tree=TREE))
    assert html.strip() == "<p>Alarm: Fire</p>"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ t.__class__.__init__.__globals__ }}",
        "{{ rows.__class__ }}",
        "{{ t.update({'severity': 'pwned'}) }}",
        "{{ rows.append(1) }}",
    ],
)
def test_the_sandbox_blocks_internals_and_mutation(tmp_path: Path, template: str):
    (tmp_path / "alarm.txt").write_text(template)
    templates = EmailTemplates(tmp_path)
    context = {"t": {"severity": "x"}, "rows": []}
    with pytest.raises(SecurityError):
        templates.render("alarm.txt", context)
    # In an email, the alarm still goes out, with the shipped template:
    rendered = EmailRenderer(sender="alarms@example.org", templates=templates).alarm(
        make_event(), ANNA, tree=TREE
    )
    assert "Severity: Alarm" in rendered.text
    assert len(rendered.template_problems) == 1
    assert "SecurityError" in rendered.template_problems[0]


@pytest.mark.parametrize("template", ["{% if %}", "{{ no_such_value }}", "{{ 1 / 0 }}"])
def test_a_broken_override_falls_back_to_the_shipped_template(tmp_path: Path, template: str):
    (tmp_path / "alarm.html").write_text(template)
    renderer = EmailRenderer(sender="alarms@example.org", templates=EmailTemplates(tmp_path))
    rendered = renderer.alarm(make_event(), ANNA, tree=TREE)
    assert "<table" in rendered.html
    assert rendered.template_problems[0].startswith("alarm.html: ")


def test_shipped_templates_are_not_escaped_in_text_and_escaped_in_html():
    templates = EmailTemplates()
    context = {
        "lang": "en", "subject": "<s>", "headline": "<h>", "subheadline": "", "color": "#000",
        "rows": [("<l>", "<v>")], "text_lines": [], "link": None, "footer": "<f>", "t": {},
    }  # fmt: skip
    assert "<v>" in templates.render("alarm.txt", context)
    html = templates.render("alarm.html", context)
    assert "&lt;v&gt;" in html
    assert "<v>" not in html


# ------------------------------------------------------------------ summary and system notices


def test_the_summary_email_tells_count_first_last_and_worst():
    events = [
        make_event(occurred_at=T0 + timedelta(minutes=m), severity=s, device=f"Detector {m}")
        for m, s in ((5, Severity.WARNING), (1, Severity.ALARM), (9, Severity.WARNING))
    ]
    summary = summarize("anna", events)
    rendered = RENDERER.summary(summary, ANNA, tree=TREE, date=SENT_AT)
    assert rendered.subject == "[SUMMARY] Notifications held back: 3 – Worst severity: Alarm"
    text, html = parts(rendered)
    assert "Count: 3" in text
    assert (
        "First: 2026-05-01 12:01:00 UTC – Alarm – Fire – Building A / Server room – Detector 1"
        in text
    )
    assert "Last: 2026-05-01 12:09:00 UTC – Warning – Fire" in text
    assert "https://tocsin.example.org/events" in html
    again = RENDERER.summary(summarize("anna", reversed(events)), ANNA, tree=TREE)
    assert again.mail.message_id == rendered.mail.message_id
    german = RENDERER.summary(summarize("jonas", events), JONAS, tree=TREE)
    assert german.subject.startswith("[ZUSAMMENFASSUNG] Zurückgehaltene Benachrichtigungen: 3")
    with pytest.raises(ValueError, match="summary for user"):
        RENDERER.summary(summary, JONAS, tree=TREE)


def test_system_notice_and_its_resolution():
    trouble = make_event(
        category=Category.SYSTEM, device="Tocsin", sensor="Email delivery",
        text="Emails have failed for 15 minutes: the server refuses the password.\n"
        "Check the password under Settings → Email.",
    )  # fmt: skip
    rendered = RENDERER.system_notice(trouble, ANNA, tree=TREE)
    assert rendered.subject == (
        "[SYSTEM] Tocsin: Email delivery – Emails have failed for 15 minutes: "
        "the server refuses the password."
    )
    text, _ = parts(rendered)
    assert text.startswith("Tocsin needs attention")
    assert "Check the password under Settings → Email." in text
    resolved = RENDERER.system_notice(clear_of(trouble), JONAS)
    assert resolved.subject.startswith("[BEHOBEN] Tocsin: Email delivery")
    assert parse(resolved)["In-Reply-To"] == f"<{email_id(trouble.id, 'jonas')}@example.org>"
    with pytest.raises(ValueError, match="system event"):
        RENDERER.system_notice(make_event(), ANNA)


def test_unusable_recipient_address_is_an_error():
    broken = make_user("broken", "building-a", email="not an address")
    with pytest.raises(ValueError, match="address"):
        RENDERER.alarm(make_event(), broken, tree=TREE)


def test_an_event_in_a_deleted_group_still_renders():
    rendered = RENDERER.alarm(make_event(group_id="gone"), ANNA, tree=TREE)
    assert "– gone –" in rendered.subject


def test_every_label_exists_in_english_and_german():
    # Placeholders alike in every language: tests/unit/test_catalogs.py.
    for code in _WORD_CODES:
        english, german = (lookup(code, lang, "email", {}) for lang in ("en", "de"))
        assert english != code, code
        assert german != code, code


@pytest.mark.parametrize(
    ("user", "raised", "cleared"),
    [
        (ANNA, "State: Raised", "State: Cleared"),
        (JONAS, "Zustand: Ausgelöst", "Zustand: Aufgehoben"),
    ],
)
def test_the_state_is_named_with_the_web_pages_word_in_both_parts(user, raised, cleared):
    event = make_event()
    for rendered_event, line in ((event, raised), (clear_of(event), cleared)):
        text, html = parts(RENDERER.alarm(rendered_event, user, tree=TREE))
        assert line in text
        label, word = line.split(": ")
        assert f">{label}</td>" in html
        assert f">{word}</td>" in html


def test_the_state_words_are_the_web_pages_words():
    for state in ("raised", "cleared"):
        for lang in ("en", "de"):
            word = lookup(f"state_{state}", lang, "email", {})
            assert translator(lang)(f"state_{state}") == word
