"""Import of organisations and staff (Điều 10.2: the structure comes from Home Affairs)
from CSV or XLSX files in the template this module writes (Vietnamese column headers).

The whole file is checked first; any bad row (missing name, unknown organisation,
duplicate person, impossible address, a formula instead of a value, ...) is reported with
its line number and nothing is imported. A file that is not what it says (an XLSX that is
no zip or unpacks to more than ``MAX_XLSX_UNPACKED``, a CSV that is not UTF-8 text) is
refused whole with ``ImportFileError``. The CLI (``congthu directory import``) and the
console (``/quan-tri/danh-ba/nhap``) use the same ``Importer``. A real import is one transaction. Re-importing updates the people already there
(matched by staff code, else by organisation and name) instead of duplicating them. New
mailboxes get one-time passwords, written to one file per organisation for its leader.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import re
import secrets
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from congthu.accounts import one_time_password
from congthu.db import allocate_ids, bulk_insert
from congthu.directory import naming
from congthu.directory.directory import Directory
from congthu.directory.mailboxes import NewMailbox
from congthu.directory.naming import NamingError, PersonRequest, Proposal
from congthu.directory.records import record_event
from congthu.directory.search import cached_fold as fold
from congthu.directory.search import org_search_key, person_search_key
from congthu.directory.spreadsheet import csv_text
from congthu.directory.tables import dir_orgs, dir_people
from congthu.store import utcnow
from congthu.store.lookup import addresses_of
from congthu.text import nfc

if TYPE_CHECKING:
    from congthu.app import App

# The template's columns: (key, Vietnamese header, explanation).
COLUMNS: list[tuple[str, str, str]] = [
    ("kind", "Loại dòng", "Tổ chức hoặc Cán bộ"),
    ("code", "Mã", "Mã tổ chức (để dòng khác tham chiếu) hoặc mã cán bộ (không bắt buộc; dùng để nhận ra "
                   "người khi nhập lại)"),
    ("name", "Tên tổ chức / Họ và tên", "Tên đầy đủ, có dấu: Sở Thông tin và Truyền thông; Nguyễn Thanh Bình"),
    ("parent", "Thuộc", "Tổ chức: mã hoặc địa chỉ của tổ chức cấp trên (trống nếu là tổ chức cấp tỉnh). "
                        "Cán bộ: mã hoặc địa chỉ của tổ chức nơi công tác"),
    ("type", "Loại hình", "Không bắt buộc: loại hình tổ chức khi tên không bắt đầu bằng loại hình đã biết"),
    ("title", "Chức vụ", "Giám đốc, Trưởng phòng, Chuyên viên, ..."),
    ("rank", "Cấp lãnh đạo", "1 = người đứng đầu, 2 = cấp phó, 3 = trưởng phòng, ...; trống nếu không giữ "
                             "chức vụ lãnh đạo (Điều 3.3a: ưu tiên khi trùng địa chỉ)"),
    ("registered", "Ngày đăng ký", "dd/mm/yyyy; trống là ngày nhập (Điều 3.3a: ưu tiên đăng ký trước)"),
    ("address", "Địa chỉ thư", "Không bắt buộc: địa chỉ do Trung tâm CNTT&TT quyết định (Điều 3.3c), thay "
                               "cho địa chỉ theo quy tắc"),
    ("leader", "Thủ trưởng", "x nếu là thủ trưởng của tổ chức (nhận tệp mật khẩu)"),
    ("phone", "Điện thoại", "Không bắt buộc"),
]

_HEADER_KEYS: dict[str, str] = {fold(header): key for key, header, _ in COLUMNS}
_HEADER_KEYS.update({
    "loai": "kind", "ma so": "code", "ma can bo": "code", "ma to chuc": "code", "ten": "name",
    "ho va ten": "name", "ho ten": "name", "ten to chuc": "name", "truc thuoc": "parent",
    "to chuc": "parent", "don vi": "parent", "cap": "rank", "dia chi": "address", "email": "address",
    "dia chi thu dien tu": "address", "ngay dang ky": "registered", "lanh dao": "leader",
    "thu truong": "leader", "so dien thoai": "phone",
})

_ORG_KINDS = {"to chuc", "tochuc", "org", "organisation", "organization", "don vi", "co quan"}
_PERSON_KINDS = {"can bo", "canbo", "ca nhan", "person", "nguoi", "cong chuc", "vien chuc"}

EXAMPLE_ROWS: list[dict[str, str]] = [
    {"kind": "Tổ chức", "code": "STTTT", "name": "Sở Thông tin và Truyền thông"},
    {"kind": "Tổ chức", "code": "STTTT-CNTT", "name": "Phòng Công nghệ thông tin", "parent": "STTTT"},
    {"kind": "Cán bộ", "code": "CB0001", "name": "Nguyễn Thanh Bình", "parent": "STTTT",
     "title": "Giám đốc", "rank": "1", "registered": "01/10/2014", "leader": "x"},
    {"kind": "Cán bộ", "code": "CB0002", "name": "Đoàn Văn Thông", "parent": "STTTT-CNTT",
     "title": "Trưởng phòng", "rank": "3", "registered": "01/10/2014", "leader": "x"},
]


class ImportFileError(Exception):
    """The file cannot be read at all (format, encoding, headers)."""


# An XLSX is a zip: what it may unpack to (a "zip bomb" of a few kilobytes unpacking to
# gigabytes would fill the memory of openpyxl). 50,000 people take some 30 MB.
MAX_XLSX_UNPACKED = 400 * 1024 * 1024
# Cells a spreadsheet computes: the import takes values typed in, never formulas (a
# cached value may be stale or absent; "=" or "@" at the start of a CSV cell is what a
# spreadsheet would compute, OWASP "CSV Injection"). "+" and "-" start phone numbers.
CSV_FORMULA_STARTS = ("=", "@")


def _check_xlsx(path: Path) -> bool:
    """Refuse an XLSX that is no zip or unpacks to too much; True if a worksheet holds
    a formula (``<f>`` elements), so its cells must be looked at."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if sum(m.file_size for m in members) > MAX_XLSX_UNPACKED:
                raise ImportFileError(f"Tệp XLSX giải nén quá lớn / the XLSX unpacks to more than "
                                      f"{MAX_XLSX_UNPACKED // (1024 * 1024)} MB")
            formulas = False
            for member in members:
                if member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml"):
                    with archive.open(member) as part:
                        formulas = formulas or _has_formula(part)
            return formulas
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ImportFileError(f"Không phải tệp XLSX / not an XLSX file: {path.name} ({exc})") from None


