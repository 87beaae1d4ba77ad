"""The figures of one report: a period, an organisation (or the whole system) and its
rows, one per sub-organisation with the tree's roll-up (Điều 9.13, 11.8; issue 18).

Where each figure comes from:

* logins by door, messages sent and received by class, spam / viruses / "Mật" stopped:
  the counters kept as things happened (``report_counters`` and ``report_months``,
  ``counters.py``), each in the organisation the mailbox belonged to then;
* the mailboxes by kind and state, storage and near-quota (``snapshot.STATE_METRICS``): for a
  period that is over, as kept on its last day by the daily snapshot (``snapshot.py``,
  in the organisations of that day); for the current period, or a past one without a
  snapshot (before the system ran), the store's mailboxes of now
  (``store.census.mailbox_states``) in their organisations of now (the directory's
  ``membership``), "unused" reckoned at the period's end from the last access; the
  mailboxes created in the period always from the store;
* renamed and deleted mailboxes, requests received, done within the working days of
  Điều 4.3, late, refused: the requests of Điều 4 (``requests.workflow.request_rows``),
  a durable record already;
* passwords changed on time (Điều 13.2): the accounts' ``ages.passwords_on_time`` at the
  period's end;
* the usage ratio: officials with an active mailbox who logged in (any door) during the
  period (``report_active``), over all such officials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from congthu.accounts.ages import passwords_on_time
from congthu.directory.membership import Member, OrgLink, members, org_links
from congthu.reports import snapshot
from congthu.reports.counters import DOORS, vietnam_day
from congthu.reports.periods import Period
from congthu.reports.snapshot import NO_ORG
from congthu.reports.tables import report_active, report_counters, report_months
from congthu.requests.workflow import DONE, OPEN, REFUSED, Request, request_rows
from congthu.store.census import MailboxState, mailbox_states

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["MB", "Column", "Report", "ReportError", "Row", "SECTIONS", "Section", "build", "shown"]

MB = 1024 * 1024


class ReportError(Exception):
    """A report that cannot be made (no such organisation); the text is for the user."""


@dataclass(frozen=True)
class Column:
    key: str
    vi: str
    en: str
    # "count" (summed), "bytes" (summed, shown in MB), "percent" (ratio of two columns,
    # ``of`` = (numerator key, denominator key)), "sum" (sum of other columns, ``of``).
    kind: str = "count"
    of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    number: str  # "I", "II", ...
    vi: str
    en: str
    columns: tuple[Column, ...]
    chart: bool = False  # the PDF and the dashboard draw the totals as a bar chart


C = Column
SECTIONS: tuple[Section, ...] = (
    Section("I", "Hộp thư", "Mailboxes", (
        C("mb.total", "Tổng số hộp thư", "Mailboxes"),
        C("mb.personal", "Cá nhân", "Personal"),
        C("mb.organisation", "Cơ quan, tổ chức", "Organisation"),
        C("mb.subunit", "Đơn vị trực thuộc", "Sub-unit"),
        C("mb.active", "Đang hoạt động", "Active"),
        C("mb.unused3", "Không dùng từ 3 tháng", "Unused ≥ 3 months"),
        C("mb.unused6", "Không dùng từ 6 tháng", "Unused ≥ 6 months"),
        C("mb.disabled", "Bị khóa", "Disabled"),
        C("mb.reclaimed", "Đã thu hồi", "Reclaimed"),
        C("mb.created", "Cấp mới trong kỳ", "Created"),
        C("mb.renamed", "Đổi tên trong kỳ", "Renamed"),
        C("mb.deleted", "Hủy trong kỳ", "Deleted"),
    )),
    Section("II", "Đăng nhập theo giao thức", "Logins by door", (
        C("login.imap", "IMAP", "IMAP"),
        C("login.pop3", "POP3", "POP3"),
        C("login.smtp", "SMTP", "SMTP"),
        C("login.web", "Webmail", "Webmail"),
        C("login.ldap", "LDAP", "LDAP"),
        C("login.total", "Tổng số lượt", "Total", "sum", tuple(f"login.{d}" for d in DOORS)),
    ), chart=True),
    Section("III", "Thư gửi đi", "Mail sent", (
        C("mail.sent", "Số thư gửi", "Messages"),
        C("mail.sent.org", "Trong cơ quan", "Within the organisation"),
        C("mail.sent.province", "Cơ quan khác trong tỉnh", "Other agencies of the province"),
        C("mail.sent.gov", "Cơ quan nhà nước khác (.gov.vn)", "Other state domains (.gov.vn)"),
        C("mail.sent.outside", "Bên ngoài", "Outside"),
        C("mail.sent.rcpts", "Tổng số người nhận", "Recipients", "sum",
          ("mail.sent.org", "mail.sent.province", "mail.sent.gov", "mail.sent.outside")),
    ), chart=True),
    Section("IV", "Văn bản gửi đi theo loại (Điều 7.1–7.2)", "Documents sent, by type (article 7.1–7.2)", (
        C("doc.7.1", "Phải gửi qua thư điện tử (Điều 7.1)", "Must go by mail (7.1)"),
        C("doc.7.2", "Gửi qua thư điện tử kèm văn bản giấy (Điều 7.2)", "By mail beside paper (7.2)"),
        C("doc.other", "Loại văn bản khác", "Other document types"),
        C("doc.total", "Tổng số văn bản", "Documents", "sum", ("doc.7.1", "doc.7.2", "doc.other")),
    ), chart=True),
    Section("V", "Thư nhận", "Mail received", (
        C("mail.received.org", "Trong cơ quan", "Within the organisation"),
        C("mail.received.province", "Cơ quan khác trong tỉnh", "Other agencies of the province"),
        C("mail.received.gov", "Cơ quan nhà nước khác (.gov.vn)", "Other state domains (.gov.vn)"),
        C("mail.received.outside", "Bên ngoài", "Outside"),
        C("mail.received", "Tổng số thư nhận", "Received", "sum",
          ("mail.received.org", "mail.received.province", "mail.received.gov", "mail.received.outside")),
    ), chart=True),
    Section("VI", "Dung lượng lưu trữ", "Storage", (
        C("storage.used", "Đã dùng (MB)", "Used (MB)", "bytes"),
        C("storage.quota", "Hạn mức (MB)", "Quota (MB)", "bytes"),
        C("storage.ratio", "Tỷ lệ sử dụng (%)", "Used (%)", "percent", ("storage.used", "storage.quota")),
        C("storage.near", "Hộp thư gần đầy", "Mailboxes near quota"),
    )),
    Section("VII", "An toàn thông tin", "Security", (
        C("stopped.spam", "Thư rác đã chặn", "Spam stopped"),
        C("stopped.virus", "Thư có vi rút đã chặn", "Viruses stopped"),
        C("stopped.classified", "Thư chứa tài liệu \"Mật\" đã chặn", "\"Mật\" documents stopped"),
        C("spam.junk", "Thư rác chuyển vào thư mục Junk", "Spam delivered to Junk"),
    ), chart=True),
    Section("VIII", "Yêu cầu cấp, thay đổi, hủy hộp thư (Điều 4)", "Requests (article 4)", (
        C("req.received", "Tiếp nhận", "Received"),
        C("req.ontime", "Hoàn thành đúng hạn", "Done on time"),
        C("req.late", "Hoàn thành trễ hạn", "Done late"),
        C("req.refused", "Từ chối", "Refused"),
        C("req.open", "Đang xử lý", "Open"),
        C("req.overdue", "Quá hạn chưa xử lý", "Open and overdue"),
    )),
    Section("IX", "Sử dụng và mật khẩu", "Use and passwords", (
        C("use.officials", "Cán bộ có hộp thư", "Officials with a mailbox"),
        C("use.used", "Đã sử dụng trong kỳ", "Used in the period"),
        C("use.ratio", "Tỷ lệ sử dụng (%)", "Usage ratio (%)", "percent", ("use.used", "use.officials")),
        C("pw.total", "Tài khoản có mật khẩu", "Accounts with a password"),
        C("pw.ontime", "Đổi mật khẩu đúng hạn", "Passwords changed on time"),
        C("pw.ratio", "Tỷ lệ đúng hạn (%)", "On time (%)", "percent", ("pw.ontime", "pw.total")),
    )),
)
COUNTED = [c.key for s in SECTIONS for c in s.columns if c.kind in ("count", "bytes")]


@dataclass
class Row:
    label: str
    org_id: int | None  # None: the total
    values: dict[str, int] = field(default_factory=dict)
    own: bool = False  # the organisation itself, without its sub-organisations

    def value(self, column: Column) -> float:
        """A column's value, the derived ones computed."""
        if column.kind == "sum":
            return float(sum(self.values.get(k, 0) for k in column.of))
        if column.kind == "percent":
            top, bottom = (self.values.get(k, 0) for k in column.of)
            return round(100.0 * top / bottom, 1) if bottom else 0.0
        return float(self.values.get(column.key, 0))


