"""Plug-ins are discovered, not listed (congthu.plugins): every package module of a role
is found, a package without it is skipped, and one that fails to import stops the start
with its own error instead of silently dropping a service."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu import server
from congthu.plugins import discover


@pytest.fixture
def package_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A throw-away top-level package on sys.path (removed again, modules and all)."""
    name = f"plugtest_{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        yield name, root
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


def add_package(root: Path, name: str, modules: dict[str, str]) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(source)


def test_discovery_finds_the_role_modules_of_subpackages(package_root: tuple[str, Path]) -> None:
    name, root = package_root
    add_package(root, "mail", {"server": "def services(app):\n    return ['mail']\n"})
    add_package(root, "chat", {"server": "def services(app):\n    return ['chat']\n",
                               "cli": "def register(commands):\n    pass\n"})
    add_package(root, "plain", {"tables": "X = 1\n"})
    (root / "server.py").write_text("raise RuntimeError('a module, not a package: never imported')\n")
    assert [m.__name__ for m in discover("server", name)] == [f"{name}.chat.server", f"{name}.mail.server"]
    assert [m.__name__ for m in discover("cli", name)] == [f"{name}.chat.cli"]
    assert discover("jobs", name) == []
    assert f"{name}.plain" not in sys.modules  # only the packages with the role are imported


def test_a_plugin_that_fails_to_import_stops_with_its_error(package_root: tuple[str, Path]) -> None:
    name, root = package_root
    add_package(root, "good", {"server": "def services(app):\n    return []\n"})
    add_package(root, "broken", {"server": "import congthu.no_such_module_anywhere\n"})
    with pytest.raises(ModuleNotFoundError, match="congthu.no_such_module_anywhere"):
        discover("server", name)
    add_package(root, "raising", {"jobs": "raise RuntimeError('broken plug-in: bad setting')\n"})
    with pytest.raises(RuntimeError, match="broken plug-in: bad setting"):
        discover("jobs", name)


def test_the_real_packages_are_found() -> None:
    services = {m.__name__ for m in discover("server")}
    assert {"congthu.smtp.server", "congthu.imap.server", "congthu.pop3.server",
            "congthu.web.server"} <= services
    assert "congthu.accounts.web" in {m.__name__ for m in discover("web")}
    assert "congthu.smtp.jobs" in {m.__name__ for m in discover("jobs")}
    # Every discovered module has the entry point of its role.
    for role, entry in (("server", "services"), ("cli", "register"), ("web", "router"), ("jobs", "jobs")):
        for module in discover(role):
            assert callable(getattr(module, entry)), module.__name__
    # The web listener starts first (health checks answer while the doors open).
    assert server.DEFAULT_START_ORDER > sys.modules["congthu.web.server"].START_ORDER
