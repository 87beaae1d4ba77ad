"""The statements of the store's busy paths, built once with bound parameters.

Building a Core statement costs several times more than running it (SQLAlchemy then
reuses the compiled form from its cache). Parameter names start with "b_" so they never
clash with column names. Statements used once, on quiet paths, are built where they run.
"""

from __future__ import annotations

from sqlalchemy import Integer, and_, bindparam, delete, exists, func, insert, select, text, update

from congthu.store import flags as flagbits
from congthu.store.rows import Compiled
from congthu.store.tables import contents, expunged, folders, mailboxes, messages, subscriptions

# The columns of a MessageMeta, in its fields' order (rows.metas_from_driver).
META_COLUMNS = (
    messages.c.uid, messages.c.flags, messages.c.keywords, messages.c.size,
    messages.c.internal_date, messages.c.modseq, messages.c.content_id,
)

_P = bindparam
# A folder's columns in the order ``rows.to_folder`` reads them (a Folder's fields):
# "subscribed" is whether its name is in ``subscriptions`` (store_0005), not the old
# column of the folder.
FOLDER_COLUMNS = (
    folders.c.id, folders.c.mailbox_id, folders.c.name, folders.c.special_use, folders.c.uidvalidity,
    folders.c.uidnext, folders.c.highestmodseq,
    exists().where(and_(subscriptions.c.mailbox_id == folders.c.mailbox_id,
                        subscriptions.c.name == folders.c.name)).label("subscribed"),
    folders.c.mailboxid,
)
FOLDER_ID = select(folders.c.id).where(
    and_(folders.c.mailbox_id == _P("b_mailbox"), folders.c.name == _P("b_name")))
# The small reads by key (``Compiled.typed``: on SQLite straight on the driver).
FOLDER_BY_ID = Compiled(select(*FOLDER_COLUMNS).where(folders.c.id == _P("b_folder")))
FOLDER_BY_NAME = Compiled(select(*FOLDER_COLUMNS).where(
    and_(folders.c.mailbox_id == _P("b_mailbox"), folders.c.name == _P("b_name"))))
FOLDER_MAILBOX = select(folders.c.mailbox_id).where(folders.c.id == _P("b_folder"))
FOLDERS_OF = Compiled(
    select(*FOLDER_COLUMNS).where(folders.c.mailbox_id == _P("b_mailbox")).order_by(folders.c.name))
FOLDER_HIGHEST = Compiled(select(folders.c.highestmodseq).where(folders.c.id == _P("b_folder")))
FOLDER_STATE = select(folders.c.uidvalidity, folders.c.uidnext, folders.c.highestmodseq).where(
    folders.c.id == _P("b_folder"))
CHARGE = (
    update(mailboxes)
    .where(and_(mailboxes.c.id == _P("b_mailbox"),
                mailboxes.c.used_bytes + _P("b_size") <= mailboxes.c.quota_bytes))
    .values(used_bytes=mailboxes.c.used_bytes + _P("b_size"))
)
# The mailbox a folder belongs to, inside a statement on the mailbox.
_FOLDER_OWNER = select(folders.c.mailbox_id).where(folders.c.id == _P("b_folder")).scalar_subquery()
# CHARGE of the mailbox a folder belongs to, read inside the transaction (APPEND: no
# read of the folder before it); the mailbox's id if charged, no row if the folder is
# gone or the quota would be exceeded (``accounting.charge_folder`` tells which).
CHARGE_FOLDER = (
    update(mailboxes)
    .where(and_(mailboxes.c.id == _FOLDER_OWNER, mailboxes.c.used_bytes + _P("b_size") <= mailboxes.c.quota_bytes))
    .values(used_bytes=mailboxes.c.used_bytes + _P("b_size"))
    .returning(mailboxes.c.id)
)
# A mailbox's columns in the order ``rows.to_mailbox`` reads them (a Mailbox's fields).
MAILBOX_COLUMNS = (
    mailboxes.c.id, mailboxes.c.address, mailboxes.c.display_name, mailboxes.c.kind, mailboxes.c.quota_bytes,
    mailboxes.c.used_bytes, mailboxes.c.status, mailboxes.c.created_at, mailboxes.c.last_access_at,
    mailboxes.c.quota_warned,
)
MAILBOX_BY_ID = Compiled(select(*MAILBOX_COLUMNS).where(mailboxes.c.id == _P("b_mailbox")))
MAILBOX_BY_ADDRESS = Compiled(select(*MAILBOX_COLUMNS).where(mailboxes.c.address == _P("b_address")))
QUOTA = Compiled(select(mailboxes.c.used_bytes, mailboxes.c.quota_bytes).where(mailboxes.c.id == _P("b_mailbox")))
TOUCH = update(mailboxes).where(mailboxes.c.id == _P("b_mailbox")).values(last_access_at=_P("b_when"))
# What ``rows.to_content`` reads of a content row, in its order (a Content's fields): not
# its search text (some 10 KB a message, read and decoded for nothing by every FETCH of a
# new message) nor the keys.
CONTENT_COLUMNS = (
    contents.c.id, contents.c.sha256, contents.c.size, contents.c.segments, contents.c.structure,
    contents.c.subject, contents.c.from_addr, contents.c.to_addr, contents.c.cc_addr,
    contents.c.sent_date, contents.c.message_id, contents.c.preview,
)
CONTENT_BY_ID = select(*CONTENT_COLUMNS).where(contents.c.id == _P("b_content"))
CONTENTS_BY_IDS = select(*CONTENT_COLUMNS).where(contents.c.id.in_(_P("b_contents", expanding=True)))
# CONTENTS_BY_IDS for the small reads by key (``Compiled.typed``).
CONTENTS_READ = Compiled(CONTENTS_BY_IDS)
ADD_REFS = (update(contents).where(contents.c.id == _P("b_id"))
            .values(refcount=contents.c.refcount + _P("b_n")))