@dataclass
class Report:
    period: Period
    org: OrgLink | None  # None: the whole system
    parent_name: str  # the governing body's name for the heading ("UBND TỈNH ...")
    rows: list[Row]
    total: Row
    made_at: datetime
    operator: str  # the IT Center, the issuer of the whole system's report
    notes: list[str] = field(default_factory=list)

    @property
    def org_name(self) -> str:
        return self.org.name if self.org else self.operator

    @property
    def scope_vi(self) -> str:
        return self.org.name if self.org else "toàn hệ thống"


@dataclass
class Gathered:
    links: dict[int, OrgLink]
    members: list[Member]
    counters: list[tuple[int, str, int]]
    requests: list[Request]
    used: set[int]
    passwords: dict[int, bool]
    boxes: list[MailboxState]
    # (day, [(org id, metric, value)]): the states kept on the period's last day, or None
    # (a period not over, or no snapshot of it): the states of now.
    states: tuple[date, list[tuple[int, str, int]]] | None = None


def _counter_sums(conn: Connection, period: Period) -> list[tuple[int, str, int]]:
    """(org id, metric, sum) over the period: whole months from ``report_months``, the
    days of partial months from ``report_counters``."""
    whole = [m for m in period.months
             if m >= period.first and (m + timedelta(days=32)).replace(day=1) - timedelta(days=1) <= period.last]
    out: list[tuple[int, str, int]] = []
    if whole:
        out += [(int(r[0]), r[1], int(r[2])) for r in conn.execute(
            select(report_months.c.org_id, report_months.c.metric, func.sum(report_months.c.value))
            .where(report_months.c.month.in_(whole)).group_by(report_months.c.org_id, report_months.c.metric))]
    covered = set(whole)
    ranges: list[tuple[date, date]] = []
    day = period.first
    while day <= period.last:  # the days outside the whole months, as ranges
        if day.replace(day=1) in covered:
            day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            continue
        if ranges and ranges[-1][1] == day - timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
        day += timedelta(days=1)
    for first, last in ranges:
        out += [(int(r[0]), r[1], int(r[2])) for r in conn.execute(
            select(report_counters.c.org_id, report_counters.c.metric, func.sum(report_counters.c.value))
            .where(and_(report_counters.c.day >= first, report_counters.c.day <= last))
            .group_by(report_counters.c.org_id, report_counters.c.metric))]
    return out


