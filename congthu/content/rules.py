"""Content rules of the regulation on addresses, subjects and attachments, applied to mail
on every path (SMTP in and out, and whatever else sends or files mail: the webmail,
forwarding). The pipeline (``pipeline.py``) applies them with the scanners.

* Điều 7.7: official information must not go through foreign free-mail services
  (``policy.foreign_freemail_domains``, action ``policy.foreign_freemail_action``):
  ``check_recipient``. Mail sent on without a person choosing it each time (a forwarding
  rule, an alias, a vacation reply) never goes there, whatever the action:
  ``automatic_forwarding_refusal``, the one rule the mail rules, the directory's aliases
  and the SMTP recipient look-up apply.
* Điều 7.8, 13.3: classified documents ("MẬT", "TỐI MẬT", "TUYỆT MẬT") are out of scope
  of the system and must not be sent: a message carrying such a marking is refused with
  a clear reason and the attempt is logged: ``check_message``, ``log_refusal``.
* Điều 8.1: at most ``limits.attachment_mb`` per attachment, on the decoded size (a
  15 MB file is about 20 MB in base64 on the wire): ``check_message``.

The functions are pure (settings and analysed message in, a ``Refusal`` or None out), so
each door decides how to report a refusal (an SMTP reply, a web page).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from congthu.config import Settings
from congthu.log import event
from congthu.text import nfc, unaccent

__all__ = [
    "Refusal", "automatic_forwarding_refusal", "check_attachments", "check_message", "check_recipient",
    "classified_marking", "foreign_freemail_domain", "log_refusal",
]


@dataclass(frozen=True)
class Refusal:
    """Why a message or recipient is refused: the article, an SMTP code and text."""

    rule: str  # "7.7", "7.8", "8.1"
    code: int  # SMTP reply code
    status: str  # RFC 3463 enhanced status code
    vietnamese: str
    english: str

    @property
    def text(self) -> str:
        """Vietnamese / English, as shown to users."""
        return f"{self.vietnamese} / {self.english}"

    def smtp_reply(self, utf8: bool = True) -> str:
        """The SMTP reply line. Without SMTPUTF8 the reply must be ASCII (RFC 5321
        section 4.2), so Vietnamese (and file names) lose their accents."""
        reply = f"{self.code} {self.status} {self.vietnamese} / {self.english}"
        return reply if utf8 else unaccent(reply).encode("ascii", "replace").decode("ascii")


# -- Điều 7.7: foreign free-mail services --------------------------------------------------


def foreign_freemail_domain(settings: Settings, address: str) -> str | None:
    """The listed free-mail domain ``address`` belongs to (itself or a subdomain), or None."""
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    if not domain:
        return None
    for listed in settings.policy.foreign_freemail_domains:
        listed = listed.lower().strip()
        if domain == listed or domain.endswith("." + listed):
            return listed
    return None


def check_recipient(settings: Settings, address: str) -> Refusal | None:
    """Điều 7.7: refuse sending official mail to a foreign free-mail service, when the
    action is "refuse" ("warn" lets it through; the caller logs it with ``log_refusal``)."""
    domain = foreign_freemail_domain(settings, address)
    if domain is None or settings.policy.foreign_freemail_action == "allow":
        return None
    refusal = Refusal(
        "7.7", 550, "5.7.1",
        f"Điều 7.7 Quy chế: không gửi thông tin công vụ qua dịch vụ thư nước ngoài ({domain})",
        f"official mail must not be sent through foreign mail services ({domain})",
    )
    if settings.policy.foreign_freemail_action == "warn":
        log_refusal(refusal, action="warned", recipient=address)
        return None
    return refusal


def automatic_forwarding_refusal(settings: Settings, target: str) -> Refusal | None:
    """Điều 7.7 (issue 17): mail is never sent on automatically (a forwarding rule, an
    alias, a vacation reply) to a foreign free-mail service, whatever
    ``policy.foreign_freemail_action`` lets a person do; the refusal, or None."""
    domain = foreign_freemail_domain(settings, target)
    if domain is None:
        return None
    return Refusal(
        "7.7", 550, "5.7.1",
        f"Điều 7.7 Quy chế: không được tự động chuyển tiếp thư công vụ đến dịch vụ thư nước ngoài ({domain})",
        f"official mail must never be forwarded automatically to a foreign mail service ({domain})",
    )


# -- Điều 7.8, 13.3: classified markings ---------------------------------------------------


@lru_cache(maxsize=16)
def _marking_patterns(markings: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Regular expressions that find the markings as markings, not as words of a text.

    "MẬT" alone is also a common word ("mật khẩu": password, "bí mật", "mật ong"), so
    a one-word marking counts only where it stands as a marking: in brackets ("[MẬT]",
    "(Mật)"), after the label "Độ mật:", or in capitals at the start or end of the
    subject set off by a separator ("MẬT - Kế hoạch", "Báo cáo số 5 - MẬT"). Markings of
    several words ("TỐI MẬT", "TUYỆT MẬT") are unambiguous and count anywhere, in any case.
    """
    patterns: list[re.Pattern[str]] = []
    single = [nfc(m).strip() for m in markings if len(m.split()) == 1]
    multi = [r"\s+".join(map(re.escape, nfc(m).split())) for m in markings if len(m.split()) > 1]
    if multi:
        patterns.append(re.compile(rf"(?<!\w)(?:{'|'.join(multi)})(?!\w)", re.IGNORECASE))
    if single:
        words = "|".join(re.escape(m) for m in single)
        upper = "|".join(re.escape(m.upper()) for m in single)
        patterns.append(re.compile(rf"[\[\(\{{<]\s*(?:{words})\s*[\]\)\}}>]", re.IGNORECASE))
        patterns.append(re.compile(rf"độ\s+mật\s*[:\-–]\s*(?:{words})(?!\w)", re.IGNORECASE))
        patterns.append(re.compile(rf"^\W*(?:{upper})\s*(?:[:\-–|]|$)"))
        patterns.append(re.compile(rf"(?:[:\-–|]|^)\s*(?:{upper})\W*$"))
    return tuple(patterns)


