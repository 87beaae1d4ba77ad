"""Requests of Điều 4.1–4.3 and their workflow: filed, carried out, answered.

Four kinds (Điều 4.1): ``create`` (new personal or sub-unit mailboxes), ``rename`` (an
organisation or sub-unit gets a new name and address; the old one stays as an alias),
``reset`` (a new one-time password), ``delete`` (a person's mailbox revoked, a sub-unit
dissolved: mail kept, address reserved). A request comes from an organisation (its
manager in the console, or the IT Center for a paper request) and may only touch that
organisation and its sub-units.

States: ``received`` → ``in_progress`` → ``done`` or ``refused`` (with the reason); a
request not yet started may be refused at once. Each change is one compare-and-set on
the row (two administrators never both carry out a request), written with its history
line and its audit record in one transaction, then mailed to the requesting
organisation's mailbox through the store's delivery (Điều 4.3: "gửi thông báo kết quả
... đến tổ chức, cá nhân gửi yêu cầu"), with a copy to the Department's supervisors
when the request is answered ("đồng thời báo cáo Sở").

A paper request (source ``paper``, entered by the IT Center) may carry its scanned
letter (``letters.py``): checked by its bytes, kept in the blob store, written with the
request in one transaction (or added later by the IT Center), listed and downloaded
from the request's page by those who may read the request, every addition and download
audited (``request.letter_added``, ``request.letter_read``).

The due date is ``requests.working_days`` (3, Điều 4.3) working days after the filed day
(``calendar.py``). The one-time passwords of a done request are kept for the requesting
organisation's manager only, shown in the console until taken, never mailed (Điều 13.2).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from congthu import audit
from congthu.accounts import roles
from congthu.directory import Directory, DirectoryError, Org
from congthu.requests import letters, notices
from congthu.requests.calendar import is_overdue, load_calendar
from congthu.requests.letters import KeptLetter, Letter
from congthu.requests.tables import request_events, request_letters, requests
from congthu.text import nfc

if TYPE_CHECKING:
    from congthu.app import App

KINDS = ("create", "rename", "reset", "delete")
RECEIVED, IN_PROGRESS, DONE, REFUSED = "received", "in_progress", "done", "refused"
STATES = (RECEIVED, IN_PROGRESS, DONE, REFUSED)
OPEN = (RECEIVED, IN_PROGRESS)
SOURCES = ("console", "paper", "mail", "api")  # api: congthu/api (another application)
# The state machine: action -> (states it may start from, state it leads to).
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": ((RECEIVED,), IN_PROGRESS),
    "done": ((IN_PROGRESS,), DONE),
    "refuse": ((RECEIVED, IN_PROGRESS), REFUSED),
}
KIND_NAMES = {
    "create": ("Cấp mới hộp thư", "New mailboxes"),
    "rename": ("Đổi tên", "Rename"),
    "reset": ("Cấp lại mật khẩu", "Password reset"),
    "delete": ("Hủy hộp thư", "Delete a mailbox"),
}
STATE_NAMES = {
    RECEIVED: ("Đã tiếp nhận", "Received"),
    IN_PROGRESS: ("Đang xử lý", "In progress"),
    DONE: ("Đã hoàn thành", "Done"),
    REFUSED: ("Từ chối", "Refused"),
}
MAX_NEW_MAILBOXES = 200
MAX_TEXT = 2000


class RequestError(Exception):
    """A refused filing or action; the text (Vietnamese / English) is for the user."""


class RequestNotFound(RequestError):
    pass


@dataclass(frozen=True)
class Request:
    id: int
    kind: str
    org_id: int
    filed_by: str
    source: str
    details: dict[str, Any]
    note: str
    state: str
    reason: str
    filed_at: datetime
    due_on: date
    finished_at: datetime | None
    result: dict[str, Any]
    has_passwords: bool
    overdue_alerted_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.state in OPEN and is_overdue(self.due_on, now)


@dataclass(frozen=True)
class Event:
    at: datetime
    actor: str
    action: str
    text: str


@dataclass
class Outcome:
    """What carrying a request out did: shown, mailed (without passwords), kept."""

    result: dict[str, Any] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _record(row: Any) -> Request:
    filed = _aware(row.filed_at)
    assert filed is not None
    return Request(
        id=row.id, kind=row.kind, org_id=row.org_id, filed_by=row.filed_by, source=row.source,
        details=json.loads(row.details or "{}"), note=row.note, state=row.state, reason=row.reason,
        filed_at=filed, due_on=row.due_on, finished_at=_aware(row.finished_at),
        result=json.loads(row.result or "{}"), has_passwords=bool(row.secrets),
        overdue_alerted_at=_aware(row.overdue_alerted_at))


# -- SQL (one transaction each, or inside the caller's) ----------------------------------------


def _event(conn: Connection, request_id: int, at: datetime, actor: str, action: str, text: str = "") -> None:
    conn.execute(insert(request_events).values(request_id=request_id, at=at, actor=actor, action=action,
                                               text=text[:MAX_TEXT]))


def insert_request(conn: Connection, values: dict[str, Any], working_days: int,
                   letter: tuple[str, Letter] | None = None) -> Request:
    """File a request: its due date from the calendar as it stands, its history, its audit;
    with its letter (the blob already stored, and the letter) if it has one."""
    calendar = load_calendar(conn)
    due = calendar.due_on(values["filed_at"], working_days)
    key: Any = conn.execute(insert(requests).values(**values, due_on=due, state=RECEIVED)).inserted_primary_key
    request_id = int(key[0])
    _event(conn, request_id, values["filed_at"], values["filed_by"], "filed", values["note"])
    audit.append(conn, at=values["filed_at"], action="request.filed", actor=values["filed_by"],
                 target=f"request:{request_id}",
                 details={"kind": values["kind"], "org_id": values["org_id"], "source": values["source"],
                          "due_on": due.isoformat()})
    if letter is not None:
        add_letter(conn, request_id, letter[0], letter[1], values["filed_by"], values["filed_at"])
    return _record(conn.execute(select(requests).where(requests.c.id == request_id)).one())


def add_letter(conn: Connection, request_id: int, digest: str, letter: Letter, actor: str,
               at: datetime) -> KeptLetter | None:
    """Keep a letter (its blob already stored) with a request, its history line and its
    audit record; None if there is no such request."""
    if conn.execute(select(requests.c.id).where(requests.c.id == request_id)).first() is None:
        return None
    key: Any = conn.execute(insert(request_letters).values(
        request_id=request_id, blob=digest, size=len(letter.data), content_type=letter.content_type,
        filename=letter.filename, added_by=actor, added_at=at)).inserted_primary_key
    letter_id = int(key[0])
    _event(conn, request_id, at, actor, "letter", letter.filename)
    audit.append(conn, at=at, action="request.letter_added", actor=actor, target=f"request:{request_id}",
                 details={"letter": letter_id, "type": letter.content_type, "size": len(letter.data),
                          "sha256": digest, "filename": letter.filename})
    return letters.letter_of(conn, request_id, letter_id)


def request_row(conn: Connection, request_id: int) -> Request | None:
    row = conn.execute(select(requests).where(requests.c.id == request_id)).first()
    return _record(row) if row else None


def request_rows(conn: Connection, org_ids: Sequence[int] | None, state: str | None) -> list[Request]:
    query = select(requests).order_by(requests.c.id.desc())
    if org_ids is not None:
        query = query.where(requests.c.org_id.in_(list(org_ids)))
    if state:
        query = query.where(requests.c.state == state)
    return [_record(r) for r in conn.execute(query)]


def events_of(conn: Connection, request_id: int) -> list[Event]:
    rows = conn.execute(select(request_events).where(request_events.c.request_id == request_id)
                        .order_by(request_events.c.id))
    return [Event(_aware(r.at) or r.at, r.actor, r.action, r.text) for r in rows]


def move(conn: Connection, request_id: int, action: str, actor: str, now: datetime, *, reason: str = "",
         result: dict[str, Any] | None = None, passwords: dict[str, str] | None = None) -> Request | None:
    """One step of the state machine as a compare-and-set; None if the request is not in
    a state the action may start from (someone else moved it, or it is finished)."""
    sources, target = TRANSITIONS[action]
    values: dict[str, Any] = {"state": target}
    if target in (DONE, REFUSED):
        values["finished_at"] = now
    if reason:
        values["reason"] = reason[:MAX_TEXT]
    if result is not None:
        values["result"] = json.dumps(result, ensure_ascii=False)
    if passwords:
        values["secrets"] = json.dumps(passwords, ensure_ascii=False)
    changed = conn.execute(update(requests).where(requests.c.id == request_id, requests.c.state.in_(sources))
                           .values(**values)).rowcount
    if not changed:
        return None
    _event(conn, request_id, now, actor, action, reason)
    audit.append(conn, at=now, action=f"request.{action}", actor=actor, target=f"request:{request_id}",
                 details={"state": target, **({"reason": reason} if reason else {}),
                          **({"result": result} if result else {})})
    return request_row(conn, request_id)


def note_failure(conn: Connection, request_id: int, actor: str, now: datetime, text: str,
                 result: dict[str, Any], passwords: dict[str, str]) -> None:
    """Carrying out stopped half-way: what was made is kept (a retry skips it)."""
    conn.execute(update(requests).where(requests.c.id == request_id).values(
        result=json.dumps(result, ensure_ascii=False),
        **({"secrets": json.dumps(passwords, ensure_ascii=False)} if passwords else {})))
    _event(conn, request_id, now, actor, "failed", text)
    audit.append(conn, at=now, action="request.failed", actor=actor, target=f"request:{request_id}",
                 details={"error": text[:500]})


def take_secrets(conn: Connection, request_id: int, actor: str, now: datetime) -> dict[str, str]:
    """The one-time passwords of a request, removed from the database as they are read."""
    row = conn.execute(select(requests.c.secrets).where(requests.c.id == request_id)).first()
    if row is None or not row.secrets:
        return {}
    conn.execute(update(requests).where(requests.c.id == request_id).values(secrets=""))
    _event(conn, request_id, now, actor, "passwords_taken")
    audit.append(conn, at=now, action="request.passwords_taken", actor=actor, target=f"request:{request_id}",
                 details={"count": len(json.loads(row.secrets))})
    return dict(json.loads(row.secrets))


def peek_secrets(conn: Connection, request_id: int) -> dict[str, str]:
    row = conn.execute(select(requests.c.secrets).where(requests.c.id == request_id)).first()
    return dict(json.loads(row.secrets)) if row is not None and row.secrets else {}


def overdue_unalerted(conn: Connection, today: date) -> list[Request]:
    """Open requests whose last day is before ``today`` (Vietnam) and not yet alerted."""
    rows = conn.execute(select(requests).where(requests.c.state.in_(OPEN), requests.c.due_on < today,
                                               requests.c.overdue_alerted_at.is_(None)).order_by(requests.c.id))
    return [_record(r) for r in rows]


def mark_alerted(conn: Connection, request_ids: Sequence[int], now: datetime) -> None:
    conn.execute(update(requests).where(requests.c.id.in_(list(request_ids))).values(overdue_alerted_at=now))
    for request_id in request_ids:
        _event(conn, request_id, now, "system", "overdue")


# -- the workflow --------------------------------------------------------------------------------


def parse_names(text: str) -> list[dict[str, str]]:
    """New mailboxes, one a line: "Full name" or "Full name; title"."""
    out = []
    for line in text.splitlines():
        name, _sep, title = nfc(line).partition(";")
        name = " ".join(name.split())
        if name:
            out.append({"name": name[:200], "title": " ".join(title.split())[:200]})
    return out


class Requests:
    """The workflow on one App (its clock is the accounts' clock, injected by tests)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.directory = Directory(app)

    def now(self) -> datetime:
        # In UTC: SQLite keeps a time without its offset.
        return self.app.accounts.clock().astimezone(UTC)

    @property
    def working_days(self) -> int:
        return self.app.settings.requests.working_days

    # -- organisations -----------------------------------------------------------------------------

    async def org_chain(self, org_id: int) -> list[int]:
        """The organisation and its parents up to the root (``Directory.org_chain``)."""
        return await self.directory.org_chain(org_id)

    async def _target_org(self, address: str) -> tuple[str, int, Any]:
        """What an address is in the directory: ("person", org id, Person) or ("org", org id, Org)."""
        try:
            person = await self.directory.get_person(address)
            if person.org_id is not None and person.status == "active":
                return "person", person.org_id, person
        except DirectoryError:
            pass
        try:
            org = await self.directory.get_org(address, include_inactive=False)
        except DirectoryError:
            raise RequestError(f"Không có hộp thư này trong danh bạ / no such mailbox in the directory: "
                               f"{address}") from None
        return "org", org.id, org

    async def _check_target(self, org: Org, address: str) -> tuple[str, Any]:
        kind, target_org, record = await self._target_org(address)
        if org.id not in await self.org_chain(target_org):
            raise RequestError(f"{address} không thuộc {org.name} / does not belong to the requesting organisation")
        return kind, record

    # -- filing ------------------------------------------------------------------------------------

    async def file(self, kind: str, org_ref: str | int, *, filed_by: str, source: str = "console",
                   names: str = "", mailbox_kind: str = "person", target: str = "", new_name: str = "",
                   note: str = "", letter: Letter | None = None) -> Request:
        """File a request of ``kind`` for an organisation, a paper one with its scanned
        ``letter`` (checked by ``letters.check``); RequestError if it cannot be."""
        if letter is not None and source != "paper":
            raise RequestError("Chỉ yêu cầu bằng văn bản mới kèm công văn / only a paper request carries a letter")
        if kind not in KINDS:
            raise RequestError(f"Loại yêu cầu không hợp lệ / unknown kind {kind!r}: {', '.join(KINDS)}")
        if source not in SOURCES:
            raise RequestError(f"Nguồn không hợp lệ / unknown source {source!r}")
        try:
            org = await self.directory.get_org(org_ref, include_inactive=False)
        except DirectoryError as exc:
            raise RequestError(str(exc)) from None
        details: dict[str, Any]
        if kind == "create":
            items = parse_names(names)
            if not items:
                raise RequestError("Cần ít nhất một họ tên / at least one name is needed")
            if len(items) > MAX_NEW_MAILBOXES:
                raise RequestError(f"Tối đa {MAX_NEW_MAILBOXES} hộp thư một yêu cầu / at most "
                                   f"{MAX_NEW_MAILBOXES} mailboxes per request")
            if mailbox_kind not in ("person", "subunit"):
                raise RequestError("Loại hộp thư: person hoặc subunit / mailbox kind: person or subunit")
            details = {"mailbox_kind": mailbox_kind, "items": items}
        else:
            address = target.strip().lower()[:320]
            if not address:
                raise RequestError("Cần địa chỉ hộp thư / the mailbox address is needed")
            what, record = await self._check_target(org, address)
            details = {"target": record.address, "target_kind": what}
            if kind == "rename":
                if what != "org":
                    raise RequestError("Chỉ đổi tên được hộp thư tổ chức, đơn vị / only an organisation's or "
                                       "sub-unit's mailbox can be renamed (a person's address follows their name)")
                new_name = " ".join(nfc(new_name).split())[:300]
                if not new_name:
                    raise RequestError("Cần tên mới / the new name is needed")
                details["new_name"] = new_name
            if kind == "delete" and what == "org" and record.id == org.id:
                raise RequestError("Không hủy được hộp thư của chính tổ chức yêu cầu / an organisation cannot "
                                   "delete its own mailbox by request")
        values = dict(kind=kind, org_id=org.id, filed_by=filed_by, source=source,
                      details=json.dumps(details, ensure_ascii=False), note=nfc(note.strip())[:MAX_TEXT],
                      filed_at=self.now(), result="{}", secrets="", reason="")
        # The letter's blob first: a request never refers to bytes not stored (a failure
        # after it leaves only a blob no row refers to, which garbage collection removes).
        kept = (await letters.put(self.app, letter), letter) if letter is not None else None
        request = await self.app.db.run_write(insert_request, values, self.working_days, kept)
        await self._mail(request, org)
        return request

    # -- letters -------------------------------------------------------------------------------------

    async def attach_letter(self, request_id: int, letter: Letter, actor: str) -> KeptLetter:
        """Keep another letter with a request (the IT Center, e.g. the paper letter of a
        request that came by mail); RequestNotFound if there is no such request."""
        digest = await letters.put(self.app, letter)
        kept = await self.app.db.run_write(add_letter, request_id, digest, letter, actor, self.now())
        if kept is None:
            raise RequestNotFound(f"Không có yêu cầu / no such request: {request_id}")
        return kept

    async def letters_of(self, request_id: int) -> list[KeptLetter]:
        return await self.app.db.run_read(letters.letters_of, request_id)

    async def letter_of(self, request_id: int, letter_id: int) -> KeptLetter | None:
        return await self.app.db.run_small_read(letters.letter_of, request_id, letter_id)

    async def letter_bytes(self, kept: KeptLetter, reader: str) -> bytes:
        """The letter's bytes for ``reader``, the reading audited."""
        data = await letters.read(self.app, kept)
        await audit.record(self.app, "request.letter_read", reader, f"request:{kept.request_id}",
                           {"letter": kept.id})
        return data

    # -- reading -----------------------------------------------------------------------------------

    async def get(self, request_id: int) -> Request:
        found = await self.app.db.run_small_read(request_row, request_id)
        if found is None:
            raise RequestNotFound(f"Không có yêu cầu / no such request: {request_id}")
        return found

    async def listing(self, *, org_ids: Sequence[int] | None = None, state: str | None = None) -> list[Request]:
        return await self.app.db.run_read(request_rows, org_ids, state)

    async def events(self, request_id: int) -> list[Event]:
        return await self.app.db.run_read(events_of, request_id)

    async def passwords(self, request_id: int) -> dict[str, str]:
        return await self.app.db.run_small_read(peek_secrets, request_id)

    async def take_passwords(self, request_id: int, actor: str) -> dict[str, str]:
        return await self.app.db.run_write(take_secrets, request_id, actor, self.now())

    # -- the IT Center's actions -----------------------------------------------------------------

    async def _move(self, request_id: int, action: str, actor: str, **kwargs: Any) -> Request:
        now = self.now()
        moved = await self.app.db.run_write(
            lambda conn: move(conn, request_id, action, actor, now, **kwargs))
        if moved is None:
            current = await self.get(request_id)
            raise RequestError(f"Yêu cầu đang ở trạng thái {STATE_NAMES[current.state][0]}, không thể làm việc này / "
                               f"the request is {current.state}: not possible now")
        return moved

    async def start(self, request_id: int, actor: str) -> Request:
        request = await self._move(request_id, "start", actor)
        await self._mail(request)
        return request

    async def refuse(self, request_id: int, actor: str, reason: str) -> Request:
        reason = nfc(reason.strip())
        if not reason:
            raise RequestError("Cần nêu lý do từ chối (Điều 4.3) / a reason is required (article 4.3)")
        request = await self._move(request_id, "refuse", actor, reason=reason)
        await self._mail(request)
        return request

    async def done(self, request_id: int, actor: str) -> Request:
        """Carry the request out through the directory and accounts, then close it."""
        request = await self.get(request_id)
        if request.state != IN_PROGRESS:
            raise RequestError("Hãy bắt đầu xử lý trước / start the request first (received → in progress → done)")
        outcome = Outcome(result=dict(request.result),
                          passwords=await self.app.db.run_small_read(peek_secrets, request_id))
        try:
            await self._carry_out(request, outcome, actor)
        except (DirectoryError, RequestError, ValueError) as exc:
            await self.app.db.run_write(note_failure, request_id, actor, self.now(), str(exc),
                                        outcome.result, outcome.passwords)
            raise RequestError(f"Không thực hiện được / could not be carried out: {exc}") from None
        request = await self._move(request_id, "done", actor, result=outcome.result, passwords=outcome.passwords)
        await self._mail(request)
        return request

    async def _carry_out(self, request: Request, outcome: Outcome, actor: str) -> None:
        d = self.directory
        details = request.details
        done = outcome.result.setdefault("done", {})
        if request.kind == "create":
            for index, item in enumerate(details["items"]):
                key = str(index)
                if key in done:
                    continue  # made by an earlier attempt
                if details["mailbox_kind"] == "subunit":
                    org, proposal, password = await d.add_org(item["name"], parent=request.org_id)
                    address = org.address
                else:
                    person, proposal, password = await d.add_person(item["name"], request.org_id,
                                                                    title=item.get("title", ""))
                    address = person.address
                done[key] = {"name": item["name"], "address": address, "rule": proposal.explain()}
                outcome.passwords[address] = password
                await audit.record(self.app, "request.mailbox_created", actor, address,
                                   {"request": request.id})
        elif request.kind == "rename":
            org, changed = await d.rename_org(details["target"], details["new_name"])
            done["renamed"] = {"name": org.name, "address": org.address, "changed": changed}
        elif request.kind == "reset":
            mailbox = await self.app.store.get_mailbox(details["target"])
            if mailbox is None:
                raise RequestError(f"Không có hộp thư / no such mailbox: {details['target']}")
            password = await self.app.accounts.reset_password(mailbox.id, actor=actor,
                                                              client=f"request {request.id}")
            outcome.passwords[mailbox.address] = password
            done["reset"] = mailbox.address
        elif request.kind == "delete":
            if details["target_kind"] == "person":
                # Điều 4.5 as the console and the API do it (every session of the person
                # ends, the webmail's too, audited); a retry after a failure finds them gone.
                # Imported here for start-up time: the operations bring the mail rules and
                # with them the DKIM and SPF libraries, which no `congthu request` command needs.
                from congthu.directory.operations import departure

                person = await d.get_person(details["target"])
                if person.status == "active":
                    person, _handover = await departure(self.app, d, actor, person, client=f"request {request.id}")
                done["revoked"] = person.address
            else:
                org = await d.dissolve_org(details["target"])
                done["dissolved"] = org.address

    # -- mail ----------------------------------------------------------------------------------------

    async def _mail(self, request: Request, org: Org | None = None) -> None:
        """The state of the request, to the requesting organisation's mailbox; answers
        (done, refused) also to the Department's supervisors (Điều 4.3's report)."""
        if org is None:
            try:
                org = await self.directory.get_org(request.org_id)
            except DirectoryError:
                return
        recipients = [org.mailbox_id] if org.mailbox_id else []
        if request.state in (DONE, REFUSED):
            recipients += await self.app.db.run_small_read(roles.holders, roles.SUPERVISOR)
        if not recipients:
            return
        boxes = [await self.app.store.get_mailbox_by_id(i) for i in dict.fromkeys(recipients)]
        to = [b.address for b in boxes if b is not None]
        raw = notices.state_notice(self.app.settings, request, org.name, to, self.now())
        await self.app.store.deliver(raw, [b.id for b in boxes if b is not None], internal_date=self.now())