def gather(conn: Connection, period: Period, at: datetime, max_age_days: int) -> Gathered:
    """Everything the report reads, in one read transaction."""
    used = {int(r[0]) for r in conn.execute(
        select(report_active.c.mailbox_id).where(report_active.c.month.in_(period.months)).distinct())}
    kept = snapshot.states_on(conn, period.first, period.last) if period.end <= at else None
    return Gathered(org_links(conn), members(conn), _counter_sums(conn, period), request_rows(conn, None, None),
                    used, passwords_on_time(conn, at, max_age_days), mailbox_states(conn), kept)


def _add(values: dict[str, int], key: str, value: int = 1) -> None:
    values[key] = values.get(key, 0) + value


def _own_values(app: App, period: Period, data: Gathered, now: datetime) -> dict[int, dict[str, int]]:
    """Each organisation's own figures (its sub-organisations not included)."""
    at = min(period.end, now)
    near = app.settings.reports.near_quota_percent
    owner = {m.mailbox_id: m for m in data.members}
    own: dict[int, dict[str, int]] = {}

    def of(org_id: int) -> dict[str, int]:
        return own.setdefault(org_id, {})

    for org_id, metric, value in data.counters:
        _add(of(org_id), metric, value)
    if data.states is not None:  # the states kept on the period's last day (snapshot.py)
        for org_id, metric, value in data.states[1]:
            _add(of(org_id), metric, value)
    for box in data.boxes:
        if box.created_at >= period.end:
            continue
        member = owner.get(box.id)
        values = of(member.org_id if member else NO_ORG)
        if period.start <= box.created_at < period.end:
            _add(values, "mb.created")
        if data.states is None:
            snapshot.add_state(values, box, at, near)
        if member is not None and member.person and member.active and box.status == "active":
            _add(values, "use.officials")
            if box.id in data.used:
                _add(values, "use.used")
            if box.id in data.passwords:
                _add(values, "pw.total")
                if data.passwords[box.id]:
                    _add(values, "pw.ontime")
    today = vietnam_day(now)
    for r in data.requests:
        values = of(r.org_id)
        if r.state == DONE and r.finished_at is not None and period.start <= r.finished_at < period.end:
            if r.kind == "rename":
                _add(values, "mb.renamed", max(1, len(r.result.get("done", {})) if isinstance(
                    r.result.get("done"), dict) else 1))
            elif r.kind == "delete":
                _add(values, "mb.deleted")
        if not period.start <= r.filed_at < period.end:
            continue
        _add(values, "req.received")
        if r.state == DONE and r.finished_at is not None:
            _add(values, "req.ontime" if vietnam_day(r.finished_at) <= r.due_on else "req.late")
        elif r.state == REFUSED:
            _add(values, "req.refused")
        elif r.state in OPEN:
            _add(values, "req.open")
            if r.due_on < today:
                _add(values, "req.overdue")
    return own


