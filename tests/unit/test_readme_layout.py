"""The README's layout section names only paths that exist under src/tocsin/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tocsin"
_PATH = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*(/|\.py)$")


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```\n", 1)[1].split("```", 1)[0]


def _named_paths() -> list[str]:
    names: list[str] = []
    for line in _layout_block().splitlines()[1:]:
        # The first column (up to two spaces in a row) holds the paths; the rest explains.
        column = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        names += [word for word in column.split() if _PATH.match(word)]
    return names


def test_layout_section_names_paths():
    assert len(_named_paths()) > 20


def test_every_path_in_the_layout_exists():
    missing = [name for name in _named_paths() if not (PACKAGE / name).exists()]
    assert missing == []


def test_every_top_level_module_is_in_the_layout():
    named = set(_named_paths())
    top = {p.name for p in PACKAGE.glob("*.py") if not p.name.startswith("_")}
    top |= {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert sorted(top - named) == []