def _has_formula(part: Any) -> bool:
    tail = b""
    while chunk := part.read(1 << 20):
        if re.search(rb"<(?:\w+:)?f[ >/]", tail + chunk):
            return True
        tail = chunk[-16:]
    return False


def formula_errors(path: Path, rows: list[tuple[int, list[str]]], header: list[str]) -> list[tuple[int, str]]:
    """(line, message) for every row with a formula instead of a value."""
    found: dict[int, str] = {}
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(path, read_only=True, data_only=False)
        except Exception as exc:
            raise ImportFileError(f"Không đọc được tệp XLSX / cannot read XLSX: {exc}") from None
        try:
            for line, row in enumerate(workbook.worksheets[0].iter_rows(values_only=True), 1):
                for index, value in enumerate(row):
                    if isinstance(value, str) and value.startswith("="):
                        column = header[index] if index < len(header) else str(index + 1)
                        found.setdefault(line, f"ô công thức ở cột '{column}': chỉ nhận giá trị / a formula in "
                                               f"column '{column}': type the value instead")
        finally:
            workbook.close()
    else:
        for line, cells in rows:
            for index, cell in enumerate(cells):
                if cell.startswith(CSV_FORMULA_STARTS):
                    column = header[index] if index < len(header) else str(index + 1)
                    found.setdefault(line, f"ô giống công thức ở cột '{column}' (bắt đầu bằng {cell[0]}) / a "
                                           f"formula-like cell in column '{column}'")
    return sorted(found.items())


@dataclass
class OrgRow:
    line: int
    code: str
    name: str
    parent_ref: str
    type_words: str
    address: str
    existing_id: int | None = None  # matched an organisation already in the directory
    db_id: int | None = None  # its id once created
    parent_key: Any = None  # ("file", code) or ("db", id) or None
    proposal: Proposal | None = None
    local: str = ""


@dataclass
class PersonRow:
    line: int
    code: str
    name: naming.PersonName
    org_ref: str
    title: str
    rank: int | None
    registered: datetime | None
    address: str
    leader: bool
    phone: str
    org_key: Any = None
    existing_id: int | None = None  # matched a person already in the directory
    db_id: int | None = None  # the new person's id once created
    proposal: Proposal | None = None


