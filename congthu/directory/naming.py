"""The address naming engine of Điều 3 (Quyết định 17/2014/QĐ-UBND, Sóc Trăng).

Every rule below cites the clause it implements. The functions here are pure (no
database): ``Directory`` (``congthu.directory``) feeds them the addresses that are taken.

Điều 3.1a  Organisation: ``<tên tổ chức>@domain``; the *type* part (loại hình tổ chức) is
           written in full, lower case, without accents; the *name* part is the first
           letter of each word of the name: Sở Thông tin và Truyền thông → ``sotttt``,
           UBND huyện Mỹ Xuyên → ``huyenmx``.
Điều 3.1b  Sub-unit: ``<tên bộ phận trực thuộc>.<tên tổ chức>``, the sub-unit abbreviated
           the same way: ``phongcntt.sotttt``, ``phongvhtt.huyenmx``, ``xatp.huyenmx``;
           a clash between sub-unit names is decided by the IT Center (Trung tâm CNTT&TT).
Điều 3.2   Person: first letters of the family and middle names + the given name in full,
           without accents: Nguyễn Thanh Bình → ``ntbinh``, Đoàn Văn Thông → ``dvthong``.
Điều 3.3a  Clash: the highest leadership rank, then the earliest registration, keeps the
           plain form of 3.2.
Điều 3.3b  The others get ``.<organisation>``: ``ntbinh.sotttt``; a further clash takes a
           number: ``ntbinh2.sotttt``.
Điều 3.3c  Anything else: the IT Center decides (an operator override, validated).

Decisions the regulation leaves open are documented in docs/directory.md and marked
"Decision" below.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from congthu.text import nfc, unaccent

RULE_ORG = "Điều 3.1a"
RULE_SUBUNIT = "Điều 3.1b"
RULE_PERSON = "Điều 3.2"
RULE_CLASH_ORG_SUFFIX = "Điều 3.3b"
RULE_CLASH_NUMBER = "Điều 3.3b (số thứ tự / number)"
RULE_OPERATOR = "Điều 3.3c (Trung tâm CNTT&TT quyết định / operator decision)"
RULE_SUBUNIT_CLASH = "Điều 3.1b đoạn cuối (Trung tâm CNTT&TT quyết định / operator decides)"

MAX_LOCAL_LENGTH = 64  # RFC 5321 section 4.5.3.1.1
MAX_CLASH_NUMBER = 999

# Local parts that are never issued to anyone (RFC 2142 role addresses and the system's own).
DEFAULT_RESERVED = frozenset({
    "admin", "administrator", "postmaster", "abuse", "hostmaster", "webmaster", "root",
    "mailer-daemon", "noreply", "no-reply", "nobody", "security", "support", "info",
    "ldap", "mail", "www", "ftp", "smtp", "imap", "pop3", "dmarc", "dkim", "danhba",
})


class NamingError(ValueError):
    """A name that gives no valid address (the text says why, in Vietnamese and English)."""


# -- text ------------------------------------------------------------------------------

_LOCAL_RE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")


@lru_cache(maxsize=200_000)
def ascii_fold(text: str) -> str:
    """Điều 3.1a/3.2 "chữ in thường tiếng Việt không dấu": NFC, strip the tone and vowel
    marks, Đ/đ → d, lower case; anything that is then not a-z or 0-9 is dropped."""
    return re.sub(r"[^a-z0-9]", "", unaccent(nfc(text)).lower())


_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền, sắc, ngã, hỏi, nặng


@lru_cache(maxsize=100_000)
def _key(word: str) -> str:
    """Comparison key of one word: lower case, with its tone mark moved to the end, so the
    old and new tone placements are equal ("Uỷ" = "Ủy", "Hoà" = "Hòa") while words that
    differ by tone stay apart ("Bảo" ≠ "Báo")."""
    decomposed = unicodedata.normalize("NFD", nfc(word).lower())
    tones = "".join(c for c in decomposed if c in _TONES)
    base = "".join(c for c in decomposed if c not in _TONES and (c.isalnum() or unicodedata.category(c) == "Mn"))
    return unicodedata.normalize("NFC", base) + tones


# Decision: these characters separate words (commas, hyphens, dashes, slashes, "&", dots,
# semicolons, quotes); text in parentheses is a remark, not part of the name.
_SEPARATORS = re.compile(r"[\s,;:/\\&.\-–—_+\"“”'‘’`|]+")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def split_words(text: str) -> list[str]:
    text = _PARENS.sub(" ", nfc(text))
    return [w for w in _SEPARATORS.split(text) if w]


def validate_local(local: str) -> str | None:
    """Why ``local`` cannot be an address local part, or None if it can (Điều 3.3c overrides
    go through this too): lower-case a-z, 0-9, single dots or hyphens inside, at most 64
    characters, at least one letter."""
    if not local:
        return "địa chỉ rỗng / empty address"
    if len(local) > MAX_LOCAL_LENGTH:
        return f"dài quá {MAX_LOCAL_LENGTH} ký tự / longer than {MAX_LOCAL_LENGTH} characters"
    if not _LOCAL_RE.match(local):
        return ("chỉ được dùng a-z, 0-9, dấu chấm hoặc gạch nối ở giữa / only a-z, 0-9 and "
                "single inner dots or hyphens")
    if not re.search(r"[a-z]", local):
        return "phải có ít nhất một chữ cái / must contain a letter"
    return None


# -- organisations (Điều 3.1) ----------------------------------------------------------

# Decision: the organisation types recognised at the start of a name, written in full
# (Điều 3.1a "phần loại hình tổ chức được viết đầy đủ"). Multi-word types stay together:
# "Thị xã Vĩnh Châu" → "thixavc", "Thành phố Sóc Trăng" → "thanhphost", "Thị trấn Mỹ
# Xuyên" → "thitranmx". The longest match wins ("Chi cục" before "Cục").
ORG_TYPES: tuple[str, ...] = (
    # territorial (UBND ... is the same organisation: see _UBND below)
    "tỉnh", "thành phố", "thị xã", "huyện", "quận", "xã", "phường", "thị trấn", "đặc khu",
    # agencies and their units
    "sở", "ban", "phòng", "chi cục", "cục", "tổng cục", "vụ", "văn phòng", "trung tâm",
    "viện", "bệnh viện", "trạm", "trạm y tế", "hạt", "đội", "trường", "đài", "báo",
    "thanh tra", "kho bạc", "công an", "tòa án", "tòa", "ủy ban", "hội đồng",
    # party and mass organisations
    "tỉnh ủy", "thành ủy", "thị ủy", "huyện ủy", "quận ủy", "đảng ủy", "đảng bộ", "chi bộ",
    "hội", "liên đoàn", "liên hiệp", "đoàn", "mặt trận",
    # state enterprises
    "công ty", "tổng công ty",
)
_TYPES_FOLDED: list[tuple[tuple[str, ...], str]] = sorted(
    ((tuple(_key(w) for w in t.split()), t) for t in ORG_TYPES), key=lambda x: -len(x[0])
)

# Decision: "UBND" / "Ủy ban nhân dân" before a territorial type is the administration of
# that territory and is dropped (Điều 3.1a example: UBND huyện Mỹ Xuyên → huyenmx).
# "TP." and "TX." are the usual abbreviations of thành phố and thị xã.
_UBND = (("ubnd",), tuple(_key(w) for w in ["ủy", "ban", "nhân", "dân"]))
_TERRITORIAL = {tuple(_key(w) for w in t.split()) for t in ORG_TYPES[:9]}
_TYPE_ABBREVIATIONS = {"tp": "thành phố", "tx": "thị xã"}

# Decision: the conjunction "và" is not a word of the name (Điều 3.1a example: Sở Thông tin
# và Truyền thông → sotttt, not sottvtt); "&" is a separator, so "Sở TT&TT" → sotttt too.
_SKIPPED_WORDS = {_key("và")}
# Words that link a sub-unit to its parent at the end of its name ("... thuộc Sở TT&TT").
_LINK_WORDS = {_key(w) for w in ("thuộc", "của", "trực")}


@dataclass(frozen=True)
class OrgName:
    """An organisation name analysed by Điều 3.1a."""

    type_words: str  # as written in the name, e.g. "Sở", "huyện", "Thị xã" ("" if none)
    type_part: str  # "so", "huyen", "thixa"
    name_part: str  # "tttt", "mx"
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.type_part + self.name_part


def _initial(word: str, acronyms: bool = True) -> str:
    """Điều 3.1a "chữ cái đầu tiên": the first letter of a word, without accents.

    Decisions: a number is written whole ("Phường 10" → phuong10); a word with digits
    ("3A") whole; an acronym in capitals ("UBND", "CNTT", "TT") stands for its words, so
    each of its letters is an initial ("Phòng CNTT" → phongcntt, as Phòng Công nghệ thông
    tin); a capitalised word with tone or vowel marks ("ĐIỆN") is a word, not an acronym
    (Đ alone does not count: "HĐND" is an acronym)."""
    folded = ascii_fold(word)
    if not folded:
        return ""
    if any(c.isdigit() for c in folded):
        return folded
    letters = [c for c in nfc(word) if c.isalpha()]
    marks = unicodedata.normalize("NFD", word) != word.replace("Đ", "D").replace("đ", "d") and any(
        unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", word))
    if acronyms and len(letters) >= 2 and all(c.isupper() for c in letters) and not marks:
        return folded
    return folded[0]


def _match_type(keys: Sequence[str]) -> tuple[int, str | None]:
    """(number of words, canonical type) of the longest organisation type at the start."""
    if keys and keys[0] in _TYPE_ABBREVIATIONS:
        return 1, _TYPE_ABBREVIATIONS[keys[0]]
    for folded, canonical in _TYPES_FOLDED:
        if tuple(keys[: len(folded)]) == folded:
            return len(folded), canonical
    return 0, None


def _strip_ubnd(words: list[str]) -> list[str]:
    keys = [_key(w) for w in words]
    for prefix in _UBND:
        n = len(prefix)
        if tuple(keys[:n]) == prefix:
            rest = keys[n:]
            if any(tuple(rest[: len(t)]) == t for t in _TERRITORIAL) or (rest and rest[0] in _TYPE_ABBREVIATIONS):
                return words[n:]
    return words


def analyse_org(name: str, *, parent: str | None = None, type_words: str | None = None) -> OrgName:
    """Điều 3.1a: split an organisation's name into its type (in full) and its name
    (first letters). ``parent``: the parent's address (Điều 3.1b); a trailing mention of the
    parent ("... huyện Mỹ Xuyên", "... thuộc Sở TT&TT") is not part of a sub-unit's name.
    ``type_words``: the type when the name does not start with a known one (e.g. "Công an")."""
    words = _strip_ubnd(split_words(name))
    if not words:
        raise NamingError(f"Tên tổ chức rỗng / empty organisation name: {name!r}")
    notes: list[str] = []
    keys = [_key(w) for w in words]
    if type_words:
        given = [_key(w) for w in split_words(type_words)]
        n = len(given) if keys[: len(given)] == given else 0
        type_shown = " ".join(words[:n]) if n else nfc(type_words.strip())
        type_part = "".join(ascii_fold(w) for w in split_words(type_words))
    else:
        n, canonical = _match_type(keys)
        if n:
            type_shown = " ".join(words[:n])
            type_part = ascii_fold(canonical or "")
        else:
            type_shown, type_part = "", ""
            notes.append("không nhận ra loại hình tổ chức, chỉ dùng chữ cái đầu; Trung tâm CNTT&TT "
                         "xem lại / no organisation type recognised, initials only: to be reviewed")
    rest = words[n:]
    if parent:
        rest = _strip_parent_mention(rest, parent)
    # Decision: a name written all in capitals has no acronyms ("SỞ TÀI CHÍNH" → sotc).
    letters = [c for w in words for c in w if c.isalpha()]
    acronyms = not all(c.isupper() for c in letters)
    name_part = "".join(_initial(w, acronyms) for w in rest if _key(w) not in _SKIPPED_WORDS)
    if not type_part and not name_part:
        raise NamingError(f"Tên không cho địa chỉ hợp lệ / name gives no address: {name!r}")
    return OrgName(type_shown, type_part, name_part, tuple(notes))


def _strip_parent_mention(rest: list[str], parent: str) -> list[str]:
    """Drop "huyện Mỹ Xuyên" from "Văn hóa Thông tin huyện Mỹ Xuyên" under huyenmx."""
    parent_label = parent.split("@")[0].split(".")[0]
    for i in range(1, len(rest)):
        try:
            label = analyse_org(" ".join(rest[i:])).label
        except NamingError:
            continue
        if label == parent_label:
            cut = i
            while cut > 1 and _key(rest[cut - 1]) in _LINK_WORDS:
                cut -= 1
            return rest[:cut]
    return rest


def org_local(name: str, *, parent: str | None = None, type_words: str | None = None) -> str:
    """The address Điều 3.1 gives before clashes: ``sotttt``; with ``parent`` (Điều 3.1b),
    ``phongcntt.sotttt``."""
    label = analyse_org(name, parent=parent, type_words=type_words).label
    local = f"{label}.{parent.split('@')[0]}" if parent else label
    problem = validate_local(local)
    if problem:
        raise NamingError(f"{name!r} → {local!r}: {problem}")
    return local


# -- people (Điều 3.2) -----------------------------------------------------------------

# Decision: two-word family names. They change nothing in the address (family and middle
# names are both reduced to their first letters), but they are kept apart when a full
# name is split, so the directory shows the right family name.
COMPOUND_FAMILY_NAMES = frozenset({
    ("ton", "nu"), ("ton", "that"), ("cong", "ton"), ("au", "duong"), ("nguyen", "phuoc"),
    ("nguyen", "phuc"), ("hoang", "phu"), ("tu", "ma"), ("gia", "cat"), ("thuong", "quan"),
})


@dataclass(frozen=True)
class PersonName:
    family: str
    middle: str
    given: str

    @cached_property
    def full(self) -> str:
        return " ".join(p for p in (self.family, self.middle, self.given) if p)


def _clean_person_words(text: str) -> list[str]:
    """NFC, single spaces; a name typed all in lower or upper case is capitalised
    ("nguyễn THANH bình" is kept as typed, "NGUYỄN THANH BÌNH" → "Nguyễn Thanh Bình")."""
    words = [w for w in nfc(text).split() if w]
    letters = [c for w in words for c in w if c.isalpha()]
    if letters and (all(c.isupper() for c in letters) or all(c.islower() for c in letters)):
        words = ["-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")) for w in words]
    return words


@lru_cache(maxsize=100_000)  # names repeat (a bulk import asks for thousands of Nguyễn Văn ...)
def split_name(full_name: str) -> PersonName:
    """Split "Họ Tên đệm Tên" into family, middle and given names (NFC, single spaces,
    each word capitalised as written). The given name is the last word; a known two-word
    family name (Tôn Nữ, Âu Dương, ...) stays together."""
    words = _clean_person_words(full_name)
    words = [w for w in words if not any(c.isdigit() for c in w)]  # Decision: see person_local
    if not words:
        raise NamingError(f"Họ tên rỗng / empty name: {full_name!r}")
    if len(words) == 1:
        return PersonName("", "", words[0])
    family_n = 2 if len(words) >= 3 and (ascii_fold(words[0]), ascii_fold(words[1])) in COMPOUND_FAMILY_NAMES else 1
    return PersonName(" ".join(words[:family_n]), " ".join(words[family_n:-1]), words[-1])


@lru_cache(maxsize=100_000)
def person_local(name: str | PersonName) -> str:
    """Điều 3.2: the first letter of the family name and of each middle name, then the
    given name in full, without accents: Nguyễn Thanh Bình → ``ntbinh``.

    Decisions: words with digits are not names and are left out (a number in an address
    means a clash of Điều 3.3b); a hyphenated or apostrophised given name is written whole
    ("Xà-Ry" → xary, "K'Sor" → ksor); a given name of several words (Khmer names such as
    "Sa Rết", given separately as PersonName.given) is written whole: saret."""
    person = split_name(name) if isinstance(name, str) else name
    initials = "".join(
        ascii_fold(part)[:1]
        for word in (person.family + " " + person.middle).split()
        for part in re.split(r"[-'’]", word)
        if not any(c.isdigit() for c in part)
    )
    given = "".join(ascii_fold(w) for w in person.given.split() if not any(c.isdigit() for c in w))
    if not given:
        raise NamingError(f"Tên không cho địa chỉ hợp lệ / name gives no address: {person.full!r}")
    local = initials + given
    problem = validate_local(local)
    if problem:
        raise NamingError(f"{person.full!r} → {local!r}: {problem}")
    return local


# -- proposals and clashes (Điều 3.3) ---------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """An address proposed by a rule, with the reason."""

    local: str
    rule: str
    reason: str
    clash_with: str | None = None  # the address (and holder) the plain form clashed with
    needs_decision: bool = False  # Điều 3.1b/3.3c: the IT Center must confirm or override
    notes: tuple[str, ...] = ()

    def explain(self) -> str:
        text = f"{self.local}  [{self.rule}] {self.reason}"
        if self.clash_with:
            text += f"; trùng với / clashes with {self.clash_with}"
        for note in self.notes:
            text += f"; {note}"
        return text


# A function telling who holds an address: None if it is free, else a description.
Holder = Callable[[str], str | None]


@dataclass
class PersonRequest:
    """A person who needs an address, with the priority of Điều 3.3a."""

    key: Any
    name: str | PersonName
    org_local: str  # the organisation's address part used by Điều 3.3b
    rank: int | None = None  # leadership rank: 1 is highest; None or 0 for none
    registered: datetime | None = None
    override: str | None = None  # Điều 3.3c: the operator's choice
    order: int = 0  # position in the input, the last tie-breaker
    label: str = field(default="", compare=False)

    def priority(self) -> tuple[int, float, int]:
        """Điều 3.3a: rank first (1 before 2 before none), then earlier registration."""
        rank = self.rank if self.rank and self.rank > 0 else 1_000_000
        when = self.registered.timestamp() if self.registered else float("inf")
        return rank, when, self.order


def _describe(request: PersonRequest) -> str:
    person = request.name if isinstance(request.name, str) else request.name.full
    detail = []
    if request.rank:
        detail.append(f"cấp {request.rank}")
    if request.registered:
        when = request.registered
        detail.append(f"đăng ký {when.day:02d}/{when.month:02d}/{when.year}")
    return f"{person} ({', '.join(detail)})" if detail else person


def allocate_people(requests: Iterable[PersonRequest], holder: Holder) -> dict[Any, Proposal]:
    """Điều 3.2 + 3.3 for a batch: addresses for every request, in priority order.

    ``holder(local)`` tells who already holds (or reserved) an address. Within the batch,
    the highest priority (Điều 3.3a) gets the plain form; an address already issued is
    never taken back. Raises NamingError for a name or override that gives no valid
    address; ValueError carries the key in ``args[1]``.
    """
    issued: dict[str, PersonRequest] = {}
    result: dict[Any, Proposal] = {}

    def who(local: str) -> str | None:
        earlier = issued.get(local)
        return _describe(earlier) if earlier is not None else holder(local)

    for request in sorted(requests, key=PersonRequest.priority):
        if request.override:
            override = request.override.strip().lower()
            problem = validate_local(override)
            if problem is None:
                taken = who(override)
                problem = f"đã dùng / taken by {taken}" if taken else None
            if problem:
                raise NamingError(f"Địa chỉ {override!r} không dùng được / cannot be used: {problem}", request.key)
            proposal = Proposal(override, RULE_OPERATOR, "địa chỉ do người quản trị chọn / operator's choice")
        else:
            try:
                base = person_local(request.name)
            except NamingError as exc:
                raise NamingError(str(exc), request.key) from None
            proposal = _person_proposal(base, request, who)
        issued[proposal.local] = request
        result[request.key] = proposal
    return result


def _person_proposal(base: str, request: PersonRequest, who: Holder) -> Proposal:
    holder_plain = who(base)
    if holder_plain is None:
        return Proposal(base, RULE_PERSON, "họ, tên đệm viết tắt + tên đầy đủ / initials + given name")
    suffixed = f"{base}.{request.org_local}"
    holder_suffixed = who(suffixed)
    if holder_suffixed is None and not validate_local(suffixed):
        return Proposal(
            suffixed, RULE_CLASH_ORG_SUFFIX,
            "địa chỉ gốc đã có người ưu tiên hơn, thêm tên tổ chức / plain form held, "
            "organisation appended",
            clash_with=f"{base} ({holder_plain})",
        )
    for n in range(2, MAX_CLASH_NUMBER + 1):
        candidate = f"{base}{n}.{request.org_local}"
        if validate_local(candidate):
            break
        if who(candidate) is None:
            return Proposal(
                candidate, RULE_CLASH_NUMBER,
                f"{base} và {suffixed} đã có người, thêm số {n} / both taken, number {n} added",
                clash_with=f"{base} ({holder_plain}); {suffixed} ({holder_suffixed})",
            )
    raise NamingError(f"Không tìm được địa chỉ trống cho / no free address for {base}", request.key)


def propose_org(name: str, holder: Holder, *, parent: str | None = None,
                type_words: str | None = None, override: str | None = None) -> Proposal:
    """Điều 3.1 for one organisation or sub-unit. A taken address is not resolved by a
    rule: a numbered form is proposed with ``needs_decision`` (Điều 3.1b, last paragraph:
    the IT Center decides with the organisations concerned)."""
    if override:
        override = override.strip().lower()
        problem = validate_local(override)
        taken = None if problem else holder(override)
        if problem or taken:
            raise NamingError(f"Địa chỉ {override!r} không dùng được / cannot be used: {problem or 'đã dùng / taken by ' + str(taken)}")
        return Proposal(override, RULE_OPERATOR, "địa chỉ do người quản trị chọn / operator's choice")
    analysed = analyse_org(name, parent=parent, type_words=type_words)
    local = org_local(name, parent=parent, type_words=type_words)
    rule = RULE_SUBUNIT if parent else RULE_ORG
    reason = (f"loại hình '{analysed.type_part}' viết đầy đủ + chữ cái đầu '{analysed.name_part}' / "
              f"type in full + initials")
    if parent:
        reason += f", thuộc / under {parent}"
    taken = holder(local)
    if taken is None:
        return Proposal(local, rule, reason, notes=analysed.notes,
                        needs_decision=bool(analysed.notes))
    label, _, rest = local.partition(".")
    for n in range(2, MAX_CLASH_NUMBER + 1):
        candidate = f"{label}{n}.{rest}" if rest else f"{label}{n}"
        if holder(candidate) is None:
            return Proposal(
                candidate, RULE_SUBUNIT_CLASH,
                f"{local} đã có, đề xuất thêm số; Trung tâm CNTT&TT quyết định / taken, a number "
                f"is proposed for the operator to confirm or replace",
                clash_with=f"{local} ({taken})", needs_decision=True, notes=analysed.notes,
            )
    raise NamingError(f"Không tìm được địa chỉ trống cho / no free address for {local}")
