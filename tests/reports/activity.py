"""A month of activity with a known truth, for the reports (issue 18: "a script in the
repository generates a month of activity (mail, logins, requests, spam) with a known
truth").

``generate(server, period)`` drives a running test server (``tests.conftest.ServerThread``)
through its real doors, with the server's clock (``app.accounts.clock``) set to each day
of the month in turn: logins over IMAP (imaplib), POP3 (poplib) and the webmail (HTTP
sign-in with its CSRF token); mail submitted on port 587 (smtplib, AUTH) to colleagues of
the same organisation, of another agency of the province, of a state domain and of the
outside; mail from outside received on the MX port; a "Mật" document refused, GTUBE
(spam) and EICAR (virus) refused by the private rspamd and clamd of the content tests;
requests of Điều 4 filed, done on time, done late, refused and left open; passwords
changed. What it did is counted by the generator itself into a ``Truth``, never read
back from the server.

Run by hand, it leaves a data directory and the month's reports:

    .venv/bin/python -m tests.reports.activity OUT_DIR
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import imaplib
import poplib
import random
import re
import smtplib
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from typing import Any

from congthu.directory import Directory
from congthu.reports.periods import Period, month
from congthu.requests.workflow import Requests
from tests.conftest import ServerThread

VN = timezone(timedelta(hours=7))
PASSWORD = "Mk@12345678"
NEW_PASSWORD = "Song@Hau7River"
# The server's passwords.max_age_days (Điều 13.2 says a month; longer here, so that a
# password chosen before the month still opens the doors during it).
MAX_AGE_DAYS = 45
# Who works where: (key, full name, organisation key). "giang" never uses the mailbox.
PEOPLE = (
    ("an", "Nguyễn Văn An", "stttt"),
    ("binh", "Trần Thị Bình", "stttt"),
    ("chi", "Lê Minh Chi", "vp"),
    ("dung", "Phạm Quốc Dũng", "syt"),
    ("em", "Võ Thị Em", "syt"),
    ("giang", "Đặng Hương Giang", "syt"),
)
IDLE = {"giang"}
# Organisations: key -> (name, parent key, code).
ORGS = {
    "stttt": ("Sở Thông tin và Truyền thông", None, "STTTT"),
    "vp": ("Văn phòng Sở", "stttt", "VPSTTTT"),
    "syt": ("Sở Y tế", None, "SYT"),
}
# The agency of each organisation (a sub-unit belongs to its parent's).
AGENCY = {"stttt": "stttt", "vp": "stttt", "syt": "syt"}
# The report's rows: each top-level organisation with its sub-units rolled up.
ROW = {"stttt": "stttt", "vp": "stttt", "syt": "syt"}
REMOTE_GOV = "vanthu@bocongan.gov.vn"
REMOTE_OUT = "doitac@example.com"
OUTSIDE_SENDERS = ("vanthu@bocongan.gov.vn", "lienhe@example.org")
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
# What the server's configuration needs besides the content scanners.
SERVER_SETTINGS: dict[str, dict[str, Any]] = {"passwords": {"max_age_days": MAX_AGE_DAYS}}
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@dataclass
class Truth:
    """What the generator did, per report row ("stttt", "syt") and metric."""

    period: Period
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    orgs: dict[str, int] = field(default_factory=dict)  # key -> dir_orgs.id
    people: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # key -> (mailbox id, address, org)
    # Mailboxes never signed in to: (organisation key, when it was made, in real time).
    unused: list[tuple[str, datetime]] = field(default_factory=list)

    def add(self, org_key: str, metric: str, value: int = 1) -> None:
        row = self.rows.setdefault(ROW[org_key], {})
        row[metric] = row.get(metric, 0) + value

    def total(self, metric: str) -> int:
        return sum(r.get(metric, 0) for r in self.rows.values())


def target_month(today: date) -> Period:
    """The month after next: in the future of any real time the test runs at, so every
    mailbox exists before it, and more than a password's 30 days after their making."""
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    first = (first + timedelta(days=32)).replace(day=1)
    return month(first.year, first.month)


