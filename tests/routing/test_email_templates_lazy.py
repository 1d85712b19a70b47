"""The email templates load Jinja2 on the first render (tocsin.alarm_email.templates):
every command that opens the data directory builds them, few render an email."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tocsin.alarm_email import EmailTemplates
from tocsin.alarm_email import templates as templates_module

CONTEXT = {
    "lang": "en", "subject": "s", "headline": "h", "subheadline": "", "color": "#000",
    "rows": [("l", "v")], "text_lines": [], "link": None, "footer": "f", "t": {},
}  # fmt: skip


def test_building_the_templates_imports_no_jinja2_rendering_does() -> None:
    code = (
        "import sys\n"
        "from tocsin.alarm_email.templates import EmailTemplates\n"
        "templates = EmailTemplates()\n"
        "print('jinja2' in sys.modules)\n"
        f"templates.render('alarm.txt', {CONTEXT!r})\n"
        "print('jinja2' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True"]


def test_threads_rendering_first_at_once_share_one_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = []
    real = templates_module._environments

    def counting(override_dir: Path | None) -> object:
        built.append(override_dir)
        return real(override_dir)

    monkeypatch.setattr(templates_module, "_environments", counting)
    (tmp_path / "alarm.txt").write_text("override {{ subject }}")
    templates = EmailTemplates(tmp_path)
    start = threading.Barrier(8)
    results: list[tuple[str, str]] = []

    def render() -> None:
        start.wait()
        results.append(
            (
                templates.render("alarm.txt", CONTEXT),
                templates.render("alarm.txt", CONTEXT, shipped=True),
            )
        )

    threads = [threading.Thread(target=render) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert {override for override, _ in results} == {"override s"}
    assert len({shipped for _, shipped in results}) == 1
    assert "override" not in results[0][1]
    assert built == [tmp_path]  # built once, by whichever thread came first
