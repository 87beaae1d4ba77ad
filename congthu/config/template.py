"""Write the commented configuration file that ``congthu init`` leaves in the data directory.

The comments are taken from the comments above each field in ``congthu/config/settings.py``,
so the file and the code cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

from congthu.config import Settings

_FIELD = re.compile(r"^\s+(\w+):")


def _field_comments(cls: type) -> dict[str, list[str]]:
    comments: dict[str, list[str]] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines():
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
