"""The API's inputs and outputs as Pydantic models: what FastAPI checks and what the
OpenAPI document (``/api/v1/openapi.json``) describes. Inputs forbid unknown fields and
bound every text and list; outputs are made from the owners' records (``from_*``)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from congthu.api.tokens import Token
from congthu.content.quarantine import Held
from congthu.delegation import Grant
from congthu.directory import Alias, Org, Person, SearchHit
from congthu.journal.entries import Entry
from congthu.requests.calendar import Override, deadline
from congthu.requests.workflow import Event
from congthu.requests.workflow import Request as WorkRequest
from congthu.store.model import Mailbox

# One line of a name or title: no control characters (line breaks included), no ";"
# (the workflow's separator); an address: no control characters or spaces; free text: no NUL
# (PostgreSQL keeps none in text).
LINE = r"^[^\x00-\x1f\x7f;]*$"
ADDRESS = r"^[^\x00-\x20\x7f]*$"
TEXT = r"^[^\x00]*$"


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})?")


def iso_day(value: Any) -> Any:
    """A day only as YYYY-MM-DD (Pydantic alone would take 0 or "0" as 1970-01-01)."""
    if isinstance(value, date) or (isinstance(value, str) and ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("a day is YYYY-MM-DD")


def iso_moment(value: Any) -> Any:
    """A moment only as ISO 8601 text (not a number of seconds)."""
    if isinstance(value, datetime) or (isinstance(value, str) and ISO_MOMENT.fullmatch(value)):
        return value
    raise ValueError("a moment is ISO 8601: YYYY-MM-DDTHH:MM[:SS][+07:00]")


Day = Annotated[date, BeforeValidator(iso_day)]
Moment = Annotated[datetime, BeforeValidator(iso_moment)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the directory ---------------------------------------------------------------------------


class OrgOut(BaseModel):
    id: int
    code: str | None
    parent_id: int | None
    kind: str
    name: str
    address: str
    status: str
    depth: int = Field(0, description="depth in the tree (0: top level)")

    @classmethod
    def of(cls, org: Org, depth: int = 0) -> OrgOut:
        return cls(id=org.id, code=org.code, parent_id=org.parent_id, kind=org.kind, name=org.name,
                   address=org.address, status=org.status, depth=depth)


class PersonOut(BaseModel):
    id: int
    code: str | None
    org_id: int | None
    org_name: str
    full_name: str
    family_name: str
    middle_name: str
    given_name: str
    title: str
    rank: int | None
    address: str
    phone: str
    status: str

    @classmethod
    def of(cls, p: Person) -> PersonOut:
        return cls(id=p.id, code=p.code, org_id=p.org_id, org_name=p.org_name, full_name=p.full_name,
                   family_name=p.family_name, middle_name=p.middle_name, given_name=p.given_name, title=p.title,
                   rank=p.rank, address=p.address, phone=p.phone, status=p.status)


class SearchHitOut(BaseModel):
    kind: Literal["person", "org"]
    id: int
    name: str
    address: str
    title: str
    organisation: str

    @classmethod
    def of(cls, hit: SearchHit) -> SearchHitOut:
        return cls(kind=hit.kind, id=hit.id, name=hit.name, address=hit.address,  # type: ignore[arg-type]
                   title=hit.title, organisation=hit.organisation)


class MailboxOut(BaseModel):
    address: str
    kind: str
    status: str
    created_at: datetime
    last_access_at: datetime | None
    used_bytes: int
    quota_bytes: int
    person_id: int | None = None
    org_id: int | None = None

    @classmethod
    def of(cls, m: Mailbox, *, person_id: int | None = None, org_id: int | None = None) -> MailboxOut:
        return cls(address=m.address, kind=m.kind, status=m.status, created_at=m.created_at,
                   last_access_at=m.last_access_at, used_bytes=m.used_bytes, quota_bytes=m.quota_bytes,
                   person_id=person_id, org_id=org_id)


# -- requests (Điều 4) -------------------------------------------------------------------------


class NewMailboxIn(Input):
    name: str = Field(min_length=1, max_length=200, pattern=LINE, description="họ và tên / full name")
    title: str = Field("", max_length=200, pattern=LINE, description="chức vụ / title")


class RequestIn(Input):
    """A request of Điều 4.1: ``create`` takes ``names``; ``rename``, ``reset`` and
    ``delete`` take ``target`` (a mailbox of the organisation or one of its units);
    ``rename`` takes ``new_name``."""

    kind: Literal["create", "rename", "reset", "delete"]
    org: int = Field(ge=1, le=2_147_483_647, description="the requesting organisation's id")
    names: list[NewMailboxIn] = Field(default_factory=list, max_length=200)
    mailbox_kind: Literal["person", "subunit"] = "person"
    target: str = Field("", max_length=320, pattern=ADDRESS)
    new_name: str = Field("", max_length=300, pattern=LINE)
    note: str = Field("", max_length=2000, pattern=TEXT)


class RefuseIn(Input):
    reason: str = Field(min_length=1, max_length=2000, pattern=TEXT, description="lý do (Điều 4.3) / the reason")


class EventOut(BaseModel):
    at: datetime
    actor: str
    action: str
    text: str

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls(at=e.at, actor=e.actor, action=e.action, text=e.text)


class RequestOut(BaseModel):
    id: int
    kind: str
    org_id: int
    filed_by: str
    source: str
    details: dict[str, Any]
    note: str
    state: Literal["received", "in_progress", "done", "refused"]
    reason: str
    filed_at: datetime
    due_on: date = Field(description="the last working day (Điều 4.3: three working days)")
    deadline: datetime = Field(description="the moment it becomes overdue (00:00 after due_on, Vietnam)")
    overdue: bool
    finished_at: datetime | None
    result: dict[str, Any]
    has_passwords: bool

    @classmethod
    def of(cls, r: WorkRequest, now: datetime) -> RequestOut:
        return cls(id=r.id, kind=r.kind, org_id=r.org_id, filed_by=r.filed_by, source=r.source, details=r.details,
                   note=r.note, state=r.state, reason=r.reason, filed_at=r.filed_at, due_on=r.due_on,  # type: ignore[arg-type]
                   deadline=deadline(r.due_on), overdue=r.overdue(now), finished_at=r.finished_at,
                   result=r.result, has_passwords=r.has_passwords)


class RequestDetail(RequestOut):
    events: list[EventOut]


class PasswordsOut(BaseModel):
    """One-time passwords (Điều 13.2), removed from the server as they are given."""

    passwords: dict[str, str]


# -- reports (Điều 9.13) ---------------------------------------------------------------------------


class PeriodOut(BaseModel):
    kind: Literal["month", "quarter", "year", "span"]
    key: str
    first: date
    last: date
    title_vi: str
    title_en: str


class ColumnOut(BaseModel):
    key: str
    vi: str
    en: str
    kind: Literal["count", "bytes", "percent", "sum"]


class SectionOut(BaseModel):
    number: str
    title_vi: str
    title_en: str
    columns: list[ColumnOut]


class ReportRowOut(BaseModel):
    label: str
    org_id: int | None = Field(description="None: the total; 0: mailboxes outside the directory")
    own: bool = Field(description="the organisation itself without its sub-organisations")
    values: dict[str, float]


class ReportOrgOut(BaseModel):
    id: int
    name: str
    address: str


class ReportOut(BaseModel):
    period: PeriodOut
    org: ReportOrgOut | None = Field(description="None: the whole system")
    made_at: datetime
    operator: str
    sections: list[SectionOut]
    rows: list[ReportRowOut]
    total: ReportRowOut
    notes: list[str]


# -- aliases and delegations (Điều 3.3c, 12) -------------------------------------------------------


class AliasOut(BaseModel):
    address: str
    target: str = Field(description="the mailbox it delivers to")
    reason: str
    created_at: datetime
    expires_at: datetime | None = Field(description="None: for good")
    live: bool

    @classmethod
    def of(cls, a: Alias) -> AliasOut:
        return cls(address=a.address, target=a.target, reason=a.reason, created_at=a.created_at,
                   expires_at=a.expires_at, live=a.live)


class AliasIn(Input):
    alias: str = Field(min_length=1, max_length=320, pattern=ADDRESS,
                       description="the local part, or an address of one of our domains (kept under the main one)")
    days: int | None = Field(None, ge=1, le=36_500, description="days it delivers; none: for good")
    reason: str = Field("", max_length=200, pattern=LINE)


class DelegationOut(BaseModel):
    grantee: str
    rights: str = Field(description="RFC 4314 letters; 0: send as the organisation")
    preset: Literal["xem", "xu-ly", "gui-thay"] | None = Field(description="the console's preset, if it is one")
    folder: str | None = Field(description="None: the whole mailbox")
    expires_at: datetime | None = Field(description="the delegation's end (None: none); no door honours it after")

    @classmethod
    def of(cls, g: Grant, presets: dict[str, str]) -> DelegationOut:
        return cls(grantee=g.grantee_address, rights=g.rights, preset=presets.get(g.rights),  # type: ignore[arg-type]
                   folder=g.folder, expires_at=g.expires_at)


class DelegationIn(Input):
    grantee: str = Field(min_length=1, max_length=320, pattern=ADDRESS, description="the delegate's address")
    rights: Literal["xem", "xu-ly", "gui-thay"] = Field(
        description="xem: read (lrs); xu-ly: handle mail (lrswipkxte); gui-thay: handle and send as (lrswipkxte0)")
    until: Day | None = Field(None, description="the last day of the delegation, inclusive, in the system's time "
                                                 "zone (at most a year ahead); none: no end")


class DelegationEndIn(Input):
    until: Day | None = Field(description="the delegation's new last day, inclusive, in the system's time zone (at "
                                          "most a year ahead); null: no end")


# -- the working-day calendar (Điều 4.3) ---------------------------------------------------------


class OverrideOut(BaseModel):
    day: date
    kind: Literal["work", "off"]
    note: str
    added_by: str

    @classmethod
    def of(cls, o: Override) -> OverrideOut:
        return cls(day=o.day, kind=o.kind, note=o.note, added_by=o.added_by)  # type: ignore[arg-type]


class OverrideIn(Input):
    day: Day = Field(description="YYYY-MM-DD")
    kind: Literal["work", "off"] = Field(description="work: a working day (a swapped weekend day); off: a day off")
    note: str = Field("", max_length=300, pattern=LINE)


class DayOut(BaseModel):
    day: date
    working: bool
    holiday: str | None
    override: Literal["work", "off"] | None


class DueOut(BaseModel):
    filed_at: datetime
    filed_day: date = Field(description="the filed day in Vietnam (not counted, Bộ luật Dân sự Điều 147.1)")
    working_days: int
    due_on: date = Field(description="the last working day")
    deadline: datetime = Field(description="overdue from this moment (00:00 after due_on, Vietnam)")


# -- the journal (Điều 7.3-7.5) ------------------------------------------------------------------


class JournalEntryOut(BaseModel):
    id: int
    sent_at: datetime
    door: str
    mail_from: str
    recipients: list[str]
    submitted_by: str
    organisation: str = Field(description="the sending organisation's address")
    org_recipients: list[str] = Field(description="the receiving organisations' addresses")
    subject: str
    message_id: str
    document_type: str | None
    size: int
    sha256: str

    @classmethod
    def of(cls, e: Entry) -> JournalEntryOut:
        return cls(id=e.id, sent_at=e.sent_at, door=e.door, mail_from=e.mail_from, recipients=e.recipients,
                   submitted_by=e.submitted_by, organisation=e.organisation, org_recipients=e.org_recipients,
                   subject=e.subject, message_id=e.message_id, document_type=e.document_type, size=e.size,
                   sha256=e.sha256)


# -- the quarantine (Điều 9.9) -------------------------------------------------------------------


class HeldOut(BaseModel):
    id: int
    held_at: datetime
    door: str
    mail_from: str
    recipients: list[str]
    subject: str
    rule: str
    reason: str
    size: int

    @classmethod
    def of(cls, h: Held) -> HeldOut:
        return cls(id=h.id, held_at=h.held_at, door=h.door, mail_from=h.mail_from,
                   recipients=[address for address, _mailbox in h.recipients], subject=h.subject, rule=h.rule,
                   reason=h.reason, size=h.size)


# -- the token itself ------------------------------------------------------------------------------


class TokenOut(BaseModel):
    id: int
    name: str
    description: str
    hint: str
    owner: str
    scopes: list[str]
    org_id: int | None
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, t: Token, owner: str) -> TokenOut:
        return cls(id=t.id, name=t.name, description=t.description, hint=t.hint, owner=owner, scopes=list(t.scopes),
                   org_id=t.org_id, created_at=t.created_at, expires_at=t.expires_at, last_used_at=t.last_used_at)
