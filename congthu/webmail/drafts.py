"""Drafts (issue 14: "never lose a draft"): each version of a draft is a message in the
mailbox's ``\\Drafts`` folder (RFC 6154), appended with ``\\Draft \\Seen`` through the
store's ``append`` (the path of IMAP APPEND, so every client sees it); a new version is
appended first and the previous one expunged after, so a crash in between leaves two
versions, never none.

A draft holds what the compose form holds: the From chosen (the user's own address or an
organisation mailbox the user may send as, Điều 12: the draft is still the user's, in
the user's own Drafts), the addresses (Bcc too), subject, text (and its HTML when written
in rich text: ``multipart/alternative``, the HTML cleaned again when reopened),
In-Reply-To and References, and in ``X-Congthu-Source`` which stored message it answers
or forwards (folder id and UID, checked again as the user's when sent), and the files
the user attached (``compose.py``: kept from version to version).
"""

from __future__ import annotations

import re
import unicodedata
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr

from congthu.store import Folder, MailStore
from congthu.store import flags as flagbits
from congthu.webmail.richtext import fragment
from congthu.webmail.writing import Draft

__all__ = ["SOURCE_HEADER", "drafts_folder", "read_draft", "save_draft"]

SOURCE_HEADER = "X-Congthu-Source"
_SOURCE = re.compile(r"^(\d{1,9})-(\d{1,9}) (tra-loi|tra-loi-tat-ca|chuyen-tiep|dinh-kem)$")


async def drafts_folder(store: MailStore, mailbox_id: int) -> Folder | None:
    return next((f for f in await store.list_folders(mailbox_id) if f.special_use == "\\Drafts"), None)


async def save_draft(store: MailStore, folder: Folder, raw: bytes, previous_uid: int | None) -> int:
    """Append this version; expunge ``previous_uid`` (if it is still a draft there)."""
    uid = await store.append(folder.id, raw, flags=flagbits.DRAFT | flagbits.SEEN)
    # A form may name a UID that was never a draft here, even the one just given to this
    # version (the folder's next UID): never expunge what was just saved.
    if previous_uid and previous_uid != uid:
        old = await store.get_messages(folder.id, [previous_uid])
        if old:
            await store.store_flags(folder.id, [previous_uid], "add", flagbits.DELETED)
            await store.expunge(folder.id, [previous_uid])
    return uid


def _text(value: object) -> str:
    return unicodedata.normalize("NFC", str(value)) if value is not None else ""


def read_draft(raw: bytes) -> tuple[Draft, str]:
    """The form's values from a stored draft, and its source ("" if none)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)

    def header(name: str) -> str:
        try:
            return _text(msg.get(name))
        except Exception:  # a header the registry cannot read (a draft from another client)
            return ""

    body = ""
    try:
        part = msg.get_body(preferencelist=("plain",))
        if part is not None:
            body = unicodedata.normalize("NFC", part.get_content()).replace("\r\n", "\n")
            body = body[:-1] if body.endswith("\n") else body  # the line end writing.build adds
    except Exception:  # an undecodable body: the draft opens without it
        body = ""
    html = ""
    try:
        part = msg.get_body(preferencelist=("html",))
        if part is not None and part.get_content_type() == "text/html":
            html = fragment(unicodedata.normalize("NFC", part.get_content()))
    except Exception:  # an undecodable HTML part: the draft opens as plain text
        html = ""
    source = header(SOURCE_HEADER).strip()
    return Draft(to=header("To"), cc=header("Cc"), bcc=header("Bcc"), subject=header("Subject"),
                 body=body, html=html, in_reply_to=header("In-Reply-To").strip(),
                 references=header("References").strip(), sender=parseaddr(header("From"))[1]
                 ), source if _SOURCE.match(source) else ""


def parse_source(source: str) -> tuple[int, int, str] | None:
    """``"<folder>-<uid> <kind>"`` as (folder id, uid, kind)."""
    match = _SOURCE.match(source)
    return (int(match.group(1)), int(match.group(2)), match.group(3)) if match else None