@dataclass
class ImportReport:
    errors: list[tuple[int, str]] = field(default_factory=list)
    orgs: list[OrgRow] = field(default_factory=list)
    people: list[PersonRow] = field(default_factory=list)
    dry_run: bool = True
    committed: bool = False
    password_files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def new_orgs(self) -> list[OrgRow]:
        return [o for o in self.orgs if o.existing_id is None]

    @property
    def new_people(self) -> list[PersonRow]:
        return [p for p in self.people if p.existing_id is None]

    @property
    def updated_people(self) -> list[PersonRow]:
        return [p for p in self.people if p.existing_id is not None]

    def lines(self, *, verbose: bool = True) -> Iterator[str]:
        if self.errors:
            yield f"{len(self.errors)} dòng lỗi, không nhập gì / {len(self.errors)} bad rows, nothing imported:"
            for line, message in sorted(self.errors):
                yield f"  dòng / line {line}: {message}"
            return
        if verbose:
            for org in self.new_orgs:
                assert org.proposal is not None
                yield f"  dòng {org.line}: tổ chức / org {org.name} → {org.proposal.explain()}"
            for person in self.new_people:
                assert person.proposal is not None
                yield f"  dòng {person.line}: {person.name.full} → {person.proposal.explain()}"
        clashes = sum(1 for p in self.new_people if p.proposal and p.proposal.clash_with)
        verb = "sẽ nhập / would import" if self.dry_run else "đã nhập / imported"
        yield (f"{verb}: {len(self.new_orgs)} tổ chức mới / new organisations, {len(self.new_people)} "
               f"người mới / new people ({clashes} trùng đã xử lý / clashes resolved), "
               f"{len(self.updated_people)} người cập nhật / updated")
        for path in self.password_files:
            yield f"  mật khẩu một lần / one-time passwords: {path}"


# -- reading ---------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return nfc(value).strip() if value else ""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return nfc(str(value)).strip()


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) from a CSV or XLSX file (an XLSX checked by
    ``_check_xlsx`` first)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise ImportFileError(f"Không đọc được tệp XLSX / cannot read XLSX: {exc}") from None
        sheet = workbook.worksheets[0]
        rows = [(i, [_cell(v) for v in row]) for i, row in enumerate(sheet.iter_rows(values_only=True), 1)]
        workbook.close()
    elif suffix in (".csv", ".txt"):
        raw = path.read_bytes()
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ImportFileError("Tệp CSV là UTF-16; hãy lưu lại dạng CSV UTF-8 / the CSV is UTF-16: save it as "
                                  "CSV UTF-8")
        if raw.startswith(b"PK\x03\x04"):
            raise ImportFileError("Tệp là XLSX mà đặt tên .csv / an XLSX file named .csv: name it .xlsx")
        if b"\x00" in raw:
            raise ImportFileError("Không phải tệp văn bản CSV / not a CSV text file")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ImportFileError(f"Tệp CSV phải là UTF-8 (dòng {line} không phải) / the CSV file must be UTF-8 "
                                  f"(line {line} is not): save it as CSV UTF-8") from None
        text = nfc(text)  # once for the whole file (a no-op check when it is NFC already)
        sample = text[:4096]
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = []
        start = 1
        for cells in reader:
            rows.append((start, [c.strip() for c in cells]))
            start = reader.line_num + 1
    else:
        raise ImportFileError(f"Chỉ nhận CSV hoặc XLSX / only CSV or XLSX files: {path.name}")
    rows = [(n, cells) for n, cells in rows if any(cells)]
    if not rows:
        raise ImportFileError("Tệp rỗng / empty file")
    header_line, header = rows[0]
    return header, rows[1:]


def _header_keys(header: list[str]) -> list[str | None]:
    keys = [_HEADER_KEYS.get(fold(h).replace("*", "").strip()) for h in header]
    missing = [h for k, h, _ in COLUMNS[:4] if k not in keys]
    if missing:
        raise ImportFileError(
            "Thiếu cột / missing columns: " + ", ".join(missing) +
            " (tải mẫu bằng / get the template with `congthu import template DEST`)")
    return keys


_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _parse_date(text: str) -> datetime:
    match = _DMY.match(text)
    if match:  # the common case, without strptime's cost
        try:
            return datetime(int(match[3]), int(match[2]), int(match[1]), tzinfo=UTC)
        except ValueError:
            raise ValueError(f"ngày không hợp lệ / invalid date {text!r} (dd/mm/yyyy)") from None
    for fmt in ("%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d", "%d.%m.%Y", "%d/%m/%y", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"ngày không hợp lệ / invalid date {text!r} (dd/mm/yyyy)")


