"""The messages the webmail writes: built with the standard library's ``email`` package
(``EmailMessage``, ``policy.SMTP``: CRLF line ends, RFC 2047 encoded words for
Vietnamese display names and subjects, RFC 2231 for Vietnamese file names), with
Date and Message-ID (RFC 5322 sections 3.6.1, 3.6.4), From the signed-in mailbox under
its display name.

Rich text (``Draft.html``) is sent as ``multipart/alternative`` (RFC 2046 section 5.1.4):
the plain text made from the HTML, then the HTML (``richtext``).

Replies (RFC 5322 section 3.6.4): In-Reply-To the original's Message-ID, References its
References (or In-Reply-To) followed by that Message-ID, "Re: " once. Forwarding inline
quotes the text; forwarding as an attachment (Điều 12.4) puts the stored message, byte
for byte, in a ``message/rfc822`` part: ``email`` would serialise a parsed message again
(refolding, re-encoding), so the part holds a placeholder that is replaced by the raw
bytes after serialisation, under a boundary checked not to occur in them.
"""

from __future__ import annotations

import email.utils
import mimetypes
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.parser import HeaderParser

from congthu.webmail.richtext import document

__all__ = ["Draft", "Upload", "Original", "build", "read_original", "split_addresses", "reply_subject",
           "forward_subject", "quote", "quote_head", "with_bcc", "bad_addresses", "forward_text", "forward_lines",
           "show_address"]

SMTP_POLICY = policy.SMTP
MAX_HEADER_CHARS = 4000
_RE = re.compile(r"^\s*((re|tl|trả lời|aw|sv)\s*:\s*)+", re.IGNORECASE)
_FWD = re.compile(r"^\s*((fwd?|tt|chuyển tiếp|wg)\s*:\s*)+", re.IGNORECASE)
_ADDR_SPLIT = re.compile(r"[,;\n]")
# A message id as In-Reply-To and References carry it: printable ASCII (RFC 5322 3.6.4).
MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>")


@dataclass
class Upload:
    """A file the user attached."""

    filename: str
    data: bytes
    media_type: str = ""


@dataclass
class Original:
    """What a reply or forward needs of the message it answers (decoded)."""

    message_id: str
    references: str
    subject: str
    from_: list[tuple[str, str]]
    reply_to: list[tuple[str, str]]
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    date: str
    text: str
    raw: bytes
    html: str = ""  # its HTML part as sent (hostile: cleaned before any use)


@dataclass
class Draft:
    """What the compose form holds."""

    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    # Written in rich text: the cleaned HTML (``richtext.clean_html``); ``body`` is then
    # its plain alternative. "" for a plain message.
    html: str = ""
    in_reply_to: str = ""
    references: str = ""
    # The address chosen in "From" (the user's own, or an organisation mailbox the user
    # may send as); "" for the user's own.
    sender: str = ""
    uploads: list[Upload] = field(default_factory=list)
    attached_messages: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, raw)


def split_addresses(value: str) -> list[tuple[str, str]]:
    """(display name, address) of each address typed in a field: commas, semicolons or
    new lines between them, ``Name <a@b>`` or a bare address."""
    out: list[tuple[str, str]] = []
    for name, address in email.utils.getaddresses([", ".join(p for p in _ADDR_SPLIT.split(value) if p.strip())]):
        address = address.strip()
        if address:
            out.append((name.strip(), address))
    return out


def bad_addresses(value: str) -> list[str]:
    """The typed addresses that are not ``local@domain`` (shown back to the user)."""
    bad = []
    for part in _ADDR_SPLIT.split(value):
        part = part.strip()
        if not part:
            continue
        found = email.utils.getaddresses([part])
        if len(found) != 1 or not re.fullmatch(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+",
                                               found[0][1] or ""):
            bad.append(part)
    return bad


def _encoded(name: str, text: str) -> str:
    """``text`` as RFC 2047 encoded words of whole characters, folded (section 5)."""
    return Header(text, "utf-8", header_name=name).encode(linesep="\r\n")


