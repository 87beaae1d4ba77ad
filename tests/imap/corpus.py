"""The messages of the differential tests (``test_dovecot_diff.py``): raw bytes with CRLF
line ends and fixed internal dates, chosen to tell apart what RFC 3501/9051 section 6.4.4
and RFC 5256 say: Date fields in zones far from the server's, missing and unparsable
Date fields, quoted-printable and base64 parts in several charsets, nested multiparts
with an attached message and an empty part, group syntax, unknown header fields, base
subjects with every kind of prefix and trailer, and References/In-Reply-To threads."""

from __future__ import annotations

import base64


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


_B64_LATIN1 = base64.encodebytes("Le café est naïve; rendez-vous à midi.\n".encode("latin-1")).decode()
_B64_UTF8 = base64.encodebytes("Căn cứ Nghị định số 30/2020, quyết định ban hành quychehoatdong.\n"
                               .encode()).decode()
_B64_ATTACHMENT = base64.encodebytes(b"%PDF-1.4 attachedsecret payload\n").decode()

TRAILING = "  "  # white space at the end of a subject (RFC 5256 section 2.1)

# (internal date as APPEND takes it, flags, message)
MESSAGES: list[tuple[str, str, bytes]] = [
    # 1: plain ASCII; Date and internal date the same day everywhere.
    ("02-Mar-2026 09:00:00 +0700", r"\Seen", _crlf("""\
From: Nguyen Van Binh <nvbinh@soctrang.gov.vn>
To: Phong Tong Hop <pth@soctrang.gov.vn>
Subject: Cong van so 12
Date: Mon, 02 Mar 2026 08:30:00 +0700
Message-ID: <m1@test.vn>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Noi dung cong van so mot.
""")),
    # 2: quoted-printable UTF-8; the Date's own day (1 March, -0500) is not its UTC day
    # (2 March); the internal date is late on 1 March UTC, 2 March in Viet Nam.
    ("01-Mar-2026 20:00:00 +0000", r"\Flagged $Work", _crlf("""\
From: "Tran Thi Hoa" <tthoa@soctrang.gov.vn>
To: nvbinh@soctrang.gov.vn
Cc: Zeta <zeta@soctrang.gov.vn>, alpha@soctrang.gov.vn
Bcc: bimat@soctrang.gov.vn
Subject: Re: [Phong TH] Bao cao thang
Date: Sun, 01 Mar 2026 23:30:00 -0500
Message-ID: <m2@test.vn>
X-Extra: another value
X-Empty:
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

B=C3=A1o c=C3=A1o th=C3=A1ng ba: soft=
break joined, and an equals =3D sign. Th=E1=BB=A7 t=E1=BB=A5c xong.
""")),
    # 3: multipart/mixed: base64 Latin-1 text, base64 attachment.
    ("03-Mar-2026 23:30:00 +0700", r"\Answered", _crlf(f"""\
From: Van Phong <vp@soctrang.gov.vn>
To: Group Lanh Dao: a@soctrang.gov.vn, b@soctrang.gov.vn;
Subject: Fwd: Bao cao thang (fwd)
Date: Tue, 03 Mar 2026 23:30:00 +0700
Message-ID: <m3@test.vn>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: base64

{_B64_LATIN1}
--outer
Content-Type: application/pdf; name="tl.pdf"
Content-Disposition: attachment; filename="tl.pdf"
Content-Transfer-Encoding: base64

{_B64_ATTACHMENT}
--outer--
""")),
    # 4: no Date field: SORT DATE uses the internal date; nested multipart/alternative,
    # an attached message and an empty part.
    ("28-Feb-2026 10:00:00 +0700", "", _crlf(f"""\
From: aaa@z.vn
To: zzz@z.vn
Subject: [blob] re: Bao cao thang
Message-ID: <m4@test.vn>
In-Reply-To: <m2@test.vn>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Ph=E1=BA=A7n v=C4=83n b=E1=BA=A3n thuong: nestedword here.
--b2
Content-Type: text/html; charset=utf-8

<p>Phan html: <b>htmlonlyword</b></p>
--b2--
--b1
Content-Type: text/plain; charset=us-ascii


--b1
Content-Type: message/rfc822

From: Inner Sender <inner@x.vn>
To: inner-to@x.vn
Subject: Inner subject
Date: Wed, 25 Feb 2026 10:00:00 +0000
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{_B64_UTF8}
--b1--
""")),
    # 5: unparsable Date; group syntax in Cc; a reply to 1.
    ("04-Mar-2026 08:00:00 +0700", "$Forwarded", _crlf("""\
From: mmm@soctrang.gov.vn
To: undisclosed-recipients:;
Cc: Nhom Ke Toan: kt1@soctrang.gov.vn;
Subject: Re: Cong van so 12
Date: not a date at all
Message-ID: <m5@test.vn>
In-Reply-To: <m1@test.vn>
References: <m1@test.vn>
Content-Type: text/plain

Tra loi cong van.
""")),
    # 6: whitespace and case in the subject's prefixes; a reply to 5; Date in UTC, just
    # after midnight (its own day differs from Viet Nam's).
    ("05-Mar-2026 06:59:00 +0700", r"\Draft", _crlf(f"""\
From: "Le B" <leb@soctrang.gov.vn>
To: Phong Tong Hop <pth@soctrang.gov.vn>, Other <other@soctrang.gov.vn>
Subject:   RE:   Re:  Cong   van so 12{TRAILING}
Date: Wed, 04 Mar 2026 23:59:00 +0000
Message-ID: <m6@test.vn>
References: <m1@test.vn> <m5@test.vn>
Content-Type: text/plain

Tra loi lan hai.
""")),
    # 7: base64 UTF-8 body; Date in +1400.
    ("06-Mar-2026 12:00:00 +0700", r"\Deleted", _crlf(f"""\
From: Bbb <bbb@soctrang.gov.vn>
To: ccc@soctrang.gov.vn
Subject: Quyet dinh ban hanh
Date: Fri, 06 Mar 2026 01:00:00 +1400
Message-ID: <m7@test.vn>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{_B64_UTF8}""")),
]
