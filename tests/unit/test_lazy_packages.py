"""The packages whose public names load on first use (PEP 562): what type checkers see
is what runs, and importing one part does not import the heavy others.

``tocsin``, ``tocsin.transports``, ``tocsin.signin`` and ``tocsin.services`` list their
lazy names in ``_EXPORTS`` (module → names) and import the same names under
``if TYPE_CHECKING:``; a name added to one and not the other fails here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from types import ModuleType

import pytest

LAZY_PACKAGES = ("tocsin", "tocsin.transports", "tocsin.signin", "tocsin.services")


def _type_checking_imports(package: ModuleType) -> dict[str, tuple[str, ...]]:
    """The ``from M import a, b`` lines under ``if TYPE_CHECKING:`` in the package's source."""
    tree = ast.parse(inspect.getsource(package))
    found: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for line in node.body:
                assert isinstance(line, ast.ImportFrom), ast.unparse(line)
                assert line.module
                found[line.module] = tuple(alias.name for alias in line.names)
    return found


def _exports(package: ModuleType) -> dict[str, tuple[str, ...]]:
    table = getattr(package, "_EXPORTS", None)
    if table is None:  # tocsin.services: two names, one dict
        table = {}
        for name, module in package._MODULE_OF.items():
            table[module] = (*table.get(module, ()), name)
    return dict(table)


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_the_lazy_table_is_what_type_checkers_see(name: str) -> None:
    package = importlib.import_module(name)
    seen = _type_checking_imports(package)
    assert seen  # the parse found the block
    assert {m: sorted(n) for m, n in seen.items()} == {
        m: sorted(n) for m, n in _exports(package).items()
    }


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_every_public_name_resolves_to_its_modules_object(name: str) -> None:
    package = importlib.import_module(name)
    lazy = {n: m for m, names in _exports(package).items() for n in names}
    assert set(lazy) <= set(package.__all__)
    for public in package.__all__:
        value = getattr(package, public)
        if public in lazy:
            assert value is getattr(importlib.import_module(lazy[public]), public), public
    assert set(package.__all__) <= set(dir(package))


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_an_unknown_name_is_an_attribute_error(name: str) -> None:
    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = package.no_such_name


def _loaded_after(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of ``prefixes`` loaded by ``statement`` alone."""
    code = (
        f"import sys; {statement}; "
        f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return ast.literal_eval(done.stdout.strip())


# The wire and the OAuth2 client: libraries only sending and signing in need.
HEAVY = ("aiosmtplib", "authlib", "httpx", "httpx2", "jinja2")


def test_import_tocsin_loads_none_of_its_modules() -> None:
    loaded = _loaded_after("import tocsin", ("tocsin.", "email_validator", "cryptography", *HEAVY))
    assert loaded == []


def test_the_transport_interface_loads_neither_smtp_nor_sign_in() -> None:
    # What the outbox imports: it must not drag aiosmtplib and the OAuth2 client along.
    loaded = _loaded_after(
        "import tocsin.transports.base", ("tocsin.transports.smtp", "tocsin.signin", *HEAVY)
    )
    assert loaded == []


def test_the_sasl_strings_load_no_oauth2_client() -> None:
    loaded = _loaded_after("import tocsin.signin.sasl", ("tocsin.signin.", *HEAVY))
    assert loaded == ["tocsin.signin.sasl"]


def test_a_service_module_loads_not_every_service() -> None:
    loaded = _loaded_after("import tocsin.services.inputs", ("tocsin.services.", "tocsin.store"))
    assert loaded == ["tocsin.services.inputs"]


def test_the_engine_loads_its_transports_when_made_not_on_its_first_send() -> None:
    # Else the first alarm after `tocsin worker` started waits 0.2 s for the imports.
    loaded = _loaded_after(
        "from tocsin.outbox import default_transport_factory; default_transport_factory(2)",
        ("tocsin.transports.smtp", "tocsin.transports.online"),
    )
    assert "tocsin.transports.smtp" in loaded
    assert "tocsin.transports.online" in loaded


def test_the_engine_builds_the_system_stores_tls_context_when_made() -> None:
    code = (
        "from tocsin.outbox import default_transport_factory; default_transport_factory(2); "
        "from tocsin.tlsinfo import _shared_context; print(_shared_context.cache_info().currsize)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "1"  # the first transport finds it built
