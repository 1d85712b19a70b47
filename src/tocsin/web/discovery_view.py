"""What the settings page's "Find settings" part needs: the presets and its texts.

The part itself is ``templates/web/_discovery.html`` and ``static/discovery.js``; the
lookup is the REST API's (``POST /api/v1/settings/discover``), called by the script.
"""

from __future__ import annotations

import json
from typing import Any

from tocsin.providers.presets import presets
from tocsin.web.texts import translator

__all__ = ["discovery_view"]

_TEXTS = (
    "discover_need_address",
    "discover_use",
    "discover_needs",
    "discover_from",
    "discover_sources",
    "discover_network",
)


def discovery_view(language: str) -> dict[str, Any]:
    """The presets (for the chooser and, as JSON, for the script) and the script's texts."""
    t = translator(language)
    table = [item.as_dict(language) for item in presets()]
    texts = {key: t(key) for key in _TEXTS}
    texts["discover_running"] = t("discover_running", domain="{domain}")
    texts["discover_filled"] = t("discover_filled", host="{host}", port="{port}")
    texts["discover_error"] = t("discover_error", status="{status}")
    return {
        "presets": [{"id": p["id"], "label": p["label"]} for p in table],
        "presets_json": json.dumps({p["id"]: p for p in table}, ensure_ascii=False),
        "texts_json": json.dumps(texts, ensure_ascii=False),
    }