def address_field(name: str, pairs: list[tuple[str, str]]) -> bytes:
    """An address field, each display name in encoded words when not ASCII, one address
    a line."""
    shown = []
    for display, address in pairs:
        if not address or any(ord(c) < 33 or c in "<>()[],;:\"\\" for c in address):
            continue  # never a line break or a second address smuggled into the field
        display = " ".join(display.split())
        if display and not display.isascii():
            shown.append(f"{_encoded(name, display)} <{address}>")
        else:
            shown.append(email.utils.formataddr((display, address)))
    return f"{name}: {(',' + chr(13) + chr(10) + ' ').join(shown)}\r\n".encode()


def text_field(name: str, text: str) -> bytes:
    text = " ".join(text.split())
    value = text if text.isascii() and len(text) < 900 else _encoded(name, text)
    return f"{name}: {value}\r\n".encode()


def reply_subject(subject: str) -> str:
    return "Re: " + _RE.sub("", subject).strip()


def forward_subject(subject: str) -> str:
    return "Fwd: " + _FWD.sub("", subject).strip()


def show_address(pair: tuple[str, str]) -> str:
    """``Name <address>`` as typed in a field (not encoded: the page shows it)."""
    name, address = pair
    if not name:
        return address
    if any(c in name for c in ',;<>"()\\@'):
        name = '"' + name.replace("\\", "").replace('"', "") + '"'
    return f"{name} <{address}>"


def quote_head(original: Original, lang: str) -> str:
    """The line above a reply's quotation."""
    who = ", ".join(show_address(p) for p in original.from_)
    return f"Ngày {original.date}, {who} viết:" if lang == "vi" else f"On {original.date}, {who} wrote:"


def quote(original: Original, lang: str) -> str:
    return ("\n\n" + quote_head(original, lang) + "\n"
            + "\n".join("> " + line for line in original.text.splitlines()) + "\n")


def forward_lines(original: Original, lang: str) -> list[str]:
    """The lines above an inline forward's original: its fields."""
    def show(pairs: list[tuple[str, str]]) -> str:
        return ", ".join(show_address(p) for p in pairs)

    labels = (("Thư chuyển tiếp", "Từ", "Ngày", "Tiêu đề", "Tới") if lang == "vi"
              else ("Forwarded message", "From", "Date", "Subject", "To"))
    return [f"---------- {labels[0]} ----------", f"{labels[1]}: {show(original.from_)}",
            f"{labels[2]}: {original.date}", f"{labels[3]}: {original.subject}", f"{labels[4]}: {show(original.to)}"]


def forward_text(original: Original, lang: str) -> str:
    return "\n\n" + "\n".join(forward_lines(original, lang)) + f"\n\n{original.text}\n"


def _clean(text: str) -> str:
    """NFC text without lone surrogates (what undecodable bytes become)."""
    return unicodedata.normalize("NFC", text.encode("utf-8", "replace").decode("utf-8"))


def _pairs(value: object) -> list[tuple[str, str]]:
    try:
        addresses = getattr(value, "addresses", ())
        return [(_clean(a.display_name), _clean(a.addr_spec)) for a in addresses][:200]
    except Exception:  # a hostile header the registry cannot read: nothing
        return []


def read_original(raw: bytes, text: str) -> Original:
    """The fields of a stored message a reply or forward uses; hostile headers give
    empty values, never an error."""
    # Header fields in raw UTF-8 (RFC 6532) are read as UTF-8, not as escaped bytes.
    block = raw[:200_000].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    headers = HeaderParser(policy=policy.default).parsestr(block.decode("utf-8", "replace") + "\r\n\r\n")

    def one(name: str) -> object:
        try:
            return headers.get(name)
        except Exception:  # a header the registry cannot read
            return None

    def text_of(name: str) -> str:
        value = one(name)
        return _clean(str(value))[:MAX_HEADER_CHARS] if value is not None else ""

    message_id = text_of("Message-ID").strip()
    if not MSG_ID.fullmatch(message_id):
        message_id = ""
    references = " ".join(MSG_ID.findall(text_of("References"))[-20:])
    if not references:
        references = " ".join(MSG_ID.findall(text_of("In-Reply-To"))[:1])
    return Original(message_id=message_id, references=references, subject=text_of("Subject").strip(),
                    from_=_pairs(one("From")), reply_to=_pairs(one("Reply-To")), to=_pairs(one("To")),
                    cc=_pairs(one("Cc")), date=text_of("Date"), text=text, raw=raw)