def _parent_name(links: dict[int, OrgLink], org: OrgLink | None) -> str:
    if org is not None and org.parent_id is not None and org.parent_id in links:
        return links[org.parent_id].name
    return ""


async def build(app: App, period: Period, org_ref: str | int | None = None, *,
                now: datetime | None = None) -> Report:
    """The report of ``period`` for the organisation ``org_ref`` (id, code, address or
    local part; None: the whole system) with one row per sub-organisation."""
    now = now or app.accounts.clock()
    at = min(period.end, now)
    data = await app.db.run_read(gather, period, at, app.settings.passwords.max_age_days)
    own = _own_values(app, period, data, now)
    links = data.links
    root = None if org_ref is None else _find(links, org_ref, app.settings.local_domains)
    children: dict[int | None, list[OrgLink]] = {}
    for link in links.values():
        parent = link.parent_id if link.parent_id in links else None
        children.setdefault(parent, []).append(link)
    memo: dict[int, dict[str, int]] = {}

    def subtree(org_id: int, seen: frozenset[int] = frozenset()) -> dict[str, int]:
        if org_id in memo:
            return memo[org_id]
        total = dict(own.get(org_id, {}))
        for child in children.get(org_id, []):
            if child.id not in seen:
                for k, v in subtree(child.id, seen | {org_id}).items():
                    _add(total, k, v)
        memo[org_id] = total
        return total

    rows: list[Row] = []
    if root is not None:
        rows.append(Row(f"{root.name} (cơ quan)", root.id, dict(own.get(root.id, {})), own=True))
        kids = children.get(root.id, [])
    else:
        kids = children.get(None, [])
    for link in sorted(kids, key=lambda o: o.name):
        values = subtree(link.id)
        if link.status == "active" or any(values.values()):
            rows.append(Row(link.name, link.id, values))
    if root is None and any(own.get(NO_ORG, {}).values()):
        rows.append(Row("Hộp thư hệ thống, ngoài danh bạ", NO_ORG, dict(own[NO_ORG])))
    total = Row("Tổng cộng", None, {})
    for row in rows:
        for k, v in row.values.items():
            _add(total.values, k, v)
    report = Report(period, root, _parent_name(links, root), rows, total, now, app.settings.system.operator)
    if period.end > now:
        report.notes.append("Kỳ báo cáo chưa kết thúc: số liệu tính đến thời điểm lập báo cáo.")
    if data.states is not None:
        report.notes.append(f"Số hộp thư theo trạng thái và dung lượng là số liệu ngày {data.states[0]:%d/%m/%Y}.")
    else:
        report.notes.append("Số hộp thư theo trạng thái và dung lượng là số liệu tại thời điểm lập báo cáo.")
    return report


def _find(links: dict[int, OrgLink], ref: str | int, domains: list[str]) -> OrgLink:
    text = str(ref).strip().lower()
    if text.isdigit() and int(text) in links:
        return links[int(text)]
    candidates = [o for o in links.values()
                  if (o.code or "").lower() == text or o.address.lower() == text
                  or any(o.address.lower() == f"{text}@{d}" for d in domains)]
    candidates.sort(key=lambda o: o.status != "active")
    if not candidates:
        raise ReportError(f"Không có tổ chức / no such organisation: {ref}")
    return candidates[0]


def shown(value: float, column: Column) -> str:
    """A figure as Vietnamese write it: 1.234 and 12,5 (sizes in MB)."""
    if column.kind == "percent":
        return f"{value:.1f}".replace(".", ",")
    if column.kind == "bytes":
        return f"{value / MB:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{int(value):,}".replace(",", ".")