def classified_marking(settings: Settings, texts: Iterable[str]) -> str | None:
    """The classified marking found in any of ``texts`` (subject, file names), or None."""
    patterns = _marking_patterns(tuple(settings.policy.classified_markings))
    for text in texts:
        text = nfc(text or "")
        for pattern in patterns:
            match = pattern.search(text)
            if match:
                return match.group(0).strip()
    return None


# -- Điều 8.1: attachment size ---------------------------------------------------------------


def check_attachments(settings: Settings, attachments: Iterable[tuple[str, int]]) -> Refusal | None:
    """Điều 8.1: each attachment's decoded size at most ``limits.attachment_mb``."""
    limit = settings.attachment_max_bytes
    for name, size in attachments:
        if size > limit:
            mb = size / (1024 * 1024)
            shown = name or "(không tên / unnamed)"
            return Refusal(
                "8.1", 552, "5.3.4",
                f"Tệp đính kèm \"{shown}\" ({mb:.1f} MB) vượt quá giới hạn "
                f"{settings.limits.attachment_mb} MB mỗi tệp (Điều 8.1 Quy chế)",
                f"attachment \"{shown}\" ({mb:.1f} MB) exceeds the limit of "
                f"{settings.limits.attachment_mb} MB per attachment",
            )
    return None


def check_message(settings: Settings, subject: str, attachments: Iterable[tuple[str, int]]) -> Refusal | None:
    """The content rules for one message: classified markings (Điều 7.8, 13.3) in the
    subject or attachment names, then attachment sizes (Điều 8.1).

    ``subject`` and ``attachments`` come from ``congthu.mime.analyse(raw)``.
    """
    attachments = list(attachments)
    marking = classified_marking(settings, [subject, *(name for name, _size in attachments)])
    if marking is not None:
        return Refusal(
            "7.8", 550, "5.7.1",
            f"Thư mang dấu độ mật \"{marking}\": hệ thống thư điện tử công vụ không được dùng "
            "cho tài liệu mật (Điều 7.8, 13.3 Quy chế)",
            f"message marked classified (\"{unaccent(marking)}\"): classified documents must "
            "not be sent by e-mail",
        )
    return check_attachments(settings, attachments)


def log_refusal(refusal: Refusal, **context: object) -> None:
    """One audit line per refused (or, for "warn", allowed) attempt (Điều 7.8, 13.3)."""
    event("policy.refused" if context.get("action") != "warned" else "policy.warned",
          rule=refusal.rule, status=refusal.status, reason=refusal.english, **context)
