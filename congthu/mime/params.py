"""Content-Type and Content-Disposition values with their parameters.

RFC 2045 section 5.1 (type "/" subtype *(";" parameter)), RFC 2183 (disposition),
RFC 2231 (parameter continuations "name*0", "name*1" and charset/language "name*=utf-8''...").

Two views of the parameters are produced:

* ``imap_params``: what IMAP's BODYSTRUCTURE returns (RFC 9051 section 7.5.2,
  body-fld-param): continuations are joined into one parameter "name"; parameters that
  carried a charset are converted to UTF-8 and returned as "name*" with the value
  ``utf-8'lang'percent-encoded``, so the list stays plain US-ASCII;
* ``display_params``: fully decoded text (RFC 2231, and RFC 2047 encoded words that many
  mailers put in quoted file names), NFC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from congthu.mime.charsets import decode_bytes
from congthu.mime.words import decode_words

__all__ = ["Param", "parse_value", "join_params", "imap_params", "display_params", "split_type"]

# A parameter segment: quoted strings (possibly unterminated) or anything but ";".
_SEGMENT = re.compile(r'(?:"(?:[^"\\]|\\.)*(?:"|$)|[^;"])+', re.S)
_COMMENT = re.compile(r"\([^()]*\)")
_ESCAPE = re.compile(r"\\(.)", re.S)
_SECTION = re.compile(r"(.+?)\*(?:(\d{1,4})(\*)?)?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

MAX_PARAMS = 200
MAX_VALUE = 64 * 1024  # hostile headers: longer parameter values are cut


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        inner = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
        return _ESCAPE.sub(r"\1", inner)
    return _COMMENT.sub("", value).strip()


def parse_value(value: str) -> tuple[str, list[tuple[str, str]]]:
    """Split ``main; a=1; b="x y"`` into ("main" lower-cased, [("a", "1"), ("b", "x y")])."""
    segments = _SEGMENT.findall(value)
    if not segments:
        return "", []
    main = _COMMENT.sub("", segments[0]).strip().lower()
    params: list[tuple[str, str]] = []
    for segment in segments[1:MAX_PARAMS + 1]:
        name, eq, raw_value = segment.partition("=")
        name = name.strip().lower()
        if eq and name:
            params.append((name[:256], _unquote(raw_value)[:MAX_VALUE]))
    return main, params


def split_type(main: str) -> tuple[str, str] | None:
    """("text", "plain") from "text/plain"; None if not a valid type (RFC 2045 5.2 default)."""
    kind, slash, sub = main.partition("/")
    kind, sub = kind.strip(), sub.strip()
    if not slash or not _TOKEN.fullmatch(kind) or not _TOKEN.fullmatch(sub):
        return None
    return kind, sub


@dataclass(frozen=True)
class Param:
    """One logical parameter after RFC 2231 joining; ``value`` is text."""

    name: str
    value: str
    extended: bool  # carried a charset (RFC 2231 section 4), so ``value`` is already decoded
    language: str = ""


def join_params(params: list[tuple[str, str]]) -> list[Param]:
    """Join RFC 2231 continuations and decode charset-tagged values (RFC 2231 sections 3-4)."""
    plain: list[tuple[str, str]] = []
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    order: list[str] = []
    for name, value in params:
        match = _SECTION.fullmatch(name)
        if not match:
            plain.append((name, value))
            order.append(name)
            continue
        base = match.group(1)
        if match.group(2) is None:
            number, extended = 0, True
        else:
            number, extended = int(match.group(2)), match.group(3) is not None
        if base not in sections:
            sections[base] = {}
            order.append(base + "*")
        sections[base].setdefault(number, (value, extended))
    result: list[Param] = []
    seen: set[str] = set()
    plain_values = dict(reversed(plain))  # first occurrence wins
    for key in order:
        if key in seen:
            continue
        seen.add(key)
        if not key.endswith("*") or key[:-1] not in sections:
            result.append(Param(key, plain_values[key], False))
            continue
        result.append(_join(key[:-1], sections[key[:-1]]))
    return result


def _join(base: str, parts: dict[int, tuple[str, bool]]) -> Param:
    numbers = sorted(parts)
    charset, language = None, ""
    first_value, first_extended = parts[numbers[0]]
    if first_extended:
        pieces = first_value.split("'", 2)
        if len(pieces) == 3:
            charset, language = pieces[0] or None, pieces[1]
            parts = dict(parts)
            parts[numbers[0]] = (pieces[2], True)
    extended = any(parts[n][1] for n in numbers)
    data = bytearray()
    for n in numbers:
        value, is_extended = parts[n]
        data += unquote_to_bytes(value) if is_extended else value.encode("utf-8", "surrogateescape")
    if not extended:
        return Param(base, data.decode("utf-8", "surrogateescape"), False)
    return Param(base, decode_bytes(bytes(data), charset), True, language)


def imap_params(params: list[Param]) -> list[tuple[str, str]]:
    """BODYSTRUCTURE form (RFC 9051 section 7.5.2): names upper-cased as in its examples."""
    out = []
    for p in params:
        if p.extended:
            out.append((p.name.upper() + "*", "utf-8'" + p.language + "'" + quote(p.value.encode("utf-8"), safe="")))
        else:
            out.append((p.name.upper(), p.value))
    return out


def display_params(params: list[Param]) -> dict[str, str]:
    """Lower-case name -> decoded NFC text; a charset-tagged value wins over a plain one."""
    out: dict[str, str] = {}
    for p in params:
        if p.extended:
            out[p.name] = p.value
        elif p.name not in out:
            out[p.name] = decode_words(p.value)
    return out
