"""The words of Tocsin's emails: the label codes the templates get, and the accent colours.

The codes' texts are the catalogs' entries with msgctxt ``email`` (tocsin/locale).
"""

from __future__ import annotations

import functools
from typing import Final

from tocsin.alarm_email.skeletons import FrozenTexts
from tocsin.i18n import catalog, lookup

# The labels' codes; their texts are the catalogs' entries with msgctxt "email"
# (tocsin/locale).  The templates receive them as one mapping (``t``) that an
# overriding admin can use freely, so the codes are part of the template API.
_EMAIL: Final = "email"
_WORD_CODES: Final = (
    "prefix_alarm",
    "prefix_warning",
    "prefix_cleared",
    "prefix_summary",
    "prefix_system",
    "prefix_resolved",
    "severity_alarm",
    "severity_warning",
    "state_raised",  # the web pages' words (a test keeps them equal)
    "state_cleared",
    "category_armed",
    "category_always",
    "category_fire",
    "category_sabotage",
    "category_system",
    "headline_cleared",
    "headline_system",
    "headline_resolved",
    "headline_summary",
    "severity",
    "category",
    "state",
    "group_path",
    "device",
    "sensor",
    "value",
    "threshold",
    "time",
    "id",
    "count",
    "worst",
    "categories",
    "first",
    "last",
    "open_link",
    "summary_intro",
    "text_from_device",
    "text_from_tocsin",
    "footer_alarm",
    "footer_other",
    # added for issue 13 (acknowledge)
    "prefix_acked",
    "headline_acked",
    "ack_button",
    "ack_hint",
    # added for issue 13 (escalation)
    "prefix_escalated",
    "prefix_reminder",
    "headline_escalated",
    "headline_reminder",
)

_COLORS: Final = {
    "alarm": "#b91c1c",
    "warning": "#b45309",
    "cleared": "#15803d",
    "info": "#334155",
    "acked": "#1d4ed8",
}


def _words(language: str) -> FrozenTexts:
    """The email's words in ``language``, looked up once per loaded catalog."""
    return _words_of(language, catalog(language))


@functools.lru_cache(maxsize=32)
def _words_of(language: str, translations: object) -> FrozenTexts:
    # Keyed by the catalog object too: a reloaded catalog is looked up afresh.
    return FrozenTexts({code: lookup(code, language, _EMAIL, {}) for code in _WORD_CODES})
