"""The settings: one dataclass per section of ``congthu.toml``, their validation and loading.

Every number the regulation fixes is a setting whose default is the regulation's value
(Quyết định 17/2014/QĐ-UBND Sóc Trăng; see REQUIREMENTS.md). ``congthu init`` writes the
file with comments (``template.py``); ``load()`` validates it and fails with the file,
the key and the reason, so that a typo never starts a half-configured server.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE = "congthu.toml"


class ConfigError(Exception):
    """An invalid configuration: says which file, which key and why."""

    def __init__(self, path: Path | str, key: str, reason: str) -> None:
        self.path, self.key, self.reason = str(path), key, reason
        super().__init__(f"{path}: [{key}] {reason}")


@dataclass
class SystemSettings:
    # The province's mail domain (Điều 3: <name>@<domain>).
    domain: str = "soctrang.gov.vn"
    # The host name clients connect to (Điều 2.3: the webmail at mail.<domain>).
    hostname: str = "mail.soctrang.gov.vn"
    # Further domains this system receives mail for (after a merger of provinces).
    extra_domains: list[str] = field(default_factory=list)
    # The IT Center's name, shown in the webmail and in reports.
    operator: str = "Trung tâm Công nghệ thông tin và Truyền thông"
    # Where requests by mail are sent (Điều 4.1): admin@<domain>.
    admin_address: str = "admin"
    # Development only: allow plaintext passwords over loopback without TLS.
    dev_allow_plaintext_loopback: bool = False
    # Time zone of the province, for working days and reports.
    timezone: str = "Asia/Ho_Chi_Minh"


@dataclass
class DatabaseSettings:
    # Empty: SQLite (WAL) in the data directory. Otherwise an SQLAlchemy URL such as
    # "postgresql+asyncpg://congthu:secret@db.example/congthu".
    url: str = ""
    # Seconds to wait for a locked SQLite database before answering "try again later".
    busy_timeout: float = 10.0
    # SQLite: MiB of the database file each connection reads through memory mapping
    # instead of read() calls (a search reads thousands of rows; about a third faster).
    # Address space only, shared with the page cache; 0 switches it off.
    sqlite_mmap_mib: int = 1024


@dataclass
class ListenSettings:
    # Address to listen on; "0.0.0.0" or "::" in production. Port 0 switches a service off.
    host: str = "127.0.0.1"
    smtp: int = 2525  # MX, RFC 5321 (25 in production)
    submission: int = 2587  # STARTTLS, RFC 6409 (587)
    submissions: int = 2465  # implicit TLS, RFC 8314 (465)
    imap: int = 1143  # STARTTLS (143)
    imaps: int = 1993  # implicit TLS (993)
    pop3: int = 1110  # STLS (110)
    pop3s: int = 1995  # implicit TLS (995)
    ldap: int = 1389  # StartTLS (389)
    ldaps: int = 1636  # implicit TLS (636)
    http: int = 8080  # webmail, admin, API (80)
    https: int = 8443  # (443)


@dataclass
class ClientSettings:
    # What mail clients are told to connect to by autoconfig, autodiscover, the Apple
    # profile and the SRV records of `congthu dns` (RFC 6186, RFC 8314 section 5.1): the
    # public host name and ports, which are not [listen]'s when a firewall or NAT maps the
    # standard ports to them. Empty host: system.hostname. Port 0: not offered.
    host: str = ""
    imaps: int = 993  # IMAP, implicit TLS (RFC 8314)
    imap: int = 143  # IMAP, STARTTLS
    pop3s: int = 995  # POP3, implicit TLS
    pop3: int = 110  # POP3, STLS
    submissions: int = 465  # SMTP submission, implicit TLS (RFC 8314)
    submission: int = 587  # SMTP submission, STARTTLS (RFC 6409)


@dataclass
class TLSSettings:
    # PEM files, relative to the data directory. `congthu init` writes a self-signed pair;
    # replace them with the province's certificate and send SIGHUP to reload.
    cert: str = "tls/cert.pem"
    key: str = "tls/key.pem"
    # ACME (RFC 8555, congthu/acme): the CA's directory URL, e.g. Let's Encrypt's
    # "https://acme-v02.api.letsencrypt.org/directory"; empty: no ACME, the files above
    # are the operator's. The certificate is obtained by HTTP-01 on the HTTP port (80),
    # renewed at 2/3 of its lifetime and loaded by every process without a restart.
    acme_directory: str = ""
    # Contact address given to the CA (expiry notices); empty: none.
    acme_email: str = ""
    # Names in the certificate; empty: system.hostname. Add autoconfig.<domain> and
    # autodiscover.<domain> once their DNS records point here.
    acme_names: list[str] = field(default_factory=list)
    # CA bundle trusted for the ACME server itself (a private CA); empty: the system's.
    acme_ca_file: str = ""


@dataclass
class LimitSettings:
    # Điều 8.1: 500 MB per mailbox.
    mailbox_quota_mb: int = 500
    # Điều 8.1: 15 MB per attachment (decoded size, not the base64 size on the wire).
    attachment_mb: int = 15
    # Warn the owner by mail when usage crosses this share of the quota.
    quota_warning_percent: int = 90
    # Largest whole message accepted (SMTP SIZE, IMAP APPENDLIMIT). Must let a message
    # with a 15 MB attachment through: base64 grows it by a third.
    message_max_mb: int = 25


@dataclass
class PasswordSettings:
    # Điều 13.2: at least 8 characters with upper case, lower case, digit and special.
    min_length: int = 8
    require_upper: bool = True
    require_lower: bool = True
    require_digit: bool = True
    require_special: bool = True
    # Refuse passwords containing the user's name or address (with or without accents).
    forbid_personal: bool = True
    # Refuse passwords from the shipped list of common passwords.
    forbid_common: bool = True
    # Not one of the last N passwords.
    history: int = 5
    # Điều 13.2: change every month; 0 switches expiry off.
    max_age_days: int = 30
    # Reminder mails this many days before expiry.
    reminder_days: list[int] = field(default_factory=lambda: [7, 1])
    # argon2id parameters (RFC 9106); raising them rehashes at the next login.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 2
    # SCRAM-SHA-256 (RFC 7677) iteration count for the salted keys stored at password-set
    # time; RFC 7677 section 4 asks for at least 4096.
    scram_iterations: int = 4096


@dataclass
class LoginSettings:
    # Failures of one account from one client address before they are slowed, then
    # that account is locked from that address (congthu/accounts/lockout.py): one
    # misconfigured application behind a shared address locks only its own account.
    address_delay_after: int = 5
    address_lock_after: int = 20
    # Failures from one client address over every account (one password sprayed across
    # many accounts) before it is slowed, then locked for everyone.
    address_all_accounts_delay_after: int = 25
    address_all_accounts_lock_after: int = 100
    # Failures on one account (from all addresses) before the account is locked.
    account_lock_after: int = 50
    lock_minutes: int = 15
    max_delay_seconds: float = 5.0
    # The first delay (after address_delay_after failures); each further failure doubles
    # it, up to max_delay_seconds.
    delay_base_seconds: float = 0.5
    # Mail the system administrators when an address or an account is locked.
    alert_on_lock: bool = True
    # Seconds a successful password check is remembered (in memory, as an HMAC), so a
    # client logging in again skips the costly argon2id check; a wrong password is
    # always checked in full. 0 switches it off (congthu/accounts/verified.py).
    verified_cache_seconds: float = 3600.0
    # Seconds at most the state a login is decided on (the mailbox, its credential and
    # second factor, and that no lock holds) is kept between logins, in a process that
    # hears the change feed: every change of it is announced to every process and node
    # at once (congthu/accounts/states.py); this bound is the safety net. 0 reads it
    # from the database at every login.
    state_cache_seconds: float = 60.0


@dataclass
class LifecycleSettings:
    # An old address keeps delivering to the successor organisation for this long.
    alias_keep_days: int = 730


@dataclass
class SMTPSettings:
    # Per-user limits on submission, so that a stolen password cannot make the
    # province a spam source.
    max_recipients: int = 100
    messages_per_hour: int = 200
    # Outbound: a smarthost "host:port" instead of MX lookup, if set.
    smarthost: str = ""
    # Retry for this long, then bounce (RFC 5321 section 4.5.4.1 suggests 4-5 days).
    queue_lifetime_hours: float = 120
    delay_notice_hours: float = 4
    # DKIM selector; the key is written by `congthu init`.
    dkim_selector: str = "congthu"
    dkim_key: str = "dkim/private.pem"
    # Seconds before an idle SMTP client is disconnected.
    idle_timeout: float = 300.0
    # Seconds a client may take to send one message's DATA or BDAT chunks in all.
    data_timeout: float = 1800.0
    # Longest line accepted in a message, CRLF included. RFC 5321 section 4.5.3.1.6 sets
    # 1000 for senders; receivers are asked to be lenient (section 4.5.3.1), so more is
    # accepted, but not without bound.
    max_line_length: int = 65536
    # Recipients accepted in one inbound (MX) transaction; RFC 5321 section 4.5.3.1.8
    # requires at least 100. Further ones get 452 and are sent again by the client.
    mx_max_recipients: int = 1000
    # DNS servers for MX, SPF, DKIM and DMARC lookups as "address" or "address:port";
    # empty: the system's resolvers (/etc/resolv.conf).
    dns_servers: list[str] = field(default_factory=list)
    # Port of remote MX hosts (25; tests point it elsewhere).
    mx_port: int = 25
    # First retry after this many seconds; each later one waits twice as long, up to
    # retry_max_seconds.
    retry_first_seconds: float = 300.0
    retry_max_seconds: float = 3600.0
    # Seconds between looks at the queue for messages due for another attempt.
    queue_interval: float = 30.0
    # Outbound connections open at once.
    outbound_concurrency: int = 20
    # Seconds for one outbound SMTP conversation step (connect, each command, DATA).
    outbound_timeout: float = 120.0
    # Require a verified TLS certificate at the smarthost (MX hosts: opportunistic TLS).
    smarthost_verify_tls: bool = True
    # Authentication-Results on inbound mail: "reject" refuses mail whose domain
    # publishes DMARC p=reject and fails; "quarantine" files it in Junk; "none" only marks.
    dmarc_enforce: str = "reject"
    # Worker processes that analyse large incoming messages (MIME parse and search text,
    # 5-50 ms of CPU per MB) beside the server's own process; 0: a thread instead.
    analysis_processes: int = 1
    # MTA-STS (RFC 8461, congthu/smtp/mtasts.py): the policy we publish at
    # https://mta-sts.<domain>/.well-known/mta-sts.txt: "testing" (senders report
    # failures but deliver), "enforce" (senders deliver only over verified TLS to the
    # hosts below; the HTTPS and SMTP certificates must then be valid) or "none".
    mta_sts_mode: str = "testing"
    # Our MX host names in the policy (empty: system.hostname), and how long senders
    # keep it, in seconds (at most a year).
    mta_sts_mx: list[str] = field(default_factory=list)
    mta_sts_max_age: int = 604800
    # Port of the remote mta-sts.<domain> HTTPS hosts (443; tests point it elsewhere).
    mta_sts_port: int = 443
    # TLS reporting (RFC 8460): where senders send their reports; empty:
    # "mailto:postmaster@<domain>".
    tlsrpt_rua: str = ""
    # Extra certificate authorities (a PEM file, relative to the data directory) trusted
    # when a certificate is verified outbound (MTA-STS, the smarthost), beside the
    # system's: a province's own CA on the special-purpose network. Empty: none.
    ca_file: str = ""
    # DANE (RFC 7672, congthu/smtp/dane.py): the resolvers of dns_servers validate DNSSEC
    # and are trusted (the local one), so their AD bit is believed; MX hosts with secure
    # TLSA records then get mail only over TLS matching those records. Off: no DANE.
    dane: bool = False
    # TLS reporting (RFC 8460, congthu/smtp/tlsrpt.py): count outbound TLS sessions per
    # recipient domain and send each domain that publishes a _smtp._tls record a daily report.
    tls_reports: bool = True
    # HTTPS to hosts another domain's DNS names (TLS reports to https: URIs, RFC 8460
    # section 5.4; MTA-STS policies, RFC 8461 section 3.3; congthu/smtp/publichosts.py):
    # a host whose name resolves to a loopback, private, link-local, shared (100.64/10),
    # multicast or reserved address is refused, and so is one in these networks (CIDR):
    # the agency's own, which are public addresses.
    https_deny: list[str] = field(default_factory=list)
    # Networks (CIDR) let through although private: the tests' loopback servers, or hosts
    # on a private special-purpose network. Never wins over the deny list.
    https_allow: list[str] = field(default_factory=list)
    # Seconds one report's POST may take in all (the connection and TLS: at most 10).
    tlsrpt_https_timeout: float = 30.0



@dataclass
class IMAPSettings:
    # Seconds an authenticated client may stay silent before it is logged out (the
    # autologout timer). RFC 9051 section 5.4: at least 30 minutes (1800) after login.
    idle_timeout: float = 1800.0
    # Seconds a client that has not logged in yet may stay silent. RFC 9051 section 5.4
    # leaves the timer before authentication free; a short one frees connections sooner.
    login_timeout: float = 60.0
    # Longest one IDLE command may last (RFC 2177, RFC 9051 section 6.3.13). Clients
    # restart IDLE every 29 minutes, so it must be at least 30 minutes (1800) too.
    idle_max_duration: float = 21600.0
    # Seconds allowed between the pieces of one command: the bytes of a literal, the
    # next line after one, a SASL response (RFC 9051 sections 4.3, 6.2.2).
    literal_timeout: float = 120.0
    # Largest literal (octets) before login, e.g. a password sent as a literal. The
    # server may refuse a literal with BAD [TOOBIG] (RFC 9051 sections 7.1, 7.5).
    login_literal_max: int = 8192
    # Largest literal (octets) after login outside APPEND (search strings, mailbox names);
    # APPEND is bounded by limits.message_max_mb (RFC 7889 APPENDLIMIT).
    literal_max: int = 262144
    # Longest command line in octets, CRLF included, literals not; a longer one gets
    # BAD and the connection goes on. RFC 7162 section 4: servers accept at least 8192.
    max_line_length: int = 65536
    # Seconds a client may take to read what we send (a slow reader) before it is
    # disconnected, so that it holds up nothing but its own connection.
    write_timeout: float = 300.0
    # Failed logins on one connection before it is closed with BYE (guessing; the
    # per-address and per-account locks in [login] still apply).
    max_auth_failures: int = 5
    # BAD answers in a row (a client sending garbage) before the connection is closed.
    max_bad_commands: int = 20
    # Seconds within which a repeated successful LOGIN of one account from one client
    # address is counted, not written (clients reconnect to check for mail, several
    # connections at a time): the audit record and the last access are written once per
    # period, with the count; every failure, lock and refusal is written at once
    # (congthu/accounts/recent.py, as ldap.bind_record_seconds). 0 writes every login.
    login_record_seconds: float = 600.0


@dataclass
class POP3Settings:
    # Seconds a logged-in client may stay silent before the connection is closed
    # without entering UPDATE (nothing deleted). RFC 1939 section 3: at least 10 minutes
    # (600). The maildrop lock's lease is twice this (see congthu/pop3/lock.py).
    idle_timeout: float = 600.0
    # Seconds a client that has not logged in yet may stay silent before it gets -ERR
    # and is disconnected. RFC 1939 section 3 asks 10 minutes of any autologout timer;
    # a shorter one before login is a deliberate choice against idle connections.
    login_timeout: float = 600.0
    # Longest command line in octets, CRLF included; a longer one gets -ERR and the
    # session goes on. RFC 2449 section 4: servers accept at least 255.
    max_line_length: int = 255
    # Failed logins on one connection before it is closed (guessing; the per-address
    # and per-account locks in [login] still apply).
    max_auth_failures: int = 3
    # Seconds a client may take to read what we send (a slow reader) before it is
    # disconnected.
    write_timeout: float = 300.0

    @property
    def lock_lease(self) -> float:
        """Seconds a maildrop lock lasts unless renewed (RFC 1939 section 8): twice the
        idle timeout, so a node that died lets the mailbox go after that long."""
        return 2 * self.idle_timeout


@dataclass
class LDAPSettings:
    # LDAP for the province's applications (issue 16, RFC 4511): the tree is the
    # directory under this base DN; empty: from system.domain (dc=soctrang,dc=gov,dc=vn).
    base_dn: str = ""
    # Anonymous bind and reading without a bind (RFC 4513 section 5.1.1); the root DSE
    # and the subschema entry are always readable, so tools can discover the server.
    allow_anonymous: bool = False
    # Most entries one search returns (or one page of a paged search, RFC 2696); a
    # client may ask fewer. 0 is refused.
    size_limit: int = 1000
    # Most seconds one search may take; a client may ask less.
    time_limit: int = 30
    # Seconds a connection may stay silent between requests. Applications keep pooled
    # connections open, so this is long.
    idle_timeout: float = 900.0
    # Seconds a client may take to send the rest of a request once it began.
    request_timeout: float = 30.0
    # Seconds a client may take to read what we send before it is disconnected.
    write_timeout: float = 300.0
    # Largest request in octets (a bind or a search is a few hundred); a larger one
    # ends the connection with a notice of disconnection (protocolError).
    max_request_bytes: int = 262144
    # Deepest nesting of and/or/not in a search filter.
    max_filter_depth: int = 32
    # The tree read from the directory is rebuilt when the directory changed (seen
    # within a second, congthu/ldap/tree.py: binds always check accounts at once), and
    # also when older than this many seconds: a safety net only (0: at every search).
    cache_seconds: float = 3600.0
    # Seconds within which a repeated successful bind of one account from one client
    # address is counted, not written (application servers bind per request): the audit
    # record and the last access are written once per period, with the count; every
    # failure is written at once (congthu/accounts/recent.py). 0 writes every bind.
    bind_record_seconds: float = 600.0
    # What a service account may read (congthu/ldap/grants.py), one string per account:
    # "NAME org=ADDRESS[,ADDRESS...] attributes=ATTR[,ATTR...]", both parts optional:
    # org= limits it to the people, organisations and groups of those organisations and
    # their units; attributes= to those attributes (and objectClass and the naming one).
    # A service account without a grant reads what every bound identity reads.
    service_grants: list[str] = field(default_factory=list)
    # SASL EXTERNAL with client certificates (RFC 4422 appendix A, RFC 4513 section
    # 5.2.3; congthu/ldap/certificates.py): a PEM file (relative to the data directory)
    # of the CAs that issue the applications' certificates. When set, LDAPS and StartTLS
    # ask for a client certificate (optional) and verify one that is sent against them.
    client_ca: str = ""
    # Which service account a verified client certificate binds as, one string each:
    # "NAME subject=DN" (the certificate's subject, compared as a DN) or
    # "NAME san=dns:HOST" / "san=email:ADDRESS" / "san=uri:URI" (a subjectAltName).
    # A certificate that maps to no account is refused (invalidCredentials).
    certificate_map: list[str] = field(default_factory=list)


@dataclass
class PolicySettings:
    # Điều 7.7: foreign free-mail services official mail must not go to.
    foreign_freemail_domains: list[str] = field(
        default_factory=lambda: [
            "gmail.com", "googlemail.com", "yahoo.com", "yahoo.com.vn", "hotmail.com",
            "outlook.com", "live.com", "msn.com", "aol.com", "icloud.com", "me.com",
            "mail.ru", "yandex.ru", "qq.com", "163.com", "proton.me", "protonmail.com",
        ]
    )
    # What to do with such mail: "refuse", "warn" (deliver, audit) or "allow".
    foreign_freemail_action: str = "refuse"
    # Điều 7.8, 13.3: classified markings that are refused.
    classified_markings: list[str] = field(
        default_factory=lambda: ["MẬT", "TỐI MẬT", "TUYỆT MẬT"]
    )


@dataclass
class ContentSettings:
    # Điều 9.9: virus scan and spam scoring of every message in (MX) and out (submission)
    # by ClamAV's clamd and rspamd (congthu/content/pipeline.py). Both are off while
    # empty, as in the default embedded install: mail then passes only the content rules
    # of [policy] and [limits], as before.
    # clamd's socket: "unix:/run/clamav/clamd.ctl" or "127.0.0.1:3310" (INSTREAM).
    clamd: str = ""
    # rspamd's normal worker, e.g. "http://127.0.0.1:11333" (/checkv2).
    rspamd: str = ""
    # rspamd's controller, e.g. "http://127.0.0.1:11334": mail moved to or from Junk
    # teaches rspamd's Bayes for that user (learnspam, learnham;
    # congthu/content/learning.py). Empty: no learning.
    rspamd_controller: str = ""
    # rspamd's controller password, if it asks for one (empty: none sent).
    rspamd_password: str = ""
    # Seconds one scan may take before the scanner counts as unavailable.
    timeout: float = 30.0
    # A configured scanner that is down or slow: "tempfail" (451 4.3.0, the sender
    # retries later) or "deliver" (with an X-CongThu-Scan field saying what was not
    # scanned). Never a silent loss.
    unavailable: str = "tempfail"
    # A virus (clamd): "refuse" (554 5.7.1 in the SMTP transaction) or "quarantine".
    virus_action: str = "refuse"
    # Spam (rspamd's action "reject"): "refuse", "junk" (deliver to Junk) or
    # "quarantine". rspamd's "add header" and "rewrite subject" go to Junk, "soft
    # reject" gets 451 4.7.1.
    spam_action: str = "refuse"
    # Days a held message stays in the quarantine before it is deleted unreleased
    # (0: kept until an administrator releases or deletes it).
    quarantine_days: int = 30
    # Điều 7.8, 13.3: look for classified stamps in the body and the attachments' text
    # (PDF, DOCX, XLSX, ODT, text, zip), not only in the subject and file names.
    classified_in_content: bool = True
    # Bounds of the text extraction from one message's attachments (zip bombs): MiB
    # decompressed in all, files looked at in all, archives within archives.
    extract_max_mb: int = 64
    extract_max_files: int = 200
    extract_max_depth: int = 2


@dataclass
class JournalSettings:
    # Điều 7.3–7.5: mail between organisation mailboxes is kept as sent, byte for byte,
    # in a read-only journal that the records office ("văn thư" role) searches
    # (congthu/journal). "organisations": every message submitted from an organisation
    # or sub-unit mailbox (as its author or its login) to at least one other
    # organisation mailbox of ours; "off": no journal.
    scope: str = "organisations"
    # Days an entry is kept, counted from when it was sent; past it the daily clean-up
    # removes it (0: kept for ever, as records of permanent value are).
    retention_days: int = 0


@dataclass
class DirectorySettings:
    # Where and how often the directory is published (Điều 9.8). Empty: not scheduled.
    publish_dir: str = "public/danh-ba"
    publish_every_hours: int = 24
    # Fields shown publicly; by default names, titles, organisations and addresses.
    public_fields: list[str] = field(
        default_factory=lambda: ["name", "title", "organisation", "address"]
    )


@dataclass
class RequestSettings:
    # Working days the IT Center has to carry out a request and answer it (Điều 4.3:
    # "trong thời gian ba (03) ngày làm việc"); counted by congthu/requests/calendar.py.
    working_days: int = 3
    # Seconds between two looks for overdue requests (alerts to the IT Center and the
    # Department, congthu/requests/jobs.py).
    overdue_check_seconds: float = 3600.0
    # Điều 4.4: a mailbox not used for this many months since it was made or last
    # accessed (any door) is reclaimed: disabled, its mail kept, its address reserved
    # (congthu/requests/reclaim.py). 0 switches reclamation off.
    reclaim_months: int = 6
    # Days before reclamation when the owner and the organisation are warned by mail.
    reclaim_warn_days: list[int] = field(default_factory=lambda: [30, 7])
    # Mailbox kinds never reclaimed (organisation and sub-unit mailboxes), and whether
    # the mailboxes of organisations' leaders are exempt too.
    reclaim_exempt_kinds: list[str] = field(default_factory=lambda: ["organisation", "subunit"])
    reclaim_exempt_leaders: bool = True
    # The largest scanned letter of a paper request (PDF, JPEG or PNG; Điều 4.1), in MB
    # (congthu/requests/letters.py).
    letter_max_mb: int = 20


@dataclass
class ReportSettings:
    # Where the monthly, quarterly and yearly reports of the whole system (Điều 9.13,
    # 11.8) are mailed, as PDF and XLSX, on the first working day after each period
    # (congthu/reports/jobs.py): the Department's mailbox, a local address. Empty: not mailed.
    recipient: str = ""
    # Periods mailed: any of "month", "quarter", "year".
    periods: list[str] = field(default_factory=lambda: ["month", "quarter", "year"])
    # A mailbox is "near quota" from this share of its quota (percent).
    near_quota_percent: int = 90
    # The place name of the report's date line (Decree 30/2020: "Sóc Trăng, ngày ...").
    place: str = ""
    # Days the daily snapshots of the mailboxes' states are kept (congthu/reports/snapshot.py);
    # the last day of each month is kept for good.
    snapshot_days: int = 62


@dataclass
class ConnectionSettings:
    # Connections open at once on each listener, from one client address (an IPv6 client
    # counts by its /64 network) and in all. A client over either cap gets the protocol's
    # "try again later" (SMTP 421 4.7.0, IMAP BYE [UNAVAILABLE], POP3 -ERR [SYS/TEMP],
    # HTTP 503) and is disconnected (congthu/net.py, ConnectionLimiter). Users behind one
    # NAT address share its per-address cap: an office's mail clients each keep a few
    # IMAP connections open.
    mx_per_address: int = 20
    mx_total: int = 1000
    submission_per_address: int = 100
    submission_total: int = 1000
    imap_per_address: int = 500
    imap_total: int = 10000
    pop3_per_address: int = 100
    pop3_total: int = 2000
    # LDAP: an application server binds for all its users from one address.
    ldap_per_address: int = 200
    ldap_total: int = 2000
    http_per_address: int = 100
    http_total: int = 2000


@dataclass
class ServerSettings:
    # Worker processes of `congthu serve`, each serving every port on the sockets the
    # supervisor binds once, restarted if one dies (congthu/workers.py). 0: one per core
    # the process may use; 1: a single process without a supervisor.
    workers: int = 0
    # Seconds a stopping node (SIGTERM) gives an SMTP transaction, or an IMAP, POP3 or
    # LDAP command, under way to finish once /healthz answers 503 and the listeners are
    # closed (congthu/server.py); sessions waiting between commands (IMAP IDLE too) are
    # ended at once. Below the supervisor's 60 s.
    drain_seconds: float = 30.0


@dataclass
class ProxySettings:
    # Listeners behind a TCP load balancer that sends the PROXY protocol header (v1 or
    # v2, HAProxy's send-proxy / send-proxy-v2) before anything else: names from
    # [listen] ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s",
    # "ldap", "ldaps", "http", "https"). Such a listener requires the header (congthu/proxyproto.py).
    listeners: list[str] = field(default_factory=list)
    # The balancers' addresses or networks; a connection to a listener above from any
    # other address is closed.
    trusted: list[str] = field(default_factory=list)
    # Seconds the balancer has to send the header once connected.
    header_timeout: float = 5.0


@dataclass
class MailRuleSettings:
    # Vacation auto-reply (congthu/mailrules): days before the same sender gets the
    # reply again (RFC 3834 section 4.2: at most once per sender in a period).
    vacation_days: int = 7
    # Forwarding rules: most targets one mailbox may forward to (Điều 7.7: never to
    # foreign free-mail, whatever policy.foreign_freemail_action says).
    forward_max_targets: int = 5


@dataclass
class WebSettings:
    # Seconds a client may take to send one whole HTTP request (request line, header and
    # body) once its first byte arrived or the connection opened; then it is closed
    # (a client trickling its header keeps nothing open longer).
    request_timeout: float = 20.0
    # Seconds an idle keep-alive connection stays open between two requests.
    keepalive_timeout: float = 5.0
    # /metrics: client addresses or networks that may read it without a token (the
    # monitoring host); anyone else needs the token. /openapi.json and /docs are not served.
    metrics_allow: list[str] = field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    # /metrics: a secret sent as "Authorization: Bearer <token>"; empty: no token accepted.
    metrics_token: str = ""
    # HTTPS responses carry Strict-Transport-Security with this max-age in seconds
    # (RFC 6797); 0 sends none.
    hsts_max_age: int = 31536000


@dataclass
class ApiSettings:
    # The REST API under /api/v1 (congthu/api, docs/api.md), for the province's other
    # applications, with tokens made by `congthu api token create`.
    # Calls one token may make per minute (a token bucket per token, shared by every
    # worker and node: congthu/api/limits.py); the client over it gets 429 with Retry-After.
    calls_per_minute: int = 600
    # Calls per minute from one client address without a valid token (each is audited).
    refused_per_minute: int = 30
    # Largest request body accepted, in KiB (a larger one gets 413 unread).
    max_body_kib: int = 256
    # Days a new token lives unless `--days` says otherwise, and the most it may.
    token_days: int = 365
    token_max_days: int = 730


@dataclass
class BlobSettings:
    # Where message bytes are kept (docs/object-storage.md): "disk", the blobs/ directory
    # of the data directory, or "s3", a bucket of an S3-compatible object store (Ceph's
    # RADOS Gateway, MinIO, a cloud's S3), which every node of a cluster shares.
    # `congthu blobs migrate --to s3` copies a disk store to the bucket (and --to disk back).
    backend: str = "disk"
    # S3: the endpoint URL, e.g. "https://s3.example.gov.vn" or "http://10.0.0.5:7480".
    s3_endpoint: str = ""
    # S3: the bucket, created beforehand (e.g. with radosgw-admin or `s3cmd mb`).
    s3_bucket: str = ""
    # S3: the access key and secret key of the user owning the bucket.
    s3_access_key: str = ""
    s3_secret_key: str = ""
    # S3: the region the signatures name (Ceph RGW accepts its zonegroup or us-east-1).
    s3_region: str = "us-east-1"
    # S3: seconds to wait for a connection or an answer before the request fails (a
    # delivery then gets a temporary 451 and is retried by the sender).
    s3_timeout: float = 30.0
    # S3: blobs larger than this many MiB are sent by multipart upload, in parts of this
    # size (S3 requires parts of at least 5 MiB).
    multipart_threshold_mib: int = 16
    # S3: MiB of recently read small blobs each process keeps in memory (0: none).
    cache_mib: int = 64
    # S3: only blobs up to this many KiB are cached (headers and text bodies, not attachments).
    cache_max_blob_kib: int = 256
    # Garbage collection (either backend): every this many hours the blobs of deleted mail
    # (no message refers to them any more) are removed, once across every node; never
    # while a backup runs. 0: never (then `congthu blobs gc` by hand).
    gc_every_hours: int = 24
    # A blob written less than this many minutes ago is kept even when nothing refers to
    # it yet: a delivery on another node or worker may be between writing it and commit.
    gc_grace_minutes: int = 60


@dataclass
class Settings:
    system: SystemSettings = field(default_factory=SystemSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    listen: ListenSettings = field(default_factory=ListenSettings)
    clients: ClientSettings = field(default_factory=ClientSettings)
    tls: TLSSettings = field(default_factory=TLSSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    login: LoginSettings = field(default_factory=LoginSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    smtp: SMTPSettings = field(default_factory=SMTPSettings)
    imap: IMAPSettings = field(default_factory=IMAPSettings)
    pop3: POP3Settings = field(default_factory=POP3Settings)
    ldap: LDAPSettings = field(default_factory=LDAPSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    content: ContentSettings = field(default_factory=ContentSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    requests: RequestSettings = field(default_factory=RequestSettings)
    connections: ConnectionSettings = field(default_factory=ConnectionSettings)
    web: WebSettings = field(default_factory=WebSettings)
    mailrules: MailRuleSettings = field(default_factory=MailRuleSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    blobs: BlobSettings = field(default_factory=BlobSettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    @property
    def mailbox_quota_bytes(self) -> int:
        return self.limits.mailbox_quota_mb * 1024 * 1024

    @property
    def attachment_max_bytes(self) -> int:
        return self.limits.attachment_mb * 1024 * 1024

    @property
    def message_max_bytes(self) -> int:
        return self.limits.message_max_mb * 1024 * 1024

    @property
    def local_domains(self) -> list[str]:
        return [self.system.domain.lower(), *(d.lower() for d in self.system.extra_domains)]


def _check_value(path: Path, key: str, expected: Any, value: Any) -> Any:
    """Return value if it has the type the dataclass field declares, else raise."""
    origin = typing.get_origin(expected)
    if origin is list:
        (item_type,) = typing.get_args(expected)
        if not isinstance(value, list):
            raise ConfigError(path, key, f"phải là một danh sách / must be a list, got {value!r}")
        return [_check_value(path, f"{key}[{i}]", item_type, v) for i, v in enumerate(value)]
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, key, f"phải là true/false / must be true or false, got {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, key, f"phải là số nguyên / must be an integer, got {value!r}")
        if value < 0:
            raise ConfigError(path, key, f"không được âm / must not be negative, got {value}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, key, f"phải là số / must be a number, got {value!r}")
        if value < 0:
            raise ConfigError(path, key, f"không được âm / must not be negative, got {value}")
        return float(value)
    if expected is str:
        if not isinstance(value, str):
            raise ConfigError(path, key, f"phải là chuỗi / must be a string, got {value!r}")
        return value
    raise ConfigError(path, key, f"unsupported setting type {expected!r}")  # pragma: no cover


# Keys that earlier versions wrote into congthu.toml for features not built then; a file
# that still has them loads (the keys do nothing) so an upgrade never stops the server.
RETIRED_KEYS = frozenset({
    "lifecycle.inactive_months", "lifecycle.inactive_warning_days", "lifecycle.request_working_days",
})


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """The types of a section's fields. Evaluated once per process (most of a load's time
    otherwise: every annotation is a string here), as the classes never change."""
    return typing.get_type_hints(cls)


def _build_section(path: Path, name: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(path, name, "phải là một bảng [section] / must be a table")
    hints = _field_types(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    table = {k: v for k, v in table.items() if f"{name}.{k}" not in RETIRED_KEYS}
    for key in table:
        if key not in known:
            raise ConfigError(
                path, f"{name}.{key}",
                f"khóa không tồn tại / unknown key; known keys: {', '.join(sorted(known))}",
            )
    values = {k: _check_value(path, f"{name}.{k}", hints[k], v) for k, v in table.items()}
    return cls(**values)


def _validate(path: Path, settings: Settings) -> None:
    listen = settings.listen
    ports = {f.name: getattr(listen, f.name) for f in dataclasses.fields(listen) if f.name != "host"}
    for name, port in ports.items():
        if port > 65535:
            raise ConfigError(path, f"listen.{name}", f"cổng không hợp lệ / invalid port {port}")
    for f in dataclasses.fields(settings.clients):
        value = getattr(settings.clients, f.name)
        if f.name != "host" and value > 65535:
            raise ConfigError(path, f"clients.{f.name}", f"cổng không hợp lệ / invalid port {value}")
    used = [p for p in ports.values() if p]
    if len(used) != len(set(used)):
        raise ConfigError(path, "listen", "hai dịch vụ dùng cùng một cổng / two services share a port")
    if settings.tls.acme_directory and not settings.tls.acme_directory.startswith("https://"):
        raise ConfigError(path, "tls.acme_directory", "phải là https:// / must be an https:// URL")
    if "." not in settings.system.domain:
        raise ConfigError(path, "system.domain", f"tên miền không hợp lệ / invalid domain {settings.system.domain!r}")
    if settings.passwords.min_length < 8:
        raise ConfigError(path, "passwords.min_length", "Điều 13.2 requires at least 8 characters")
    if settings.policy.foreign_freemail_action not in ("refuse", "warn", "allow"):
        raise ConfigError(path, "policy.foreign_freemail_action", "must be refuse, warn or allow")
    for key, allowed in (("unavailable", ("tempfail", "deliver")), ("virus_action", ("refuse", "quarantine")),
                         ("spam_action", ("refuse", "junk", "quarantine"))):
        if getattr(settings.content, key) not in allowed:
            raise ConfigError(path, f"content.{key}", f"must be {' or '.join(allowed)}")
    if settings.content.timeout <= 0:
        raise ConfigError(path, "content.timeout", "phải lớn hơn 0 / must be greater than 0")
    if settings.smtp.dmarc_enforce not in ("reject", "quarantine", "none"):
        raise ConfigError(path, "smtp.dmarc_enforce", "must be reject, quarantine or none")
    if settings.limits.message_max_mb * 3 < settings.limits.attachment_mb * 4:
        raise ConfigError(
            path, "limits.message_max_mb",
            "phải đủ cho một tệp đính kèm tối đa sau base64 / must fit the largest attachment after base64 (x4/3)",
        )
    url = settings.database.url
    if url and not url.startswith(("sqlite", "postgresql")):
        raise ConfigError(path, "database.url", "only sqlite and postgresql URLs are supported")
    _validate_mail_access(path, settings)
    _validate_connections(path, settings)
    _validate_ldap(path, settings)
    _validate_blobs(path, settings)
    if settings.smtp.mta_sts_mode not in ("testing", "enforce", "none"):
        raise ConfigError(path, "smtp.mta_sts_mode", "chỉ testing, enforce, none / only testing, enforce, none")
    if not 0 <= settings.smtp.mta_sts_max_age <= 31_557_600:
        raise ConfigError(path, "smtp.mta_sts_max_age", "từ 0 đến 31557600 / from 0 to 31557600 (RFC 8461)")
    for key in ("https_deny", "https_allow"):
        for spec in getattr(settings.smtp, key):
            try:
                ipaddress.ip_network(spec, strict=False)
            except ValueError:
                raise ConfigError(path, f"smtp.{key}", f"mạng không hợp lệ / invalid network {spec!r}") from None
    if settings.smtp.tlsrpt_https_timeout <= 0:
        raise ConfigError(path, "smtp.tlsrpt_https_timeout", "phải lớn hơn 0 / must be greater than 0")
    if settings.journal.scope not in ("organisations", "off"):
        raise ConfigError(path, "journal.scope", "chỉ organisations hoặc off / only organisations or off")
    if settings.journal.retention_days < 0:
        raise ConfigError(path, "journal.retention_days", "không được âm / must not be negative")
    if any(p not in ("month", "quarter", "year") for p in settings.reports.periods):
        raise ConfigError(path, "reports.periods", "chỉ month, quarter, year / only month, quarter, year")
    if not 1 <= settings.reports.near_quota_percent <= 100:
        raise ConfigError(path, "reports.near_quota_percent", "từ 1 đến 100 / from 1 to 100")
    if settings.reports.snapshot_days < 1:
        raise ConfigError(path, "reports.snapshot_days", "phải lớn hơn 0 / must be greater than 0")
    if not 1 <= settings.requests.letter_max_mb <= 200:
        raise ConfigError(path, "requests.letter_max_mb", "từ 1 đến 200 / from 1 to 200")
    for f in dataclasses.fields(settings.api):
        if getattr(settings.api, f.name) == 0:
            raise ConfigError(path, f"api.{f.name}", "phải lớn hơn 0 / must be greater than 0")
    if settings.api.token_days > settings.api.token_max_days:
        raise ConfigError(path, "api.token_days", "không được lớn hơn token_max_days / must not exceed token_max_days")
    if settings.mailrules.vacation_days < 1 or settings.mailrules.forward_max_targets < 1:
        raise ConfigError(path, "mailrules", "phải lớn hơn 0 / must be greater than 0")
    _validate_proxy(path, settings)


def _validate_proxy(path: Path, settings: Settings) -> None:
    """[proxy]: known listener names, valid balancer addresses, and balancers named
    whenever a listener expects the header; [server] drain_seconds under the supervisor's
    60 s."""
    proxy = settings.proxy
    names = {f.name for f in dataclasses.fields(settings.listen) if f.name != "host"}
    for name in proxy.listeners:
        if name not in names:
            raise ConfigError(path, "proxy.listeners", f"cổng không biết / unknown listener {name!r}; "
                                                       f"known: {', '.join(sorted(names))}")
    for entry in proxy.trusted:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ConfigError(path, "proxy.trusted", f"địa chỉ không hợp lệ / invalid address {entry!r}") from None
    if proxy.listeners and not proxy.trusted:
        raise ConfigError(path, "proxy.trusted", "cần địa chỉ bộ cân bằng tải / the balancers' addresses are needed")
    if proxy.header_timeout <= 0:
        raise ConfigError(path, "proxy.header_timeout", "phải lớn hơn 0 / must be greater than 0")
    if settings.server.drain_seconds >= 55:
        raise ConfigError(path, "server.drain_seconds", "phải dưới 55 giây / must be under 55 seconds")


def _validate_mail_access(path: Path, settings: Settings) -> None:
    """[imap] and [pop3]: every timeout and limit above zero (imap.login_record_seconds
    may be 0: every login written), and the RFCs' floors."""
    for name in ("imap", "pop3"):
        section = getattr(settings, name)
        for f in dataclasses.fields(section):
            if getattr(section, f.name) == 0 and f.name != "login_record_seconds":
                raise ConfigError(path, f"{name}.{f.name}", "phải lớn hơn 0 / must be greater than 0")
    seconds, octets = ("giây", "seconds"), ("octet", "octets")
    floors = [
        ("imap.idle_timeout", settings.imap.idle_timeout, 1800, seconds, "RFC 9051 section 5.4"),
        # Clients restart IDLE every 29 minutes (RFC 9051 section 6.3.13).
        ("imap.idle_max_duration", settings.imap.idle_max_duration, 1800, seconds,
         "RFC 9051 section 6.3.13"),
        ("imap.max_line_length", settings.imap.max_line_length, 8192, octets, "RFC 7162 section 4"),
        ("pop3.idle_timeout", settings.pop3.idle_timeout, 600, seconds, "RFC 1939 section 3"),
        ("pop3.max_line_length", settings.pop3.max_line_length, 255, octets, "RFC 2449 section 4"),
    ]
    for key, value, floor, (unit_vi, unit_en), rfc in floors:
        if value < floor:
            raise ConfigError(path, key, f"phải ít nhất {floor} {unit_vi} / must be at least "
                                         f"{floor} {unit_en} ({rfc}), got {value}")


