"""The directory's operations as the console (``web.py``) and the REST API
(``congthu.api.people``, ``congthu.api.reorganise``) carry them out, one implementation
each with its audit record (issue 15: "REST API for everything the console does"):

* ``add_person``: a person and their mailbox at the address of Điều 3.2/3.3 (the
  proposal is ``Directory.propose_person``, shown before it runs);
* ``rename_person``: a new name and address, the old address kept as an alias;
* ``departure`` (Điều 4.5): the mailbox revoked (every IMAP, POP3, SMTP session ends
  through the change feed, the webmail's sessions here), the mail kept and, if asked,
  until an end date new mail forwarded to a successor and answered naming them and the
  organisation (``congthu.mailrules.leaver``);
* ``reorganisation_plan``, ``split_plan``: what a rename, merge, dissolution or split
  would do to every address, person, unit and mailbox, before it runs; ``reorganise``
  runs it.

Who may do them is decided by the callers through the console's one check
(``congthu.console.access``): these functions check the rules, not the rights, except
where a rule depends on them (an organisation manager's successor must be in an
organisation they manage: ``may_choose``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as day_start
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from congthu import audit
from congthu.directory.directory import Directory
from congthu.directory.naming import Proposal
from congthu.directory.records import DirectoryError, Org, Person
from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.leaver import Handover, checked_handover, set_leaver_rules
from congthu.mailrules.vacation import today
from congthu.webmail.sessions import WebSessions

if TYPE_CHECKING:
    from congthu.app import App

# A leaver's handover lasts this long unless asked otherwise.
HANDOVER_DAYS = 90
# The console's words for the four reorganisations (its URLs), and their audit events.
RENAME, MERGE, SPLIT, DISSOLVE = "doi-ten", "sap-nhap", "chia-tach", "giai-the"
REORGANISATIONS = (RENAME, MERGE, SPLIT, DISSOLVE)
EVENTS = {RENAME: "directory.org_renamed", MERGE: "directory.org_merged", SPLIT: "directory.org_split",
          DISSOLVE: "directory.org_dissolved"}


# -- people -------------------------------------------------------------------------------------------


async def add_person(app: App, directory: Directory, actor: str, org: Org, name: str, *, title: str = "",
                     rank: int | None = None, override: str | None = None,
                     client: str = "") -> tuple[Person, Proposal, str]:
    """Add ``name`` to ``org`` with a new mailbox (``Directory.add_person``; ``override``:
    the IT Center's other address, Điều 3.3c), audited; the person, the proposal applied
    and the one-time password."""
    person, made, password = await directory.add_person(name, org.id, title=title, rank=rank,
                                                        address=override or None)
    await audit.record(app, "directory.person_added", actor, person.address,
                       {"org": org.id, "rule": made.rule, "clash": made.clash_with or ""}, client=client)
    return person, made, password


async def rename_person(app: App, directory: Directory, actor: str, person: Person, new_name: str, *,
                        client: str = "") -> tuple[Person, Proposal, str]:
    """A new name (``Directory.rename_person``), audited: the person renamed, the
    proposal of their new address, and the old address (kept as an alias)."""
    if not new_name:
        raise DirectoryError("Thiếu tên mới / the new name is missing")
    renamed, proposal, old = await directory.rename_person(person.id, new_name)
    await audit.record(app, "directory.person_renamed", actor, renamed.address,
                       {"old_address": old, "old_name": person.full_name, "rule": proposal.rule}, client=client)
    return renamed, proposal, old


def parse_until(text: str) -> date | None:
    """The handover's last day as typed (yyyy-mm-dd or dd/mm/yyyy); None if empty."""
    text = text.strip()
    try:
        return (date.fromisoformat(text) if "-" in text else datetime.strptime(text, "%d/%m/%Y").date()) \
            if text else None
    except ValueError:
        raise RuleRefused(f"Ngày không hợp lệ: {text[:20]}", "invalid date (yyyy-mm-dd)") from None


async def leaver_handover(app: App, directory: Directory, person: Person, *, forward: bool, reply: bool,
                          until: date | None, successor: str,
                          may_choose: Callable[[int], Awaitable[bool]] | None) -> Handover | None:
    """The handover of a leaver's new mail (Điều 4.5), checked before anything changes;
    None when neither forwarding nor a reply is asked. ``may_choose`` (None: anyone, for
    administrators) tells whether the successor's organisation is one the caller manages."""
    if not (forward or reply) or person.mailbox_id is None:
        return None
    if until is None:
        until = today(app.settings, app.accounts.clock()) + timedelta(days=HANDOVER_DAYS)
    successor = successor.strip()[:320]
    if successor and may_choose is not None:
        org_id: int | None = None
        try:
            org_id = (await directory.get_person(successor)).org_id
        except DirectoryError:
            try:
                org_id = (await directory.get_org(successor, include_inactive=False)).id
            except DirectoryError:
                org_id = None
        if org_id is None or not await may_choose(org_id):
            raise RuleRefused("Người tiếp nhận phải thuộc cơ quan bạn quản lý",
                              "the successor must be in an organisation you manage")
    organisation = (await directory.get_org(person.org_id)).address if person.org_id else ""
    mailbox = await app.store.get_mailbox_by_id(person.mailbox_id)
    if mailbox is None:
        return None
    return await checked_handover(app, mailbox, Handover(until, successor, forward, reply, organisation))


async def hand_over(app: App, directory: Directory, actor: str, person: Person, handover: Handover, *,
                    client: str = "") -> Handover | None:
    """After the departure: the address keeps taking mail to the end of ``until`` (the
    system's time zone) and the mailbox's rules forward and answer it; as saved."""
    if person.mailbox_id is None:
        return None
    mailbox = await app.store.get_mailbox_by_id(person.mailbox_id)
    if mailbox is None:
        return None
    end = datetime.combine(handover.until + timedelta(days=1), day_start(), ZoneInfo(app.settings.system.timezone))
    await directory.receive_until(mailbox.id, end, f"nghỉ việc / departure → {handover.successor or '-'}")
    saved = await set_leaver_rules(app, mailbox, person.full_name, handover, actor=actor, client=client)
    await audit.record(app, "directory.leaver_handover", actor, person.address, {
        "successor": saved.successor, "forward": saved.forward, "reply": saved.reply,
        "until": saved.until.isoformat()}, client=client)
    return saved


async def departure(app: App, directory: Directory, actor: str, person: Person, *, forward: bool = False,
                    reply: bool = False, until: date | None = None, successor: str = "",
                    may_choose: Callable[[int], Awaitable[bool]] | None = None,
                    client: str = "") -> tuple[Person, Handover | None]:
    """Điều 4.5: the person leaves (``Directory.person_leaves``: the mailbox revoked, every
    open IMAP, POP3 and SMTP session ended), their webmail sessions end, audited; then
    the handover, if asked (checked first: a refused one changes nothing). DirectoryError
    if they already left, RuleRefused for a handover the rules refuse."""
    if person.status != "active":
        raise DirectoryError("Người này đã nghỉ / already left")
    handover = await leaver_handover(app, directory, person, forward=forward, reply=reply, until=until,
                                     successor=successor, may_choose=may_choose)
    left = await directory.person_leaves(person.id)
    if person.mailbox_id is not None:
        await WebSessions(app.db, lambda: app.accounts.clock()).end_all(person.mailbox_id)
    await audit.record(app, "directory.person_left", actor, person.address, {"org": person.org_id}, client=client)
    saved = await hand_over(app, directory, actor, person, handover, client=client) if handover else None
    return left, saved


# -- reorganisation -----------------------------------------------------------------------------------


def _keep_words(keep_days: int) -> str:
    return f"{keep_days} ngày / days" if keep_days else "mãi mãi / for good"


async def reorganisation_plan(directory: Directory, org: Org, action: str, name: str, other: int | None,
                              keep_days: int) -> dict[str, Any]:
    """What a reorganisation would do to every address and mailbox, before it runs (the
    directory's rules: ``rename_org``, ``merge_orgs``, ``dissolve_org``): the lines to
    show, and the form to confirm it with."""
    lines: list[str] = []
    people = await directory.list_people(org.id)
    units = [o for o in await directory.list_orgs() if o.parent_id == org.id]
    keep = _keep_words(keep_days)
    if action == RENAME:
        if not name:
            raise DirectoryError("Thiếu tên mới / the new name is missing")
        proposal = await directory.propose_org(name, parent=org.parent_id)
        new_local = proposal.local
        if proposal.clash_with and proposal.clash_with.startswith(org.local_part + " "):
            new_local = org.local_part
        if proposal.needs_decision and new_local != org.local_part:
            raise DirectoryError(f"Cần Trung tâm CNTT&TT quyết định địa chỉ / the address needs a decision: "
                                 f"{proposal.explain()}")
        lines.append(f"{org.name} → {name}")
        if new_local == org.local_part:
            lines.append(f"{org.address}: giữ nguyên / unchanged")
        else:
            lines.append(f"{org.address} → {directory.full(new_local)} ({proposal.rule}); "
                         f"{org.address} vẫn nhận thư (bí danh, {keep}) / still delivers (alias, {keep})")
            suffix = "." + org.local_part
            for unit in units:
                if unit.local_part.endswith(suffix):
                    moved = directory.full(unit.local_part[: -len(suffix)] + "." + new_local)
                    lines.append(f"{unit.address} → {moved} (bí danh / alias)")
        lines.append(f"{len(people)} người giữ địa chỉ và thư / people keep their addresses and mail")
        return {"action": action, "name": name, "other": "", "lines": lines}
    if action == MERGE and other is None:
        raise DirectoryError("Chọn đơn vị nhận / choose the organisation to merge into")
    target = await directory.get_org(other, include_inactive=False) if other is not None else None
    if target is not None and target.id == org.id:
        raise DirectoryError("Không thể sáp nhập một tổ chức vào chính nó / cannot merge into itself")
    if target is None:  # dissolving without a successor
        if people or units:
            raise DirectoryError(f"{org.name} còn {len(people)} người và {len(units)} đơn vị; chuyển họ đi hoặc chọn "
                                 f"đơn vị kế thừa / still has people or units: move them or choose a successor")
        lines.append(f"{org.address}: hộp thư bị khóa, thư được giữ, địa chỉ không cấp lại / mailbox disabled, "
                     "mail kept, address never reissued")
        return {"action": action, "name": "", "other": "", "lines": lines}
    lines.append(f"{org.address} → {target.address}: thư gửi địa chỉ cũ đến {target.name} (bí danh, {keep}) / "
                 f"mail to the old address goes to {target.name} (alias, {keep})")
    lines.append(f"Thư trong {org.address} chuyển vào {target.address}, thư mục Lưu trữ/{org.local_part} / "
                 f"its mail moves into {target.address} under Lưu trữ/{org.local_part}; the old mailbox is disabled")
    for person in people:
        lines.append(f"{person.full_name} <{person.address}> → {target.name} (địa chỉ giữ nguyên / address kept)")
    for unit in units:
        lines.append(f"{unit.name} <{unit.address}> → trực thuộc / under {target.name}")
    return {"action": action, "name": "", "other": str(target.id), "lines": lines}


async def split_plan(directory: Directory, org: Org, name: str, unit_ids: list[int], person_ids: list[int],
                     keep_days: int) -> dict[str, Any]:
    """What splitting ``org`` would do (``Directory.split_off``), before it runs: the new
    organisation's address by Điều 3.1, each chosen sub-unit moved under it (a new
    address by 3.1b, the old one kept as an alias), each chosen person moved (address
    and mail kept); ``org`` keeps its address, mail and the rest."""
    if not name:
        raise DirectoryError("Thiếu tên tổ chức mới / the new organisation's name is missing")
    units = {o.id: o for o in await directory.list_orgs() if o.parent_id == org.id}
    people = {p.id: p for p in await directory.list_people(org.id)}
    unknown = [i for i in unit_ids if i not in units] + [i for i in person_ids if i not in people]
    if unknown:
        raise DirectoryError(f"Không thuộc {org.name} / not part of {org.name}: {unknown}")
    if not unit_ids and not person_ids:
        raise DirectoryError("Chọn đơn vị hoặc người chuyển sang / choose the units or people that move")
    proposal = await directory.propose_org(name, parent=org.parent_id)
    if proposal.needs_decision:
        raise DirectoryError(f"Cần Trung tâm CNTT&TT quyết định địa chỉ / the address needs a decision: "
                             f"{proposal.explain()}")
    new_address = directory.full(proposal.local)
    keep = _keep_words(keep_days)
    lines = [f"Tổ chức mới / new organisation: {name} <{new_address}> ({proposal.rule})",
             f"{org.name} <{org.address}>: giữ địa chỉ và thư / keeps its address and mail"]
    suffix = "." + org.local_part
    for unit_id in unit_ids:
        unit = units[unit_id]
        if unit.local_part.endswith(suffix):
            moved = directory.full(unit.local_part[: -len(suffix)] + "." + proposal.local)
            lines.append(f"{unit.name}: {unit.address} → {moved}; {unit.address} vẫn nhận thư (bí danh, {keep}) / "
                         f"still delivers (alias, {keep}); thư giữ nguyên / mail kept")
        else:
            lines.append(f"{unit.name} <{unit.address}> → trực thuộc / under {name} (địa chỉ giữ nguyên / kept)")
    for person_id in person_ids:
        person = people[person_id]
        lines.append(f"{person.full_name} <{person.address}> → {name} (địa chỉ và thư giữ nguyên / address and "
                     f"mail kept)")
    return {"action": SPLIT, "name": name, "other": "", "lines": lines,
            "units": unit_ids, "people": person_ids}


async def plan(app: App, directory: Directory, org: Org, action: str, *, name: str = "", other: int | None = None,
               units: list[int] | None = None, people: list[int] | None = None) -> dict[str, Any]:
    """The preview of ``action`` (one of ``REORGANISATIONS``) on ``org``."""
    keep_days = app.settings.lifecycle.alias_keep_days
    if action == SPLIT:
        return await split_plan(directory, org, name, units or [], people or [], keep_days)
    return await reorganisation_plan(directory, org, action, name, other, keep_days)


@dataclass(frozen=True)
class Reorganised:
    """What a reorganisation did: the organisation to show after it (the merged-into
    one for a merge), the addresses that changed (old, new), and for a split the new
    organisation and its mailbox's one-time password."""

    org: Org
    changed: list[tuple[str, str]]
    new_org: Org | None = None
    password: str | None = None


async def reorganise(app: App, directory: Directory, actor: str, org: Org, action: str, *, name: str = "",
                     other: int | None = None, units: list[int] | None = None, people: list[int] | None = None,
                     client: str = "") -> Reorganised:
    """Run ``action`` on ``org`` (``Directory.rename_org``, ``merge_orgs``, ``split_off``,
    ``dissolve_org``: mail and old addresses kept), audited."""
    units, people = units or [], people or []
    if action == SPLIT:
        if not name:
            raise DirectoryError("Thiếu tên tổ chức mới / the new organisation's name is missing")
        new_org, new_password, changed = await directory.split_off(org.id, name, units=units, people=people)
        await audit.record(app, EVENTS[SPLIT], actor, org.address, {
            "new": new_org.address, "name": name, "units": units, "people": people, "changed": changed},
            client=client)
        return Reorganised(await directory.get_org(org.id), changed, new_org, new_password)
    details: dict[str, Any]
    if action == RENAME:
        if not name:
            raise DirectoryError("Thiếu tên mới / the new name is missing")
        result, changed = await directory.rename_org(org.id, name)
        details = {"name": name, "changed": changed}
    elif action == MERGE:
        if other is None:
            raise DirectoryError("Chọn đơn vị nhận / choose the organisation to merge into")
        result, _password = await directory.merge_orgs([org.id], into=other)
        changed = [(org.address, result.address)]
        details = {"into": result.address}
    elif action == DISSOLVE:
        result = await directory.dissolve_org(org.id, successor=other)
        changed = [(org.address, (await directory.get_org(other)).address)] if other else []
        details = {"successor": other}
    else:
        raise DirectoryError(f"Không có thao tác {action[:40]} / no such reorganisation")
    await audit.record(app, EVENTS[action], actor, org.address, details, client=client)
    return Reorganised(await directory.get_org(result.id), changed)
