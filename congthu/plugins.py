"""Packages plug in by convention (``<package>/server.py``, ``cli.py``, ``web.py``,
``jobs.py``): this imports the modules of a list that exist, and no others."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from types import ModuleType


def optional_modules(names: Iterable[str]) -> Iterator[ModuleType]:
    """Import each named module that exists; a missing module is skipped, while an
    import error inside an existing module is raised as it is."""
    for name in names:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Missing: the module itself or a package on its path; anything else is a bug.
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise
