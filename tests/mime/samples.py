"""Sample messages for the MIME tests, and an IMAP serialiser to compare with RFC text."""

from __future__ import annotations

from typing import Any


def crlf(text: str) -> bytes:
    """A message written with \\n line ends, as CRLF bytes."""
    return text.replace("\n", "\r\n").encode()


def imap(value: Any) -> str:
    """Serialise NIL / string / number / list as IMAP does."""
    if value is None:
        return "NIL"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "(" + " ".join(imap(i) for i in value) + ")"


def imap_body(body: list[Any]) -> str:
    """Serialise a BODY/BODYSTRUCTURE (RFC 9051 section 9: ``body-type-mpart = 1*body SP
    media-subtype``, so the child bodies of a multipart have no space between them)."""
    if isinstance(body[0], list):
        lead = next(i for i, item in enumerate(body) if not isinstance(item, list))
        return ("(" + "".join(imap_body(b) for b in body[:lead]) + " "
                + " ".join(imap(i) for i in body[lead:]) + ")")
    if body[0] == "MESSAGE" and body[1] in ("RFC822", "GLOBAL"):
        items = [imap(i) for i in body]
        items[8] = imap_body(body[8])
        return "(" + " ".join(items) + ")"
    return imap(body)


# RFC 3501 section 7.4.2 / RFC 9051 section 7.5.2: a single-part message of 3028 octets and
# 92 lines, with the envelope shown in the FETCH example.
RFC_SINGLE_HEADER = (
    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
    "From: Terry Gray <gray@cac.washington.edu>\n"
    "Subject: IMAP4rev1 WG mtg summary and minutes\n"
    "To: imap@cac.washington.edu\n"
    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
    "Message-Id: <B27397-0100000@cac.washington.edu>\n"
    "MIME-Version: 1.0\n"
    "\n"
)
RFC_SINGLE = crlf(RFC_SINGLE_HEADER) + (b"x" * 31 + b"\r\n") * 91 + b"y" * 23 + b"\r\n"
RFC_SINGLE_ENVELOPE = (
    '("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
    '(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) '
    '(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) '
    '((NIL NIL "minutes" "CNRI.Reston.VA.US") ("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
    '"<B27397-0100000@cac.washington.edu>")'
)
RFC_SINGLE_BODY = '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)'

# RFC 3501 section 7.4.2: the multipart/mixed BODYSTRUCTURE example.
RFC_MIXED = (
    crlf("From: a@example.com\nMIME-Version: 1.0\nContent-Type: MULTIPART/MIXED; BOUNDARY=\"xyz\"\n\n"
         "--xyz\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\n")
    + (b"a" * 48 + b"\r\n") * 22 + b"b" * 52
    + crlf("\n--xyz\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\n"
           "Content-ID: <960723163407.20117h@cac.washington.edu>\n"
           "Content-Description: Compiled diff\nContent-Transfer-Encoding: BASE64\n\n")
    + (b"Q" * 61 + b"\r\n") * 72 + b"Q" * 18
    + crlf("\n--xyz--\n")
)
RFC_MIXED_BODY = (
    '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)("TEXT" "PLAIN" '
    '("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" '
    '"Compiled diff" "BASE64" 4554 73) "MIXED")'
)

ALTERNATIVE_IN_MIXED = crlf(
    "From: =?utf-8?B?Tmd1eeG7hW4gVsSDbiBB?= <nva@bo.gov.vn>\n"
    "To: ttb@so.gov.vn\n"
    "Subject: =?utf-8?Q?B=C3=A1o_c=C3=A1o?=\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
    "\n"
    "This is a multi-part message in MIME format.\n"
    "--outer\n"
    "Content-Type: multipart/alternative; boundary=\"inner\"\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "K=C3=ADnh g=E1=BB=ADi anh\n"
    "--inner\n"
    "Content-Type: text/html; charset=utf-8\n"
    "\n"
    "<html><head><style>p {color: red}</style></head><body><p>K\u00ednh g\u1eedi <b>anh</b> &amp; ch\u1ecb</p></body></html>\n"
    "--inner--\n"
    "\n"
    "--outer\n"
    "Content-Type: application/pdf; name=\"=?utf-8?B?QsOhbyBjw6FvLnBkZg==?=\"\n"
    "Content-Disposition: attachment;\n"
    " filename*0*=utf-8''B%C3%A1o%20c%C3%A1o%20;\n"
    " filename*1*=th%C3%A1ng%2011;\n"
    " filename*2=\".pdf\"\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "SGVsbG8sIHdvcmxkIQ==\n"
    "--outer--\n"
    "epilogue\n"
)

FORWARDED = crlf(
    "From: a@bo.gov.vn\n"
    "To: b@bo.gov.vn\n"
    "Subject: Fwd: hello\n"
    "Content-Type: multipart/mixed; boundary=b1\n"
    "\n"
    "--b1\n"
    "Content-Type: text/plain\n"
    "\n"
    "See below.\n"
    "--b1\n"
    "Content-Type: message/rfc822\n"
    "Content-Disposition: attachment\n"
    "\n"
    "From: Old Sender <old@example.com>\n"
    "To: a@bo.gov.vn\n"
    "Subject: hello\n"
    "Message-ID: <old@example.com>\n"
    "Content-Type: multipart/alternative; boundary=b2\n"
    "\n"
    "--b2\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner plain\n"
    "--b2\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>inner html</p>\n"
    "--b2--\n"
    "\n"
    "--b1--\n"
)