INSERT_MESSAGE = insert(messages)
# The columns every new message row is given (delivery, APPEND, COPY, MOVE).
MESSAGE_INSERT_COLUMNS = (
    "folder_id", "uid", "content_id", "flags", "keywords", "internal_date", "size", "modseq", "saved_at",
    "sort_subject", "sort_from",
)
# INSERT_MESSAGE of rows with those columns, straight on SQLite's driver (``Compiled``).
INSERT_MESSAGE_WRITE = Compiled(INSERT_MESSAGE, columns=MESSAGE_INSERT_COLUMNS)
INSERT_EXPUNGED = insert(expunged)
# Reserve UIDs and a modseq; with the mailbox and name, it also checks a cached folder id.
RESERVE_CHECKED = (
    update(folders)
    .where(and_(folders.c.id == _P("b_folder"), folders.c.mailbox_id == _P("b_mailbox"),
                folders.c.name == _P("b_name")))
    .values(uidnext=folders.c.uidnext + _P("b_count"), highestmodseq=folders.c.highestmodseq + 1)
    .returning(folders.c.uidnext, folders.c.highestmodseq)
)
RESERVE = (
    update(folders).where(folders.c.id == _P("b_folder"))
    .values(uidnext=folders.c.uidnext + _P("b_count"), highestmodseq=folders.c.highestmodseq + 1)
    .returning(folders.c.uidnext, folders.c.highestmodseq)
)
# The writes of every delivery and APPEND (``accounting``), straight on SQLite's driver.
CHARGE_WRITE = Compiled(CHARGE)
CHARGE_FOLDER_WRITE = Compiled(CHARGE_FOLDER)
RESERVE_CHECKED_WRITE = Compiled(RESERVE_CHECKED)
RESERVE_WRITE = Compiled(RESERVE)
BUMP = (update(folders).where(folders.c.id == _P("b_folder"))
        .values(highestmodseq=folders.c.highestmodseq + 1).returning(folders.c.highestmodseq))
# The writes of every STORE and EXPUNGE (``accounting``, ``messages``), straight on
# SQLite's driver as a delivery's are: under imaptest's load they are two thirds of the
# write transactions, and each Core execute held the interpreter lock ~40 us on the
# writer thread while the event loop waited for it.
BUMP_WRITE = Compiled(BUMP)
INDEX = Compiled(
    select(*META_COLUMNS).where(messages.c.folder_id == _P("b_folder")).order_by(messages.c.uid))
# A folder's UIDs, flags, modseqs (each one text, comma-separated, in UID order) and the
# keywords of the messages that have some ("uid keywords" lines), by dialect.
FLAG_COLUMNS = {
    "sqlite": text(
        "SELECT group_concat(uid), group_concat(flags), group_concat(modseq),"
        " group_concat(CASE WHEN keywords != '' THEN uid || ' ' || keywords END, char(10))"
        " FROM (SELECT uid, flags, modseq, keywords FROM messages WHERE folder_id = :b_folder ORDER BY uid)"),
    "postgresql": text(
        "SELECT string_agg(uid::text, ',' ORDER BY uid), string_agg(flags::text, ',' ORDER BY uid),"
        " string_agg(modseq::text, ',' ORDER BY uid),"
        " string_agg(CASE WHEN keywords <> '' THEN uid::text || ' ' || keywords END, E'\\n' ORDER BY uid)"
        " FROM messages WHERE folder_id = :b_folder"),
}
METAS_BY_UIDS = Compiled(
    select(*META_COLUMNS)
    .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.uid.in_(_P("b_uids", expanding=True))))
    .order_by(messages.c.uid)
)
METAS_RANGE = Compiled(
    select(*META_COLUMNS)
    .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.uid >= _P("b_low"), messages.c.uid <= _P("b_high")))
    .order_by(messages.c.uid)
)
CHANGED = Compiled(
    select(*META_COLUMNS)
    .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.modseq > _P("b_modseq")))
    .order_by(messages.c.uid)
)
# The few messages changed after a modseq, by the (folder, modseq) index in modseq order,
# at most ``b_limit`` rows: read on the event loop (``changes_since``, EXPUNGE's look
# before its write), more goes to a reader thread or the write. With a LIMIT bound
# SQLite's compiler adds an OFFSET: named here, so the compiled form gets it.
CHANGED_FEW = Compiled(
    select(*META_COLUMNS)
    .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.modseq > _P("b_modseq")))
    .order_by(messages.c.modseq).limit(_P("b_limit")).offset(_P("b_offset")))
