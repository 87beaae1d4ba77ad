#!/usr/bin/env python3
"""Write the mbox imaptest APPENDs from: N messages (default 100), deterministic (seed 17),
about half Vietnamese (UTF-8 quoted-printable / base64 bodies, RFC 2047 subjects and
names) and half ASCII; some multipart with a small attachment. Sizes ~1-40 KB.
Usage: gen_mbox.py OUT [N]"""
import base64
import random
import sys
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr

VI_NAMES = ["Nguyễn Thanh Bình", "Đoàn Văn Thông", "Trần Thị Mỹ Hạnh", "Lê Hoàng Phúc",
            "Phạm Ngọc Ánh", "Huỳnh Quốc Việt", "Võ Thị Thu Trang", "Lâm Sơn Hải"]
EN_NAMES = ["Alice Walker", "Bob Martin", "Carol Smith", "Dave Jones", "Erin Brown"]
VI_SUBJ = ["Lịch làm việc tuần {n} – Sở TT&TT", "Báo cáo tháng {n} về ứng dụng CNTT",
           "Giấy mời họp giao ban số {n}/GM-UBND", "Kế hoạch chuyển đổi số năm 2025 (lần {n})",
           "V/v góp ý dự thảo quyết định số {n}", "Thông báo nghỉ lễ Quốc khánh {n}"]
EN_SUBJ = ["Weekly report {n}", "Meeting notes #{n}", "Re: server migration step {n}",
           "Invoice {n} for October", "Fwd: conference schedule {n}"]
VI_TEXT = ("Kính gửi các đồng chí, thực hiện chỉ đạo của Ủy ban nhân dân tỉnh Sóc Trăng về "
           "việc triển khai hệ thống thư điện tử công vụ, Sở Thông tin và Truyền thông đề nghị "
           "các cơ quan, đơn vị rà soát danh sách cán bộ, công chức, viên chức và gửi về Trung "
           "tâm Công nghệ thông tin trước ngày làm việc thứ ba kể từ ngày nhận văn bản này. "
           "Trân trọng cảm ơn sự phối hợp của quý cơ quan.")
EN_TEXT = ("the quick brown fox jumps over the lazy dog while the committee reviews the "
           "quarterly budget and the server team prepares the migration plan for next "
           "week please find the attached document and send your comments")
VI_WORDS, EN_WORDS = VI_TEXT.split(), EN_TEXT.split()


def paragraph(rng, words, n):
    return "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(n))


def message(rng, i, when):
    vi = i % 2 == 0
    names = VI_NAMES if vi else EN_NAMES
    sender, rcpt = rng.sample(names, 2)
    subj = rng.choice(VI_SUBJ if vi else EN_SUBJ).format(n=i + 1)
    body = paragraph(rng, VI_WORDS if vi else EN_WORDS, rng.randint(3, 300))
    frm = formataddr((str(Header(sender, "utf-8")) if vi else sender, f"user{i % 7}@soctrang.gov.vn"))
    to = formataddr((str(Header(rcpt, "utf-8")) if vi else rcpt, f"user{(i + 3) % 7}@soctrang.gov.vn"))
    head = [f"From: {frm}", f"To: {to}",
            f"Subject: {Header(subj, 'utf-8').encode() if vi else subj}",
            f"Date: {format_datetime(when)}",
            f"Message-ID: <bench{i}.{rng.randrange(10**9)}@soctrang.gov.vn>", "MIME-Version: 1.0"]
    if vi:
        enc = base64.encodebytes(body.encode("utf-8")).decode("ascii")
        part = ("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + enc)
    else:
        part = "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n" + body + "\n"
    if i % 5 == 4:  # multipart with an attachment
        b = f"=_b{i}"
        att = base64.encodebytes(bytes(rng.randrange(256) for _ in range(rng.randint(500, 20000)))).decode()
        fname = f"Tờ trình số {i}.pdf" if vi else f"report-{i}.pdf"
        fname_h = Header(fname, "utf-8").encode() if vi else fname
        text = "\n".join(head + [f'Content-Type: multipart/mixed; boundary="{b}"', "",
                                 f"--{b}", part, f"--{b}",
                                 f'Content-Type: application/pdf; name="{fname_h}"',
                                 "Content-Transfer-Encoding: base64",
                                 f'Content-Disposition: attachment; filename="{fname_h}"', "", att,
                                 f"--{b}--", ""])
    else:
        text = "\n".join(head) + "\n" + part
    return text


def main():
    out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
    rng = random.Random(17)
    start = datetime(2025, 11, 3, 8, 0, tzinfo=timezone(timedelta(hours=7)))
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for i in range(n):
            when = start + timedelta(minutes=37 * i)
            text = message(rng, i, when)
            # mbox: quote body lines starting with "From " (mboxrd style)
            lines = [(">" + line if line.startswith("From ") else line) for line in text.split("\n")]
            f.write(f"From user{i % 7}@soctrang.gov.vn {when.strftime('%a %b %d %H:%M:%S %Y')}\n")
            f.write("\n".join(lines).rstrip("\n") + "\n\n")


if __name__ == "__main__":
    main()
