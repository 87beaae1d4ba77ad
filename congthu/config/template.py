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


def _class_lines(cls: type) -> list[str]:
    """The source lines of ``cls``'s body, read as text. Not ``inspect.getsource``: it
    parses the module with ``ast``, which Debian's Python 3.11.2 can fail to do while
    other threads run (CPython gh-106905, "AST constructor recursion depth mismatch"),
    and ``congthu init`` runs beside a server in the tests."""
    source = Path(sys.modules[cls.__module__].__file__ or "").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(source) if re.match(rf"class {cls.__name__}\b", line))
    body: list[str] = []
    for line in source[start + 1:]:
        if line.strip() and not line[0].isspace():
            break
        body.append(line)
    return body


def _field_comments(cls: type) -> dict[str, list[str]]:
    comments: dict[str, list[str]] = {}
    pending: list[str] = []
    for line in _class_lines(cls):
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
    for section in dataclasses.fields(settings):
        value = getattr(settings, section.name)
        out.append(f"[{section.name}]")
        comments = _field_comments(type(value))
        for f in dataclasses.fields(value):
            out.extend(comments.get(f.name, []))
            out.append(f"{f.name} = {_toml_value(getattr(value, f.name))}")
        out.append("")
    return "\n".join(out)