class Doors:
    """The real clients of each door of ``server``."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server

    def imap(self, address: str, password: str = PASSWORD) -> None:
        client = imaplib.IMAP4("127.0.0.1", self.server.port("imap"), timeout=30)
        try:
            client.login(address, password)
            client.select("INBOX")
        finally:
            client.logout()

    def pop3(self, address: str, password: str = PASSWORD) -> None:
        client = poplib.POP3("127.0.0.1", self.server.port("pop3"), timeout=30)
        try:
            client.user(address)
            client.pass_(password)
            client.stat()
        finally:
            client.quit()

    def web(self, address: str, password: str = PASSWORD) -> None:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        url = f"http://127.0.0.1:{self.server.port('http')}/dang-nhap"
        with opener.open(url, timeout=30) as response:
            token = re.search(r'name="csrf" value="([^"]+)"', response.read().decode())
        assert token is not None
        data = urllib.parse.urlencode({"address": address, "password": password, "csrf": token.group(1)}).encode()
        with opener.open(urllib.request.Request(url, data=data), timeout=30) as response:
            assert "/dang-nhap" not in response.url, "web sign-in refused"

    def submit(self, sender: str, recipients: list[str], body: str = "Kính gửi anh chị,\nxin gửi tài liệu.",
               subject: str = "Công văn trao đổi", password: str = PASSWORD) -> None:
        """Port 587 with AUTH; SMTPException if the message is refused."""
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(recipients), subject
        msg["Date"] = email.utils.formatdate()
        msg.set_content(body)
        with smtplib.SMTP("127.0.0.1", self.server.port("submission"), timeout=60) as client:
            client.login(sender, password)
            client.send_message(msg, from_addr=sender, to_addrs=recipients)

    def mx(self, sender: str, recipient: str, body: str = "Kính gửi Quý cơ quan.",
           attachment: bytes | None = None) -> None:
        """The MX port, as another server; SMTPException if refused."""
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, recipient, "Thư từ bên ngoài"
        msg["Date"] = email.utils.formatdate()
        msg.set_content(body)
        if attachment is not None:
            msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="tep.com")
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp"), timeout=60) as client:
            client.send_message(msg, from_addr=sender, to_addrs=[recipient])


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), VN).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def setup(server: ServerThread, truth: Truth) -> None:
    """The organisations and officials, with passwords they chose (before the month)."""
    app = server.app
    directory = Directory(app)
    for key, (name, parent, code) in ORGS.items():
        org = server.run(directory.add_org(name, parent=truth.orgs[parent] if parent else None, code=code))[0]
        truth.orgs[key] = org.id
        truth.unused.append((key, datetime.now(UTC)))
        truth.add(key, "mb.total")
        truth.add(key, "mb.subunit" if parent else "mb.organisation")
        truth.add(key, "mb.active")
    for key, name, org_key in PEOPLE:
        person = server.run(directory.add_person(name, truth.orgs[org_key]))[0]
        assert person.mailbox_id is not None
        server.run(app.accounts.set_password(person.mailbox_id, PASSWORD, must_change=False))
        truth.people[key] = (person.mailbox_id, person.address, org_key)
        if key in IDLE:
            truth.unused.append((org_key, datetime.now(UTC)))
        for metric in ("mb.total", "mb.personal", "mb.active", "use.officials", "pw.total"):
            truth.add(org_key, metric)


def generate(server: ServerThread, period: Period, seed: int = 18) -> Truth:
    """Set up the organisations, then a month of activity; returns what was done."""
    rng = random.Random(seed)
    truth = Truth(period)
    app = server.app
    assert app.settings.passwords.max_age_days == MAX_AGE_DAYS
    # The officials chose their passwords 20 days before the month: still valid on the
    # days they use their mailboxes, no longer on time at the month's end.
    clock = Clock(_at(period.first - timedelta(days=20)))
    app.accounts.clock = clock
    setup(server, truth)
    doors = Doors(server)
    clock.now = _at(period.first)
    workflow = Requests(app)
    people = truth.people
    active = [k for k, _n, _o in PEOPLE if k not in IDLE]
    used: set[str] = set()
    days = [period.first + timedelta(days=i) for i in range((period.last - period.first).days + 1)]
    working = [d for d in days if d.weekday() < 5]

    def login(kind: str, key: str) -> None:
        address = people[key][1]
        getattr(doors, kind)(address, NEW_PASSWORD if key in changed else PASSWORD)
        truth.add(people[key][2], f"login.{kind}")
        used.add(key)

    changed: set[str] = set()
    for day in working[:12]:
        clock.now = _at(day)
        for key in active:
            if rng.random() < 0.6:
                login("imap", key)
            if rng.random() < 0.3:
                login("pop3", key)
        if rng.random() < 0.5:
            login("web", "chi")
        for _ in range(rng.randint(1, 3)):
            sender = rng.choice(active)
            choices = [k for k, _n, _o in PEOPLE if k != sender] + ["gov", "out"]
            picked = rng.sample(choices, rng.randint(1, 3))
            addresses = [REMOTE_GOV if k == "gov" else REMOTE_OUT if k == "out" else people[k][1] for k in picked]
            doors.submit(people[sender][1], addresses,
                         password=NEW_PASSWORD if sender in changed else PASSWORD)
            sender_org = people[sender][2]
            truth.add(sender_org, "login.smtp")
            used.add(sender)
            truth.add(sender_org, "mail.sent")
            truth.add(sender_org, "doc.7.1")  # "Công văn ...": a công văn (Điều 7.1)
            for k in picked:
                if k == "gov":
                    truth.add(sender_org, "mail.sent.gov")
                elif k == "out":
                    truth.add(sender_org, "mail.sent.outside")
                else:
                    same = AGENCY[people[k][2]] == AGENCY[sender_org]
                    truth.add(sender_org, "mail.sent.org" if same else "mail.sent.province")
                    truth.add(people[k][2], "mail.received.org" if same else "mail.received.province")
        if rng.random() < 0.7:
            outsider = rng.choice(OUTSIDE_SENDERS)
            target = rng.choice([k for k, _n, _o in PEOPLE])
            doors.mx(outsider, people[target][1])
            truth.add(people[target][2], "mail.received.gov" if outsider.endswith(".gov.vn")
                      else "mail.received.outside")
    # Stopped by the content pipeline (Điều 7.8, 9.9): refused, nothing delivered.
    clock.now = _at(working[2], 10)
    _refused(lambda: doors.submit(people["an"][1], [people["dung"][1]], body="MẬT\n\nKế hoạch bảo vệ.",
                                  subject="Kế hoạch"))
    truth.add("stttt", "login.smtp")
    truth.add("stttt", "stopped.classified")
    _refused(lambda: doors.mx("spammer@example.net", people["dung"][1], body=GTUBE.decode()))
    truth.add("syt", "stopped.spam")
    _refused(lambda: doors.mx("virus@example.net", people["binh"][1], attachment=EICAR))
    truth.add("stttt", "stopped.virus")
    # Passwords (Điều 13.2): "an" and "dung" choose new ones late in the month: on time
    # at its end; the others' date from before the month, more than 30 days old by then.
    clock.now = _at(working[-1], 16)
    for key in ("an", "dung"):
        server.run(app.accounts.set_password(people[key][0], NEW_PASSWORD, must_change=False))
        changed.add(key)
        truth.add(people[key][2], "pw.ontime")
    # Requests of Điều 4: on time, late, refused, open (overdue at the month's end).
    requests_plan = [("stttt", working[1], working[1], "done"), ("syt", working[2], working[-2], "done"),
                     ("syt", working[3], working[4], "refuse"), ("stttt", working[5], None, "open")]
    for number, (org_key, filed, finished, outcome) in enumerate(requests_plan):
        clock.now = _at(filed, 8)
        request = server.run(workflow.file("create", truth.orgs[org_key], filed_by="operator", source="paper",
                                           names=f"Hồ Văn Mới{'' if number == 0 else ' ' + 'ABC'[number - 1]}"))
        truth.add(org_key, "req.received")
        if finished is None:
            truth.add(org_key, "req.open")
            truth.add(org_key, "req.overdue")
            continue
        clock.now = _at(finished, 15)
        if outcome == "refuse":
            server.run(workflow.refuse(request.id, "operator", "Thiếu văn bản đề nghị"))
            truth.add(org_key, "req.refused")
            continue
        server.run(workflow.start(request.id, "operator"))
        server.run(workflow.done(request.id, "operator"))
        truth.add(org_key, "req.ontime" if finished == filed else "req.late")
        # The new official's mailbox: personal, active, an issued password (must change).
        truth.unused.append((org_key, datetime.now(UTC)))
        for metric in ("mb.total", "mb.personal", "mb.active", "use.officials", "pw.total"):
            truth.add(org_key, metric)
    for key in used:
        truth.add(people[key][2], "use.used")
    # "Unused" at the month's end: never signed in to, made (in real time) 3 or 6 months before.
    for org_key, made in truth.unused:
        if period.end - made >= timedelta(days=90):
            truth.add(org_key, "mb.unused3")
        if period.end - made >= timedelta(days=180):
            truth.add(org_key, "mb.unused6")
    # The report is made on the first day after the month.
    clock.now = _at(period.last + timedelta(days=1), 7)
    server.run(app.reports.flush())
    return truth


def _refused(send: Any) -> None:
    try:
        send()
    except (smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException):
        return
    raise AssertionError("the message was accepted")


def main(argv: list[str]) -> int:  # pragma: no cover - run by hand
    """Generate a month in a fresh data directory under OUT_DIR and write its reports."""
    from pathlib import Path

    from congthu.reports.figures import build
    from congthu.reports.pdf import pdf_bytes
    from congthu.reports.xlsx import xlsx_bytes
    from tests.content.daemons import Clamd, Rspamd
    from tests.smtp.conftest import start_server
    from tests.smtp.dnsserver import DNSServer

    out = Path(argv[0] if argv else "activity-out").resolve()
    out.mkdir(parents=True, exist_ok=True)
    dns = DNSServer().start()
    for name in ("clamd", "rspamd"):
        (out / name).mkdir(exist_ok=True)
    clamd = Clamd(out / "clamd").start()
    rspamd = Rspamd(out / "rspamd").start()
    server = start_server(out / "data", dns, **SERVER_SETTINGS, content={"clamd": clamd.address,
                          "rspamd": rspamd.url, "timeout": 30.0})
    try:
        period = target_month(date.today())
        truth = generate(server, period)
        report = server.run(build(server.app, period, now=server.app.accounts.clock()))
        (out / f"bao-cao-{period.key}.pdf").write_bytes(pdf_bytes(report))
        (out / f"bao-cao-{period.key}.xlsx").write_bytes(xlsx_bytes(report))
        for row, figures in sorted(truth.rows.items()):
            print(row, dict(sorted(figures.items())))
    finally:
        server.stop()
        rspamd.stop()
        clamd.stop()
        dns.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    raise SystemExit(main(sys.argv[1:]))
