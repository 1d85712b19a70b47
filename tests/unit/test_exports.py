"""The public surface: curated __all__, and `import tocsin` stays light."""

from __future__ import annotations

import subprocess
import sys

import tocsin


def test_all_names_exist_and_are_sorted():
    for name in tocsin.__all__:
        assert hasattr(tocsin, name), name
    assert list(tocsin.__all__) == sorted(tocsin.__all__, key=lambda n: (not n.isupper(), n))


def test_import_tocsin_loads_no_cli_or_web_stack():
    code = (
        "import sys, tocsin; bad = [m for m in ('typer', 'fastapi', 'uvicorn', 'rich', "
        "'jinja2', 'tocsin.cli', 'tocsin.api') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
