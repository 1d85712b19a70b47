"""The build step the catalogs need: compile each ``.po`` into the ``.mo`` the wheel ships.

Everything else is in ``pyproject.toml``.  The compiler is ``tocsin.i18n.write_mo_file``
(Babel, a build requirement), loaded from the built tree without importing the package,
so the build does not need Tocsin's dependencies.  An editable install has no ``.mo``
to ship: there the loader compiles a missing or stale one itself.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):
    """``build_py``, then ``.po`` → ``.mo`` for every catalog in the built package."""

    def run(self) -> None:
        super().run()
        package = Path(self.build_lib) / "tocsin"
        if self.editable_mode or not (package / "i18n.py").exists():
            return
        spec = importlib.util.spec_from_file_location("_tocsin_i18n_build", package / "i18n.py")
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {package / 'i18n.py'}")
        i18n = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = i18n
        spec.loader.exec_module(i18n)
        for po in sorted((package / "locale").glob("*/LC_MESSAGES/*.po")):
            i18n.write_mo_file(po)


setup(cmdclass={"build_py": BuildWithCatalogs})
