"""Packages plug in by convention, found by looking, so that nothing has to be listed.

A subpackage of ``congthu`` takes part in a role by having the module of that name:
``server.py`` (``services(app)``: listeners, ``congthu.server``), ``cli.py``
(``register(commands)``: commands, ``congthu.cli``), ``web.py`` (``router(app)``: pages
and API, ``congthu.web.app``) and ``jobs.py`` (``jobs(app)``: periodic work). A new
package needs no edit anywhere else, and a misspelt or missing name cannot silently
drop a service: there are no names. A plug-in module that fails to import stops the
start with its own error, since running without one of the doors would be worse.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

ROOT = "congthu"


def discover(role: str, root: str = ROOT) -> list[ModuleType]:
    """Import ``<root>.<package>.<role>`` for every subpackage of ``root`` that has a
    module ``<role>``, in the order of the package names; an import error is raised as
    it is. Only the subpackages that have the module are imported."""
    package = importlib.import_module(root)
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        if not info.ispkg:
            continue
        spec = info.module_finder.find_spec(f"{root}.{info.name}", None)  # type: ignore[call-arg]
        if spec is None or not spec.submodule_search_locations:
            continue
        if any(module.name == role for module in pkgutil.iter_modules(spec.submodule_search_locations)):
            found.append(importlib.import_module(f"{root}.{info.name}.{role}"))
    return found
