"""Write the commented configuration file that ``congthu init`` leaves in the data directory.

The comments are taken from the comments above each field in ``congthu/config/settings.py``,
so the file and the code cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from congthu.config import Settings

_FIELD = re.compile(r"^\s+(\w+):")
_CLASS = re.compile(r"class (\w+)\b")


def _class_bodies(module: str) -> dict[str, list[str]]:
    """The source lines of the body of each top-level class of ``module``, by class name,
    read as text in one pass over the file (``render`` reads each module once). Not
    ``inspect.getsource``: it parses the module with ``ast``, which Debian's Python
    3.11.2 can fail to do while other threads run (CPython gh-106905, "AST constructor
    recursion depth mismatch"), and ``congthu init`` runs beside a server in the tests."""
    source = Path(sys.modules[module].__file__ or "").read_text(encoding="utf-8").splitlines()
    bodies: dict[str, list[str]] = {}
    body: list[str] | None = None
    for line in source:
        if line.strip() and not line[0].isspace():
            match = _CLASS.match(line)
            body = bodies.setdefault(match.group(1), []) if match else None
        elif body is not None:
            body.append(line)
    return bodies


def _field_comments(body: list[str]) -> dict[str, list[str]]:
    comments: dict[str, list[str]] = {}
    pending: list[str] = []
    for line in body:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped)
            continue
        match = _FIELD.match(line)
        if match:
            trailing = line.split("#", 1)[1].strip() if "  # " in line else ""
            comments[match.group(1)] = pending + ([f"# {trailing}"] if trailing else [])
        pending = []
    return comments


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)


def render(settings: Settings | None = None) -> str:
    """Return the TOML text of ``settings`` (defaults if None) with explanatory comments."""
    settings = settings or Settings()
    out = [
        "# Công Thư: cấu hình / configuration.",
        "# Mọi con số của Quy chế là một thiết lập; mặc định là giá trị của Quy chế.",
        "# Every number from the regulation is a setting; the default is the regulation's value.",
        "",
    ]
    modules: dict[str, dict[str, list[str]]] = {}  # class bodies, by module, read once
    for section in dataclasses.fields(settings):
        value = getattr(settings, section.name)
        out.append(f"[{section.name}]")
        cls = type(value)
        if cls.__module__ not in modules:
            modules[cls.__module__] = _class_bodies(cls.__module__)
        comments = _field_comments(modules[cls.__module__].get(cls.__name__, []))
        for f in dataclasses.fields(value):
            out.extend(comments.get(f.name, []))
            out.append(f"{f.name} = {_toml_value(getattr(value, f.name))}")
        out.append("")
    return "\n".join(out)
