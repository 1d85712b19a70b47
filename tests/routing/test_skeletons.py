"""The shipped templates filled in from skeletons: Jinja's text for any values (issue 11).

:mod:`tocsin.alarm_email.skeletons` renders a template once per shape with markers
for the values and fills the result in afterwards.  That is right only while the
shipped templates test a value for emptiness and print it (as it is, or autoescaped)
and nothing else: these tests hold them to it, against Jinja itself.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import Template
from routing_support import T0, clear_of, make_event, make_user, two_level_tree

from tocsin.ack import Acknowledgement, AckSigner, AckVia
from tocsin.alarm_email import EmailRenderer, EmailTemplates, RenderedEmail
from tocsin.alarm_email import skeletons as skeletons_module
from tocsin.alarm_email.skeletons import FrozenTexts, Skeletons
from tocsin.alarm_email.words import _words
from tocsin.model import Category, Language, Severity
from tocsin.routing import summarize

KINDS = ("alarm", "system", "ack", "summary")
TOKEN = re.compile(r"/ack/[A-Za-z0-9._-]+")
TREE = two_level_tree()

# What could confuse a skeleton: markup to escape, a format string's braces, a marker
# of its own (NUL, digits, NUL), line breaks, blanks, empty values among full ones.
TRICKY = st.sampled_from(
    ["", " ", "&", "<b>", "'", '"', "{0}", "{", "}}", "%s", "\x00", "\x000\x00", "\x001",
     "\n", "\r\n", "ä", "–", "\u2028", "a\nb", "&amp;", "&#39;"]
)  # fmt: skip
TEXT = st.one_of(TRICKY, st.text(max_size=20), st.lists(TRICKY, max_size=4).map("".join))
OPTIONAL = st.none() | TEXT


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, object]:
    """A context as :meth:`EmailRenderer._finish` builds one, with any values."""
    words = dict(_words(draw(st.sampled_from(list(Language))).value))
    for code in draw(st.lists(st.sampled_from(sorted(words)), max_size=3)):
        words[code] = draw(TEXT)  # the templates' own words are values too
    # As the renderer passes them (listed once), or as a plain dict (walked each time).
    made = draw(st.sampled_from([FrozenTexts, dict]))
    return {
        "lang": draw(st.sampled_from(["en", "de", ""])),
        "subject": draw(TEXT),
        "headline": draw(TEXT),
        "subheadline": draw(TEXT),
        "color": draw(TEXT),
        "rows": draw(st.lists(st.tuples(TEXT, TEXT), max_size=12)),
        "text_lines": draw(st.lists(TEXT, max_size=6)),
        "text_label": draw(TEXT),
        "link": draw(OPTIONAL),
        "footer": draw(TEXT),
        "ack_link": draw(OPTIONAL),
        "t": made(words),
        draw(st.sampled_from(["event", "summary"])): draw(st.dictionaries(TEXT, TEXT, max_size=4)),
    }


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(KINDS), seen=st.lists(contexts(), min_size=1, max_size=4))
def test_any_values_give_jinjas_text(kind: str, seen: list[dict[str, object]]) -> None:
    # One instance for them all: a skeleton made for one context is filled for the next.
    templates, jinja = EmailTemplates(), EmailTemplates(skeletons=False)
    names = (f"{kind}.txt", f"{kind}.html")
    for context in seen:
        assert templates.filled(names, context) == [jinja.render(n, context) for n in names]


def test_the_same_number_of_values_in_lists_of_other_lengths_is_another_shape() -> None:
    # 2 rows and 1 line, then 1 row and 3 lines: 5 values either way, all non-empty.
    templates, jinja = EmailTemplates(), EmailTemplates(skeletons=False)
    base = {"lang": "en", "subject": "s", "headline": "h", "subheadline": "", "color": "c",
            "text_label": "", "link": None, "footer": "f", "ack_link": None, "t": {}}  # fmt: skip
    for rows, lines in (([("a", "b"), ("c", "d")], ["e"]), ([("a", "b")], ["c", "d", "e"])):
        context = {**base, "rows": rows, "text_lines": lines}
        names = ("alarm.txt", "alarm.html")
        assert templates.filled(names, context) == [jinja.render(n, context) for n in names]


def test_one_skeleton_serves_every_email_of_a_shape() -> None:
    templates = EmailTemplates()
    renderer = EmailRenderer(sender="alarms@example.org", templates=templates)
    anna = make_user("anna", "building-a")
    for minute in range(20):
        event = make_event(device=f"Detector {minute}", occurred_at=T0 + timedelta(minutes=minute))
        renderer.alarm(event, anna, tree=TREE)
    assert templates._skeletons is not None
    assert len(templates._skeletons) == 2  # the text part's and the HTML part's


def renderers(templates: EmailTemplates) -> EmailRenderer:
    return EmailRenderer(
        sender="alarms@example.org",
        public_url="https://tocsin.example.org/",
        ack_signer=AckSigner(b"k" * 32, clock=lambda: T0.timestamp()),
        templates=templates,
    )


RAISED = make_event(severity=Severity.ALARM, text="Smoke <in> the hall & more\n\nsee")
WARNING = make_event(severity=Severity.WARNING, value=41.5, unit="°C", threshold=40.0)
SYSTEM = make_event(category=Category.SYSTEM, device="Tocsin", sensor="smtp", text="x")
CLEAR = clear_of(RAISED)
ACK = Acknowledgement(RAISED.id, "Jonas & Co", T0.timestamp() + 60, AckVia.WEB)


def every_kind(renderer: EmailRenderer) -> list[RenderedEmail]:
    """Each kind of email the renderer makes, in English and German."""
    out = []
    for user in (
        make_user("anna", "building-a"),
        make_user("jonas", "building-a", language=Language.DE, time_zone="Europe/Berlin"),
    ):
        out += [
            renderer.alarm(RAISED, user, tree=TREE, date=T0),
            renderer.alarm(WARNING, user, tree=TREE, date=T0),
            renderer.alarm(CLEAR, user, tree=TREE, date=T0),
            renderer.system_notice(SYSTEM, user, tree=TREE, date=T0),
            renderer.ack_notice(RAISED, user, ACK, tree=TREE, date=T0),
            renderer.escalation(RAISED, user, minutes=15, tree=TREE, date=T0),
            renderer.summary(summarize(user.id, [RAISED, WARNING]), user, tree=TREE, date=T0),
        ]
    return out


def test_every_kind_of_email_reads_as_jinja_wrote_it() -> None:
    def read(emails: list[RenderedEmail]) -> list[tuple[str, ...]]:
        # An acknowledgement link's token carries a random nonce: the same in both parts.
        return [tuple(TOKEN.sub("/ack/…", t) for t in (e.subject, e.text, e.html)) for e in emails]

    fast = every_kind(renderers(EmailTemplates()))
    slow = every_kind(renderers(EmailTemplates(skeletons=False)))
    assert read(fast) == read(slow)
    assert sum("/ack/…" in e[1] for e in read(fast)) == 4  # alarm and escalation, twice
    assert all("&lt;in&gt;" in e.html for e in fast[:1])  # escaped, as Jinja escapes


def test_an_override_directory_is_always_rendered_by_jinja(tmp_path) -> None:
    (tmp_path / "alarm.txt").write_text("{{ headline | upper }}\n")  # a skeleton would miss it
    templates = EmailTemplates(tmp_path)
    renderer = EmailRenderer(sender="alarms@example.org", templates=templates)
    rendered = renderer.alarm(make_event(), make_user("anna", "building-a"), tree=TREE)
    assert rendered.text == "ALARM: FIRE"
    assert templates.filled(("alarm.txt",), {"headline": "x"}) is None
    assert templates._skeletons is not None
    assert len(templates._skeletons) == 0


def test_a_context_holding_anything_but_text_goes_to_jinja() -> None:
    skeletons = Skeletons(lambda name, context: "x", lambda name: False)
    for value in (3, 2.5, ["a", 1], [("a", 2)], [["a"]], {"n": 1}, ("a",)):
        assert skeletons.fill(["t"], {"value": value}) is None
    assert len(skeletons) == 0
    assert skeletons.fill(["t"], {"value": "a", "rows": [("a", "b")], "d": {"k": ""}}) == ["x"]


def test_frozen_texts_read_as_a_dict_and_refuse_every_change() -> None:
    texts = FrozenTexts({"a": "1", "b": ""})
    assert texts == {"a": "1", "b": ""}
    assert texts["a"] == "1"
    assert list(texts) == ["a", "b"]
    changes = [
        lambda: texts.__setitem__("a", "2"), lambda: texts.__delitem__("a"),
        lambda: texts.update(a="2"), lambda: texts.setdefault("c", "3"),
        lambda: texts.pop("a"), texts.popitem, texts.clear,
        lambda: texts.__ior__({"a": "2"}),
    ]  # fmt: skip
    for change in changes:
        with pytest.raises(TypeError, match="cannot be changed"):
            change()
    assert texts == {"a": "1", "b": ""}
    with pytest.raises(TypeError, match="text values only"):
        FrozenTexts({"a": 1})  # type: ignore[dict-item]
    # In a context a skeleton fills them in as Jinja prints them.
    template = "{{ t.a }}|{{ t.b }}|{% if t.b %}b{% endif %}"
    skeletons = Skeletons(lambda _n, c: Template(template).render(c), lambda _n: False)
    for _ in range(2):  # made, then filled
        assert skeletons.fill(["x"], {"t": texts}) == ["1||"]


def test_a_template_that_fails_or_writes_a_nul_of_its_own_goes_to_jinja() -> None:
    def failing(name: str, context: object) -> str:
        raise ZeroDivisionError

    assert Skeletons(failing, lambda name: False).fill(["t"], {"v": "a"}) is None
    nul = Skeletons(lambda name, context: f"\x00{context['v']}", lambda name: False)
    assert nul.fill(["t"], {"v": "a"}) is None
    assert nul.fill(["t"], {"v": ""}) is None  # the same with the value empty (another shape)


def test_the_kept_skeletons_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(skeletons_module, "KEPT", 8)
    skeletons = Skeletons(lambda name, context: "|".join(context["lines"]), lambda name: True)
    for n in range(30):  # a new shape each: n lines
        lines = [f"<{i}>" for i in range(n)]
        escaped = "|".join(f"&lt;{i}&gt;" for i in range(n))
        assert skeletons.fill(["t"], {"lines": lines}) == [escaped]
        assert len(skeletons) <= 8


def test_a_value_holding_a_nul_is_escaped_on_its_own() -> None:
    skeletons = Skeletons(lambda name, context: f"{context['a']}-{context['b']}", lambda name: True)
    assert skeletons.fill(["t"], {"a": "<\x00>", "b": "&"}) == ["&lt;\x00&gt;-&amp;"]
