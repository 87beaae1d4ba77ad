"""Messages per second for ``congthu.mime.analyse``: a 10 KB text message, a 1 MB attachment
message and a 25 MB one (the SMTP size limit).  Run: ``.venv/bin/python bench/mime.py``.
"""

from __future__ import annotations

import base64
import os
import time

from congthu.mime import analyse

HEADER = (
    b"From: =?utf-8?B?Tmd1eeG7hW4gVsSDbiBB?= <a@bo.gov.vn>\r\n"
    b"To: =?utf-8?Q?Tr=E1=BA=A7n_Th=E1=BB=8B_B?= <b@so.gov.vn>, c@so.gov.vn\r\n"
    b"Subject: =?utf-8?Q?B=C3=A1o_c=C3=A1o_th=C3=A1ng_11?=\r\n"
    b"Date: Mon, 13 Nov 2023 09:00:00 +0700\r\n"
    b"Message-ID: <bench@bo.gov.vn>\r\nMIME-Version: 1.0\r\n"
)


def text_message(size: int) -> bytes:
    line = "Kính gửi các đơn vị: báo cáo tình hình thực hiện nhiệm vụ tháng 11.\r\n".encode()
    body = line * (size // len(line))
    return HEADER + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body


def attachment_message(size: int) -> bytes:
    data = base64.encodebytes(os.urandom(size)).replace(b"\n", b"\r\n")
    return (
        HEADER + b'Content-Type: multipart/mixed; boundary="=_b"\r\n\r\n'
        b"--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "Gửi anh chị báo cáo.\r\n".encode() +
        b"--=_b\r\nContent-Type: application/pdf; name=\"bao-cao.pdf\"\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''B%C3%A1o%20c%C3%A1o.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + data + b"--=_b--\r\n"
    )


def bench(name: str, raw: bytes, seconds: float = 2.0) -> None:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        analyse(raw)
        count += 1
    print(f"{name:32s} {len(raw):>10d} bytes  {count / elapsed:10.1f} messages/s")


if __name__ == "__main__":
    bench("10 KB text message", text_message(10 * 1024))
    bench("1 MB attachment message", attachment_message(1024 * 1024))
    bench("25 MB attachment message", attachment_message(18 * 1024 * 1024))