def _validate_blobs(path: Path, settings: Settings) -> None:
    """[blobs]: a known backend; for S3 every key it needs, an http(s) endpoint, a valid
    bucket name and part sizes S3 accepts."""
    blobs = settings.blobs
    if blobs.gc_every_hours < 0:
        raise ConfigError(path, "blobs.gc_every_hours", f"không âm / not negative (0: never), got {blobs.gc_every_hours}")
    if blobs.gc_grace_minutes < 10:
        raise ConfigError(path, "blobs.gc_grace_minutes",
                          f"ít nhất 10 / at least 10 (a delivery may be writing), got {blobs.gc_grace_minutes}")
    if blobs.backend not in ("disk", "s3"):
        raise ConfigError(path, "blobs.backend", f"chỉ disk hoặc s3 / only disk or s3, got {blobs.backend!r}")
    if blobs.multipart_threshold_mib < 5:
        raise ConfigError(path, "blobs.multipart_threshold_mib", "ít nhất 5 (S3) / at least 5 (S3's smallest part)")
    if blobs.backend != "s3" and not blobs.s3_endpoint:
        return  # S3 keys are checked when S3 is used or set up (for `congthu blobs migrate`)
    for key in ("s3_endpoint", "s3_bucket", "s3_access_key", "s3_secret_key", "s3_region"):
        if not getattr(blobs, key):
            raise ConfigError(path, f"blobs.{key}", "cần cho backend = \"s3\" / required with backend = \"s3\"")
    host = blobs.s3_endpoint.partition("://")[2].rstrip("/")
    if not blobs.s3_endpoint.startswith(("http://", "https://")) or not host or "/" in host:
        raise ConfigError(path, "blobs.s3_endpoint",
                          f"phải là http(s)://máy[:cổng] / must be http(s)://host[:port], got {blobs.s3_endpoint!r}")
    bucket = blobs.s3_bucket
    if not (3 <= len(bucket) <= 63 and all(c.isascii() and (c.islower() or c.isdigit() or c in "-.") for c in bucket)
            and bucket[0].isalnum() and bucket[-1].isalnum()):
        raise ConfigError(path, "blobs.s3_bucket", f"tên bucket không hợp lệ / invalid bucket name {bucket!r} "
                          "(3-63 lowercase letters, digits, '-' or '.')")
    if blobs.s3_timeout <= 0:
        raise ConfigError(path, "blobs.s3_timeout", "phải lớn hơn 0 / must be greater than 0")