# What a folder index holds of the messages changed after a modseq (store.snapshots).
CHANGED_FLAGS = Compiled(
    select(messages.c.uid, messages.c.flags, messages.c.keywords, messages.c.modseq)
    .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.modseq > _P("b_modseq")))
    .order_by(messages.c.uid)
)
VANISHED = (
    select(expunged.c.uid)
    .where(and_(expunged.c.folder_id == _P("b_folder"), expunged.c.modseq > _P("b_modseq")))
    .order_by(expunged.c.uid)
)
# VANISHED for the reads of changes (``ReadingMethods.changes_since``), with the modseq
# of each expunge (for the change hub's log).
VANISHED_SINCE = Compiled(VANISHED.add_columns(expunged.c.modseq))
PRESENT = (select(messages.c.uid)
           .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.uid.in_(_P("b_uids", expanding=True)))))
PRESENT_RANGE = Compiled(
    select(messages.c.uid)
    .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.uid >= _P("b_low"), messages.c.uid <= _P("b_high"))))
# EXPUNGE: the \Deleted messages of a folder (all, or among some UIDs), then their removal.
_DELETED = and_(messages.c.folder_id == _P("b_folder"), messages.c.flags.op("&")(flagbits.DELETED) != 0)
_REMOVED_COLUMNS = (messages.c.uid, messages.c.size, messages.c.content_id)
DELETED_ALL = select(*_REMOVED_COLUMNS).where(_DELETED).order_by(messages.c.uid)
DELETED_AMONG = (select(*_REMOVED_COLUMNS).where(and_(_DELETED, messages.c.uid.in_(_P("b_uids", expanding=True))))
                 .order_by(messages.c.uid))
DELETE_UIDS = delete(messages).where(
    and_(messages.c.folder_id == _P("b_folder"), messages.c.uid.in_(_P("b_uids", expanding=True))))
DELETED_ALL_READ = Compiled(DELETED_ALL)
DELETED_AMONG_READ = Compiled(DELETED_AMONG)
DELETE_UIDS_WRITE = Compiled(DELETE_UIDS)
INSERT_EXPUNGED_WRITE = Compiled(INSERT_EXPUNGED, columns=("folder_id", "uid", "modseq"))
# Quota given back, never below zero (SQLite's two-argument max, PostgreSQL's greatest).
# RELEASE_FOLDER: of the mailbox a folder belongs to (EXPUNGE: one statement, not a read
# of the folder's mailbox and then the update).
RELEASE_FOLDER = {
    dialect: update(mailboxes).where(mailboxes.c.id == _FOLDER_OWNER)
    .values(used_bytes=floor(mailboxes.c.used_bytes - _P("b_total"), 0))
    for dialect, floor in (("sqlite", func.max), ("postgresql", func.greatest))
}
RELEASE = {
    dialect: update(mailboxes).where(mailboxes.c.id == _P("b_mailbox"))
    .values(used_bytes=floor(mailboxes.c.used_bytes - _P("b_total"), 0))
    for dialect, floor in (("sqlite", func.max), ("postgresql", func.greatest))
}
RELEASE_FOLDER_WRITE = {dialect: Compiled(statement) for dialect, statement in RELEASE_FOLDER.items()}
ADD_REFS_WRITE = Compiled(ADD_REFS)
SET_FLAGS = (
    update(messages).where(and_(messages.c.folder_id == _P("b_folder"), messages.c.uid == _P("b_uid")))
    .values(flags=_P("b_flags"), keywords=_P("b_keywords"), modseq=_P("b_modseq"))
)
SET_FLAGS_WRITE = Compiled(SET_FLAGS)
STATUS = select(
    func.count(),
    func.coalesce(func.sum(messages.c.size), 0),
    func.coalesce(func.sum((messages.c.flags.op("&")(flagbits.SEEN) == 0).cast(Integer)), 0),
    func.coalesce(func.sum((messages.c.flags.op("&")(flagbits.DELETED) != 0).cast(Integer)), 0),
).where(messages.c.folder_id == _P("b_folder"))
