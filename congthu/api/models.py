"""The API's inputs and outputs as Pydantic models: what FastAPI checks and what the
OpenAPI document (``/api/v1/openapi.json``) describes. Inputs forbid unknown fields and
bound every text and list; outputs are made from the owners' records (``from_*``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from congthu.api.tokens import Token
from congthu.directory import Org, Person, SearchHit
from congthu.requests.calendar import deadline
from congthu.requests.workflow import Event
from congthu.requests.workflow import Request as WorkRequest
from congthu.store.model import Mailbox

# One line of a name or title: no control characters (line breaks included), no ";"
# (the workflow's separator); an address: no control characters or spaces; free text: no NUL
# (PostgreSQL keeps none in text).
LINE = r"^[^\x00-\x1f\x7f;]*$"
ADDRESS = r"^[^\x00-\x20\x7f]*$"
TEXT = r"^[^\x00]*$"


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