def _validate_ldap(path: Path, settings: Settings) -> None:
    """[ldap]: limits and timeouts above zero, filter depth within 1..100."""
    ldap = settings.ldap
    for f in dataclasses.fields(ldap):
        value = getattr(ldap, f.name)
        if f.name not in ("base_dn", "allow_anonymous", "cache_seconds", "bind_record_seconds",
                          "service_grants", "client_ca", "certificate_map") and value == 0:
            raise ConfigError(path, f"ldap.{f.name}", "phải lớn hơn 0 / must be greater than 0")
    if ldap.max_filter_depth > 100:
        raise ConfigError(path, "ldap.max_filter_depth", "tối đa 100 / at most 100")
    if ldap.max_request_bytes < 4096:
        raise ConfigError(path, "ldap.max_request_bytes", "ít nhất 4096 / at least 4096")


def _validate_connections(path: Path, settings: Settings) -> None:
    """[connections]: every cap above zero, the per-address cap within the total; [web]:
    timeouts above zero, metrics_allow made of addresses or networks."""
    caps = settings.connections
    for f in dataclasses.fields(caps):
        if getattr(caps, f.name) == 0:
            raise ConfigError(path, f"connections.{f.name}", "phải lớn hơn 0 / must be greater than 0")
        if f.name.endswith("_per_address"):
            door = f.name.removesuffix("_per_address")
            total = getattr(caps, f"{door}_total")
            if getattr(caps, f.name) > total:
                raise ConfigError(path, f"connections.{f.name}",
                                  f"không được lớn hơn {door}_total / must not exceed {door}_total ({total})")
    for key in ("request_timeout", "keepalive_timeout"):
        if getattr(settings.web, key) == 0:
            raise ConfigError(path, f"web.{key}", "phải lớn hơn 0 / must be greater than 0")
    for i, network in enumerate(settings.web.metrics_allow):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(path, f"web.metrics_allow[{i}]", "không phải địa chỉ hay mạng IP / not an "
                                                              f"IP address or network: {network!r}") from None


def parse(text: str, path: Path | str = "<string>") -> Settings:
    """Parse and validate TOML text into Settings."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "-", f"TOML không hợp lệ / invalid TOML: {exc}") from None
    sections = {f.name: f for f in dataclasses.fields(Settings)}
    hints = _field_types(Settings)
    built: dict[str, Any] = {}
    for name, table in data.items():
        if name not in sections:
            raise ConfigError(
                path, name, f"mục không tồn tại / unknown section; known: {', '.join(sections)}"
            )
        built[name] = _build_section(path, name, hints[name], table)
    settings = Settings(**built)
    _validate(path, settings)
    return settings


def load(data_dir: Path) -> Settings:
    """Load ``congthu.toml`` from the data directory (defaults if the file is absent)."""
    path = data_dir / CONFIG_FILE
    if not path.exists():
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "-", f"không phải UTF-8 / not UTF-8: {exc}") from None
    except OSError as exc:
        raise ConfigError(path, "-", f"không đọc được / cannot read: {exc}") from None
    return parse(text, path)