def parse_rows(header: list[str], rows: list[tuple[int, list[str]]], report: ImportReport) -> None:
    keys = _header_keys(header)
    known = [k for k in keys if k]
    # Each known column picked by position in C (a cell missing at the end of a short row
    # reads as ""); a key given by two columns keeps the per-cell rule: the last non-empty.
    fast = len(set(known)) == len(known)
    width = len(keys)
    pick = itemgetter(*[i for i, k in enumerate(keys) if k])
    padding = [""] * width
    for line, cells in rows:
        values: dict[str, str]
        if fast:
            if len(cells) < width:
                cells = cells + padding[len(cells):]
            values = dict(zip(known, pick(cells), strict=True)) if len(known) > 1 else {known[0]: pick(cells)}
        else:
            values = {}
            for key, cell in zip(keys, cells, strict=False):
                if key and cell:
                    values[key] = cell
        kind = fold(values.get("kind", ""))
        name = " ".join(values.get("name", "").split())
        if not name:
            report.errors.append((line, "thiếu tên / name missing"))
            continue
        if kind in _ORG_KINDS:
            report.orgs.append(OrgRow(line, values.get("code", ""), name, values.get("parent", ""),
                                      values.get("type", ""), values.get("address", "").lower()))
        elif kind in _PERSON_KINDS:
            problems = []
            rank: int | None = None
            if values.get("rank"):
                try:
                    rank = int(values["rank"])
                    if rank < 0:
                        raise ValueError
                except ValueError:
                    problems.append(f"cấp lãnh đạo phải là số / rank must be a number: {values['rank']!r}")
            registered = None
            if values.get("registered"):
                try:
                    registered = _parse_date(values["registered"])
                except ValueError as exc:
                    problems.append(str(exc))
            if not values.get("parent"):
                problems.append("thiếu tổ chức công tác / organisation missing")
            try:
                person_name = naming.split_name(name)
            except NamingError as exc:
                problems.append(str(exc))
            if problems:
                report.errors.append((line, "; ".join(problems)))
                continue
            report.people.append(PersonRow(
                line, values.get("code", ""), person_name, values.get("parent", ""),
                values.get("title", ""), rank or None, registered, values.get("address", "").lower(),
                fold(values.get("leader", "")) in ("x", "co", "yes", "1", "true"), values.get("phone", ""),
            ))
        else:
            report.errors.append((line, f"loại dòng phải là 'Tổ chức' hoặc 'Cán bộ' / row type must be "
                                        f"'Tổ chức' or 'Cán bộ', got {values.get('kind', '')!r}"))


# -- planning --------------------------------------------------------------------------


