"""Tables of the request workflow (Điều 4.1–4.3): the requests, the history of each, the
scanned letters of paper requests (their bytes in the blob store), and the calendar's
overrides (the government's yearly swapped working days).

Only this package's modules import them (``congthu/requests/workflow.py``,
``letters.py``, ``calendar.py``, ``reclaim.py``); other packages call their functions.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text

from congthu.db import metadata

requests = Table(
    "requests",
    metadata,
    Column("id", Integer, primary_key=True),
    # create | rename | reset | delete (Điều 4.1: "cấp mới ... thay đổi tên truy cập,
    # cấp lại mật khẩu, hủy hộp thư").
    Column("kind", String(16), nullable=False),
    # The requesting organisation (dir_orgs.id: the directory's, read through its
    # functions; no foreign key across owners).
    Column("org_id", Integer, nullable=False, index=True),
    # Who filed it: a console user's address, or the IT Center operator for paper.
    Column("filed_by", String(320), nullable=False),
    # console | paper | mail
    Column("source", String(16), nullable=False),
    # What is asked, as JSON (names of new mailboxes, the target address, the new name).
    Column("details", Text, nullable=False),
    Column("note", Text, nullable=False, default=""),
    # received | in_progress | done | refused
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("filed_at", DateTime(timezone=True), nullable=False),
    # The last working day of the period (Vietnam's calendar): due by its end.
    Column("due_on", Date, nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # What was done, as JSON (addresses made, renamed, reset, revoked).
    Column("result", Text, nullable=False, default="{}"),
    # One-time passwords of a done request, as JSON, kept only until the requesting
    # organisation's manager has seen them and taken them away (never mailed).
    Column("secrets", Text, nullable=False, default=""),
    Column("overdue_alerted_at", DateTime(timezone=True)),
    Index("ix_requests_state_due", "state", "due_on"),
)

request_events = Table(
    "request_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(320), nullable=False),
    # filed | started | done | refused | failed | passwords_taken | overdue
    Column("action", String(32), nullable=False),
    Column("text", Text, nullable=False, default=""),
)

calendar_overrides = Table(
    "calendar_overrides",
    metadata,
    # One day whose status the government decided otherwise than the holidays package.
    Column("day", Date, primary_key=True),
    # work (a swapped Saturday that is worked) | off (a day given off in exchange)
    Column("kind", String(8), nullable=False),
    Column("note", String(300), nullable=False, default=""),
    Column("added_by", String(320), nullable=False, default=""),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

reclaim_warnings = Table(
    "reclaim_warnings",
    metadata,
    # One warning of Điều 4.4 sent: for this mailbox, about the use that started its
    # six months (a new access starts a new period, and new warnings), this many days
    # before reclamation.
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("last_use", DateTime(timezone=True), primary_key=True),
    Column("days", Integer, primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

request_letters = Table(
    "request_letters",
    metadata,
    # The scanned letter of a paper request (Điều 4.1, "gửi bằng văn bản"), entered by
    # the IT Center with it (``congthu/requests/letters.py``).
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True),
    # The file's bytes: a blob of the store's content-addressed blob store (its SHA-256),
    # kept by the store's garbage collection for as long as this row refers to it.
    Column("blob", String(64), nullable=False, info={"blob": True}),
    Column("size", Integer, nullable=False),
    # application/pdf | image/jpeg | image/png, told by the bytes (never by the name).
    Column("content_type", String(40), nullable=False),
    # The name the file had, cleaned; shown on the page, never a path nor the download's name.
    Column("filename", String(200), nullable=False, default=""),
    Column("added_by", String(320), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)
