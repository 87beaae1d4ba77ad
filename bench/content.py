"""CPU time of one message's analysis and content extraction (``congthu.mime.analyse``,
``congthu.content.extract.documents``), as the content pipeline does them at delivery,
for a 10 KB message, a 1 MB ASCII one, a 1 MB Vietnamese 8bit one and a 1 MB base64
attachment (DOCX, PDF), and the peak of memory allocated (tracemalloc) for 1 MB and
15 MB messages. Run: ``.venv/bin/python bench/content.py [runs]``; the same script runs
older code (``PYTHONPATH=<old checkout>``), which extracted from the raw bytes.
"""

from __future__ import annotations

import base64
import inspect
import os
import re
import statistics
import sys
import time
import tracemalloc

sys.path.append(os.path.join(os.path.dirname(__file__), ".."))

from bench.mime import HEADER  # noqa: E402
from congthu.content import extract  # noqa: E402
from congthu.mime import analyse  # noqa: E402
from tests.content import documents as docs  # noqa: E402

NEW = "analysis" in inspect.signature(extract.documents).parameters


def text(size: int, line: bytes) -> bytes:
    return (HEADER + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + line * (size // len(line)))


def attached(size: int, name: str, mime_type: str, data: bytes) -> bytes:
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (HEADER + b'Content-Type: multipart/mixed; boundary="=_b"\r\n\r\n'
            b"--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "Gửi anh chị báo cáo.\r\n".encode()
            + f'--=_b\r\nContent-Type: {mime_type}; name="{name}"\r\n'.encode()
            + b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--=_b--\r\n")


def docx(size: int) -> bytes:
    import io
    import zipfile
    buffer = io.BytesIO(docs.docx(docs.ORDINARY))
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as z:
        z.writestr("word/media/image1.png", os.urandom(size))
    return buffer.getvalue()


def pdf(size: int) -> bytes:
    """The test PDF with an incremental update (ISO 32000-1 section 7.5.6) adding a
    stream object of ``size`` random bytes (what a scanned page's image weighs)."""
    data = docs.pdf(docs.ORDINARY)
    previous = int(re.findall(rb"startxref\n(\d+)", data)[-1])
    offset = len(data)
    data += b"7 0 obj\n<< /Length %d >>\nstream\n" % size + os.urandom(size) + b"\nendstream\nendobj\n"
    xref = len(data)
    data += b"xref\n7 1\n%010d 00000 n \n" % offset
    data += b"trailer\n<< /Size 8 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (previous, xref)
    return data


MB = 1024 * 1024
MESSAGES = {
    "10 KB Vietnamese text": text(10 * 1024, "Kính gửi các đơn vị: báo cáo tình hình tháng 11.\r\n".encode()),
    "1 MB ASCII text": text(MB, b"Kinh gui cac don vi: bao cao tinh hinh thuc hien nhiem vu thang 11.\r\n"),
    "1 MB Vietnamese 8bit": text(MB, "Kính gửi các đơn vị: báo cáo tình hình thực hiện nhiệm vụ tháng 11.\r\n".encode()),
    "1 MB base64 DOCX": attached(MB, "bao-cao.docx", "application/vnd.openxmlformats-officedocument."
                                 "wordprocessingml.document", docx(3 * MB // 4)),
    "1 MB base64 PDF": attached(MB, "bao-cao.pdf", "application/pdf", pdf(3 * MB // 4)),
}


def work(raw: bytes) -> None:
    analysis = analyse(raw)
    if NEW:
        extract.documents(raw, analysis=analysis)
    else:
        extract.documents(raw)


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    print("new" if NEW else "old", "code,", runs, "runs")
    for name, raw in MESSAGES.items():
        work(raw)  # imports, caches
        reps = 20 if len(raw) < 100_000 else 1
        figures = []
        for _ in range(runs):
            start = time.process_time()
            for _ in range(reps):
                work(raw)
            figures.append((time.process_time() - start) * 1000 / reps)
        print(f"{name:24s} {len(raw):>9d} B  median {statistics.median(figures):7.2f} ms  "
              + " ".join(f"{f:.2f}" for f in figures))
    for name, raw in (("1 MB Vietnamese 8bit", MESSAGES["1 MB Vietnamese 8bit"]),
                      ("15 MB Vietnamese 8bit", text(15 * MB, "Kính gửi các đơn vị: báo cáo tình hình.\r\n".encode())),
                      ("15 MB base64 DOCX", attached(15 * MB, "b.docx", "application/vnd.openxmlformats-"
                                                    "officedocument.wordprocessingml.document", docx(11 * MB)))):
        tracemalloc.start()
        work(raw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"peak {name:22s} {len(raw) / MB:6.1f} MB message: {peak / MB:6.1f} MB allocated")