class Importer:
    def __init__(self, app: App) -> None:
        self.app = app
        self.directory = Directory(app)

    async def run(self, path: Path, *, dry_run: bool = False, out_dir: Path | None = None,
                  passwords: bool = True) -> ImportReport:
        """Check the whole file, then (unless ``dry_run`` or any error) import it in one
        transaction. ``passwords=False`` creates the mailboxes without credentials (a
        password is set later by a reset): for benchmarks and staged roll-outs."""
        was_enabled = gc.isenabled()
        # The cyclic collector would walk every row object again and again while 50,000
        # rows are read and planned (seconds); reference counting still frees as we go.
        gc.disable()
        try:
            return await self._run(Path(path), dry_run, out_dir, passwords)
        finally:
            if was_enabled:
                gc.enable()

    async def _run(self, path: Path, dry_run: bool, out_dir: Path | None, passwords: bool) -> ImportReport:
        import time

        started = time.perf_counter()
        report = ImportReport(dry_run=dry_run)
        xlsx = path.suffix.lower() in (".xlsx", ".xlsm")
        may_hold_formulas = _check_xlsx(path) if xlsx else True  # before openpyxl opens it
        header, rows = read_rows(path)
        formulas = formula_errors(path, rows, header) if may_hold_formulas else []
        report.errors.extend(formulas)
        bad = {line for line, _ in formulas}
        parse_rows(header, [(n, cells) for n, cells in rows if n not in bad], report)
        report.timings["read"] = time.perf_counter() - started
        state = await self.app.db.run_read(_State.load, self.directory)
        self._plan(report, state)
        report.timings["plan"] = time.perf_counter() - started
        if report.errors or dry_run:
            return report
        await self._commit(report, state, out_dir, passwords)
        report.timings["total"] = time.perf_counter() - started
        return report

    def _plan(self, report: ImportReport, state: _State) -> None:
        d = self.directory
        holder_base = d.holder(state.taken)
        issued: dict[str, str] = {}

        def holder(local: str) -> str | None:
            return issued.get(local) or holder_base(local)

        # Organisations, parents first (the file may list them in any order).
        by_code: dict[str, OrgRow] = {}
        for org in report.orgs:
            if org.code:
                if org.code in by_code:
                    report.errors.append((org.line, f"mã tổ chức trùng với dòng {by_code[org.code].line} / "
                                                    f"duplicate organisation code {org.code}"))
                    continue
                by_code[org.code] = org
        resolved: dict[int, str] = {}  # id(row) -> local part
        pending = [o for o in report.orgs if not o.code or by_code.get(o.code) is o]
        seen_names: dict[tuple[Any, str], OrgRow] = {}
        while pending:
            progress = False
            for org in list(pending):
                parent_local: str | None = None
                parent_id_key: Any = None
                if org.parent_ref:
                    if org.parent_ref in by_code and by_code[org.parent_ref] is not org:
                        parent_row = by_code[org.parent_ref]
                        if id(parent_row) not in resolved:
                            if parent_row not in pending:  # the parent row failed
                                report.errors.append((org.line, f"tổ chức cấp trên ở dòng {parent_row.line} "
                                                                f"bị lỗi / parent row is bad"))
                                pending.remove(org)
                            continue
                        parent_local = resolved[id(parent_row)]
                        parent_id_key = ("file", org.parent_ref)
                    else:
                        existing = state.org_by_ref(org.parent_ref)
                        if existing is None:
                            report.errors.append((org.line, f"không có tổ chức cấp trên / unknown parent "
                                                            f"organisation {org.parent_ref!r}"))
                            pending.remove(org)
                            continue
                        parent_local = existing["local_part"]
                        parent_id_key = ("db", existing["id"])
                org.parent_key = parent_id_key
                pending.remove(org)
                progress = True
                name_key = (parent_id_key, fold(org.name))
                if name_key in seen_names:
                    report.errors.append((org.line, f"tổ chức trùng với dòng {seen_names[name_key].line} / "
                                                    f"duplicate organisation"))
                    continue
                seen_names[name_key] = org
                match = state.orgs_by_code.get(org.code) if org.code else None
                if match is None:
                    parent_db_id = parent_id_key[1] if parent_id_key and parent_id_key[0] == "db" else None
                    match = state.orgs_by_name.get((parent_db_id, fold(org.name))) if (
                        parent_id_key is None or parent_id_key[0] == "db") else None
                if match is not None:
                    org.existing_id = match["id"]
                    org.local = match["local_part"]
                    resolved[id(org)] = org.local
                    continue
                try:
                    proposal = naming.propose_org(org.name, holder, parent=parent_local,
                                                  type_words=org.type_words or None,
                                                  override=d.local_of(org.address) if org.address else None)
                except (NamingError, Exception) as exc:
                    report.errors.append((org.line, f"địa chỉ không dùng được / impossible address: {exc}"))
                    continue
                if proposal.needs_decision and not org.address:
                    report.errors.append((org.line, f"cần Trung tâm CNTT&TT quyết định, ghi địa chỉ vào cột "
                                                    f"'Địa chỉ thư' / operator must decide, put an address in "
                                                    f"'Địa chỉ thư': {proposal.explain()}"))
                    continue
                org.proposal = proposal
                org.local = proposal.local
                issued[proposal.local] = f"tổ chức / organisation {org.name} (dòng {org.line})"
                resolved[id(org)] = org.local
            if not progress:
                for org in pending:
                    report.errors.append((org.line, "vòng lặp tổ chức cấp trên / parent cycle"))
                break
        file_orgs = {o.code: o for o in report.orgs if o.code and id(o) in resolved}

        # People.
        by_code_p: dict[str, PersonRow] = {}
        by_name_p: dict[tuple[Any, str], PersonRow] = {}
        requests: list[PersonRequest] = []
        now = utcnow()
        for order, person in enumerate(report.people):
            org_local: str
            if person.org_ref in file_orgs:
                org_row = file_orgs[person.org_ref]
                person.org_key = ("db", org_row.existing_id) if org_row.existing_id else ("file", person.org_ref)
                org_local = org_row.local
            elif person.org_ref in by_code and id(by_code[person.org_ref]) not in resolved:
                report.errors.append((person.line, f"tổ chức ở dòng {by_code[person.org_ref].line} bị lỗi / "
                                                   f"the organisation's row is bad"))
                continue
            else:
                existing = state.org_by_ref(person.org_ref)
                if existing is None:
                    report.errors.append((person.line, f"không có tổ chức / unknown organisation "
                                                       f"{person.org_ref!r}"))
                    continue
                person.org_key = ("db", existing["id"])
                org_local = existing["local_part"]
            name_key = (person.org_key, fold(person.name.full))
            if person.code:
                if person.code in by_code_p:
                    report.errors.append((person.line, f"trùng mã cán bộ với dòng {by_code_p[person.code].line} / "
                                                       f"duplicate person (code {person.code})"))
                    continue
                by_code_p[person.code] = person
            elif name_key in by_name_p and not by_name_p[name_key].code:
                report.errors.append((person.line, f"trùng người với dòng {by_name_p[name_key].line} (cùng tên, "
                                                   f"cùng tổ chức; thêm mã cán bộ nếu là hai người) / duplicate "
                                                   f"person: add staff codes if they are two people"))
                continue
            by_name_p.setdefault(name_key, person)
            known = state.people_by_code.get(person.code) if person.code else None
            if known is None and not person.code and person.org_key[0] == "db":
                known = state.people_by_name.get((person.org_key[1], fold(person.name.full)))
            if known is not None:
                person.existing_id = known
                continue
            if person.address:
                local = person.address.split("@")[0]
                problem = naming.validate_local(local)
                if problem:
                    report.errors.append((person.line, f"địa chỉ không hợp lệ / invalid address: {problem}"))
                    continue
            requests.append(PersonRequest(
                key=order, name=person.name, org_local=org_local, rank=person.rank,
                registered=person.registered or now, order=order,
                override=person.address.split("@")[0] if person.address else None,
            ))
        # Điều 3.3: the whole batch is allocated at once, in priority order; a request that
        # fails is reported and left out, and the rest is allocated again so every bad
        # row is found in one pass.
        while requests:
            try:
                proposals = naming.allocate_people(requests, holder)
            except NamingError as exc:
                key = exc.args[1] if len(exc.args) > 1 else None
                bad = next((r for r in requests if r.key == key), None)
                if bad is None:
                    raise
                report.errors.append((report.people[bad.key].line,
                                      f"địa chỉ không dùng được / impossible address: {exc.args[0]}"))
                requests.remove(bad)
                continue
            for key, proposal in proposals.items():
                report.people[key].proposal = proposal
            break

    async def _commit(self, report: ImportReport, state: _State, out_dir: Path | None, passwords: bool) -> None:
        import time

        d = self.directory
        t0 = time.perf_counter()
        new_orgs = report.new_orgs
        new_people = [p for p in report.new_people if p.proposal is not None]
        plain: list[str] = []
        if passwords:
            plain = [one_time_password() for _ in range(len(new_orgs) + len(new_people))]
            hashes: list[str | None] = list(await d.hash_passwords(plain))
        else:
            hashes = [None] * (len(new_orgs) + len(new_people))
        report.timings["hash"] = time.perf_counter() - t0
        org_names: dict[Any, tuple[str, str]] = {}  # org key -> (name, address)
        for org in report.orgs:
            key = ("db", org.existing_id) if org.existing_id else ("file", org.code or f"line{org.line}")
            org_names[key] = (org.name, d.full(org.local))
        for org_id, org_row in state.orgs_by_id.items():
            org_names[("db", org_id)] = (org_row["name"], org_row["address"])
        now = utcnow()
        today = date.today()
        domain = "@" + d.domain
        def write(conn: Connection) -> Callable[[Any], int]:
            # Mailboxes of every new organisation and person, in bulk, with their ids.
            specs = [NewMailbox(o.local + domain, o.name, "subunit" if o.parent_key else "organisation", h)
                     for o, h in zip(new_orgs, hashes, strict=False)]
            specs += [NewMailbox(p.proposal.local + domain, p.name.full, "personal", h)
                      for p, h in zip(new_people, hashes[len(new_orgs):], strict=True) if p.proposal]
            mailbox_ids = d.insert_mailboxes(conn, specs)
            # Organisations: ids first, so parents can be named; then inserted parents
            # first (each row's parent exists when it is checked).
            file_ids: dict[str, int] = {}
            for o in report.orgs:
                if o.code and o.existing_id:
                    file_ids[o.code] = o.existing_id
            for o, oid in zip(new_orgs, allocate_ids(conn, dir_orgs, len(new_orgs)), strict=True):
                o.db_id = oid
                if o.code:
                    file_ids[o.code] = oid

            def org_id_of(key: Any) -> int:
                return int(key[1]) if key[0] == "db" else file_ids[key[1]]

            depth: dict[int, int] = {}

            def level(o: OrgRow) -> int:
                if id(o) not in depth:
                    depth[id(o)] = 0  # a cycle was refused by _plan; this stops recursion anyway
                    parent = by_code.get(o.parent_key[1]) if o.parent_key and o.parent_key[0] == "file" else None
                    depth[id(o)] = level(parent) + 1 if parent is not None and parent.existing_id is None else 0
                return depth[id(o)]

            by_code = {o.code: o for o in report.orgs if o.code}
            org_rows = []
            for o, mailbox_id in sorted(zip(new_orgs, mailbox_ids[: len(new_orgs)], strict=True),
                                        key=lambda pair: level(pair[0])):
                parent_id = org_id_of(o.parent_key) if o.parent_key is not None else None
                try:
                    type_words = naming.analyse_org(o.name, type_words=o.type_words or None).type_words
                except NamingError:
                    type_words = o.type_words
                address = o.local + domain
                org_rows.append({
                    "id": o.db_id, "code": o.code or None, "parent_id": parent_id,
                    "kind": "subunit" if parent_id else "organisation", "type_words": type_words,
                    "name": o.name, "address": address, "local_part": o.local, "mailbox_id": mailbox_id,
                    "search_key": org_search_key(o.name, address),
                })
            bulk_insert(conn, dir_orgs, org_rows,
                        constants={"valid_from": today, "status": "active", "created_at": now})

            # New people, with their ids.
            people_rows: list[dict[str, Any]] = []
            person_ids = allocate_ids(conn, dir_people, len(new_people))
            for p, person_id, mailbox_id in zip(new_people, person_ids, mailbox_ids[len(new_orgs):], strict=True):
                assert p.proposal is not None
                p.db_id = person_id
                org_id = org_id_of(p.org_key)
                org_name, org_address = org_names.get(("db", org_id)) or org_names.get(p.org_key) or ("", "")
                address = p.proposal.local + domain
                people_rows.append({
                    "id": person_id, "code": p.code or None, "org_id": org_id, "family_name": p.name.family,
                    "middle_name": p.name.middle, "given_name": p.name.given, "full_name": p.name.full,
                    "title": p.title, "rank": p.rank, "registered_at": p.registered or now,
                    "mailbox_id": mailbox_id, "phone": p.phone,
                    "search_key": person_search_key(p.name.full, address, p.title, org_name, org_address),
                })
            bulk_insert(conn, dir_people, people_rows,
                        constants={"status": "active", "created_at": now, "updated_at": now}, staged=True)
            # Re-imported people: title, rank, organisation, phone.
            updates = []
            for p in report.updated_people:
                org_id = org_id_of(p.org_key)
                org_name, org_address = org_names.get(("db", org_id)) or org_names.get(p.org_key) or ("", "")
                current = state.people_rows[p.existing_id] if p.existing_id else None
                address = current["address"] if current else ""
                updates.append({
                    "pid": p.existing_id, "org_id": org_id, "title": p.title, "rank": p.rank, "phone": p.phone,
                    "updated_at": now,
                    "search_key": person_search_key(p.name.full, address, p.title, org_name, org_address),
                })
            if updates:
                conn.execute(
                    update(dir_people).where(dir_people.c.id == bindparam("pid")).values(
                        org_id=bindparam("org_id"), title=bindparam("title"), rank=bindparam("rank"),
                        phone=bindparam("phone"), updated_at=bindparam("updated_at"),
                        search_key=bindparam("search_key")),
                    updates)
            # Leaders: marked rows, else the highest rank among the new people of a new org.
            leaders: dict[int, int] = {}
            for p in report.people:
                pid = p.db_id or p.existing_id
                if p.leader and pid and p.org_key:
                    leaders[org_id_of(p.org_key)] = pid
            if leaders:
                conn.execute(
                    update(dir_orgs).where(dir_orgs.c.id == bindparam("oid")).values(leader_id=bindparam("lid")),
                    [{"oid": o, "lid": p} for o, p in leaders.items()])
            record_event(conn, "import", at=now, orgs=len(new_orgs), people=len(new_people),
                         updated=len(report.updated_people))
            return org_id_of

        def tx(conn: Connection) -> Callable[[Any], int]:
            with _bulk_pragmas(conn):
                return write(conn)

        org_id_of = await self.app.db.run_write(tx)
        report.committed = True
        report.timings["db"] = time.perf_counter() - t0 - report.timings["hash"]
        if passwords:
            report.password_files = _write_password_files(
                self.app, report, new_orgs, new_people, plain, org_id_of, org_names, out_dir)