def with_bcc(raw: bytes, bcc: str) -> bytes:
    """The copy kept in Sent shows the Bcc recipients (RFC 5322 section 3.6.3): a Bcc
    field, encoded as ``build`` encodes address fields, put before the others."""
    pairs = split_addresses(bcc)
    if not pairs:
        return raw
    return address_field("Bcc", pairs) + raw


def _media_type(upload: Upload) -> tuple[str, str]:
    guessed = upload.media_type if "/" in upload.media_type else ""
    guessed = guessed or mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    maintype, _, subtype = guessed.partition("/")
    if maintype in ("multipart", "message") or not re.fullmatch(r"[a-z0-9.+-]+", subtype or "x"):
        return "application", "octet-stream"
    return maintype, subtype


def build(draft: Draft, *, sender: tuple[str, str], domain: str, include_bcc: bool = False,
          extra_headers: dict[str, str] | None = None) -> bytes:
    """The message as bytes with CRLF line ends. ``include_bcc``: the copy kept in Sent
    or Drafts shows Bcc; the one sent does not (RFC 5322 section 3.6.3)."""
    # The fields with Vietnamese text are written here, not by ``email``: the folding of
    # Python 3.11's ``policy.SMTP`` loses spaces between encoded words and splits
    # characters across them; ``email.header.Header`` keeps whole characters.
    fields = address_field("From", [sender])
    for name, value in (("To", draft.to), ("Cc", draft.cc), ("Bcc", draft.bcc)):
        pairs = split_addresses(value)
        if pairs and (name != "Bcc" or include_bcc):
            fields += address_field(name, pairs)
    fields += text_field("Subject", draft.subject)
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(domain=domain if domain.isascii() else None)
    if draft.in_reply_to:
        msg["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        msg["References"] = draft.references
    for key, value in (extra_headers or {}).items():
        fields += text_field(key, value)
    # One line end always added (set_content adds one when missing): a draft reopened
    # (drafts.read_draft) drops exactly that one and gets the text as typed.
    body = draft.body.replace("\r\n", "\n") + "\n"
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    if draft.html:
        # Rich text: both forms, plain first (RFC 2046 section 5.1.4: the last part is the
        # one preferred); the HTML was cleaned by the caller (``richtext.clean_html``).
        msg.add_alternative(document(draft.html), subtype="html", charset="utf-8", cte="quoted-printable")
    for upload in draft.uploads:
        maintype, subtype = _media_type(upload)
        msg.add_attachment(upload.data, maintype=maintype, subtype=subtype, filename=upload.filename)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # EmailMessage parts add one; only the top has it
    placeholders: dict[bytes, bytes] = {}
    for filename, raw in draft.attached_messages:
        token = f"CONGTHU-ORIGINAL-{secrets.token_hex(16)}"
        part = EmailMessage(policy=SMTP_POLICY)
        part["Content-Type"] = "message/rfc822"
        part["Content-Disposition"] = "attachment"
        part.set_param("filename", filename, header="Content-Disposition")
        part["Content-Transfer-Encoding"] = "7bit" if raw.isascii() else "8bit"
        part.set_payload(token)
        if not msg.is_multipart():
            msg.make_mixed()
        msg.attach(part)
        placeholders[token.encode("ascii")] = raw
    if placeholders:
        # A boundary that occurs in no attached message (RFC 2046 section 5.1.1).
        while True:
            boundary = "=_congthu_" + secrets.token_hex(12)
            if not any(boundary.encode("ascii") in raw for raw in placeholders.values()):
                break
        msg.set_boundary(boundary)
    out = fields + msg.as_bytes(policy=SMTP_POLICY)
    for placeholder, original in placeholders.items():
        # The CRLF after the placeholder belongs to the boundary delimiter (RFC 2046
        # section 5.1.1): the part's body is the stored bytes exactly, nothing added.
        out = out.replace(placeholder, original, 1)
    return out