# SQLite page cache of the import's connection while it runs: the new rows and their
# indexes (some 40 MB for 50,000 people) stay in memory until the commit instead of
# spilling to the WAL part-way. Durability is unchanged (synchronous=FULL at commit).
_IMPORT_CACHE_KIB = 256 * 1024


@contextmanager
def _bulk_pragmas(conn: Connection) -> Iterator[None]:
    if conn.dialect.name != "sqlite":
        yield
        return
    old = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(old or -2000)}")


def _write_password_files(app: App, report: ImportReport, new_orgs: list[OrgRow], new_people: list[PersonRow],
                          plain: list[str], org_id_of: Any, org_names: dict[Any, tuple[str, str]],
                          out_dir: Path | None) -> list[Path]:
    """One CSV per organisation with its new mailboxes and one-time passwords, for its
    leader (mode 0600). The passwords must be changed at first login (Điều 13.2)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = out_dir or app.data_dir / "mat-khau-mot-lan" / f"{stamp}-{secrets.token_hex(2)}"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    per_org: dict[int, list[tuple[str, str, str, str]]] = {}
    for o, pw in zip(new_orgs, plain, strict=False):
        assert o.db_id is not None
        per_org.setdefault(o.db_id, []).append((o.name, "", Directory(app).full(o.local), pw))
    for p, pw in zip(new_people, plain[len(new_orgs):], strict=True):
        assert p.proposal is not None
        per_org.setdefault(org_id_of(p.org_key), []).append(
            (p.name.full, p.title, Directory(app).full(p.proposal.local), pw))
    files = []
    for org_id, entries in sorted(per_org.items()):
        name, address = org_names.get(("db", org_id)) or next(
            ((o.name, Directory(app).full(o.local)) for o in new_orgs if o.db_id == org_id), ("", str(org_id)))
        path = folder / f"{address.split('@')[0]}.csv"
        # Names and titles come from the import file: formula-like cells are escaped.
        text = csv_text([[f"# {name} <{address}>: mật khẩu một lần, đổi khi đăng nhập lần đầu (Điều 13.2)"],
                         ["Họ và tên / Tên", "Chức vụ", "Địa chỉ thư", "Mật khẩu một lần"], *entries])
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as f:
            f.write(text)
        files.append(path)
    return files


class _State:
    """What the database already holds, loaded once for the whole file."""

    def __init__(self) -> None:
        self.taken: dict[str, str] = {}
        self.orgs_by_id: dict[int, dict[str, Any]] = {}
        self.orgs_by_code: dict[str, dict[str, Any]] = {}
        self.orgs_by_address: dict[str, dict[str, Any]] = {}
        self.orgs_by_name: dict[tuple[int | None, str], dict[str, Any]] = {}
        self.people_by_code: dict[str, int] = {}
        self.people_by_name: dict[tuple[int, str], int] = {}
        self.people_rows: dict[int, dict[str, Any]] = {}
        self.directory: Directory | None = None

    @classmethod
    def load(cls, conn: Connection, d: Directory) -> _State:
        state = cls()
        state.directory = d
        state.taken = d.taken(conn)
        for row in conn.execute(select(dir_orgs).where(dir_orgs.c.status == "active")):
            item = dict(row._mapping)
            state.orgs_by_id[row.id] = item
            if row.code:
                state.orgs_by_code[row.code] = item
            state.orgs_by_address[row.address] = item
            state.orgs_by_name[(row.parent_id, fold(row.name))] = item
        people = conn.execute(
            select(dir_people.c.id, dir_people.c.code, dir_people.c.org_id, dir_people.c.full_name,
                   dir_people.c.mailbox_id)
            .where(dir_people.c.status == "active")
        ).all()
        addresses = addresses_of(conn, None if len(people) > 500 else [p.mailbox_id for p in people])
        for row in people:
            if row.code:
                state.people_by_code[row.code] = row.id
            if row.org_id is not None:
                state.people_by_name[(row.org_id, fold(row.full_name))] = row.id
            state.people_rows[row.id] = {"address": addresses.get(row.mailbox_id, "")}
        return state

    def org_by_ref(self, ref: str) -> dict[str, Any] | None:
        if ref in self.orgs_by_code:
            return self.orgs_by_code[ref]
        assert self.directory is not None
        try:
            return self.orgs_by_address.get(self.directory.address_of(ref))
        except Exception:
            return None


# -- the template ----------------------------------------------------------------------


def write_template(dest: Path) -> Path:
    """Write the import template: XLSX (headers, examples, a sheet of instructions) or,
    for a .csv name, CSV (UTF-8 with BOM, so Excel shows the accents)."""
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / "mau-nhap-danh-ba.xlsx"
    headers = [h for _, h, _ in COLUMNS]
    examples = [[row.get(k, "") for k, _, _ in COLUMNS] for row in EXAMPLE_ROWS]
    if dest.suffix.lower() == ".csv":
        with dest.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(headers)
            writer.writerows(examples)
        return dest
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Danh bạ"
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in examples:
        sheet.append(row)
    for i, (_, header, _) in enumerate(COLUMNS):
        sheet.column_dimensions[chr(ord("A") + i)].width = max(14, len(header) + 4)
    sheet.column_dimensions["C"].width = 40
    guide = workbook.create_sheet("Hướng dẫn")
    guide.append(["Cột", "Ý nghĩa"])
    for cell in guide[1]:
        cell.font = Font(bold=True)
    for _, header, meaning in COLUMNS:
        guide.append([header, meaning])
    guide.append([])
    guide.append(["Địa chỉ", "Tạo theo Điều 3 Quy chế: tổ chức = loại hình + chữ cái đầu (sotttt); "
                             "bộ phận = <bộ phận>.<tổ chức> (phongcntt.sotttt); cá nhân = chữ cái đầu họ, tên đệm "
                             "+ tên (ntbinh); trùng: ntbinh.sotttt, ntbinh2.sotttt"])
    guide.column_dimensions["A"].width = 24
    guide.column_dimensions["B"].width = 120
    dest.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(dest)
    return dest
